/**
 * Compile one decoded instruction into a fast-tier op: a closure over FastRegisters with its
 * operands resolved (register slots, immediate halves, address parts). Covers what hot loops and
 * most of the entry code run: integer ALU, INC/DEC/NEG/NOT, MOV/MOVZX/MOVSX/LEA, CMOVcc/SETcc,
 * PUSH/POP, and memory operands through FastMemory. Anything else returns undefined and stays
 * with the exact BigInt handlers (Machine.step), as do locked forms and 16-bit addressing.
 * The flag rules are the slow path's (../flags.ts), including its documented choices for
 * undefined flags (AF cleared by logic ops); test/unit/cpu/fast-tier.test.ts compares the two.
 */
import { Mnemonic, OpKind, Register } from 'iced-x86';
import type { DecodedInsn } from '../decoded';
import { GPR_HIGH8, GPR_SIZE, GPR_SLOT } from '../registers';
import { FAST_STOP, type FastMemory, readU, writeU } from './memory';
import type { FastRegisters } from './registers';
import { conditionTest } from '../conditions';
import { PF_OF_BYTE } from '../flags';

export type FastOp = (r: FastRegisters) => void;

const TWO32 = 4294967296;
const RSP = 4;

/** PF of a result's low byte (the slow path's table). */
const PF = PF_OF_BYTE;

const enum K { Add, Adc, Sub, Sbb, Cmp, And, Or, Xor, Test, Inc, Dec, Neg, Not }
const STATUS = 0x8d5;
/** Status flags each kind writes (INC/DEC keep CF; NOT writes none). */
const DEFINED = [STATUS, STATUS, STATUS, STATUS, STATUS, STATUS, STATUS, STATUS, STATUS, STATUS & ~1, STATUS & ~1, STATUS, 0];
/** Kinds whose result is not stored (CMP, TEST). */
const COMPARES = (k: K): boolean => k === K.Cmp || k === K.Test;

const BINARY: Partial<Record<Mnemonic, K>> = {
  [Mnemonic.Add]: K.Add, [Mnemonic.Adc]: K.Adc, [Mnemonic.Sub]: K.Sub, [Mnemonic.Sbb]: K.Sbb, [Mnemonic.Cmp]: K.Cmp,
  [Mnemonic.And]: K.And, [Mnemonic.Or]: K.Or, [Mnemonic.Xor]: K.Xor, [Mnemonic.Test]: K.Test,
};
const UNARY: Partial<Record<Mnemonic, K>> = { [Mnemonic.Inc]: K.Inc, [Mnemonic.Dec]: K.Dec, [Mnemonic.Neg]: K.Neg, [Mnemonic.Not]: K.Not };

// Results of the ALU core: halves of the result and the flag bits (module scope: no allocation).
let RLO = 0;
let RHI = 0;

/** 64-bit add with carry-in; returns the status flags, result in RLO/RHI. */
function add64(alo: number, ahi: number, blo: number, bhi: number, cin: number): number {
  const l = (alo >>> 0) + (blo >>> 0) + cin;
  const rl = l >>> 0;
  const h = (ahi >>> 0) + (bhi >>> 0) + (l >= TWO32 ? 1 : 0);
  const rh = h >>> 0;
  RLO = rl | 0; RHI = rh | 0;
  let f = PF[rl & 0xff] | ((alo ^ blo ^ rl) & 0x10);
  if ((rl | rh) === 0) f |= 0x40;
  if (rh >= 0x80000000) f |= 0x80;
  if (h >= TWO32) f |= 1;
  if (((ahi ^ rh) & (bhi ^ rh)) < 0) f |= 0x800;
  return f;
}

/** 64-bit a - b - borrow. */
function sub64(alo: number, ahi: number, blo: number, bhi: number, bin: number): number {
  const l = (alo >>> 0) - (blo >>> 0) - bin;
  const rl = l >>> 0;
  const h = (ahi >>> 0) - (bhi >>> 0) - (l < 0 ? 1 : 0);
  const rh = h >>> 0;
  RLO = rl | 0; RHI = rh | 0;
  let f = PF[rl & 0xff] | ((alo ^ blo ^ rl) & 0x10);
  if ((rl | rh) === 0) f |= 0x40;
  if (rh >= 0x80000000) f |= 0x80;
  if (h < 0) f |= 1;
  if (((ahi ^ bhi) & (ahi ^ rh)) < 0) f |= 0x800;
  return f;
}

