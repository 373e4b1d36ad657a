/**
 * Instruction encoding through iced-x86, choosing the form GNU as 2.40 picks: among the iced
 * Codes whose operands fit, the shortest encoding wins, ties going to the first in iced's order
 * (which, like gas's opcode table, lists the `op r/m, reg` store form first). Immediates and
 * displacements whose value is not known yet get their full width and a fixup.
 */
import { Code, CodeExt, EncodingKind, Encoder, Instruction, MemoryOperand, Mnemonic, OpCodeOperandKind as K, Register } from 'iced-x86';
import type { Expr } from './expr';
import type { Operand, RegInfo } from './x86-operands';

export interface EncodedFixup {
  /** Byte offset of the field inside the instruction. */
  offset: number;
  size: number;
  expr: Expr;
  /** Field holds target - (field + bias), i.e. RIP-relative. */
  pcrel: boolean;
  bias: number;
  /** The CPU sign-extends the field (R_X86_64_32S rather than R_X86_64_32). */
  signed: boolean;
}

/** `warning`: gas would warn too (an immediate "shortened" to the operand size). */
export type EncodeResult = { bytes: Uint8Array; fixups: EncodedFixup[]; warning?: string } | { error: string };

/** Constant value of an expression, or undefined when it needs a fixup. */
export type ConstEval = (e: Expr) => bigint | undefined;

interface CodeInfo {
  code: Code;
  kinds: K[];
  operandSize: number;
}

/** iced Code names (lowercased) with their values, for finding a mnemonic's Codes by name prefix. */
let codeNames: [string, Code][] | undefined;
/** Codes usable in 64-bit mode by mnemonic, built on first use of each mnemonic (start-up stays fast). */
const byMnemonic = new Map<string, CodeInfo[]>();

/**
 * The legacy-encoded 64-bit-mode Codes of iced mnemonic `m`. iced names every Code after its
 * mnemonic (Mov_rm64_r64, Pushq_imm8 for push), so only names starting with `m` are looked at.
 */
function codesOf(m: string): CodeInfo[] {
  const hit = byMnemonic.get(m);
  if (hit) return hit;
  codeNames ??= Object.entries(Code as unknown as Record<string, number | string>)
    .filter((e): e is [string, number] => typeof e[1] === 'number')
    .map(([k, v]) => [k.toLowerCase(), v as Code]);
  const list: CodeInfo[] = [];
  for (const [name, code] of codeNames) {
    if (!name.startsWith(m)) continue;
    const oc = CodeExt.opCode(code);
    try {
      if (!oc.isInstruction || !oc.mode64 || oc.encoding !== EncodingKind.Legacy) continue;
      if (Mnemonic[oc.mnemonic].toLowerCase() !== m) continue;
      const kinds: K[] = [];
      for (let j = 0; j < oc.opCount; j++) kinds.push(oc.opKind(j));
      list.push({ code, kinds, operandSize: oc.operandSize });
    } finally {
      oc.free();
    }
  }
  list.sort((a, b) => a.code - b.code); // iced's order: the store form first, like gas's table
  if (byMnemonic.size < 4096) byMnemonic.set(m, list);
  return list;
}

const known = (m: string): boolean => /^[a-z][a-z0-9]*$/.test(m) && codesOf(m).length > 0;

const SUFFIX_SIZE: Record<string, number> = { b: 8, w: 16, l: 32, q: 64 };

/** Condition-code spellings gas accepts, mapped to iced's names. */
const CC_ALIAS: Record<string, string> = {
  z: 'e', nz: 'ne', c: 'b', nae: 'b', nc: 'ae', nb: 'ae', na: 'be', nbe: 'a', nge: 'l', nl: 'ge', ng: 'le', nle: 'g', pe: 'p', po: 'np',
};
export const CC_NUMBER: Record<string, number> = {
  o: 0, no: 1, b: 2, ae: 3, e: 4, ne: 5, be: 6, a: 7, s: 8, ns: 9, p: 10, np: 11, l: 12, ge: 13, le: 14, g: 15,
};

