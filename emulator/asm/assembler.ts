/**
 * The GNU as (AT&T, x86-64) front end: statements, labels, directives, `.macro`/`.rept`/`.irp`
 * expansion, conditionals, sections, and the layout pass that relaxes jumps and sizes
 * `.skip`/`.align`/`.org` like gas's fragment relaxation. It consumes the preprocessor's lines
 * and produces an ObjectImage. Bad input becomes a Diagnostic; assembly goes on.
 */
import type { FileAccess } from '../host';
import type { Diagnostic, ExpansionFrame, LineEntry, ObjectImage, Relocation, RelocationKind, Section, SourceLoc, SymbolDef } from './types';
import { type Expr, ExprError, type ExprHooks, type Value, evaluate, isConst, parseFullExpr } from './expr';
import { type Operand, lookupRegister, parseOperand, splitOperands } from './x86-operands';
import { type EncodedFixup, directBranch, encodeInstruction, writeLE } from './x86-encode';
import { type MacroFormal, bindArgs, parseFormals, splitList, substituteBody } from './gas-macros';
import { fillNops } from './nops';
import { dirname, joinPath } from './paths';

export interface SrcLine {
  text: string;
  loc: SourceLoc;
}

interface LineInfo {
  loc: SourceLoc;
  stack: ExpansionFrame[];
  text: string;
  isInstruction: boolean;
}

interface Fixup extends EncodedFixup {
  branch: boolean;
  line: LineInfo;
}

type Item =
  | { k: 'bytes'; bytes: Uint8Array; fixups: Fixup[]; line?: LineInfo; off: number; size: number }
  | { k: 'jump'; cc: number; target: Expr; relax: boolean; near: boolean; line: LineInfo; off: number; size: number; targetItem?: number; targetSym?: Sym; targetAddend?: bigint }
  | { k: 'space'; count: Expr; fill: number; line: LineInfo; off: number; size: number }
  | { k: 'align'; align: number; fill?: number; max?: number; line: LineInfo; off: number; size: number }
  | { k: 'org'; target: Expr; fill: number; line: LineInfo; off: number; size: number };

interface SecState {
  name: string;
  flags: string;
  nobits: boolean;
  items: Item[];
  fragId: number;
  fragOff: number;
  align: number;
}

interface Sym {
  name: string;
  kind: 'label' | 'equ' | 'undef';
  section?: string;
  item?: number;
  fragId?: number;
  fragOff?: number;
  /** Bytes into its item: `.` in the 2nd+ operand of `.long a, . - b` is past the earlier ones. */
  itemOff?: number;
  expr?: Expr;
  global: boolean;
  weak: boolean;
  type?: 'function' | 'object' | 'notype';
  size?: Expr;
  loc?: SourceLoc;
  /** Assembler-made names (numeric local labels, '.'), not shown in the symbol table. */
  internal?: boolean;
}

interface Macro {
  name: string;
  formals: MacroFormal[];
  body: SrcLine[];
  loc: SourceLoc;
}

interface Reader {
  lines: SrcLine[];
  pos: number;
  frames: ExpansionFrame[];
  isMacro: boolean;
  /** Conditional depth when the expansion started (.exitm closes the ones opened inside). */
  condDepth?: number;
}

interface Cond {
  active: boolean;
  taken: boolean;
  parentActive: boolean;
  sawElse: boolean;
}

/** Limits: deeper or bigger than this is a runaway expansion, reported instead of hanging. */
const MAX_MACRO_DEPTH = 100;
const MAX_EXPANDED_LINES = 2_000_000;
const MAX_REPT = 1_000_000;
/** .include nesting (a file that includes itself would otherwise grow until memory runs out). */
const MAX_INCLUDE_DEPTH = 64;
/** .includes in one run: a file that .includes itself twice branches at every level (2^64 under the depth limit alone). */
const MAX_INCLUDES = 10_000;
/** Bytes one object may hold: entry code is kilobytes; more is a runaway .space/.fill/.org. */
const MAX_OUTPUT_BYTES = 1 << 28;

/** Instruction prefixes written as mnemonics. */
const PREFIX: Record<string, number> = { lock: 0xf0, rep: 0xf3, repe: 0xf3, repz: 0xf3, repne: 0xf2, repnz: 0xf2, data16: 0x66, addr32: 0x67, notrack: 0x3e };
/** Branches that only have a rel8 form. */
const LOOPS: Record<string, number[]> = { loop: [0xe2], loope: [0xe1], loopz: [0xe1], loopne: [0xe0], loopnz: [0xe0], jrcxz: [0xe3], jecxz: [0x67, 0xe3] };
const LEGACY_PREFIXES = new Set([0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3]);

const LOCAL_SEP = '\u0002';
const DOT_PREFIX = '.\u0003';

/** Display name of an assembler-internal symbol: "661\u00022" -> "661". */
export function displaySymbol(name: string): string {
  const i = name.indexOf(LOCAL_SEP);
  if (i >= 0) return name.slice(0, i);
  return name.startsWith(DOT_PREFIX) ? '.' : name;
}

const DEFAULT_FLAGS: Record<string, string> = { '.text': 'ax', '.data': 'aw', '.bss': 'aw', '.rodata': 'a', '.init.text': 'ax' };

function defaultFlags(name: string): string {
  if (DEFAULT_FLAGS[name] !== undefined) return DEFAULT_FLAGS[name];
  if (name.startsWith('.text')) return 'ax';
  if (name.startsWith('.rodata')) return 'a';
  if (name.startsWith('.bss')) return 'aw';
  return 'aw';
}

export interface AssemblerInput {
  lines: SrcLine[];
  fs: FileAccess;
  includeDirs: string[];
}

export class Assembler {
  private diags: Diagnostic[] = [];
  private sections = new Map<string, SecState>();
  private cur!: SecState;
  private prev?: SecState;
  private sectionStack: { cur: SecState; prev?: SecState }[] = [];
  private syms = new Map<string, Sym>();
  private macros = new Map<string, Macro>();
  private readers: Reader[] = [];
  private conds: Cond[] = [];
  private localCounts = new Map<string, number>();
  private dotCount = 0;
  private macroCounter = 0;
  private expandedLines = 0;
  /** Bytes emitted so far (MAX_OUTPUT_BYTES). */
  private outputBytes = 0;
  private files: string[] = [];
  /** .includes left before MAX_INCLUDES stops them (reported once). */
  private includesLeft = MAX_INCLUDES;
  private commons: { name: string; size: number; align: number; global: boolean; line: LineInfo }[] = [];
  /** The statement being assembled (for diagnostics and the line table). */
  private line!: LineInfo;

  constructor(private input: AssemblerInput) {
    this.switchSection('.text');
  }

  run(): ObjectImage {
    this.readers.push({ lines: this.input.lines, pos: 0, frames: [], isMacro: false });
    while (this.readers.length) {
      const r = this.readers[this.readers.length - 1];
      if (r.pos >= r.lines.length) {
        this.readers.pop();
        continue;
      }
      const l = r.lines[r.pos++];
      this.processLine(l, r);
    }
    if (this.conds.length) this.error('end of file inside a conditional (missing .endif)');
    this.placeCommons();
    return this.finish();
  }