function logic64(rl: number, rh: number): number {
  RLO = rl | 0; RHI = rh | 0;
  let f = PF[rl & 0xff];
  if ((rl | rh) === 0) f |= 0x40;
  if (rh < 0) f |= 0x80;
  return f;
}

/** The ALU on `size`-byte operands (a, b unsigned below 2^32; halves for size 8). Flags returned, result in RLO/RHI. */
function alu(k: K, size: number, alo: number, ahi: number, blo: number, bhi: number, cf: number): number {
  if (size === 8) {
    switch (k) {
      case K.Add: return add64(alo, ahi, blo, bhi, 0);
      case K.Adc: return add64(alo, ahi, blo, bhi, cf);
      case K.Sub: case K.Cmp: return sub64(alo, ahi, blo, bhi, 0);
      case K.Sbb: return sub64(alo, ahi, blo, bhi, cf);
      case K.And: case K.Test: return logic64(alo & blo, ahi & bhi);
      case K.Or: return logic64(alo | blo, ahi | bhi);
      case K.Xor: return logic64(alo ^ blo, ahi ^ bhi);
      case K.Inc: return add64(alo, ahi, 1, 0, 0);
      case K.Dec: return sub64(alo, ahi, 1, 0, 0);
      case K.Neg: return sub64(0, 0, alo, ahi, 0);
      case K.Not: RLO = ~alo; RHI = ~ahi; return 0;
    }
  }
  const mask = size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
  const sign = size === 4 ? 0x80000000 : size === 2 ? 0x8000 : 0x80;
  let full: number;
  let r: number;
  let f: number;
  switch (k) {
    case K.Add: case K.Adc: case K.Inc: {
      const b = k === K.Inc ? 1 : blo;
      full = alo + b + (k === K.Adc ? cf : 0);
      r = (full & mask) >>> 0;
      f = (full > mask ? 1 : 0) | (((alo ^ r) & (b ^ r) & sign) !== 0 ? 0x800 : 0) | ((alo ^ b ^ r) & 0x10);
      break;
    }
    case K.Sub: case K.Cmp: case K.Sbb: case K.Dec: case K.Neg: {
      const a = k === K.Neg ? 0 : alo;
      const b = k === K.Neg ? alo : k === K.Dec ? 1 : blo;
      full = a - b - (k === K.Sbb ? cf : 0);
      r = (full & mask) >>> 0;
      f = (full < 0 ? 1 : 0) | (((a ^ b) & (a ^ r) & sign) !== 0 ? 0x800 : 0) | ((a ^ b ^ r) & 0x10);
      break;
    }
    case K.And: case K.Test: r = (alo & blo) >>> 0; f = 0; break;
    case K.Or: r = (alo | blo) >>> 0; f = 0; break;
    case K.Xor: r = (alo ^ blo) >>> 0; f = 0; break;
    default: RLO = ~alo & mask; RHI = 0; return 0; // NOT
  }
  RLO = r | 0; RHI = 0;
  f |= PF[r & 0xff];
  if (r === 0) f |= 0x40;
  if ((r & sign) !== 0) f |= 0x80;
  return f;
}

// ------------------------------------------------------------------ operands

/** A resolved operand: a GPR (slot, size, AH..BH), an immediate (halves), or the memory operand. */
type Operand =
  | { kind: 'reg'; slot: number; size: number; high8: boolean }
  | { kind: 'imm'; lo: number; hi: number; size: number }
  | { kind: 'mem'; size: number };

function operand(d: DecodedInsn, i: number): Operand | undefined {
  const k = d.opKinds[i];
  if (k === OpKind.Register) {
    const r = d.opRegs[i];
    const slot = GPR_SLOT[r];
    if (slot < 0) return undefined;
    return { kind: 'reg', slot, size: GPR_SIZE[r], high8: GPR_HIGH8[r] === 1 };
  }
  if (k === OpKind.Memory) return { kind: 'mem', size: d.memSize };
  if (k >= OpKind.Immediate8 && k <= OpKind.Immediate32to64 && k !== OpKind.Immediate8_2nd) {
    const size = d.opSizes[0] || d.opSizes[i];
    return { kind: 'imm', lo: Number(BigInt.asUintN(32, d.imm)) | 0, hi: Number(BigInt.asUintN(32, d.imm >> 32n)) | 0, size };
  }
  return undefined;
}