/** AT&T-only mnemonics: iced mnemonic, destination size, source (r/m) size. */
const ATT_ALIAS: Record<string, { m: string; size?: number; src?: number }> = {
  cltq: { m: 'cdqe' }, cwtl: { m: 'cwde' }, cbtw: { m: 'cbw' }, cqto: { m: 'cqo' }, cltd: { m: 'cdq' }, cwtd: { m: 'cwd' },
  movslq: { m: 'movsxd', size: 64, src: 32 },
  sal: { m: 'shl' }, salb: { m: 'shl', size: 8 }, salw: { m: 'shl', size: 16 }, sall: { m: 'shl', size: 32 }, salq: { m: 'shl', size: 64 },
  movabs: { m: 'mov' }, movabsq: { m: 'mov', size: 64 },
  sysretq: { m: 'sysretq' }, sysretl: { m: 'sysret' }, sysexitl: { m: 'sysexit' },
  iret: { m: 'iretd' }, iretl: { m: 'iretd' }, pushf: { m: 'pushfq' }, popf: { m: 'popfq' }, iretw: { m: 'iretw' }, lret: { m: 'retf' }, lretl: { m: 'retf', size: 32 }, lretq: { m: 'retf', size: 64 }, lretw: { m: 'retf', size: 16 },
};
for (const [z, m] of [['z', 'movzx'], ['s', 'movsx']] as const) {
  for (const [s, sz] of [['b', 8], ['w', 16]] as const) {
    for (const [d, dz] of [['w', 16], ['l', 32], ['q', 64]] as const) {
      if (dz > sz) ATT_ALIAS[`mov${z}${s}${d}`] = { m, size: dz, src: sz };
    }
  }
}

/** Operand-less string instructions (rep movsb...): fixed bytes, no operands to choose. */
const STRING_OPS: Record<string, number[]> = {};
for (const [name, op] of [['movs', 0xa4], ['cmps', 0xa6], ['stos', 0xaa], ['lods', 0xac], ['scas', 0xae], ['ins', 0x6c], ['outs', 0x6e]] as const) {
  STRING_OPS[`${name}b`] = [op];
  STRING_OPS[`${name}w`] = [0x66, op + 1];
  STRING_OPS[`${name}l`] = [op + 1];
  if (name !== 'ins' && name !== 'outs') STRING_OPS[`${name}q`] = [0x48, op + 1];
}

const SHIFTS = new Set(['shl', 'shr', 'sar', 'rol', 'ror', 'rcl', 'rcr']);
const COMMUTATIVE = new Set(['xchg', 'test']);

function canonicalCc(m: string): string {
  for (const p of ['j', 'set', 'cmov']) {
    if (m.startsWith(p)) {
      const cc = m.slice(p.length);
      if (CC_ALIAS[cc]) return p + CC_ALIAS[cc];
    }
  }
  return m;
}

/** Is this a direct branch (jmp/jcc/call to a label)? Returns its condition (-1 jmp, -2 call). */
export function directBranch(mnemonic: string, ops: Operand[]): { cc: number } | undefined {
  if (ops.length !== 1) return undefined;
  const o = ops[0];
  if (o.kind !== 'mem' || o.star || o.base || o.index || o.seg || !o.disp) return undefined;
  const m = canonicalCc(mnemonic.toLowerCase());
  if (m === 'jmp' || m === 'jmpq') return { cc: -1 };
  if (m === 'call' || m === 'callq') return { cc: -2 };
  if (m.startsWith('j') && CC_NUMBER[m.slice(1)] !== undefined) return { cc: CC_NUMBER[m.slice(1)] };
  return undefined;
}

function kindGprSize(k: K): number | undefined {
  switch (k) {
    case K.r8_or_mem: case K.r8_reg: case K.r8_opcode: return 8;
    case K.r16_or_mem: case K.r16_reg: case K.r16_reg_mem: case K.r16_rm: case K.r16_opcode: return 16;
    case K.r32_or_mem: case K.r32_or_mem_mpx: case K.r32_reg: case K.r32_reg_mem: case K.r32_rm: case K.r32_opcode: return 32;
    case K.r64_or_mem: case K.r64_or_mem_mpx: case K.r64_reg: case K.r64_reg_mem: case K.r64_rm: case K.r64_opcode: return 64;
    default: return undefined;
  }
}

