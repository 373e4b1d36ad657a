/**
 * Splits GNU as / C-preprocessor source into lines and tells, for each line, its code with
 * comments blanked out and the comments it holds. Everything the hover, symbols and inactive
 * region logic needs starts here, so "is this a comment?" has one answer.
 */

export interface CommentSpan {
  /** 0-based column range in the line. */
  start: number;
  end: number;
  /** The comment's raw text on this line, markers included. */
  text: string;
  kind: 'block' | 'line';
}

export interface SourceLine {
  /** 0-based line number. */
  index: number;
  raw: string;
  /** The line with every comment replaced by spaces (same length as raw). */
  code: string;
  comments: CommentSpan[];
  kind: 'blank' | 'comment' | 'directive' | 'code';
}

/** C preprocessor directives; any other `#` at the start of a line is a GNU as comment. */
const CPP_DIRECTIVE = /^\s*#\s*(include|include_next|define|undef|if|ifdef|ifndef|elif|elifdef|elifndef|else|endif|error|warning|pragma|line)\b/;

export function isCppDirective(line: string): boolean {
  return CPP_DIRECTIVE.test(line);
}

export function splitLines(text: string): string[] {
  return text.split(/\r?\n/);
}

export function scanSource(text: string): SourceLine[] {
  const lines = splitLines(text);
  const out: SourceLine[] = [];
  let inBlock = false;
  for (let index = 0; index < lines.length; index++) {
    const raw = lines[index];
    const comments: CommentSpan[] = [];
    // Comment spans to blank out, in order; the code text is built once at the end (most lines have none).
    const blanks: number[] = [];
    const directive = !inBlock && isCppDirective(raw);
    let i = 0;
    let blockStart = inBlock ? 0 : -1;
    const blank = (from: number, to: number): void => {
      blanks.push(from, to);
    };
    while (i < raw.length) {
      if (inBlock) {
        const close = raw.indexOf('*/', i);
        const end = close < 0 ? raw.length : close + 2;
        if (close >= 0) inBlock = false;
        comments.push({ start: blockStart, end, text: raw.slice(blockStart, end), kind: 'block' });
        blank(blockStart, end);
        i = end;
        continue;
      }
      const c = raw[i];
      if (c === '"') {
        i++;
        while (i < raw.length && raw[i] !== '"') i += raw[i] === '\\' ? 2 : 1;
        i++;
      } else if (c === '/' && raw[i + 1] === '*') {
        inBlock = true;
        blockStart = i;
      } else if ((c === '/' && raw[i + 1] === '/') || (c === '#' && !directive)) {
        comments.push({ start: i, end: raw.length, text: raw.slice(i), kind: 'line' });
        blank(i, raw.length);
        break;
      } else if (c === "'" && !directive) {
        i += 2; // GNU as character constant 'c
      } else {
        i++;
      }
    }
    let codeText = raw;
    if (blanks.length) {
      codeText = '';
      let pos = 0;
      for (let k = 0; k < blanks.length; k += 2) {
        codeText += raw.slice(pos, blanks[k]) + ' '.repeat(blanks[k + 1] - blanks[k]);
        pos = blanks[k + 1];
      }
      codeText += raw.slice(pos);
    }
    const kind: SourceLine['kind'] = directive ? 'directive' : codeText.trim() ? 'code' : comments.length ? 'comment' : 'blank';
    out.push({ index, raw, code: codeText, comments, kind });
  }
  return out;
}