/** Register value of `size` bytes: unsigned low part (size <= 4) or the low half (size 8, high half separately). */
function readRegLow(r: FastRegisters, slot: number, size: number, high8: boolean): number {
  const v = r.lo[slot];
  if (size === 4 || size === 8) return v >>> 0;
  if (size === 2) return v & 0xffff;
  return high8 ? (v >>> 8) & 0xff : v & 0xff;
}

/** x86-64 register write rules: 32-bit writes zero the high half, 8/16-bit writes merge. */
function writeReg(r: FastRegisters, slot: number, size: number, high8: boolean, lo: number, hi: number): void {
  const L = r.lo;
  if (size === 8) { L[slot] = lo; r.hi[slot] = hi; }
  else if (size === 4) { L[slot] = lo; r.hi[slot] = 0; }
  else if (size === 2) L[slot] = (L[slot] & ~0xffff) | (lo & 0xffff);
  else if (high8) L[slot] = (L[slot] & ~0xff00) | ((lo & 0xff) << 8);
  else L[slot] = (L[slot] & ~0xff) | (lo & 0xff);
  r.dirty |= 1 << slot;
}

// Effective address of the running op (module scope: no allocation).
let EA_LO = 0;
let EA_HI = 0;

/**
 * A function computing the memory operand's linear address into EA_LO/EA_HI (base + index*scale +
 * disp, RIP-relative from the block's start, wrapped to the address size, plus FS/GS base), or
 * undefined for forms left to the slow path.
 */
function addressOf(d: DecodedInsn, insnEnd: number, withSegment: boolean): ((r: FastRegisters) => void) | undefined {
  const base = d.memBase === Register.None ? -1 : GPR_SLOT[d.memBase];
  const index = d.memIndex === Register.None ? -1 : GPR_SLOT[d.memIndex];
  if ((d.memBase !== Register.None && base < 0) || (d.memIndex !== Register.None && index < 0)) return undefined;
  const scale = d.memScale;
  const dlo = Number(BigInt.asUintN(32, d.memDisp)) >>> 0;
  const dhi = Number(BigInt.asUintN(32, d.memDisp >> 32n)) | 0;
  const seg = withSegment ? d.memSeg : Register.None;
  const fs = seg === Register.FS;
  const gs = seg === Register.GS;
  const addr32 = d.addrSize === 4;
  const ripRel = d.ripRel;
  return (r) => {
    let l = dlo;
    let h = dhi;
    if (ripRel) { l += (r.ripLo >>> 0) + insnEnd; h += r.ripHi; }
    if (base >= 0) { l += r.lo[base] >>> 0; h += r.hi[base]; }
    if (index >= 0) {
      const il = (r.lo[index] >>> 0) * scale;
      l += il % TWO32;
      h += r.hi[index] * scale + Math.floor(il / TWO32);
    }
    let carry = Math.floor(l / TWO32);
    l -= carry * TWO32;
    h += carry;
    if (addr32) h = 0; // the offset wraps at 4 GiB before the segment base is added
    if (fs) { l += r.fsLo >>> 0; h += r.fsHi; }
    else if (gs) { l += r.gsLo >>> 0; h += r.gsHi; }
    carry = l >= TWO32 ? 1 : 0;
    EA_LO = l | 0;
    EA_HI = (h + carry) | 0;
  };
}

// ------------------------------------------------------------------ ops

