/**
 * Indexes that depend on a text only (its scanned lines, its definitions), memoized by the text
 * itself: a hover looks names up in the open file and in every header it includes (a hundred
 * for the real entry_64.S), and rescanning them all on each hover was most of a hover's time.
 * Keyed by content, never by path, so an edit can never be served a stale index.
 */
import { defineOp, type Defines } from './inactive';
import { scanSource, type SourceLine } from './source-lines';
import { flattenSymbols, symbolsOfLines, type SourceSymbol } from './symbols';

/** A bounded map from text to what was computed from it; the least recently used entry goes first. */
class TextMemo<T> {
  private readonly entries = new Map<string, T>();
  constructor(private readonly limit: number, private readonly compute: (text: string) => T) {}

  get(text: string): T {
    const hit = this.entries.get(text);
    if (hit !== undefined) {
      // Re-insert so Map order is recency order.
      this.entries.delete(text);
      this.entries.set(text, hit);
      return hit;
    }
    const value = this.compute(text);
    this.entries.set(text, value);
    if (this.entries.size > this.limit) this.entries.delete(this.entries.keys().next().value as string);
    return value;
  }
}

export interface SymbolTable {
  /** Every definition, outline order, children after their parent. */
  all: readonly SourceSymbol[];
  /** The first non-numeric definition of each name (what go to definition and hovers pick). */
  byName: ReadonlyMap<string, SourceSymbol>;
}

/** What a header contributes to the names a hover looks up: its definitions and its #define/#undef in order. */
interface HeaderIndex {
  table: SymbolTable;
  /** name -> body for #define, undefined for #undef. */
  defineOps: Array<[string, string | undefined]>;
}

function buildIndex(text: string): HeaderIndex {
  // One scan for both: the scanned lines themselves are too big to keep for a hundred headers.
  const lines = scanSource(text);
  const all = flattenSymbols(symbolsOfLines(lines));
  const byName = new Map<string, SourceSymbol>();
  for (const s of all) if (s.kind !== 'local-label' && !byName.has(s.name)) byName.set(s.name, s);
  const defineOps: Array<[string, string | undefined]> = [];
  for (const l of lines) {
    const op = l.kind === 'directive' ? defineOp(l.raw) : undefined;
    if (op) defineOps.push(op);
  }
  return { table: { all, byName }, defineOps };
}

// Lines are big (a copy of every line plus its comments): only the few open documents need them.
const lines = new TextMemo<SourceLine[]>(8, scanSource);
// Symbol tables are small; headers of a real tree's include closure all fit.
const headers = new TextMemo<HeaderIndex>(1000, buildIndex);

/** scanSource(text), shared: callers must not modify the result. */
export function sourceLinesOf(text: string): readonly SourceLine[] {
  return lines.get(text);
}

export function symbolTableOf(text: string): SymbolTable {
  return headers.get(text).table;
}

/** collectDefines(text, into) from the memoized index: a header's #defines are parsed once. */
export function collectDefinesOf(text: string, into: Defines): Defines {
  for (const [name, body] of headers.get(text).defineOps) {
    if (body === undefined) into.delete(name);
    else into.set(name, body);
  }
  return into;
}
