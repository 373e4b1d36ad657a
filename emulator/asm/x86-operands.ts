/**
 * AT&T operand syntax: `%reg`, `$imm`, `disp(base,index,scale)`, `%gs:disp`, `*%rax` / `*(%rax)`.
 */
import { Register } from 'iced-x86';
import { type Expr, ExprError, type ExprHooks, parseFullExpr } from './expr';

export type RegClass = 'gpr' | 'seg' | 'cr' | 'dr' | 'xmm' | 'ymm' | 'mm' | 'ip';

export interface RegInfo {
  name: string;
  reg: Register;
  cls: RegClass;
  /** Width in bits for general registers (8/16/32/64). */
  size: number;
}

export type Operand =
  | { kind: 'reg'; r: RegInfo; star: boolean }
  | { kind: 'imm'; expr: Expr }
  | { kind: 'mem'; seg?: RegInfo; base?: RegInfo; index?: RegInfo; scale: number; disp?: Expr; star: boolean };

let regTable: Map<string, RegInfo> | undefined;

function buildRegs(): Map<string, RegInfo> {
  const t = new Map<string, RegInfo>();
  const add = (name: string, icedName: string, cls: RegClass, size: number): void => {
    const reg = (Register as unknown as Record<string, number>)[icedName];
    if (reg !== undefined) t.set(name, { name, reg, cls, size });
  };
  const legacy = ['a', 'c', 'd', 'b'];
  for (const l of legacy) {
    add(`${l}l`, `${l.toUpperCase()}L`, 'gpr', 8);
    add(`${l}h`, `${l.toUpperCase()}H`, 'gpr', 8);
    add(`${l}x`, `${l.toUpperCase()}X`, 'gpr', 16);
    add(`e${l}x`, `E${l.toUpperCase()}X`, 'gpr', 32);
    add(`r${l}x`, `R${l.toUpperCase()}X`, 'gpr', 64);
  }
  for (const l of ['sp', 'bp', 'si', 'di']) {
    const u = l.toUpperCase();
    add(`${l}l`, `${u}L`, 'gpr', 8);
    add(l, u, 'gpr', 16);
    add(`e${l}`, `E${u}`, 'gpr', 32);
    add(`r${l}`, `R${u}`, 'gpr', 64);
  }
  for (let n = 8; n <= 15; n++) {
    add(`r${n}b`, `R${n}L`, 'gpr', 8);
    add(`r${n}l`, `R${n}L`, 'gpr', 8);
    add(`r${n}w`, `R${n}W`, 'gpr', 16);
    add(`r${n}d`, `R${n}D`, 'gpr', 32);
    add(`r${n}`, `R${n}`, 'gpr', 64);
  }
  for (const s of ['es', 'cs', 'ss', 'ds', 'fs', 'gs']) add(s, s.toUpperCase(), 'seg', 16);
  for (let n = 0; n <= 15; n++) {
    add(`cr${n}`, `CR${n}`, 'cr', 64);
    add(`db${n}`, `DR${n}`, 'dr', 64);
    add(`dr${n}`, `DR${n}`, 'dr', 64);
    add(`xmm${n}`, `XMM${n}`, 'xmm', 128);
    add(`ymm${n}`, `YMM${n}`, 'ymm', 256);
    if (n < 8) add(`mm${n}`, `MM${n}`, 'mm', 64);
  }
  add('rip', 'RIP', 'ip', 64);
  add('eip', 'EIP', 'ip', 32);
  return t;
}

export function lookupRegister(name: string): RegInfo | undefined {
  regTable ??= buildRegs();
  return regTable.get(name.toLowerCase());
}

/** Split an operand list at top-level commas (not inside parentheses or quotes). */
export function splitOperands(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      cur += c;
      if (c === '\\') cur += text[++i] ?? '';
      else if (c === quote) quote = '';
      continue;
    }
    if (c === '"') quote = c;
    if (c === '(') depth++;
    else if (c === ')') depth--;
    if (c === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
      continue;
    }
    cur += c;
  }
  if (cur.trim() !== '' || out.length) out.push(cur.trim());
  return out;
}

function reg(text: string): RegInfo {
  const m = /^%\s*([A-Za-z0-9]+)$/.exec(text.trim());
  const r = m ? lookupRegister(m[1]) : undefined;
  if (!r) throw new ExprError(`bad register name \`${text.trim()}'`);
  return r;
}

export function parseOperand(text: string, hooks: ExprHooks): Operand {
  let t = text.trim();
  let star = false;
  if (t.startsWith('*')) {
    star = true;
    t = t.slice(1).trim();
  }
  if (t.startsWith('$')) return { kind: 'imm', expr: parseFullExpr(t.slice(1).trim(), hooks) };
  if (/^%\s*[A-Za-z0-9]+$/.test(t)) return { kind: 'reg', r: reg(t), star };
  let seg: RegInfo | undefined;
  const sm = /^%\s*([A-Za-z]{2})\s*:/.exec(t);
  if (sm) {
    seg = lookupRegister(sm[1]);
    if (!seg || seg.cls !== 'seg') throw new ExprError(`bad segment register %${sm[1]}`);
    t = t.slice(sm[0].length).trim();
  }
  let dispText = t;
  let base: RegInfo | undefined;
  let index: RegInfo | undefined;
  let scale = 1;
  if (t.endsWith(')')) {
    // Find the '(' matching the final ')'.
    let depth = 0;
    let open = -1;
    for (let i = t.length - 1; i >= 0; i--) {
      if (t[i] === ')') depth++;
      else if (t[i] === '(' && --depth === 0) {
        open = i;
        break;
      }
    }
    const inner = open >= 0 ? t.slice(open + 1, -1).trim() : '';
    if (open >= 0 && (inner.startsWith('%') || inner.startsWith(','))) {
      dispText = t.slice(0, open).trim();
      const parts = inner.split(',').map((s) => s.trim());
      if (parts.length > 3) throw new ExprError(`bad memory operand \`${text.trim()}'`);
      if (parts[0] !== '') base = reg(parts[0]);
      if (parts.length >= 2 && parts[1] !== '') index = reg(parts[1]);
      if (parts.length === 3 && parts[2] !== '') {
        scale = Number(parts[2]);
        if (![1, 2, 4, 8].includes(scale)) throw new ExprError(`scale factor of ${parts[2]} without an index register`);
      }
    }
  }
  const disp = dispText === '' ? undefined : parseFullExpr(dispText, hooks);
  if (!disp && !base && !index) throw new ExprError(`bad memory operand \`${text.trim()}'`);
  return { kind: 'mem', seg, base, index, scale, disp, star };
}
