/**
 * Go to definition: `.macro` names, cpp macros, labels (named and numeric 1f/1b), `\param`s of the
 * enclosing `.macro`, and the file an `#include` names.
 */
import type { SourceSymbol } from './symbols';
import { includeClosure, includeOnLine, resolveInclude, type IncludeContext } from './includes';
import { sourceLinesOf, symbolTableOf } from './text-index';

export interface Location {
  file: string;
  /** 0-based. */
  line: number;
  column: number;
}

export interface WordAt {
  word: string;
  start: number;
  end: number;
}

const WORD_CHAR = /[\w.$%\\@]/;

/** The token under the cursor: an identifier, a %register or a \macro_param. */
export function wordAt(line: string, character: number): WordAt | undefined {
  let start = Math.min(character, line.length);
  let end = start;
  while (start > 0 && WORD_CHAR.test(line[start - 1])) start--;
  while (end < line.length && WORD_CHAR.test(line[end])) end++;
  let word = line.slice(start, end);
  // "%gs:0x10" or "$__USER_DS": keep the sigil of registers and params, drop an immediate's $.
  const dollar = /^\$+/.exec(word);
  if (dollar) {
    start += dollar[0].length;
    word = word.slice(dollar[0].length);
  }
  if (!word) return undefined;
  return { word, start, end };
}

/** Where a name is defined: this file first, then what it includes. */
export function findSymbolDefinition(ctx: IncludeContext, file: string, text: string, name: string): { file: string; symbol: SourceSymbol } | undefined {
  const local = symbolTableOf(text).byName.get(name);
  if (local) return { file, symbol: local };
  for (const inc of includeClosure(ctx, file, text)) {
    const t = ctx.fs.readFile(inc) ?? '';
    // A header that never mentions the name cannot define it: no need to index it (most hovers' names are in none).
    if (!mentions(t, name)) continue;
    const s = symbolTableOf(t).byName.get(name);
    if (s) return { file: inc, symbol: s };
  }
  return undefined;
}

const NAME_CHAR = /[\w.$]/;

/** `name` occurs in `text` as a whole name (SS in "SS(%rsp)", not in "ADDRESS"). */
function mentions(text: string, name: string): boolean {
  for (let i = text.indexOf(name); i >= 0; i = text.indexOf(name, i + 1)) {
    if ((i === 0 || !NAME_CHAR.test(text[i - 1])) && !NAME_CHAR.test(text[i + name.length] ?? ' ')) return true;
  }
  return false;
}

/** `1f` is the next `1:` after this line, `1b` the last one before or on it. */
function numericLabel(text: string, line: number, ref: string): Location | undefined {
  const m = /^(\d+)([fb])$/.exec(ref);
  if (!m) return undefined;
  const labels = symbolTableOf(text).all.filter((s) => s.kind === 'local-label' && s.name === m[1]);
  const hit = m[2] === 'f' ? labels.find((s) => s.line > line) : [...labels].reverse().find((s) => s.line <= line);
  return hit && { file: '', line: hit.line, column: hit.column };
}

/** The `.macro` line whose parameter `\name` is used on `line`. */
function macroParameter(text: string, line: number, param: string): Location | undefined {
  const lines = sourceLinesOf(text);
  for (let i = line; i >= 0; i--) {
    const code = lines[i].code;
    if (/^\s*\.endm\b/.test(code) && i !== line) return undefined;
    const m = /^\s*\.macro\s+[\w.$]+/.exec(code);
    if (m) {
      const col = code.search(new RegExp(`[\\s,]${param.replace(/[$.]/g, '\\$&')}\\b`));
      return { file: '', line: i, column: col < 0 ? 0 : col + 1 };
    }
  }
  return undefined;
}

export function findDefinition(ctx: IncludeContext, file: string, text: string, line: number, character: number): Location | undefined {
  const lineText = text.split(/\r?\n/)[line] ?? '';
  const inc = includeOnLine(lineText);
  if (inc) {
    const target = resolveInclude(ctx, file, inc);
    return target ? { file: target, line: 0, column: 0 } : undefined;
  }
  const w = wordAt(lineText, character);
  if (!w || w.word.startsWith('%')) return undefined;
  if (w.word.startsWith('\\')) {
    const loc = macroParameter(text, line, w.word.slice(1));
    return loc && { ...loc, file };
  }
  const num = numericLabel(text, line, w.word);
  if (num) return { ...num, file };
  const def = findSymbolDefinition(ctx, file, text, w.word);
  return def && { file: def.file, line: def.symbol.line, column: def.symbol.column };
}