const FIXED_REG: Partial<Record<K, Register>> = {
  [K.al]: Register.AL, [K.cl]: Register.CL, [K.ax]: Register.AX, [K.dx]: Register.DX, [K.eax]: Register.EAX, [K.rax]: Register.RAX,
  [K.es]: Register.ES, [K.cs]: Register.CS, [K.ss]: Register.SS, [K.ds]: Register.DS, [K.fs]: Register.FS, [K.gs]: Register.GS,
};

function acceptsMem(k: K, movabs: boolean): boolean {
  if (k === K.mem_offs) return movabs;
  if (movabs) return false;
  return k === K.mem || k === K.r8_or_mem || k === K.r16_or_mem || k === K.r32_or_mem || k === K.r64_or_mem || k === K.xmm_or_mem || k === K.mm_or_mem || k === K.r32_or_mem_mpx || k === K.r64_or_mem_mpx;
}

function acceptsReg(k: K, r: RegInfo): boolean {
  const fixed = FIXED_REG[k];
  if (fixed !== undefined) return fixed === r.reg;
  if (r.cls === 'gpr') return kindGprSize(k) === r.size && !(k === K.r8_or_mem || k === K.r8_reg || k === K.r8_opcode ? false : false);
  if (r.cls === 'seg') return k === K.seg_reg;
  if (r.cls === 'cr') return k === K.cr_reg;
  if (r.cls === 'dr') return k === K.dr_reg;
  if (r.cls === 'xmm') return k === K.xmm_reg || k === K.xmm_rm || k === K.xmm_or_mem;
  if (r.cls === 'mm') return k === K.mm_reg || k === K.mm_rm || k === K.mm_or_mem;
  return false;
}

const s8 = (v: bigint): boolean => v >= -128n && v <= 127n;
const inRange = (v: bigint, lo: bigint, hi: bigint): boolean => v >= lo && v <= hi;

/** Does immediate v (undefined = not known yet) fit kind k for an instruction of `size` bits? */
function immFits(k: K, v: bigint | undefined): boolean {
  switch (k) {
    case K.imm8: return v === undefined || inRange(v, -128n, 255n);
    case K.imm8sex16: return v !== undefined && inRange(v, -32768n, 65535n) && s8(BigInt.asIntN(16, v));
    case K.imm8sex32: return v !== undefined && inRange(v, -(1n << 31n), (1n << 32n) - 1n) && s8(BigInt.asIntN(32, v));
    case K.imm8sex64: return v !== undefined && s8(v);
    case K.imm8_const_1: return v === 1n;
    case K.imm16: return v === undefined || inRange(v, -32768n, 65535n);
    case K.imm32: return v === undefined || inRange(v, -(1n << 31n), (1n << 32n) - 1n);
    case K.imm32sex64: return v === undefined || inRange(v, -(1n << 31n), (1n << 31n) - 1n);
    case K.imm64: return true;
    default: return false;
  }
}

function immArgs(k: K, v: bigint): bigint {
  switch (k) {
    case K.imm8: return BigInt.asIntN(8, v);
    case K.imm8sex16: return BigInt.asIntN(16, v);
    case K.imm8sex32: case K.imm32: return BigInt.asIntN(32, v);
    case K.imm16: return BigInt.asIntN(16, v);
    default: return v;
  }
}

const SEG_PREFIXES = new Set([0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65]);
/** gas emits legacy prefixes in this order: segment, 67, 66, f2/f3, f0. */
function prefixRank(b: number): number {
  if (SEG_PREFIXES.has(b)) return 1;
  if (b === 0x67) return 2;
  if (b === 0x66) return 3;
  if (b === 0xf2 || b === 0xf3) return 4;
  if (b === 0xf0) return 5;
  return 0;
}

