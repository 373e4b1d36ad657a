/**
 * Tokens of the C preprocessor in assembler mode (gcc -x assembler-with-cpp): '$' is not an
 * identifier character, an unterminated ' or " is just a character (assembly uses 'a for
 * character constants), and everything else is punctuation.
 */

export type CppTokKind = 'id' | 'num' | 'str' | 'punct';

export interface CppTok {
  text: string;
  kind: CppTokKind;
  /** Whitespace precedes the token (gcc's PREV_WHITE). */
  space: boolean;
  /** Macros that must not expand this token again (the "blue paint" of the rescanning rule). */
  hide?: Set<string>;
  /** Set on the first token after an expansion boundary: print a space if it would paste. */
  pad?: boolean;
}

const PUNCT3 = ['...', '<<=', '>>='];
const PUNCT2 = ['##', '<<', '>>', '<=', '>=', '==', '!=', '&&', '||', '->', '++', '--', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^='];

const isIdStart = (c: string): boolean => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_';
const isIdChar = (c: string): boolean => isIdStart(c) || (c >= '0' && c <= '9');
const isDigit = (c: string): boolean => c >= '0' && c <= '9';

export function tokenize(text: string): CppTok[] {
  const toks: CppTok[] = [];
  let i = 0;
  let space = false;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\f' || c === '\v' || c === '\r' || c === '\n') {
      space = true;
      i++;
      continue;
    }
    const start = i;
    let kind: CppTokKind;
    if (isIdStart(c)) {
      while (i < n && isIdChar(text[i])) i++;
      kind = 'id';
    } else if (isDigit(c) || (c === '.' && i + 1 < n && isDigit(text[i + 1]))) {
      // pp-number: digits, letters, '.', and e+/e-/p+/p- pairs.
      i++;
      while (i < n) {
        const d = text[i];
        if ((d === '+' || d === '-') && /[eEpP]/.test(text[i - 1])) i++;
        else if (isIdChar(d) || d === '.') i++;
        else break;
      }
      kind = 'num';
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < n && text[j] !== c) j += text[j] === '\\' ? 2 : 1;
      if (j < n) {
        i = j + 1;
        kind = 'str';
      } else {
        i++;
        kind = 'punct';
      }
    } else {
      const p3 = text.substr(i, 3);
      const p2 = text.substr(i, 2);
      if (PUNCT3.includes(p3)) i += 3;
      else if (PUNCT2.includes(p2)) i += 2;
      else i++;
      kind = 'punct';
    }
    toks.push({ text: text.slice(start, i), kind, space });
    space = false;
  }
  return toks;
}

/** gcc's cpp_avoid_paste: would printing `b` right after `a` lex as something else? */
export function wouldPaste(a: CppTok, b: CppTok): boolean {
  const c = b.kind === 'punct' ? b.text[0] : '';
  if (a.kind === 'punct') {
    if (c === '=' && /^(=|!|>|<|\+|-|\*|\/|%|&|\||\^|>>|<<)$/.test(a.text)) return true;
    switch (a.text) {
      case '>': return c === '>';
      case '<': return c === '<' || c === '%' || c === ':';
      case '+': return c === '+';
      case '-': return c === '-' || c === '>';
      case '/': return c === '/' || c === '*';
      case '%': return c === ':' || c === '%';
      case '&': return c === '&';
      case '|': return c === '|';
      case ':': return c === ':' || c === '>';
      case '.': return c === '.' || c === '%' || b.kind === 'num';
      case '#': return c === '#' || c === '%';
      case '\\': return b.kind === 'id';
      default: return false;
    }
  }
  if (a.kind === 'id') return b.kind === 'id' || b.kind === 'num' || b.kind === 'str';
  if (a.kind === 'num') return b.kind === 'num' || b.kind === 'id' || c === '.' || c === '+' || c === '-';
  return false;
}

/** Print tokens the way gcc -E does (one space where there was whitespace or pasting would occur). */
export function printTokens(toks: CppTok[]): string {
  let out = '';
  let prev: CppTok | undefined;
  for (const t of toks) {
    if (prev) {
      if (t.pad ? t.space || wouldPaste(prev, t) : t.space) out += ' ';
    }
    out += t.text;
    prev = t;
  }
  return out;
}