/** Compile `d` (at byte offset insnEnd - length in its block) or undefined when only the slow path runs it. */
export function compile(d: DecodedInsn, insnEnd: number, mem: FastMemory): FastOp | undefined {
  if (d.lock || d.bitness !== 64) return undefined;
  const mn = d.mnemonic;
  const bin = BINARY[mn];
  if (bin !== undefined && d.opCount === 2) return binaryOp(d, bin, insnEnd, mem);
  const un = UNARY[mn];
  if (un !== undefined && d.opCount === 1) return unaryOp(d, un, insnEnd, mem);
  switch (mn) {
    case Mnemonic.Mov: return d.opCount === 2 ? moveOp(d, insnEnd, mem, 0) : undefined;
    case Mnemonic.Movzx: return moveOp(d, insnEnd, mem, 1);
    case Mnemonic.Movsx: case Mnemonic.Movsxd: return moveOp(d, insnEnd, mem, 2);
    case Mnemonic.Lea: return leaOp(d, insnEnd);
    // NOP forms with a memory operand (nopl 0(%rax)) do not access it.
    case Mnemonic.Nop: case Mnemonic.Endbr64: case Mnemonic.Pause: return () => undefined;
    case Mnemonic.Shl: case Mnemonic.Sal: return shiftOp(d, 0);
    case Mnemonic.Shr: return shiftOp(d, 1);
    case Mnemonic.Sar: return shiftOp(d, 2);
    case Mnemonic.Bt: return bitTestOp(d, 0);
    case Mnemonic.Bts: return bitTestOp(d, 1);
    case Mnemonic.Btr: return bitTestOp(d, 2);
    case Mnemonic.Btc: return bitTestOp(d, 3);
    case Mnemonic.Cdqe: return (r) => { const v = r.lo[0]; r.hi[0] = v >> 31; r.dirty |= 1; };
    case Mnemonic.Cqo: return (r) => { r.lo[2] = r.hi[2] = r.hi[0] >> 31; r.dirty |= 1 << 2; };
    case Mnemonic.Cdq: return (r) => { r.lo[2] = r.lo[0] >> 31; r.hi[2] = 0; r.dirty |= 1 << 2; };
    case Mnemonic.Push: return pushOp(d, insnEnd, mem);
    case Mnemonic.Pop: return popOp(d, mem);
    default: break;
  }
  if (d.cc !== 0 && isCmov(mn)) return cmovOp(d, insnEnd, mem);
  if (d.cc !== 0 && isSetcc(mn)) return setccOp(d, insnEnd, mem);
  return undefined;
}

function isCmov(mn: Mnemonic): boolean {
  return mn >= Mnemonic.Cmova && mn <= Mnemonic.Cmovs;
}

function isSetcc(mn: Mnemonic): boolean {
  return mn >= Mnemonic.Seta && mn <= Mnemonic.Sets;
}

function isStackSeg(d: DecodedInsn): boolean {
  return d.memSeg === Register.SS;
}

function binaryOp(d: DecodedInsn, k: K, insnEnd: number, mem: FastMemory): FastOp | undefined {
  const dst = operand(d, 0);
  const src = operand(d, 1);
  if (!dst || !src || dst.kind === 'imm') return undefined;
  const size = dst.size;
  const defined = DEFINED[k];
  const keep = ~defined;
  const writes = !COMPARES(k);
  if (dst.kind === 'reg' && size === 8 && src.kind === 'reg' && k === K.Add) {
    // The commonest loop step, unrolled: ADD r64, r64.
    const a = dst.slot, b = src.slot;
    return (r) => {
      const f = add64(r.lo[a], r.hi[a], r.lo[b], r.hi[b], 0);
      r.lo[a] = RLO; r.hi[a] = RHI; r.dirty |= 1 << a;
      r.flags = (r.flags & keep) | f;
    };
  }
  const readSrc = sourceReader(src, d, insnEnd, mem, size);
  if (!readSrc) return undefined;
  if (dst.kind === 'reg') {
    const { slot, high8 } = dst;
    return (r) => {
      const blo = readSrc(r);
      const bhi = SRC_HI;
      const f = alu(k, size, size === 8 ? r.lo[slot] : readRegLow(r, slot, size, high8), r.hi[slot], blo, bhi, r.flags & 1);
      if (writes) writeReg(r, slot, size, high8, RLO, RHI);
      r.flags = (r.flags & keep) | (f & defined);
    };
  }
  // Memory destination: check write access first (read-modify-write), then read, compute, store.
  const ea = addressOf(d, insnEnd, true);
  if (!ea || src.kind === 'mem') return undefined;
  const stack = isStackSeg(d);
  return (r) => {
    const blo = readSrc(r);
    const bhi = SRC_HI;
    ea(r);
    const lo = EA_LO, hi = EA_HI;
    const frame = writes ? mem.writeFrame(lo, hi, size, stack) : mem.readFrame(lo, hi, size, stack);
    const o = lo & 0xfff;
    const alo = readU(frame, o, size > 4 ? 4 : size);
    const ahi = size === 8 ? readU(frame, o + 4, 4) | 0 : 0;
    const f = alu(k, size, alo, ahi, blo, bhi, r.flags & 1);
    if (writes) store(mem, frame, lo, hi, size, RLO, RHI);
    r.flags = (r.flags & keep) | (f & defined);
  };
}