function reorderPrefixes(bytes: Uint8Array): void {
  let n = 0;
  while (n < bytes.length && prefixRank(bytes[n]) > 0) n++;
  if (n < 2) return;
  const pre = Array.from(bytes.subarray(0, n)).sort((a, b) => prefixRank(a) - prefixRank(b));
  bytes.set(pre, 0);
}

let encoder: Encoder | undefined;

const NO_DATA16 = new Set<Code>([Code.Verw_rm16, Code.Verr_rm16, Code.Lldt_rm16, Code.Ltr_rm16, Code.Mov_Sreg_rm16]);
/** Segment-register moves: gas never adds REX.W (the selector is 16 bits whatever the GPR size). */
const NO_REX_W = new Set<Code>([Code.Mov_r64m16_Sreg, Code.Mov_Sreg_r64m16]);

interface Candidate {
  bytes: Uint8Array;
  fixups: EncodedFixup[];
}

/**
 * Encodings of instructions whose operands are all known, by mnemonic and resolved operands:
 * kernel code repeats the same instructions (pushq %rdi...) many times.
 */
const cache = new Map<string, Uint8Array>();
const CACHE_LIMIT = 50000;

function cacheKey(mnemonic: string, ops: Operand[], evalConst: ConstEval): string | undefined {
  let key = mnemonic;
  for (const o of ops) {
    if (o.kind === 'reg') key += `|r${o.r.reg}${o.star ? '*' : ''}`;
    else if (o.kind === 'imm') {
      const v = evalConst(o.expr);
      if (v === undefined) return undefined;
      key += `|i${v}`;
    } else {
      const v = o.disp ? evalConst(o.disp) : 0n;
      if (v === undefined) return undefined;
      key += `|m${o.seg?.reg ?? ''},${o.base?.reg ?? ''},${o.index?.reg ?? ''},${o.scale},${o.disp ? v : '-'}${o.star ? '*' : ''}`;
    }
  }
  return key;
}

/** Encode one instruction given in AT&T form. */
export function encodeInstruction(mnemonic: string, attOps: Operand[], evalConst: ConstEval): EncodeResult {
  const key = cacheKey(mnemonic, attOps, evalConst);
  const hit = key !== undefined ? cache.get(key) : undefined;
  if (hit) return { bytes: hit.slice(), fixups: [] };
  const res = encodeUncached(mnemonic, attOps, evalConst);
  if (key !== undefined && 'bytes' in res && res.fixups.length === 0 && !res.warning && cache.size < CACHE_LIMIT) cache.set(key, res.bytes.slice());
  return res;
}