  // ---- diagnostics ----

  private error(message: string, severity: 'error' | 'warning' = 'error', line: LineInfo = this.line): void {
    this.diags.push({ severity, message, loc: line ? line.loc : { file: '', line: 0 }, stack: line ? line.stack : [] });
  }

  // ---- input ----

  private processLine(l: SrcLine, r: Reader): void {
    const text = stripComment(l.text);
    const stmts = splitStatements(text);
    for (let i = 0; i < stmts.length; i++) {
      const s = stmts[i].trim();
      if (s === '') continue;
      this.line = { loc: l.loc, stack: r.frames, text: s, isInstruction: false };
      const pushed = this.statement(s, l, r);
      if (pushed && i + 1 < stmts.length) {
        // A macro was expanded mid-line: the rest of the line runs after it.
        const rest: Reader = { lines: [{ text: stmts.slice(i + 1).join(';'), loc: l.loc }], pos: 0, frames: r.frames, isMacro: false };
        this.readers.splice(this.readers.length - 1, 0, rest);
        return;
      }
    }
  }

  /** Collect lines up to the matching end directive (nesting-aware) from the current reader. */
  private collectBlock(r: Reader, open: RegExp, close: RegExp, what: string): SrcLine[] | undefined {
    const body: SrcLine[] = [];
    let depth = 1;
    while (r.pos < r.lines.length) {
      const l = r.lines[r.pos++];
      const first = stripComment(l.text).trim().replace(/^([A-Za-z_.$][\w.$]*|\d+)\s*:\s*/, '');
      const word = (/^(\.?[A-Za-z_][\w.]*)/.exec(first)?.[1] ?? '').toLowerCase();
      if (open.test(word)) depth++;
      else if (close.test(word)) {
        if (--depth === 0) return body;
      }
      body.push(l);
    }
    this.error(`missing ${what}`);
    return undefined;
  }

  private pushReader(lines: SrcLine[], frame: ExpansionFrame, isMacro: boolean, r: Reader): boolean {
    if (this.readers.filter((x) => x.isMacro).length >= MAX_MACRO_DEPTH) {
      this.error(`macros nested more than ${MAX_MACRO_DEPTH} deep (recursive macro ${frame.name}?)`);
      return false;
    }
    this.expandedLines += lines.length;
    if (this.expandedLines > MAX_EXPANDED_LINES) {
      this.error(`expansion too large (more than ${MAX_EXPANDED_LINES} lines) in ${frame.name}`);
      return false;
    }
    this.readers.push({ lines, pos: 0, frames: [...r.frames, frame], isMacro, condDepth: this.conds.length });
    return true;
  }

  // ---- statements ----

  /** Returns true when it pushed an expansion (the rest of the line must wait). */
  private statement(s: string, l: SrcLine, r: Reader): boolean {
    const word = (/^(\.?[A-Za-z_.$][\w.$]*)/.exec(s)?.[1] ?? '').toLowerCase();
    if (this.handleConditional(word, s)) return false;
    if (this.conds.length && !this.conds[this.conds.length - 1].active) {
      // Skipped: still find the ends of blocks so a skipped .macro's .endm is not misread.
      if (word === '.macro') this.collectBlock(r, /^\.macro$/, /^\.endm$/, '.endm');
      else if (word === '.rept' || word === '.irp' || word === '.irpc') this.collectBlock(r, /^\.(rept|irp|irpc)$/, /^\.endr$/, '.endr');
      return false;
    }
    // Labels.
    for (;;) {
      const m = /^([A-Za-z_.$][\w.$]*|\d+)\s*:(?![:=])/.exec(s);
      if (!m) break;
      this.defineLabel(m[1]);
      s = s.slice(m[0].length).trim();
      this.line.text = s;
      if (s === '') return false;
    }
    const asg = /^([A-Za-z_.$][\w.$]*)\s*=(?!=)\s*(.*)$/.exec(s);
    if (asg) {
      this.setSymbol(asg[1], asg[2], false);
      return false;
    }
    const wm = /^([A-Za-z_.$][\w.$@]*)(.*)$/.exec(s);
    if (!wm) {
      this.error(`junk \`${s}'`);
      return false;
    }
    const name = wm[1];
    const rest = wm[2].trim();
    const mac = this.macros.get(name.toLowerCase());
    if (mac) return this.invokeMacro(mac, rest, l, r);
    if (name.startsWith('.')) {
      this.directive(name.toLowerCase(), rest, l, r);
      return false;
    }
    this.instruction(name, rest);
    return false;
  }

  private handleConditional(word: string, s: string): boolean {
    const top = this.conds[this.conds.length - 1];
    const active = !top || top.active;
    const arg = s.slice(word.length).trim();
    if (word.startsWith('.if')) {
      let v = false;
      if (active) v = this.evalIf(word, arg);
      this.conds.push({ active: active && v, taken: v, parentActive: active, sawElse: false });
      return true;
    }
    if (word === '.elseif') {
      if (!top || top.sawElse) this.error('.elseif without .if');
      else if (top.taken || !top.parentActive) top.active = false;
      else {
        top.active = this.evalIf('.if', arg);
        top.taken = top.active;
      }
      return true;
    }
    if (word === '.else') {
      if (!top || top.sawElse) this.error('.else without .if');
      else {
        top.sawElse = true;
        top.active = top.parentActive && !top.taken;
        top.taken = true;
      }
      return true;
    }
    if (word === '.endif') {
      if (!this.conds.pop()) this.error('.endif without .if');
      return true;
    }
    return false;
  }

  private evalIf(kind: string, arg: string): boolean {
    switch (kind) {
      case '.ifdef':
      case '.ifndef': {
        const sym = this.syms.get(arg.trim());
        const def = !!sym && sym.kind !== 'undef';
        return kind === '.ifdef' ? def : !def;
      }
      case '.ifb':
        return arg.trim() === '';
      case '.ifnb':
        return arg.trim() !== '';
      case '.ifc':
      case '.ifnc': {
        const parts = splitIfcArgs(arg);
        const eq = parts[0] === parts[1];
        return kind === '.ifc' ? eq : !eq;
      }
      case '.ifeqs':
      case '.ifnes': {
        const parts = splitList(arg);
        const eq = parts[0] === parts[1];
        return kind === '.ifeqs' ? eq : !eq;
      }
    }
    const v = this.absolute(arg, kind);
    if (v === undefined) return false;
    switch (kind) {
      case '.if':
      case '.ifne':
        return v !== 0n;
      case '.ifeq':
        return v === 0n;
      case '.ifgt':
        return v > 0n;
      case '.ifge':
        return v >= 0n;
      case '.iflt':
        return v < 0n;
      case '.ifle':
        return v <= 0n;
    }
    this.error(`unknown conditional ${kind}`);
    return false;
  }

  // ---- symbols and expressions ----

  private hooks: ExprHooks = {
    register: (name) => lookupRegister(name)?.reg,
    localLabel: (n, dir) => {
      const c = this.localCounts.get(n) ?? 0;
      return `${n}${LOCAL_SEP}${dir === 'b' ? c : c + 1}`;
    },
    dot: () => {
      const name = `${DOT_PREFIX}${this.dotCount++}`;
      this.syms.set(name, this.labelSym(name, true));
      return name;
    },
  };

