/**
 * Annotation notes: a reader's Markdown note (a blog post, a study memo) holding an annotated copy
 * of some real source in a fenced code block. We align the note's code lines to the real file's
 * lines, so hovering the real entry_64.S shows what the note says about that line.
 *
 * Lines are compared with whitespace collapsed and comments removed; the note's own comment lines
 * do not take part in the alignment. The alignment is a longest common subsequence, so a note that
 * leaves out or rewrites a few lines still lines up everywhere else.
 */
import { scanSource, type SourceLine } from './source-lines';
import { commentMarkdownFor } from './comments';

export interface NoteBlock {
  /** Path of the note file. */
  notePath: string;
  /** 0-based line in the note where the block's code starts (the line after the fence). */
  firstLine: number;
  lines: SourceLine[];
}

/** Fenced code blocks of a Markdown note. Fences must start the line, so ``` inside a ` * ` comment gutter is content. */
export function noteCodeBlocks(notePath: string, markdown: string): NoteBlock[] {
  const md = markdown.split(/\r?\n/);
  const blocks: NoteBlock[] = [];
  for (let i = 0; i < md.length; i++) {
    const open = /^ {0,3}(`{3,}|~{3,})\s*([\w+-]*)/.exec(md[i]);
    if (!open) continue;
    const fence = open[1];
    let j = i + 1;
    while (j < md.length && !new RegExp(`^ {0,3}${fence[0]}{${fence.length},}\\s*$`).test(md[j])) j++;
    blocks.push({ notePath, firstLine: i + 1, lines: scanSource(md.slice(i + 1, j).join('\n')) });
    i = j;
  }
  return blocks;
}

/** A code line's identity for alignment: comments gone, whitespace collapsed. */
export function normalizeCode(line: SourceLine): string {
  return line.code.trim().replace(/\s+/g, ' ').replace(/\s*([,()+\-*|])\s*/g, '$1');
}

const isAlignable = (l: SourceLine): boolean => l.kind === 'code' || l.kind === 'directive';

export interface NoteAlignment {
  block: NoteBlock;
  /** real line (0-based) -> note block line (0-based, within block.lines). */
  realToNote: Map<number, number>;
  /** How many of the note's code lines found their real line. */
  matched: number;
  noteCodeLines: number;
}

/** LCS alignment of one note block's code lines against a real file's code lines. */
export function alignNote(block: NoteBlock, real: readonly SourceLine[]): NoteAlignment {
  const a = block.lines.filter(isAlignable);
  const b = real.filter(isAlignable);
  const ka = a.map(normalizeCode);
  const kb = b.map(normalizeCode);
  const n = a.length;
  const m = b.length;
  // Suffix LCS lengths, row by row: (n+1) x (m+1) Int32 is small for a note against entry_64.S.
  const dp = new Int32Array((n + 1) * (m + 1));
  const at = (i: number, j: number): number => i * (m + 1) + j;
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      dp[at(i, j)] = ka[i] === kb[j] ? dp[at(i + 1, j + 1)] + 1 : Math.max(dp[at(i + 1, j)], dp[at(i, j + 1)]);
    }
  }
  const realToNote = new Map<number, number>();
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (ka[i] === kb[j]) {
      realToNote.set(b[j].index, a[i].index);
      i++;
      j++;
    } else if (dp[at(i + 1, j)] >= dp[at(i, j + 1)]) {
      i++;
    } else {
      j++;
    }
  }
  return { block, realToNote, matched: realToNote.size, noteCodeLines: n };
}

/**
 * A note applies to a file when most of its code block is found there; a stray match of
 * `popq %rdi` in an unrelated file must not pull in the note.
 */
export function noteApplies(al: NoteAlignment): boolean {
  return al.matched >= 3 && al.matched * 2 >= al.noteCodeLines;
}

export interface NoteComment {
  notePath: string;
  /** 1-based line in the note file. */
  noteLine: number;
  markdown: string;
}

/** Alignments of every applicable note block; compute once per (document version, notes). */
export function alignNotes(notes: ReadonlyArray<{ path: string; text: string }>, realText: string): NoteAlignment[] {
  const real = scanSource(realText);
  return notes.flatMap((n) => noteCodeBlocks(n.path, n.text)).map((b) => alignNote(b, real)).filter(noteApplies);
}

/** What the notes say about the real file's 0-based `line`. */
export function noteCommentsFor(alignments: readonly NoteAlignment[], line: number): NoteComment[] {
  const out: NoteComment[] = [];
  for (const al of alignments) {
    const noteLine = al.realToNote.get(line);
    if (noteLine === undefined) continue;
    const { above, trailing } = commentMarkdownFor(al.block.lines, noteLine);
    const markdown = [above, trailing].filter(Boolean).join('\n\n');
    if (markdown) out.push({ notePath: al.block.notePath, noteLine: al.block.firstLine + noteLine + 1, markdown });
  }
  return out;
}