function encodeUncached(mnemonic: string, attOps: Operand[], evalConst: ConstEval): EncodeResult {
  encoder ??= new Encoder(64);
  let m = canonicalCc(mnemonic.toLowerCase());
  const str = STRING_OPS[m];
  if (str && attOps.length === 0) return { bytes: Uint8Array.from(str), fixups: [] };
  // gas writes int $3 as the one-byte breakpoint.
  if (m === 'int' && attOps.length === 1 && attOps[0].kind === 'imm' && evalConst(attOps[0].expr) === 3n) return { bytes: Uint8Array.from([0xcc]), fixups: [] };
  // Intel order; enter keeps its order in AT&T (enter $frame, $level).
  const ops = m === 'enter' ? attOps.slice() : attOps.slice().reverse();
  for (const o of ops) {
    if (o.kind === 'reg' && o.r.cls === 'ip') return { error: `bad register %${o.r.name} as an operand` };
  }
  const tries: { m: string; size?: number; src?: number; movabs: boolean }[] = [];
  const alias = ATT_ALIAS[m];
  if (alias) tries.push({ m: alias.m, size: alias.size, src: alias.src, movabs: m.startsWith('movabs') });
  else {
    if (known(m)) tries.push({ m, movabs: false });
    const suf = SUFFIX_SIZE[m[m.length - 1]];
    if (suf && known(m.slice(0, -1))) tries.push({ m: m.slice(0, -1), size: suf, movabs: false });
  }
  if (tries.length === 0) return { error: `no such instruction: \`${mnemonic}'` };
  for (const t of tries) {
    m = t.m;
    let intel = ops;
    if (SHIFTS.has(m) && intel.length === 1) intel = [intel[0], { kind: 'imm', expr: { k: 'num', v: 1n } }];
    const orders = COMMUTATIVE.has(m) && intel.length === 2 ? [intel, [intel[1], intel[0]]] : [intel];
    const best = pick(codesOf(m), orders, t, evalConst);
    if (best) return best;
  }
  // Like gas: an immediate too wide for the operand size is cut to it (with a warning), keeping
  // the full-width immediate form it was chosen for (addl $0x1ffffffff -> 05 ff ff ff ff).
  for (const t of tries) {
    const gpr = ops.find((o) => o.kind === 'reg' && o.r.cls === 'gpr');
    const size = t.size ?? (gpr && gpr.kind === 'reg' ? gpr.r.size : undefined);
    const imm = ops.find((o) => o.kind === 'imm');
    const v = imm && imm.kind === 'imm' ? evalConst(imm.expr) : undefined;
    if (!size || size >= 64 || v === undefined || !imm) continue;
    const cut = BigInt.asUintN(size, v);
    if (cut === v) continue;
    const ops2 = ops.map((o) => (o === imm ? { kind: 'imm' as const, expr: { k: 'num' as const, v: cut } } : o));
    const best = pick(codesOf(t.m), [ops2], { ...t, noImm8Sex: true }, evalConst);
    if (best) return { ...best, warning: `0x${BigInt.asUintN(64, v).toString(16)} shortened to 0x${cut.toString(16)}` };
  }
  return { error: `unsupported operand combination for \`${mnemonic}' (${attOps.length} operand${attOps.length === 1 ? '' : 's'})` };
}

function pick(cands: CodeInfo[], orders: Operand[][], t: { size?: number; src?: number; movabs: boolean; noImm8Sex?: boolean }, evalConst: ConstEval): Candidate | undefined {
  const consts = new Map<Operand, bigint | undefined>();
  for (const ops of orders) for (const o of ops) if (o.kind === 'imm') consts.set(o, evalConst(o.expr));
  const hasGpr = orders[0].some((o) => o.kind === 'reg' && o.r.cls === 'gpr');
  let best: Candidate | undefined;
  // Without a suffix or register to size the operation, gas assumes the 32/64-bit forms.
  const sized = (ci: CodeInfo): number | undefined => {
    for (const k of ci.kinds) {
      const s = kindGprSize(k);
      if (s !== undefined) return s;
    }
    return ci.operandSize || undefined;
  };
  const anyWide = cands.some((c) => {
    const s = sized(c);
    return s === undefined || s >= 32;
  });
  for (const ops of orders) {
    for (const ci of cands) {
      if (ci.kinds.length !== ops.length) continue;
      const size = sized(ci);
      if (t.size !== undefined && size !== undefined && size !== t.size) continue;
      if (t.size === undefined && !hasGpr && anyWide && size !== undefined && size < 32) continue;
      let ok = true;
      for (let i = 0; i < ops.length && ok; i++) {
        const o = ops[i];
        const k = ci.kinds[i];
        if (o.kind === 'reg') ok = acceptsReg(k, o.r);
        else if (o.kind === 'mem') {
          ok = acceptsMem(k, t.movabs);
          if (ok && t.src !== undefined) ok = kindGprSize(k) === t.src;
        } else ok = immFits(k, consts.get(o)) && (!t.movabs || k === K.imm64) && !(t.noImm8Sex && (k === K.imm8sex16 || k === K.imm8sex32 || k === K.imm8sex64));
      }
      if (!ok) continue;
      // xchg %eax,%eax is 87 c0 in gas: 90 would be a plain nop in 64-bit mode.
      if (ci.code === Code.Xchg_r32_EAX && ops[0].kind === 'reg' && ops[0].r.reg === Register.EAX) continue;
      const c = build(ci, ops, consts, evalConst);
      if (c && (!best || c.bytes.length < best.bytes.length)) best = c;
    }
  }
  return best;
}