  private labelSym(name: string, internal: boolean): Sym {
    return { name, kind: 'label', section: this.cur.name, item: this.cur.items.length, fragId: this.cur.fragId, fragOff: this.cur.fragOff, global: false, weak: false, loc: this.line?.loc, internal };
  }

  private sym(name: string): Sym {
    let s = this.syms.get(name);
    if (!s) this.syms.set(name, (s = { name, kind: 'undef', global: false, weak: false }));
    return s;
  }

  private defineLabel(label: string): void {
    let name = label;
    let internal = false;
    if (/^\d+$/.test(label)) {
      const c = (this.localCounts.get(label) ?? 0) + 1;
      this.localCounts.set(label, c);
      name = `${label}${LOCAL_SEP}${c}`;
      internal = true;
    }
    const old = this.syms.get(name);
    if (old && old.kind !== 'undef') {
      this.error(`symbol \`${label}' is already defined`);
      return;
    }
    const s = this.labelSym(name, internal);
    if (old) {
      s.global = old.global;
      s.weak = old.weak;
      s.type = old.type;
      s.size = old.size;
    }
    this.syms.set(name, s);
  }

  /** Parse-time view: labels are fragment-relative, so only same-fragment differences are absolute. */
  private parseLookup = (name: string, depth: number): Value | undefined => {
    const s = this.syms.get(name);
    if (!s || s.kind === 'undef') return undefined;
    if (s.kind === 'equ') return evaluate(s.expr as Expr, this.parseLookup, depth + 1);
    return { c: BigInt(s.fragOff as number), terms: new Map([[`F:${s.section}#${s.fragId}`, 1n]]) };
  };

  /** Final view: labels are section offsets after layout. */
  private finalLookup = (name: string, depth: number): Value | undefined => {
    const s = this.syms.get(name);
    if (!s || s.kind === 'undef') return undefined;
    if (s.kind === 'equ') {
      const v = evaluate(s.expr as Expr, this.finalLookup, depth + 1);
      // A local alias of a global (.set al, h) is resolved locally, as gas does.
      if (!s.global && !s.weak && v.sym !== undefined) return { c: v.c, terms: v.terms };
      return v;
    }
    const off = BigInt(this.labelOffset(s));
    const v: Value = { c: off, terms: new Map([[`S:${s.section}`, 1n]]) };
    // Locals in a mergeable section (flag M) keep their name for relocations gas cannot move to
    // the section symbol (merging may move the string): see keepMergeLocal() in resolveFixup.
    if (s.global || s.weak || this.sections.get(s.section as string)?.flags.includes('M')) {
      v.sym = name;
      v.symOff = off;
    }
    return v;
  };

  private labelOffset(s: Sym): number {
    const sec = this.sections.get(s.section as string) as SecState;
    const it = sec.items[s.item as number];
    if (it) return it.off + (s.itemOff ?? 0);
    const last = sec.items[sec.items.length - 1];
    return last ? last.off + last.size : 0;
  }

  private parse(text: string): Expr | undefined {
    try {
      return parseFullExpr(text.trim(), this.hooks);
    } catch (e) {
      this.error(e instanceof ExprError ? e.message : String(e));
      return undefined;
    }
  }

  /** Constant value now, or undefined (not an error) when it depends on layout or undefined symbols. */
  private constNow = (e: Expr): bigint | undefined => {
    if (e.k === 'num') return e.v;
    try {
      const v = evaluate(e, this.parseLookup);
      return isConst(v) ? v.c : undefined;
    } catch {
      return undefined;
    }
  };

  /** An expression that must be absolute right now (.if, .rept, .fill...). */
  private absolute(text: string, what: string): bigint | undefined {
    const e = this.parse(text);
    if (!e) return undefined;
    try {
      const v = evaluate(e, this.parseLookup);
      if (isConst(v)) return v.c;
      const undef = [...v.terms.keys()].find((k) => k.startsWith('U:'));
      this.error(undef ? `${what}: undefined symbol \`${displaySymbol(undef.slice(2))}'` : `${what}: non-constant expression`);
    } catch (err) {
      this.error(`${what}: ${(err as Error).message}`);
    }
    return undefined;
  }

  /** Replace references to .set symbols by their current expression (so `.set x, x+1` works). */
  private inlineEqu(e: Expr, depth = 0): Expr {
    if (depth > 100) return e;
    switch (e.k) {
      case 'num':
        return e;
      case 'sym': {
        const s = this.syms.get(e.name);
        return s && s.kind === 'equ' ? (s.expr as Expr) : e;
      }
      case 'un':
        return { ...e, a: this.inlineEqu(e.a, depth + 1) };
      case 'bin':
        return { ...e, a: this.inlineEqu(e.a, depth + 1), b: this.inlineEqu(e.b, depth + 1) };
    }
  }

  private setSymbol(name: string, text: string, once: boolean): void {
    const e = this.parse(text);
    if (!e) return;
    const old = this.syms.get(name);
    if (old && old.kind === 'label') {
      this.error(`symbol \`${name}' is already defined`);
      return;
    }
    if (once && old && old.kind === 'equ') {
      this.error(`symbol \`${name}' is already defined`);
      return;
    }
    let expr = this.inlineEqu(e);
    const c = this.constNow(expr);
    if (c !== undefined) expr = { k: 'num', v: c };
    const s = this.sym(name);
    s.kind = 'equ';
    s.expr = expr;
    s.loc = this.line.loc;
  }

  // ---- sections and emission ----

  private switchSection(name: string, flags?: string, type?: string): void {
    let s = this.sections.get(name);
    if (!s) {
      const f = flags ?? defaultFlags(name);
      s = { name, flags: f, nobits: type === '@nobits' || type === '%nobits' || name === '.bss' || name.startsWith('.bss.'), items: [], fragId: 0, fragOff: 0, align: 1 };
      this.sections.set(name, s);
    }
    if (s !== this.cur) {
      this.prev = this.cur;
      this.cur = s;
    }
  }

  private emit(bytes: Uint8Array, fixups: Fixup[], isInstruction: boolean): void {
    this.outputBytes += bytes.length;
    if (this.outputBytes > MAX_OUTPUT_BYTES) return this.error(`output larger than ${MAX_OUTPUT_BYTES >> 20} MiB: data dropped`);
    const line = this.line;
    line.isInstruction = isInstruction;
    this.cur.items.push({ k: 'bytes', bytes, fixups, line, off: 0, size: bytes.length });
    this.cur.fragOff += bytes.length;
  }

  private emitVariable(it: Item): void {
    this.cur.items.push(it);
    this.cur.fragId++;
    this.cur.fragOff = 0;
  }

  // ---- macros ----

  private invokeMacro(mac: Macro, args: string, l: SrcLine, r: Reader): boolean {
    const vals = bindArgs(mac.formals, args);
    if (typeof vals === 'string') {
      this.error(`${mac.name}: ${vals}`);
      return false;
    }
    const n = this.macroCounter++;
    const lines = mac.body.map((b) => ({ text: substituteBody(b.text, vals, n), loc: b.loc }));
    return this.pushReader(lines, { kind: 'as-macro', name: mac.name, loc: l.loc }, true, r);
  }

