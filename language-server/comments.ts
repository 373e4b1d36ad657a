/**
 * The annotation a reader wrote for a line: the comment block directly above it (or above the
 * instruction group it belongs to) and its trailing comment, turned into Markdown.
 */
import type { SourceLine } from './source-lines';

/**
 * First line of the group of consecutive code lines containing `line`: a comment above a group of
 * instructions explains all of them, so hovering any of them shows that comment.
 */
export function groupStart(lines: readonly SourceLine[], line: number): number {
  let g = line;
  while (g > 0 && lines[g - 1].kind === 'code') g--;
  return g;
}

/** The 0-based line range [first, last] of the comment-only lines directly above `line`, if any. */
export function commentBlockAbove(lines: readonly SourceLine[], line: number): [number, number] | undefined {
  let first = line;
  while (first > 0 && lines[first - 1].kind === 'comment') first--;
  return first < line ? [first, line - 1] : undefined;
}

/** Markdown for the comment above `line`'s group plus its trailing comment; undefined when there is none. */
export function commentMarkdownFor(lines: readonly SourceLine[], line: number): { above?: string; trailing?: string } {
  const here = lines[line];
  if (!here || here.kind === 'comment' || here.kind === 'blank') return {};
  const block = commentBlockAbove(lines, groupStart(lines, line));
  const above = block ? renderComment(lines.slice(block[0], block[1] + 1).flatMap((l) => l.comments.map((c) => c.text))) : undefined;
  const trailing = here.kind === 'code' && here.comments.length ? renderComment(here.comments.map((c) => c.text)) : undefined;
  return { above: above || undefined, trailing: trailing || undefined };
}

/**
 * Comment text (one string per source line, markers included) as Markdown: strips the comment
 * markers and the ` * ` gutter, removes the common indentation, keeps fenced and indented code as is.
 */
export function renderComment(texts: readonly string[]): string {
  const body: string[] = [];
  for (const raw of texts) {
    let t = raw;
    if (/^\s*(\/\/|#)/.test(t)) {
      t = t.replace(/^\s*(\/\/+|#+) ?/, '');
    } else {
      t = t.replace(/^\s*\/\*+/, '').replace(/\*+\/\s*$/, '');
      t = t.replace(/^\s*\*(?!\/)( |\t)?/, '');
    }
    body.push(t.replace(/\s+$/, ''));
  }
  while (body.length && !body[0].trim()) body.shift();
  while (body.length && !body[body.length - 1].trim()) body.pop();
  const indents = body.filter((l) => l.trim()).map((l) => /^[ \t]*/.exec(l)![0].length);
  const common = indents.length ? Math.min(...indents) : 0;
  return body.map((l) => l.slice(Math.min(common, /^[ \t]*/.exec(l)![0].length))).join('\n');
}