function build(ci: CodeInfo, ops: Operand[], consts: Map<Operand, bigint | undefined>, evalConst: ConstEval): Candidate | undefined {
  const enc = encoder as Encoder;
  const toFree: { free(): void }[] = [];
  const fixups: EncodedFixup[] = [];
  let pattern = '';
  const regs: Register[] = [];
  let mem: MemoryOperand | undefined;
  let imm: bigint | undefined;
  const imms: bigint[] = [];
  let immKind: K | undefined;
  let immExpr: Expr | undefined;
  let memFix: { expr: Expr; pcrel: boolean } | undefined;
  let ripConst: bigint | undefined;
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i];
    if (o.kind === 'reg') {
      pattern += 'R';
      regs.push(o.r.reg);
    } else if (o.kind === 'imm') {
      pattern += 'I';
      immKind = ci.kinds[i];
      const v = consts.get(o);
      if (v === undefined) immExpr = o.expr;
      imm = immKind === K.imm8_const_1 ? 1n : immArgs(immKind, v ?? 0n);
      imms.push(imm);
      if (v === undefined && pattern.length > 1 && pattern.endsWith('II')) return undefined;
    } else {
      pattern += 'M';
      const seg = o.seg?.reg ?? Register.None;
      const base = o.base?.reg ?? Register.None;
      const index = o.index?.reg ?? Register.None;
      let displ = 0n;
      let displSize = 0;
      if (ci.kinds[i] === K.mem_offs) {
        const v = o.disp ? evalConst(o.disp) : 0n;
        if (v === undefined && o.disp) memFix = { expr: o.disp, pcrel: false };
        displ = v ?? 0n;
        displSize = 8;
      } else if (base === Register.RIP || base === Register.EIP) {
        // The field is written afterwards: a constant is the displacement itself, a symbol is pc-relative.
        const v = o.disp ? evalConst(o.disp) : 0n;
        if (v === undefined && o.disp) memFix = { expr: o.disp, pcrel: true };
        ripConst = v;
        displSize = 4;
      } else if (o.disp) {
        const v = evalConst(o.disp);
        if (v === undefined) {
          memFix = { expr: o.disp, pcrel: false };
          displSize = base === Register.None ? 8 : 4;
        } else {
          displ = v;
          displSize = base === Register.None ? 8 : v === 0n ? 0 : 1;
        }
      } else if (base === Register.None) displSize = 8;
      // (displSize 8 with no base register: 64-bit addressing, SIB form with disp32, no 0x67 prefix.)
      mem = new MemoryOperand(base, index, o.index ? o.scale : 1, BigInt.asUintN(64, displ), displSize, false, seg);
      toFree.push(mem);
    }
  }
  let ins: Instruction;
  try {
    const i32 = (v: bigint): number => Number(BigInt.asIntN(32, v));
    const big = immKind === K.imm64;
    switch (pattern) {
      case '': ins = Instruction.create(ci.code); break;
      case 'R': ins = Instruction.createReg(ci.code, regs[0]); break;
      case 'M': ins = Instruction.createMem(ci.code, mem as MemoryOperand); break;
      case 'I': ins = Instruction.createI32(ci.code, i32(imm as bigint)); break;
      case 'RR': ins = Instruction.createRegReg(ci.code, regs[0], regs[1]); break;
      case 'RM': ins = Instruction.createRegMem(ci.code, regs[0], mem as MemoryOperand); break;
      case 'MR': ins = Instruction.createMemReg(ci.code, mem as MemoryOperand, regs[0]); break;
      case 'RI': ins = big ? Instruction.createRegU64(ci.code, regs[0], BigInt.asUintN(64, imm as bigint)) : Instruction.createRegI32(ci.code, regs[0], i32(imm as bigint)); break;
      case 'MI': ins = Instruction.createMemI32(ci.code, mem as MemoryOperand, i32(imm as bigint)); break;
      case 'RRI': ins = Instruction.createRegRegI32(ci.code, regs[0], regs[1], i32(imm as bigint)); break;
      case 'RMI': ins = Instruction.createRegMemI32(ci.code, regs[0], mem as MemoryOperand, i32(imm as bigint)); break;
      case 'RRR': ins = Instruction.createRegRegReg(ci.code, regs[0], regs[1], regs[2]); break;
      case 'II': ins = Instruction.createU32U32(ci.code, Number(BigInt.asUintN(16, imms[0])), Number(BigInt.asUintN(8, imms[1]))); break;
      default: return undefined;
    }
  } catch {
    return undefined; // (a MemoryOperand passed to create* is consumed by it)
  }
  toFree.length = 0; // the MemoryOperand now belongs to the Instruction
  toFree.push(ins);
  try {
    enc.encode(ins, 0n);
    const bytes = enc.takeBuffer();
    const offs = enc.getConstantOffsets();
    try {
      if (memFix || ripConst !== undefined) {
        if (!offs.hasDisplacement) return undefined;
        const field = offs.displacementOffset;
        if (ripConst !== undefined) writeLE(bytes, field, 4, ripConst);
        else writeLE(bytes, field, offs.displacementSize, 0n);
        if (memFix) {
          fixups.push({ offset: field, size: offs.displacementSize, expr: memFix.expr, pcrel: memFix.pcrel, bias: bytes.length - field, signed: offs.displacementSize === 4 });
        }
      }
      if (immExpr) {
        if (!offs.hasImmediate) return undefined;
        fixups.push({ offset: offs.immediateOffset, size: offs.immediateSize, expr: immExpr, pcrel: false, bias: 0, signed: immKind === K.imm32sex64 });
      }
    } finally {
      offs.free();
    }
    reorderPrefixes(bytes);
    // gas encodes the 16-bit-only system instructions (verw %ax, lldt %ax...) without 0x66.
    // ... and a segment register stored to memory (movw %ds, (%rax)) is 8c /r without 0x66 too.
    const noData16 = NO_DATA16.has(ci.code) || (ci.code === Code.Mov_rm16_Sreg && pattern.includes('M'));
    if (noData16) {
      const p = bytes.indexOf(0x66);
      if (p >= 0 && p < legacyPrefixCount(bytes)) return dropByte(bytes, fixups, p);
    }
    if (NO_REX_W.has(ci.code)) {
      const p = legacyPrefixCount(bytes);
      if ((bytes[p] & 0xf8) === 0x48) {
        bytes[p] &= ~0x08;
        if (bytes[p] === 0x40) return dropByte(bytes, fixups, p);
      }
    }
    // Reordering prefixes does not move fields: prefixes are a permutation of the leading bytes.
    return { bytes, fixups };
  } catch {
    return undefined;
  } finally {
    toFree.forEach((f) => f.free());
  }
}