  private defineMacro(rest: string, l: SrcLine, r: Reader): void {
    const m = /^([A-Za-z_.$][\w.$]*)\s*,?\s*(.*)$/.exec(rest);
    const body = this.collectBlock(r, /^\.macro$/, /^\.endm$/, `.endm for .macro ${m?.[1] ?? ''}`);
    if (!m) {
      this.error('.macro needs a name');
      return;
    }
    const formals = parseFormals(m[2]);
    if (typeof formals === 'string') {
      this.error(formals);
      return;
    }
    if (!body) return;
    const key = m[1].toLowerCase();
    if (this.macros.has(key)) {
      this.error(`macro \`${m[1]}' was already defined`);
      return;
    }
    this.macros.set(key, { name: m[1], formals, body, loc: l.loc });
  }

  private repeat(kind: string, rest: string, l: SrcLine, r: Reader): void {
    const body = this.collectBlock(r, /^\.(rept|irp|irpc)$/, /^\.endr$/, `.endr for ${kind}`);
    if (!body) return;
    const lines: SrcLine[] = [];
    const frame: ExpansionFrame = { kind: 'repeat', name: kind, loc: l.loc };
    if (kind === '.rept') {
      const n = this.absolute(rest, '.rept count');
      if (n === undefined) return;
      if (n > BigInt(MAX_REPT) || n * BigInt(Math.max(1, body.length)) > BigInt(MAX_EXPANDED_LINES)) {
        this.error(`.rept count ${n} too large`);
        return;
      }
      for (let i = 0n; i < n; i++) lines.push(...body);
    } else {
      const m = /^([A-Za-z_.$][\w.$]*)\s*,?\s*(.*)$/.exec(rest);
      if (!m) {
        this.error(`${kind} needs a parameter name`);
        return;
      }
      const items = kind === '.irp' ? splitList(m[2]) : [...(splitList(m[2])[0] ?? '')];
      if (items.length === 0) items.push('');
      for (const it of items) {
        const vals = new Map([[m[1], it]]);
        for (const b of body) lines.push({ text: substituteBody(b.text, vals, this.macroCounter), loc: b.loc });
      }
    }
    this.pushReader(lines, frame, false, r);
  }

  // ---- directives ----

