/**
 * Indexes that depend on a text only (its scanned lines, its definitions), memoized by the text
 * itself: a hover looks names up in the open file and in every header it includes (a hundred
 * for the real entry_64.S), and rescanning them all on each hover was most of a hover's time.
 * Keyed by content, never by path, so an edit can never be served a stale index.
 */
import { scanSource, type SourceLine } from './source-lines';
import { documentSymbols, flattenSymbols, type SourceSymbol } from './symbols';

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

function buildTable(text: string): SymbolTable {
  const all = flattenSymbols(documentSymbols(text));
  const byName = new Map<string, SourceSymbol>();
  for (const s of all) if (s.kind !== 'local-label' && !byName.has(s.name)) byName.set(s.name, s);
  return { all, byName };
}

// Lines are big (a copy of every line plus its comments): only the few open documents need them.
const lines = new TextMemo<SourceLine[]>(8, scanSource);
// Symbol tables are small; headers of a real tree's include closure all fit.
const tables = new TextMemo<SymbolTable>(1000, buildTable);

/** scanSource(text), shared: callers must not modify the result. */
export function sourceLinesOf(text: string): readonly SourceLine[] {
  return lines.get(text);
}

export function symbolTableOf(text: string): SymbolTable {
  return tables.get(text);
}