// High half of the last source read (size 8 operands).
let SRC_HI = 0;

/** A reader for a source operand at the destination's size: returns the low part, high half in SRC_HI. */
function sourceReader(src: Operand, d: DecodedInsn, insnEnd: number, mem: FastMemory, size: number): ((r: FastRegisters) => number) | undefined {
  if (src.kind === 'imm') {
    const mask = size === 8 || size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
    const lo = (src.lo & mask) >>> 0;
    const hi = size === 8 ? src.hi : 0;
    return () => { SRC_HI = hi; return lo; };
  }
  if (src.kind === 'reg') {
    const { slot, high8 } = src;
    if (src.size !== size) return undefined;
    return size === 8 ? (r) => { SRC_HI = r.hi[slot]; return r.lo[slot] >>> 0; } : (r) => { SRC_HI = 0; return readRegLow(r, slot, size, high8); };
  }
  const ea = addressOf(d, insnEnd, true);
  if (!ea) return undefined;
  const stack = isStackSeg(d);
  return (r) => {
    ea(r);
    const f = mem.readFrame(EA_LO, EA_HI, size, stack);
    const o = EA_LO & 0xfff;
    SRC_HI = size === 8 ? readU(f, o + 4, 4) | 0 : 0;
    return readU(f, o, size > 4 ? 4 : size);
  };
}

/** Store `size` bytes (halves for size 8) into a frame got from writeFrame, telling observers. */
function store(mem: FastMemory, frame: Uint8Array, lo: number, hi: number, size: number, vlo: number, vhi: number): void {
  const observed = hi < 0 ? mem.observed : mem.observedUser;
  if (hi < 0 && !observed && mem.kernelHook) throw FAST_STOP; // its hook needs the writer's RIP: step() has it
  if (observed) mem.beforeStore(lo, hi, size);
  const o = lo & 0xfff;
  writeU(frame, o, size > 4 ? 4 : size, vlo);
  if (size === 8) writeU(frame, o + 4, 4, vhi);
  if (observed) mem.afterStore(lo, hi, size);
}

function unaryOp(d: DecodedInsn, k: K, insnEnd: number, mem: FastMemory): FastOp | undefined {
  const dst = operand(d, 0);
  if (!dst || dst.kind === 'imm') return undefined;
  const size = dst.size;
  const defined = DEFINED[k];
  const keep = ~defined;
  if (dst.kind === 'reg') {
    const { slot, high8 } = dst;
    if (size === 8 && k === K.Dec) {
      // The commonest loop counter step, unrolled: DEC r64.
      return (r) => {
        const f = sub64(r.lo[slot], r.hi[slot], 1, 0, 0);
        r.lo[slot] = RLO; r.hi[slot] = RHI; r.dirty |= 1 << slot;
        r.flags = (r.flags & keep) | (f & defined);
      };
    }
    return (r) => {
      const f = alu(k, size, size === 8 ? r.lo[slot] : readRegLow(r, slot, size, high8), r.hi[slot], 0, 0, 0);
      writeReg(r, slot, size, high8, RLO, RHI);
      r.flags = (r.flags & keep) | (f & defined);
    };
  }
  const ea = addressOf(d, insnEnd, true);
  if (!ea) return undefined;
  const stack = isStackSeg(d);
  return (r) => {
    ea(r);
    const lo = EA_LO, hi = EA_HI;
    const frame = mem.writeFrame(lo, hi, size, stack);
    const o = lo & 0xfff;
    const alo = readU(frame, o, size > 4 ? 4 : size);
    const ahi = size === 8 ? readU(frame, o + 4, 4) | 0 : 0;
    const f = alu(k, size, alo, ahi, 0, 0, 0);
    store(mem, frame, lo, hi, size, RLO, RHI);
    r.flags = (r.flags & keep) | (f & defined);
  };
}