  private directive(name: string, rest: string, l: SrcLine, r: Reader): void {
    switch (name) {
      case '.macro':
        return this.defineMacro(rest, l, r);
      case '.endm':
        return this.error('.endm without .macro');
      case '.exitm': {
        while (this.readers.length) {
          const top = this.readers.pop() as Reader;
          if (top.isMacro) {
            this.conds.length = Math.min(this.conds.length, top.condDepth ?? 0);
            return;
          }
        }
        return this.error('.exitm outside a macro');
      }
      case '.purgem':
        if (!this.macros.delete(rest.trim().toLowerCase())) this.error(`macro \`${rest.trim()}' is not defined`);
        return;
      case '.rept':
      case '.irp':
      case '.irpc':
        return this.repeat(name, rest, l, r);
      case '.endr':
        return this.error('.endr without .rept/.irp');
      case '.set':
      case '.equ':
      case '.equiv': {
        const m = /^([A-Za-z_.$][\w.$]*)\s*,\s*(.*)$/.exec(rest);
        if (!m) return this.error(`${name} needs a symbol and a value`);
        return this.setSymbol(m[1], m[2], name === '.equiv');
      }
      case '.globl':
      case '.global':
      case '.weak':
      case '.local':
      case '.hidden':
      case '.protected':
      case '.internal':
        for (const n of rest.split(',').map((x) => x.trim()).filter((x) => x)) {
          const s = this.sym(n);
          if (name === '.weak') s.weak = true;
          else if (name === '.local') s.global = false;
          else if (name === '.globl' || name === '.global') s.global = true;
        }
        return;
      case '.type': {
        const m = /^([A-Za-z_.$][\w.$]*)\s*(?:,\s*|\s+)[@%"]?(\w+)/.exec(rest);
        if (!m) return this.error('.type needs a symbol and a type');
        const t = m[2];
        this.sym(m[1]).type = t === 'function' || t === 'STT_FUNC' ? 'function' : t === 'object' || t === 'STT_OBJECT' ? 'object' : 'notype';
        return;
      }
      case '.size': {
        const m = /^([A-Za-z_.$][\w.$]*)\s*,\s*(.*)$/.exec(rest);
        if (!m) return this.error('.size needs a symbol and a size');
        const e = this.parse(m[2]);
        if (e) this.sym(m[1]).size = e;
        return;
      }
      case '.text':
      case '.data':
      case '.bss':
        return this.switchSection(name);
      case '.section':
      case '.pushsection': {
        const parts = splitOperands(rest);
        const secName = (parts[0] ?? '').replace(/^"|"$/g, '');
        if (!secName) return this.error(`${name} needs a section name`);
        const flags = parts[1] !== undefined ? parts[1].replace(/^"|"$/g, '') : undefined;
        if (name === '.pushsection') this.sectionStack.push({ cur: this.cur, prev: this.prev });
        return this.switchSection(secName, flags, parts[2]?.trim());
      }
      case '.popsection': {
        const top = this.sectionStack.pop();
        if (!top) return this.error('.popsection without .pushsection');
        this.cur = top.cur;
        this.prev = top.prev;
        return;
      }
      case '.previous': {
        if (!this.prev) return;
        const p = this.prev;
        this.prev = this.cur;
        this.cur = p;
        return;
      }
      case '.byte':
        return this.data(rest, 1);
      case '.short':
      case '.word':
      case '.value':
      case '.2byte':
        return this.data(rest, 2);
      case '.long':
      case '.int':
      case '.4byte':
        return this.data(rest, 4);
      case '.quad':
      case '.8byte':
        return this.data(rest, 8);
      case '.ascii':
      case '.asciz':
      case '.string':
        return this.strings(rest, name !== '.ascii');
      case '.skip':
      case '.space':
      case '.zero':
        return this.space(rest, name === '.zero');
      case '.fill':
        return this.fill(rest);
      case '.org': {
        const parts = splitOperands(rest);
        const e = this.parse(parts[0] ?? '');
        const fill = parts[1] ? this.absolute(parts[1], '.org fill') ?? 0n : 0n;
        if (e) this.emitVariable({ k: 'org', target: e, fill: Number(fill & 0xffn), line: this.line, off: 0, size: 0 });
        return;
      }
      case '.balign':
      case '.p2align':
      case '.align':
        return this.align(name, rest);
      case '.nops': {
        const parts = splitOperands(rest);
        const n = this.absolute(parts[0] ?? '', '.nops size');
        const lim = parts[1] ? this.absolute(parts[1], '.nops limit') : undefined;
        if (n === undefined || n < 0n) return;
        const b = new Uint8Array(Number(n));
        fillNops(b, 0, b.length, lim === undefined || lim === 0n ? 11 : Number(lim));
        return this.emit(b, [], true);
      }
      case '.include': {
        const f = rest.trim().replace(/^"|"$/g, '');
        const dirs = [dirname(l.loc.file), ...this.input.includeDirs];
        for (const d of dirs) {
          const p = joinPath(d, f);
          const t = this.input.fs.readFile(p);
          if (t !== undefined) {
            if (this.includesLeft <= 0) return;
            if (r.frames.filter((x) => x.kind === 'include').length >= MAX_INCLUDE_DEPTH) {
              return this.error(`.include nested more than ${MAX_INCLUDE_DEPTH} deep (include cycle through ${p}?)`);
            }
            if (--this.includesLeft === 0) return this.error(`more than ${MAX_INCLUDES} .includes in all (include cycle through ${p}?): the rest are left out`);
            this.files.push(p);
            const lines = t.split('\n').map((text, i) => ({ text, loc: { file: p, line: i + 1 } }));
            this.pushReader(lines, { kind: 'include', name: p, loc: l.loc }, false, r);
            return;
          }
        }
        return this.error(`can't open ${f} for reading`);
      }
      case '.comm':
      case '.lcomm':
        return this.common(name, rest);
      case '.err':
        return this.error('.err encountered');
      case '.error':
        return this.error(unquote(rest) || '.error directive invoked in source file');
      case '.warning':
        return this.error(unquote(rest) || '.warning directive invoked in source file', 'warning');
      case '.print':
        return;
      case '.intel_syntax':
        return this.error('.intel_syntax is not supported (kentry assembles AT&T syntax only)');
      case '.code16':
      case '.code32':
        return this.error(`${name} is not supported (64-bit code only)`);
      case '.altmacro':
        return this.error('.altmacro is not supported');
      case '.att_syntax':
      case '.code64':
      case '.noaltmacro':
      case '.file':
      case '.loc':
      case '.ident':
      case '.sleb128':
      case '.uleb128':
        return this.leb128(rest, name === '.sleb128');
      case '.note':
      case '.arch':
      case '.intel_mnemonic':
      case '.att_mnemonic':
      case '.linefile':
        return;
    }
    if (name.startsWith('.cfi_')) return;
    this.error(`unknown pseudo-op: \`${name}'`);
  }

  /**
   * .lcomm sym, size / .comm sym, size[, align]: space in .bss. Like gas, it goes after everything
   * written to .bss itself (gas uses bss subsection 1), aligned by size (8, 4, 2 or 1) unless given.
   * .comm also makes the symbol global: kentry links statically, with no common-symbol merging.
   */
  private common(name: string, rest: string): void {
    const parts = splitOperands(rest);
    const sym = parts[0]?.trim();
    const size = parts[1] ? this.absolute(parts[1], `${name} size`) : undefined;
    if (!sym || !/^[A-Za-z_.$][\w.$]*$/.test(sym) || size === undefined || size < 0n || size > 1n << 28n) return this.error(`${name} needs a symbol and a size`);
    let align = size >= 8n ? 8 : size >= 4n ? 4 : size >= 2n ? 2 : 1;
    if (parts[2] && name === '.comm') align = Number(this.absolute(parts[2], `${name} alignment`) ?? 1n);
    this.commons.push({ name: sym, size: Number(size), align, global: name === '.comm', line: this.line });
  }

  private placeCommons(): void {
    if (!this.commons.length) return;
    this.switchSection('.bss');
    for (const c of this.commons) {
      this.line = c.line;
      if (c.align > 1) this.align('.balign', String(c.align));
      this.defineLabel(c.name);
      if (c.global) this.sym(c.name).global = true;
      this.emit(new Uint8Array(c.size), [], false);
    }
  }

  private fixup(f: EncodedFixup, branch = false): Fixup {
    return { offset: f.offset, size: f.size, expr: f.expr, pcrel: f.pcrel, bias: f.bias, signed: f.signed, branch, line: this.line };
  }

  private data(rest: string, size: number): void {
    const parts = rest.trim() === '' ? [] : splitOperands(rest);
    const bytes = new Uint8Array(parts.length * size);
    const fixups: Fixup[] = [];
    parts.forEach((p, i) => {
      const dotsBefore = this.dotCount;
      const e = this.parse(p);
      if (!e) return;
      // gas advances `.` operand by operand.
      for (let d = dotsBefore; d < this.dotCount && i > 0; d++) {
        const dot = this.syms.get(`${DOT_PREFIX}${d}`);
        if (dot) {
          dot.itemOff = i * size;
          dot.fragOff = (dot.fragOff ?? 0) + i * size;
        }
      }
      const c = this.constNow(e);
      if (c !== undefined) {
        if (size < 8 && (c < -(1n << BigInt(size * 8 - 1)) || c >= 1n << BigInt(size * 8))) {
          this.error(`value 0x${BigInt.asUintN(64, c).toString(16)} truncated to 0x${BigInt.asUintN(size * 8, c).toString(16)}`, 'warning');
        }
        writeLE(bytes, i * size, size, c);
      }
      else fixups.push(this.fixup({ offset: i * size, size, expr: e, pcrel: false, bias: 0, signed: false }));
    });
    this.emit(bytes, fixups, false);
  }

  private leb128(rest: string, signed: boolean): void {
    const out: number[] = [];
    for (const p of splitOperands(rest)) {
      let v = this.absolute(p, signed ? '.sleb128' : '.uleb128');
      if (v === undefined) continue;
      if (!signed) v = BigInt.asUintN(64, v);
      for (;;) {
        const byte = Number(v & 0x7fn);
        v >>= 7n; // arithmetic shift for negative values
        const done = signed ? (v === 0n && (byte & 0x40) === 0) || (v === -1n && (byte & 0x40) !== 0) : v === 0n;
        out.push(done ? byte : byte | 0x80);
        if (done) break;
      }
    }
    this.emit(Uint8Array.from(out), [], false);
  }

  private strings(rest: string, zero: boolean): void {
    const out: number[] = [];
    const re = /\s*"((?:[^"\\]|\\.)*)"\s*,?/y;
    let m: RegExpExecArray | null;
    let pos = 0;
    const s = rest.trim();
    while (pos < s.length && (re.lastIndex = pos, (m = re.exec(s)))) {
      out.push(...unescape(m[1]));
      if (zero) out.push(0);
      pos = re.lastIndex;
    }
    if (pos < s.length) this.error(`expected a string in \`${s}'`);
    this.emit(Uint8Array.from(out), [], false);
  }

  private space(rest: string, zeroOnly: boolean): void {
    const parts = splitOperands(rest);
    const e = this.parse(parts[0] ?? '');
    if (!e) return;
    const fill = !zeroOnly && parts[1] ? Number((this.absolute(parts[1], '.skip fill') ?? 0n) & 0xffn) : 0;
    const n = this.constNow(e);
    if (n !== undefined) {
      if (n < 0n) return this.error('.skip with a negative size');
      if (n > 1n << 28n) return this.error(`.skip size ${n} too large`);
      return this.emit(new Uint8Array(Number(n)).fill(fill), [], false);
    }
    this.emitVariable({ k: 'space', count: e, fill, line: this.line, off: 0, size: 0 });
  }

  private fill(rest: string): void {
    const parts = splitOperands(rest);
    const size = parts[1] ? this.absolute(parts[1], '.fill size') : 1n;
    const val = parts[2] ? this.absolute(parts[2], '.fill value') : 0n;
    const repExpr = this.parse(parts[0] ?? '');
    if (!repExpr || size === undefined || val === undefined) return;
    let rep = this.constNow(repExpr);
    if (rep === undefined && size === 1n) {
      // Like gas: a byte fill whose count depends on layout (.fill 0b + 16 - ., 1, 0xcc) is sized later.
      this.emitVariable({ k: 'space', count: repExpr, fill: Number(val & 0xffn), line: this.line, off: 0, size: 0 });
      return;
    }
    rep ??= this.absolute(parts[0] ?? '', '.fill repeat');
    if (rep === undefined) return;
    if (rep < 0n || rep > 1n << 24n) return this.error(`.fill repeat count ${rep} out of range`);
    const sz = Number(size > 8n ? 8n : size);
    const b = new Uint8Array(Number(rep) * sz);
    for (let i = 0; i < Number(rep); i++) writeLE(b, i * sz, Math.min(sz, 4), val);
    this.emit(b, [], false);
  }

  private align(name: string, rest: string): void {
    const parts = splitOperands(rest);
    const a = this.absolute(parts[0] ?? '', name);
    if (a === undefined) return;
    let align: number;
    if (name === '.p2align') align = 2 ** Number(a);
    else align = Number(a);
    if (align <= 0 || (align & (align - 1)) !== 0 || align > 1 << 16) return this.error(`alignment ${a} is not a power of 2 (or too large)`);
    const fill = parts[1] && parts[1].trim() !== '' ? this.absolute(parts[1], `${name} fill`) : undefined;
    const max = parts[2] ? this.absolute(parts[2], `${name} max`) : undefined;
    this.cur.align = Math.max(this.cur.align, align);
    this.emitVariable({ k: 'align', align, fill: fill === undefined ? undefined : Number(fill & 0xffn), max: max === undefined ? undefined : Number(max), line: this.line, off: 0, size: 0 });
  }

  // ---- instructions ----

  private instruction(mnemonic: string, rest: string, prefix: number[] = []): void {
    const lower = mnemonic.toLowerCase();
    if (PREFIX[lower] !== undefined) {
      const pre = [...prefix, PREFIX[lower]];
      const m = /^([A-Za-z_.$][\w.$]*)(.*)$/.exec(rest);
      if (!m) return this.emit(Uint8Array.from(pre), [], true);
      return this.instruction(m[1], m[2].trim(), pre);
    }
    this.line.text = rest ? `${mnemonic} ${rest}` : mnemonic;
    this.line.isInstruction = true;
    let ops: Operand[];
    try {
      ops = rest === '' ? [] : splitOperands(rest).map((o) => parseOperand(o, this.hooks));
    } catch (e) {
      return this.error(`${(e as Error).message} in \`${this.line.text}'`);
    }
    const loopOp = LOOPS[lower];
    const o0 = ops[0];
    if (loopOp && ops.length === 1 && o0.kind === 'mem' && o0.disp && !o0.base && !o0.index && !o0.seg) {
      // rel8-only branches: never relaxed (gas reports them out of range instead).
      const b = Uint8Array.from([...prefix, ...loopOp, 0]);
      return this.emit(b, [this.fixup({ offset: b.length - 1, size: 1, expr: o0.disp, pcrel: true, bias: 1, signed: true }, true)], true);
    }
    const br = directBranch(lower, ops);
    if (br) {
      const target = (ops[0] as { disp: Expr }).disp;
      if (br.cc === -2) {
        const b = Uint8Array.from([...prefix, 0xe8, 0, 0, 0, 0]);
        return this.emit(b, [this.fixup({ offset: prefix.length + 1, size: 4, expr: target, pcrel: true, bias: 4, signed: true }, true)], true);
      }
      if (prefix.length) this.emit(Uint8Array.from(prefix), [], true);
      this.emitVariable({ k: 'jump', cc: br.cc, target, relax: true, near: false, line: this.line, off: 0, size: 2 });
      return;
    }
    const res = encodeInstruction(mnemonic, ops, this.constNow);
    if ('error' in res) return this.error(`${res.error} in \`${this.line.text}'`);
    if (res.warning) this.error(res.warning, 'warning');
    // An explicit prefix the encoding already has (addr32 with 32-bit registers) is not doubled.
    if (prefix.length) {
      const lead = new Set<number>();
      for (const b of res.bytes) {
        if (!LEGACY_PREFIXES.has(b)) break;
        lead.add(b);
      }
      prefix = prefix.filter((b) => !lead.has(b));
    }
    const bytes = prefix.length ? Uint8Array.from([...prefix, ...res.bytes]) : res.bytes;
    const fixups = res.fixups.map((f) => this.fixup(f));
    for (const f of fixups) f.offset += prefix.length;
    this.emit(bytes, fixups, true);
  }

  // ---- layout and output ----

  /** The label a jump goes to when it is in the jump's own section (so gas relaxes it). */
  private jumpTargetInSection(it: Item & { k: 'jump' }, sec: SecState): Sym | undefined {
    const target = it.target;
    if (target.k !== 'sym' && !(target.k === 'bin' && (target.op === '+' || target.op === '-') && target.a.k === 'sym' && this.constNow(target.b) !== undefined)) return undefined;
    const name = target.k === 'sym' ? target.name : (target.a as { name: string }).name;
    let s = this.syms.get(name);
    for (let d = 0; s && s.kind === 'equ' && s.expr?.k === 'sym' && d < 20; d++) s = this.syms.get(s.expr.name);
    return s && s.kind === 'label' && s.section === sec.name && !s.weak ? s : undefined;
  }

  private layout(): void {
    for (const sec of this.sections.values()) {
      for (const it of sec.items) {
        if (it.k === 'jump') {
          const target = this.jumpTargetInSection(it, sec);
          if (target) {
            it.targetItem = target.item;
            it.targetSym = target;
            const t = it.target;
            it.targetAddend = t.k === 'bin' ? (t.op === '-' ? -1n : 1n) * (this.constNow(t.b) ?? 0n) : 0n;
          }
          else {
            it.relax = false;
            it.near = true;
            it.size = it.cc === -1 ? 5 : 6;
          }
        }
      }
    }
    for (let pass = 0; pass < 500; pass++) {
      let changed = false;
      for (const sec of this.sections.values()) {
        let off = 0;
        for (let idx = 0; idx < sec.items.length; idx++) {
          const it = sec.items[idx];
          const prevOff = it.off;
          it.off = off;
          let size = it.size;
          switch (it.k) {
            case 'align': {
              const pad = (it.align - (off % it.align)) % it.align;
              size = it.max !== undefined && pad > it.max ? 0 : pad;
              break;
            }
            case 'space': {
              const n = this.tryFinal(it.count);
              size = n === undefined || n < 0n ? 0 : Number(n > 1n << 28n ? 0n : n);
              break;
            }
            case 'org': {
              const t = this.tryFinal(it.target, sec.name);
              size = t === undefined || t < BigInt(off) || t - BigInt(off) > BigInt(MAX_OUTPUT_BYTES) ? 0 : Number(t - BigInt(off));
              break;
            }
            case 'jump': {
              if (it.relax && !it.near && pass > 0) {
                let t = it.targetSym ? BigInt(this.labelOffset(it.targetSym)) + (it.targetAddend ?? 0n) : this.tryFinal(it.target, sec.name);
                // A forward target still has last pass's offset: move it by what this pass has
                // grown so far (gas's "stretch"), or a far-moved jump would look out of range.
                if (t !== undefined && (it.targetItem ?? 0) > idx) t += BigInt(this.stretchTo(sec, idx, it.targetItem ?? 0, off - prevOff));
                if (t !== undefined) {
                  const d = t - BigInt(off + 2);
                  if (d < -128n || d > 127n) {
                    it.near = true;
                    size = it.cc === -1 ? 5 : 6;
                  }
                }
              }
              break;
            }
          }
          if (size !== it.size) {
            it.size = size;
            changed = true;
          }
          off += size;
        }
      }
      if (!changed && pass > 0) return;
    }
    this.error('layout did not converge (oscillating .skip/.org sizes)');
  }

  /**
   * gas's stretch through alignment (relax_frag): growth before a forward target reaches it only
   * in multiples of each `.align` in between, which absorbs the rest (Linux 6.1's clear_bhb_loop:
   * `jmp 5f` over two `.align 64` stays rel8 in gas).
   */
  private stretchTo(sec: SecState, from: number, to: number, stretch: number): number {
    for (let i = from + 1; i < to && stretch !== 0; i++) {
      const a = sec.items[i];
      if (a.k === 'align' && a.align > 1) stretch = stretch > 0 ? stretch - (stretch % a.align) : -((-stretch) - ((-stretch) % a.align));
    }
    return stretch;
  }

  /** Evaluate with current layout; with `sec`, a value relative to that section gives its offset. */
  private tryFinal(e: Expr, sec?: string): bigint | undefined {
    try {
      const v = evaluate(e, this.finalLookup);
      if (isConst(v)) return v.c;
      if (sec && v.terms.size === 1 && v.terms.get(`S:${sec}`) === 1n) return v.c;
    } catch {
      /* reported when the item is emitted */
    }
    return undefined;
  }

  private finish(): ObjectImage {
    this.layout();
    const sections = new Map<string, Section>();
    const relocations: Relocation[] = [];
    const lines: LineEntry[] = [];
    for (const sec of this.sections.values()) {
      const last = sec.items[sec.items.length - 1];
      const size = last ? last.off + last.size : 0;
      const out = new Uint8Array(size);
      const code = sec.flags.includes('x');
      for (const it of sec.items) {
        switch (it.k) {
          case 'bytes':
            out.set(it.bytes, it.off);
            for (const f of it.fixups) this.resolveFixup(sec, out, it.off, f, relocations);
            break;
          case 'space':
            this.checkFinal(it.count, it.line, '.skip', (n) => n >= 0n, undefined, 'warning');
            out.fill(it.fill, it.off, it.off + it.size);
            break;
          case 'org':
            this.checkFinal(it.target, it.line, '.org', (t) => t >= BigInt(it.off), sec.name);
            if ((this.tryFinal(it.target, sec.name) ?? 0n) - BigInt(it.off) > BigInt(MAX_OUTPUT_BYTES)) this.error(`.org moves more than ${MAX_OUTPUT_BYTES >> 20} MiB forward`, 'error', it.line);
            out.fill(it.fill, it.off, it.off + it.size);
            break;
          case 'align':
            // gas pads code with long NOPs both when no fill is given and when the fill is 0x90.
            if ((it.fill === undefined || it.fill === 0x90) && code) fillNops(out, it.off, it.size);
            else out.fill(it.fill ?? 0, it.off, it.off + it.size);
            break;
          case 'jump':
            this.emitJump(sec, out, it, relocations);
            break;
        }
        if (it.line && (it.size > 0 || it.k === 'bytes') && it.k !== 'align') {
          if (it.k === 'bytes' && it.size === 0) continue;
          lines.push({ section: sec.name, offset: it.off, size: it.size, loc: it.line.loc, stack: it.line.stack, text: it.line.text, isInstruction: it.line.isInstruction });
        }
      }
      sections.set(sec.name, { name: sec.name, flags: sec.flags, bytes: sec.nobits ? new Uint8Array(size) : out, align: sec.align });
    }
    const symbols = new Map<string, SymbolDef>();
    for (const s of this.syms.values()) {
      if (s.internal || s.kind === 'undef') continue;
      let value = 0n;
      let section: string | undefined;
      if (s.kind === 'label') {
        value = BigInt(this.labelOffset(s));
        section = s.section;
      } else {
        try {
          const v = evaluate(s.expr as Expr, this.finalLookup);
          value = v.c;
          if (v.terms.size === 1) {
            const [k, c] = [...v.terms][0];
            if (c === 1n && k.startsWith('S:')) section = k.slice(2);
          }
        } catch {
          /* a non-constant .set: keep 0 */
        }
      }
      let size: number | undefined;
      if (s.size) {
        try {
          const v = evaluate(s.size, this.finalLookup);
          if (isConst(v)) size = Number(v.c);
        } catch {
          /* ignore */
        }
      }
      symbols.set(s.name, { name: s.name, section, value, global: s.global || s.weak, type: s.type, size, loc: s.loc });
    }
    lines.sort((a, b) => (a.section === b.section ? a.offset - b.offset : a.section < b.section ? -1 : 1));
    return { sections, symbols, relocations, lines, diagnostics: this.diags, files: this.files };
  }

  private checkFinal(e: Expr, line: LineInfo, what: string, ok: (v: bigint) => boolean, sec?: string, severity: 'error' | 'warning' = 'error'): void {
    const v = this.tryFinal(e, sec);
    if (v === undefined) this.error(`${what}: expression is not a constant (or not in this section)`, 'error', line);
    else if (!ok(v)) this.error(`${what}: value ${v} out of range (negative size or backwards .org)${severity === 'warning' ? ', ignored' : ''}`, severity, line);
  }

  private emitJump(sec: SecState, out: Uint8Array, it: Item & { k: 'jump' }, relocs: Relocation[]): void {
    const op = it.cc === -1 ? [it.near ? 0xe9 : 0xeb] : it.near ? [0x0f, 0x80 + it.cc] : [0x70 + it.cc];
    out.set(op, it.off);
    const field = it.off + op.length;
    if (!it.relax) {
      this.resolveFixup(sec, out, 0, { offset: field, size: 4, expr: it.target, pcrel: true, bias: 4, signed: true, branch: true, line: it.line }, relocs);
      return;
    }
    const t = this.tryFinal(it.target, sec.name);
    if (t === undefined) {
      this.error('jump target is not a constant', 'error', it.line);
      return;
    }
    const d = t - BigInt(it.off + it.size);
    writeLE(out, field, it.near ? 4 : 1, d);
  }

  private resolveFixup(sec: SecState, out: Uint8Array, base: number, f: Fixup, relocs: Relocation[]): void {
    const fieldOff = base + f.offset;
    let v: Value;
    try {
      v = evaluate(f.expr, this.finalLookup);
    } catch (e) {
      this.error((e as Error).message, 'error', f.line);
      return;
    }
    const cur = `S:${sec.name}`;
    const w: Value = { c: v.c, terms: new Map(v.terms) };
    if (f.pcrel) {
      w.terms.set(cur, (w.terms.get(cur) ?? 0n) - 1n);
      if (w.terms.get(cur) === 0n) w.terms.delete(cur);
      w.c -= BigInt(fieldOff + f.bias);
    }
    const symDef = v.sym !== undefined ? this.syms.get(v.sym) : undefined;
    const mergeLocal = symDef !== undefined && !symDef.global && !symDef.weak && symDef.kind === 'label';
    // pc-relative to a global, or to a mergeable local in another section: the linker decides.
    const forceSym = f.pcrel && v.sym !== undefined && !(mergeLocal && symDef.section === sec.name);
    if (w.terms.size === 0 && !forceSym) {
      this.writeChecked(out, fieldOff, f, w.c);
      return;
    }
    let target: string | undefined;
    let pcrel = false;
    const terms = [...w.terms];
    if (forceSym && w.terms.size === 0) {
      target = `S:${sec.name}`;
      pcrel = true;
    } else if (terms.length === 1 && terms[0][1] === 1n) target = terms[0][0];
    else if (terms.length === 2) {
      const pos = terms.find((t) => t[1] === 1n);
      const neg = terms.find((t) => t[1] === -1n);
      if (pos && neg && neg[0] === cur) {
        target = pos[0];
        pcrel = true;
      }
    }
    if (!target) {
      this.error(`can't resolve \`${exprText(f.expr)}' (not a symbol plus a constant)`, 'error', f.line);
      return;
    }
    // Addend: the constant relative to the relocation's symbol; pc-relative ones count from the field.
    let addend = pcrel ? w.c + BigInt(fieldOff) : w.c;
    let symbol: string;
    // gas (tc_i386_fix_adjustable, adjust_reloc_syms): a reference to a local in a mergeable
    // section stays against that symbol when pc-relative or with a non-zero addend; else it
    // becomes section + offset like any local.
    const keepMergeLocal = mergeLocal && (pcrel || addend - (v.symOff ?? 0n) !== 0n);
    if (v.sym !== undefined && (!mergeLocal || keepMergeLocal) && (target.startsWith('U:') || v.sym === target.slice(2) || target === `S:${this.syms.get(v.sym)?.section}`)) {
      symbol = v.sym;
      addend -= v.symOff ?? 0n;
    } else if (target.startsWith('U:')) symbol = target.slice(2);
    else symbol = target.slice(2);
    if (symbol.includes(LOCAL_SEP) || symbol.startsWith(DOT_PREFIX)) {
      this.error(`undefined local label \`${displaySymbol(symbol)}'`, 'error', f.line);
      return;
    }
    const undefinedSym = target.startsWith('U:');
    let kind: RelocationKind | undefined;
    if (pcrel) {
      if (f.size === 4) kind = f.branch && (undefinedSym || v.sym !== undefined) ? 'R_X86_64_PLT32' : 'R_X86_64_PC32';
      else if (f.size === 1) kind = 'R_X86_64_PC8';
    } else {
      kind = f.size === 8 ? 'R_X86_64_64' : f.size === 4 ? (f.signed ? 'R_X86_64_32S' : 'R_X86_64_32') : f.size === 2 ? 'R_X86_64_16' : 'R_X86_64_8';
    }
    if (!kind) {
      this.error(`no ${f.size}-byte ${pcrel ? 'pc-relative ' : ''}relocation for \`${exprText(f.expr)}'`, 'error', f.line);
      return;
    }
    relocs.push({ section: sec.name, offset: fieldOff, kind, symbol, addend });
  }

  private writeChecked(out: Uint8Array, off: number, f: Fixup, value: bigint): void {
    const bits = BigInt(f.size * 8);
    if (f.size < 8) {
      const lo = f.signed || f.pcrel ? -(1n << (bits - 1n)) : -(1n << (bits - 1n));
      const hi = f.signed || f.pcrel ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
      if (value < lo || value > hi) this.error(`value 0x${BigInt.asUintN(64, value).toString(16)} does not fit in ${f.size} byte${f.size > 1 ? 's' : ''}${f.pcrel ? ' (pc-relative)' : ''}`, f.pcrel ? 'error' : 'warning', f.line);
    }
    writeLE(out, off, f.size, value);
  }

  get allFiles(): string[] {
    return this.files;
  }
}