function legacyPrefixCount(bytes: Uint8Array): number {
  let p = 0;
  while (p < bytes.length && prefixRank(bytes[p]) > 0) p++;
  return p;
}

/** Remove one byte before the instruction's fields, moving the fixups with them. */
function dropByte(bytes: Uint8Array, fixups: EncodedFixup[], at: number): Candidate {
  const out = new Uint8Array(bytes.length - 1);
  out.set(bytes.subarray(0, at), 0);
  out.set(bytes.subarray(at + 1), at);
  return { bytes: out, fixups: fixups.map((f) => ({ ...f, offset: f.offset - 1 })) };
}

export function writeLE(bytes: Uint8Array, off: number, size: number, v: bigint): void {
  let x = BigInt.asUintN(64, v);
  for (let i = 0; i < size; i++) {
    bytes[off + i] = Number(x & 0xffn);
    x >>= 8n;
  }
}

/** Is `m` a mnemonic we know (for deciding between an instruction and a typo'd macro)? */
export function isKnownMnemonic(m: string): boolean {
  const l = canonicalCc(m.toLowerCase());
  return !!ATT_ALIAS[l] || !!STRING_OPS[l] || known(l) || (!!SUFFIX_SIZE[l[l.length - 1]] && known(l.slice(0, -1)));
}