/** MOV (extend 0), MOVZX (1), MOVSX/MOVSXD (2). */
function moveOp(d: DecodedInsn, insnEnd: number, mem: FastMemory, extend: 0 | 1 | 2): FastOp | undefined {
  const dst = operand(d, 0);
  const src = operand(d, 1);
  if (!dst || !src || dst.kind === 'imm') return undefined;
  const size = dst.size;
  const srcSize = extend === 0 ? size : src.size;
  if (dst.kind === 'mem') {
    if (src.kind === 'mem') return undefined;
    const readSrc = sourceReader(src, d, insnEnd, mem, size);
    const ea = addressOf(d, insnEnd, true);
    if (!readSrc || !ea) return undefined;
    const stack = isStackSeg(d);
    return (r) => {
      const vlo = readSrc(r);
      const vhi = SRC_HI;
      ea(r);
      const lo = EA_LO, hi = EA_HI;
      store(mem, mem.writeFrame(lo, hi, size, stack), lo, hi, size, vlo, vhi);
    };
  }
  const { slot, high8 } = dst;
  if (extend === 0 && src.kind === 'reg' && size === 8) {
    const s = src.slot;
    return (r) => { r.lo[slot] = r.lo[s]; r.hi[slot] = r.hi[s]; r.dirty |= 1 << slot; };
  }
  const readSrc = sourceReader(src, d, insnEnd, mem, srcSize);
  if (!readSrc) return undefined;
  if (extend !== 2) return (r) => { const lo = readSrc(r); writeReg(r, slot, size, high8, lo | 0, SRC_HI); };
  const shift = 32 - srcSize * 8;
  return (r) => {
    let lo = readSrc(r);
    let hi = SRC_HI;
    if (srcSize < 8) {
      // Sign-extend the source to 64 bits, then write at the destination size.
      lo = shift === 0 ? lo | 0 : (lo << shift) >> shift;
      hi = lo < 0 ? -1 : 0;
    }
    writeReg(r, slot, size, high8, lo | 0, hi);
  };
}

function leaOp(d: DecodedInsn, insnEnd: number): FastOp | undefined {
  const dst = operand(d, 0);
  if (!dst || dst.kind !== 'reg') return undefined;
  const ea = addressOf(d, insnEnd, false);
  if (!ea) return undefined;
  const { slot, size, high8 } = dst;
  return (r) => { ea(r); writeReg(r, slot, size, high8, EA_LO, EA_HI); };
}

function cmovOp(d: DecodedInsn, insnEnd: number, mem: FastMemory): FastOp | undefined {
  const dst = operand(d, 0);
  const src = operand(d, 1);
  if (!dst || !src || dst.kind !== 'reg') return undefined;
  const readSrc = sourceReader(src, d, insnEnd, mem, dst.size);
  if (!readSrc) return undefined;
  const test = conditionTest(d.cc);
  const { slot, size, high8 } = dst;
  return (r) => {
    const lo = readSrc(r); // read (and may fault) whatever the condition
    if (test(r.flags)) writeReg(r, slot, size, high8, lo | 0, SRC_HI);
    else if (size === 4) writeReg(r, slot, 4, false, r.lo[slot], 0); // 32-bit CMOV zero-extends even when false
  };
}

function setccOp(d: DecodedInsn, insnEnd: number, mem: FastMemory): FastOp | undefined {
  const dst = operand(d, 0);
  if (!dst || dst.kind === 'imm') return undefined;
  const test = conditionTest(d.cc);
  if (dst.kind === 'reg') {
    const { slot, high8 } = dst;
    return (r) => writeReg(r, slot, 1, high8, test(r.flags) ? 1 : 0, 0);
  }
  const ea = addressOf(d, insnEnd, true);
  if (!ea) return undefined;
  const stack = isStackSeg(d);
  return (r) => {
    ea(r);
    const lo = EA_LO, hi = EA_HI;
    store(mem, mem.writeFrame(lo, hi, 1, stack), lo, hi, 1, test(r.flags) ? 1 : 0, 0);
  };
}

/** RSP - 8 as halves into EA_LO/EA_HI. */
function stackBelow(r: FastRegisters): void {
  const l = (r.lo[RSP] >>> 0) - 8;
  EA_LO = l | 0;
  EA_HI = (r.hi[RSP] - (l < 0 ? 1 : 0)) | 0;
}