function exprText(e: Expr): string {
  switch (e.k) {
    case 'num':
      return e.v.toString();
    case 'sym':
      return displaySymbol(e.name);
    case 'un':
      return `${e.op}${exprText(e.a)}`;
    case 'bin':
      return `${exprText(e.a)}${e.op}${exprText(e.b)}`;
  }
}

/** Remove a gas '#' comment (outside strings and character constants). */
export function stripComment(text: string): string {
  if (!text.includes('#')) return text;
  let quote = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === '"') quote = false;
    } else if (c === '"') quote = true;
    else if (c === "'") i += text[i + 1] === '\\' ? 2 : 1;
    else if (c === '#') return text.slice(0, i);
  }
  return text;
}

/** Split at ';' outside strings. */
export function splitStatements(text: string): string[] {
  if (!text.includes(';')) return [text];
  const out: string[] = [];
  let quote = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === '"') quote = false;
    } else if (c === '"') quote = true;
    else if (c === "'") i += text[i + 1] === '\\' ? 2 : 1;
    else if (c === ';') {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out;
}

function splitIfcArgs(arg: string): string[] {
  // .ifc a,b: each side may be quoted with ' or "; whitespace around is ignored.
  const parts = splitOperands(arg);
  if (parts.length !== 2) return [arg.trim(), ''];
  return parts.map((p) => {
    const t = p.trim();
    return (t.startsWith("'") && t.endsWith("'")) || (t.startsWith('"') && t.endsWith('"')) ? t.slice(1, -1) : t;
  });
}

function unquote(s: string): string {
  const t = s.trim();
  return t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1) : t;
}

function unescape(s: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c !== '\\') {
      const code = c.charCodeAt(0);
      if (code < 0x80) out.push(code);
      else out.push(...new TextEncoder().encode(c));
      continue;
    }
    const n = s[++i];
    const simple: Record<string, number> = { n: 10, t: 9, r: 13, b: 8, f: 12, v: 11, a: 7, '\\': 92, '"': 34, "'": 39 };
    if (simple[n] !== undefined) out.push(simple[n]);
    else if (n === 'x') {
      const m = /^[0-9a-fA-F]+/.exec(s.slice(i + 1)) ?? ['0'];
      out.push(parseInt(m[0], 16) & 0xff);
      i += m[0].length;
    } else if (/[0-7]/.test(n)) {
      const m = /^[0-7]{1,3}/.exec(s.slice(i)) as RegExpExecArray;
      out.push(parseInt(m[0], 8) & 0xff);
      i += m[0].length - 1;
    } else out.push(n.charCodeAt(0));
  }
  return out;
}
