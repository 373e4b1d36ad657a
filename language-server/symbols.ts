/**
 * What a GNU as / kernel .S file defines: SYM_CODE_START-style functions, labels, `.macro`s,
 * cpp `#define`s and `.set` constants, with their lines. Document symbols and go-to-definition
 * both read this list.
 */
import { scanSource, type SourceLine } from './source-lines';

export type SymbolKindName = 'function' | 'label' | 'local-label' | 'as-macro' | 'cpp-macro' | 'constant';

export interface SourceSymbol {
  name: string;
  kind: SymbolKindName;
  /** 0-based line and column of the name. */
  line: number;
  column: number;
  /** 0-based last line of the thing's body (SYM_*_END, .endm); `line` when it has none. */
  endLine: number;
  /** The defining line, trimmed: shown in hovers and the outline. */
  detail: string;
  /** Child symbols (labels inside a SYM_CODE_START ... SYM_CODE_END). */
  children: SourceSymbol[];
}

const SYM_START = /\b(SYM_(?:CODE|FUNC|TYPED_FUNC|DATA)_START(?:_[A-Z]+)*|SYM_FUNC_START_(?:LOCAL|WEAK|ALIAS|NOALIGN)|ENTRY|GLOBAL)\(\s*([\w.$]+)/;
const SYM_END = /\b(SYM_(?:CODE|FUNC|DATA)_END|SYM_FUNC_END_ALIAS|END|ENDPROC)\(\s*([\w.$]+)/;
const SYM_LABEL = /\b(SYM_INNER_LABEL(?:_ALIGN)?|SYM_DATA_LABEL)\(\s*([\w.$]+)/;
const LABEL = /^\s*([A-Za-z_.$][\w.$]*|\d+)\s*:(?!:)/;
const AS_MACRO = /^\s*\.macro\s+([\w.$]+)/;
const AS_ENDM = /^\s*\.endm\b/;
const CPP_DEFINE = /^\s*#\s*define\s+([A-Za-z_]\w*)(\()?/;
const SET = /^\s*\.(?:set|equ|equiv)\s+([\w.$]+)\s*,/;
const ASSIGN = /^\s*([A-Za-z_.$][\w.$]*)\s*=(?!=)/;

const sym = (name: string, kind: SymbolKindName, l: SourceLine, column: number): SourceSymbol => ({
  name, kind, line: l.index, column: Math.max(0, column), endLine: l.index, detail: l.raw.trim(), children: [],
});

/** Every definition in the file, functions holding their inner labels as children. */
export function documentSymbols(text: string): SourceSymbol[] {
  return symbolsOfLines(scanSource(text));
}

/** documentSymbols() of an already scanned text. */
export function symbolsOfLines(lines: readonly SourceLine[]): SourceSymbol[] {
  const top: SourceSymbol[] = [];
  const open: SourceSymbol[] = [];
  let macro: SourceSymbol | undefined;
  const add = (s: SourceSymbol): void => {
    (open.length ? open[open.length - 1].children : top).push(s);
  };
  for (const l of lines) {
    if (l.kind === 'directive') {
      const d = CPP_DEFINE.exec(l.raw);
      if (d) add(sym(d[1], d[2] ? 'cpp-macro' : 'constant', l, l.raw.indexOf(d[1], l.raw.indexOf('define'))));
      continue;
    }
    if (l.kind !== 'code') continue;
    const c = l.code;
    let m: RegExpExecArray | null;
    if ((m = AS_MACRO.exec(c))) {
      macro = sym(m[1], 'as-macro', l, c.indexOf(m[1], c.indexOf('.macro') + 6));
      add(macro);
    } else if (AS_ENDM.test(c) && macro) {
      macro.endLine = l.index;
      macro = undefined;
    } else if ((m = SYM_START.exec(c))) {
      const s = sym(m[2], 'function', l, c.indexOf(m[2], m.index + m[1].length));
      add(s);
      open.push(s);
    } else if ((m = SYM_END.exec(c))) {
      const i = open.map((s) => s.name).lastIndexOf(m[2]);
      if (i >= 0) {
        open[i].endLine = l.index;
        open.length = i;
      }
    } else if ((m = SYM_LABEL.exec(c))) {
      add(sym(m[2], 'label', l, c.indexOf(m[2], m.index + m[1].length)));
    } else if ((m = LABEL.exec(c))) {
      add(sym(m[1], /^\d+$/.test(m[1]) ? 'local-label' : 'label', l, c.indexOf(m[1])));
    } else if ((m = SET.exec(c)) || (m = ASSIGN.exec(c))) {
      add(sym(m[1], 'constant', l, c.indexOf(m[1])));
    }
  }
  return top;
}

/** Parents before their children, in file order. Iterative: a header whose SYM_*_START never ends nests deep. */
export function flattenSymbols(symbols: readonly SourceSymbol[]): SourceSymbol[] {
  const out: SourceSymbol[] = [];
  const stack: Array<{ list: readonly SourceSymbol[]; next: number }> = [{ list: symbols, next: 0 }];
  while (stack.length) {
    const top = stack[stack.length - 1];
    if (top.next >= top.list.length) {
      stack.pop();
      continue;
    }
    const s = top.list[top.next++];
    out.push(s);
    if (s.children.length) stack.push({ list: s.children, next: 0 });
  }
  return out;
}