/** Store 8 bytes at RSP - 8 and move RSP there (PUSH r64 / imm, CALL's return address). */
export function push64(r: FastRegisters, mem: FastMemory, vlo: number, vhi: number): void {
  stackBelow(r);
  const lo = EA_LO, hi = EA_HI;
  store(mem, mem.writeFrame(lo, hi, 8, true), lo, hi, 8, vlo, vhi);
  r.lo[RSP] = lo; r.hi[RSP] = hi; r.dirty |= 1 << RSP;
}

/** Read 8 bytes at RSP into RLO/RHI and move RSP up (POP r64, RET). */
export function pop64(r: FastRegisters, mem: FastMemory, commit: boolean): void {
  const lo = r.lo[RSP], hi = r.hi[RSP];
  const f = mem.readFrame(lo, hi, 8, true);
  const o = lo & 0xfff;
  RLO = readU(f, o, 4) | 0;
  RHI = readU(f, o + 4, 4) | 0;
  if (commit) popCommit(r);
}

/** RSP += 8 after pop64(commit = false). */
export function popCommit(r: FastRegisters): void {
  const l = (r.lo[RSP] >>> 0) + 8;
  r.lo[RSP] = l | 0;
  r.hi[RSP] = (r.hi[RSP] + (l >= TWO32 ? 1 : 0)) | 0;
  r.dirty |= 1 << RSP;
}

/** The halves pop64 read. */
export function popped(): [number, number] {
  return [RLO, RHI];
}

function pushOp(d: DecodedInsn, insnEnd: number, mem: FastMemory): FastOp | undefined {
  const src = operand(d, 0);
  if (!src) return undefined;
  if (src.kind === 'mem') {
    // PUSH r/m64: the operand is read (and may fault) before RSP moves.
    if (src.size !== 8) return undefined;
    const ea = addressOf(d, insnEnd, true);
    if (!ea) return undefined;
    const stack = isStackSeg(d);
    return (r) => {
      ea(r);
      const f = mem.readFrame(EA_LO, EA_HI, 8, stack);
      const o = EA_LO & 0xfff;
      push64(r, mem, readU(f, o, 4) | 0, readU(f, o + 4, 4) | 0);
    };
  }
  if (src.kind === 'imm') {
    // PUSH imm8/imm32 in 64-bit mode pushes 8 sign-extended bytes; PUSHW imm is left to the slow path.
    if (d.opKinds[0] !== OpKind.Immediate8to64 && d.opKinds[0] !== OpKind.Immediate32to64) return undefined;
    const { lo, hi } = src;
    return (r) => push64(r, mem, lo, hi);
  }
  if (src.size !== 8) return undefined;
  const slot = src.slot;
  return (r) => push64(r, mem, r.lo[slot], r.hi[slot]);
}

function popOp(d: DecodedInsn, mem: FastMemory): FastOp | undefined {
  const dst = operand(d, 0);
  if (!dst || dst.kind !== 'reg' || dst.size !== 8) return undefined;
  const slot = dst.slot;
  return (r) => {
    pop64(r, mem, true);
    // POP %rsp loads the popped value after the increment (SDM POP).
    r.lo[slot] = RLO; r.hi[slot] = RHI; r.dirty |= 1 << slot;
  };
}

/** Bit k (0..63) of a 64-bit value in halves. */
function bit64(lo: number, hi: number, k: number): number {
  return k < 32 ? (lo >>> k) & 1 : (hi >>> (k - 32)) & 1;
}

/**
 * SHL/SAL (0), SHR (1), SAR (2) of a register by an immediate, 1 or CL: the count is masked to 5
 * bits (6 for 64-bit operands) and a count of 0 changes nothing; flags as ../flags.ts shift().
 */
function shiftOp(d: DecodedInsn, kind: 0 | 1 | 2): FastOp | undefined {
  const dst = operand(d, 0);
  if (!dst || dst.kind !== 'reg' || d.opCount !== 2) return undefined;
  const { slot, size, high8 } = dst;
  const countMask = size === 8 ? 0x3f : 0x1f;
  let fixed = -1;
  if (d.opKinds[1] === OpKind.Register) {
    if (d.opRegs[1] !== Register.CL) return undefined;
  } else if (d.opKinds[1] >= OpKind.Immediate8 && d.opKinds[1] <= OpKind.Immediate32to64) {
    fixed = Number(d.imm & 0xffn) & countMask;
  } else return undefined;
  const bits = size * 8;
  const mask = size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
  const sign = size === 4 ? 0x80000000 : size === 2 ? 0x8000 : 0x80;
  return (r) => {
    const c = fixed >= 0 ? fixed : r.lo[1] & countMask;
    if (c === 0) {
      // Flags and value stay, but the 32-bit destination is still written: bits 63:32 are cleared.
      if (size === 4) writeReg(r, slot, 4, false, r.lo[slot], 0);
      return;
    }
    let cf: number;
    let of = 0;
    let f: number;
    if (size === 8) {
      const lo = r.lo[slot], hi = r.hi[slot];
      let rl: number, rh: number;
      if (kind === 0) {
        if (c < 32) { rh = (hi << c) | (lo >>> (32 - c)); rl = lo << c; }
        else { rh = c === 32 ? lo : lo << (c - 32); rl = 0; }
        cf = bit64(lo, hi, 64 - c);
        of = ((rh >>> 31) !== cf) ? 1 : 0;
      } else {
        if (c < 32) { rl = (lo >>> c) | (hi << (32 - c)); rh = kind === 1 ? hi >>> c : hi >> c; }
        else if (c === 32) { rl = hi; rh = kind === 1 ? 0 : hi >> 31; }
        else { rl = kind === 1 ? hi >>> (c - 32) : hi >> (c - 32); rh = kind === 1 ? 0 : hi >> 31; }
        cf = bit64(lo, hi, c - 1);
        if (kind === 1 && c === 1) of = hi >>> 31;
      }
      r.lo[slot] = rl; r.hi[slot] = rh; r.dirty |= 1 << slot;
      f = PF[rl & 0xff];
      if ((rl | rh) === 0) f |= 0x40;
      if (rh < 0) f |= 0x80;
    } else {
      const a = readRegLow(r, slot, size, high8);
      let res: number;
      if (kind === 0) {
        res = ((a << c) & mask) >>> 0;
        cf = c <= bits ? (a >>> (bits - c)) & 1 : 0;
        of = ((res & sign) !== 0 ? 1 : 0) !== cf ? 1 : 0;
      } else if (kind === 1) {
        res = c >= bits ? 0 : a >>> c;
        cf = c <= bits ? (a >>> (c - 1)) & 1 : 0;
        if (c === 1) of = (a & sign) !== 0 ? 1 : 0;
      } else {
        const sa = size === 4 ? a | 0 : size === 2 ? (a << 16) >> 16 : (a << 24) >> 24;
        res = ((sa >> c) & mask) >>> 0;
        cf = (sa >> (c - 1)) & 1;
      }
      writeReg(r, slot, size, high8, res | 0, 0);
      f = PF[res & 0xff];
      if (res === 0) f |= 0x40;
      if ((res & sign) !== 0) f |= 0x80;
    }
    // AF is undefined after shifts: cleared, as the slow path does.
    r.flags = (r.flags & ~STATUS) | f | cf | (of ? 0x800 : 0);
  };
}

/** BT (0), BTS (1), BTR (2), BTC (3) on a register: CF = the bit (offset modulo the size); other flags kept. */
function bitTestOp(d: DecodedInsn, kind: 0 | 1 | 2 | 3): FastOp | undefined {
  const dst = operand(d, 0);
  const src = operand(d, 1);
  if (!dst || dst.kind !== 'reg' || !src || src.kind === 'mem' || dst.size === 1) return undefined;
  const { slot, size } = dst;
  const bitsMask = size * 8 - 1;
  const fixed = src.kind === 'imm' ? src.lo & bitsMask : -1;
  const srcSlot = src.kind === 'reg' ? src.slot : -1;
  return (r) => {
    const b = fixed >= 0 ? fixed : r.lo[srcSlot] & bitsMask;
    const inHi = b >= 32;
    const word = inHi ? r.hi[slot] : r.lo[slot];
    const m = 1 << (b & 31);
    r.flags = (r.flags & ~1) | ((word & m) !== 0 ? 1 : 0);
    if (kind === 0) return;
    const v = kind === 1 ? word | m : kind === 2 ? word & ~m : word ^ m;
    if (size === 8) { if (inHi) r.hi[slot] = v; else r.lo[slot] = v; r.dirty |= 1 << slot; }
    else writeReg(r, slot, size, false, v, 0);
  };
}

export { FAST_STOP };
