/**
 * Arithmetic flag rules (Intel SDM vol. 1, 3.4.3 and each instruction's "Flags Affected").
 * Each helper computes the result and rewrites exactly the status flags the instruction defines;
 * flags the SDM calls "undefined" get the values documented at each helper (tests mask them).
 */
import { RFLAGS } from '../machine/facts/rflags';
import type { CpuState } from '../machine/state';
import { low32 } from './low-bits';
import { MASK, SIGN } from './registers';

/** PF (0x4) for each value of a result's low byte: set when it has an even number of 1 bits. */
export const PF_OF_BYTE = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let n = 0;
  for (let b = i; b; b >>= 1) n += b & 1;
  PF_OF_BYTE[i] = n % 2 === 0 ? 0x4 : 0;
}

export const STATUS_FLAGS = RFLAGS.CF | RFLAGS.PF | RFLAGS.AF | RFLAGS.ZF | RFLAGS.SF | RFLAGS.OF;
const NOT_STATUS = ~STATUS_FLAGS;

// Flags are composed as Numbers and stored with one BigInt conversion: each BigInt operation
// allocates, and the ALU helpers run for most instructions (RFLAGS fits in 22 bits).
const N_CF = 0x1, N_AF = 0x10, N_ZF = 0x40, N_SF = 0x80, N_OF = 0x800;
const N_STATUS = 0x8d5;

/** ZF, SF, PF of a result (`r` is already masked to `size`), as a Number. Sign by comparison: no allocation. */
function szpNum(r: bigint, size: number): number {
  const low = low32(r) & 0xff;
  let f = PF_OF_BYTE[low];
  if (r === 0n) f |= N_ZF;
  else if (r >= SIGN[size]) f |= N_SF;
  return f;
}

/** ZF, SF, PF of a result. */
export function szp(r: bigint, size: number): bigint {
  return BigInt(szpNum(r, size));
}

function setStatus(s: CpuState, f: bigint, keep = NOT_STATUS): void {
  s.rflags = (s.rflags & keep) | f;
}

function setStatusNum(s: CpuState, f: number, defined = N_STATUS): void {
  s.rflags = BigInt((Number(s.rflags) & ~defined) | f);
}

/** Bit 4 of a ^ b ^ r: the carry out of bit 3. */
function auxCarry(a: bigint, b: bigint, r: bigint): number {
  return (low32(a) ^ low32(b) ^ low32(r)) & N_AF;
}

/** ADD/ADC (carryIn 0 or 1); `defined` = the flags written (INC leaves CF alone). */
function addWith(s: CpuState, a: bigint, b: bigint, carryIn: bigint, size: number, defined: number): bigint {
  const full = carryIn === 0n ? a + b : a + b + carryIn;
  const max = MASK[size];
  const r = full > max ? full & max : full;
  let f = szpNum(r, size) | auxCarry(a, b, r);
  if (full > max) f |= N_CF;
  const sign = SIGN[size];
  const sa = a >= sign;
  if (sa === (b >= sign) && (r >= sign) !== sa) f |= N_OF;
  setStatusNum(s, f & defined, defined);
  return r;
}

/** SUB/SBB/CMP/NEG (borrowIn 0 or 1); `defined` as for addWith. */
function subWith(s: CpuState, a: bigint, b: bigint, borrowIn: bigint, size: number, defined: number): bigint {
  const bb = borrowIn === 0n ? b : b + borrowIn;
  const r = a >= bb ? a - bb : (a - bb) & MASK[size];
  let f = szpNum(r, size) | auxCarry(a, b, r);
  if (a < bb) f |= N_CF;
  const sign = SIGN[size];
  const sa = a >= sign;
  if (sa !== (b >= sign) && (r >= sign) !== sa) f |= N_OF;
  setStatusNum(s, f & defined, defined);
  return r;
}

/** ADD/ADC (carryIn 0 or 1). */
export function add(s: CpuState, a: bigint, b: bigint, carryIn: bigint, size: number): bigint {
  return addWith(s, a, b, carryIn, size, N_STATUS);
}

/** SUB/SBB/CMP/NEG (borrowIn 0 or 1). */
export function sub(s: CpuState, a: bigint, b: bigint, borrowIn: bigint, size: number): bigint {
  return subWith(s, a, b, borrowIn, size, N_STATUS);
}

/** AND/OR/XOR/TEST: CF=OF=0, SZP from the result. AF is undefined; we clear it (as Intel cores do). */
export function logic(s: CpuState, r: bigint, size: number): bigint {
  setStatusNum(s, szpNum(r, size));
  return r;
}

/** INC/DEC: like ADD/SUB 1 but CF is preserved. */
export function incDec(s: CpuState, a: bigint, dec: boolean, size: number): bigint {
  return dec ? subWith(s, a, 1n, 0n, size, N_STATUS & ~N_CF) : addWith(s, a, 1n, 0n, size, N_STATUS & ~N_CF);
}

export function setFlag(s: CpuState, flag: bigint, on: boolean): void {
  s.rflags = on ? s.rflags | flag : s.rflags & ~flag;
}

/**
 * Shifts and rotates. `count` is already masked (5 bits, 6 for 64-bit operands); count 0 changes
 * nothing, flags included. OF is defined only for count 1: for larger counts we compute it with
 * the count-1 formula (tests mask it). AF is undefined after SHL/SHR/SAR: we clear it.
 * Rotates change only CF and OF.
 */
export function shift(s: CpuState, op: 'shl' | 'shr' | 'sar' | 'rol' | 'ror' | 'rcl' | 'rcr', a: bigint, count: number, size: number): bigint {
  if (count === 0) return a;
  const bits = size * 8;
  const mask = MASK[size];
  const sign = SIGN[size];
  const c = BigInt(count);
  let r: bigint;
  let cf: boolean;
  let of: boolean;
  switch (op) {
    case 'shl': {
      r = (a << c) & mask;
      cf = count <= bits ? ((a >> BigInt(bits - count)) & 1n) === 1n : false;
      of = ((r & sign) !== 0n) !== cf;
      setStatus(s, szp(r, size) | (cf ? RFLAGS.CF : 0n) | (of ? RFLAGS.OF : 0n));
      return r;
    }
    case 'shr': {
      r = count >= bits ? 0n : a >> c;
      cf = count <= bits ? ((a >> BigInt(count - 1)) & 1n) === 1n : false;
      of = count === 1 ? (a & sign) !== 0n : false;
      setStatus(s, szp(r, size) | (cf ? RFLAGS.CF : 0n) | (of ? RFLAGS.OF : 0n));
      return r;
    }
    case 'sar': {
      const sa = BigInt.asIntN(bits, a);
      r = BigInt.asUintN(bits, sa >> c);
      cf = ((sa >> (c - 1n)) & 1n) === 1n;
      setStatus(s, szp(r, size) | (cf ? RFLAGS.CF : 0n));
      return r;
    }
    case 'rol': {
      const n = BigInt(count % bits);
      r = n === 0n ? a : ((a << n) | (a >> (BigInt(bits) - n))) & mask;
      cf = (r & 1n) === 1n;
      of = ((r & sign) !== 0n) !== cf;
      setStatus(s, (cf ? RFLAGS.CF : 0n) | (of ? RFLAGS.OF : 0n), ~(RFLAGS.CF | RFLAGS.OF));
      return r;
    }
    case 'ror': {
      const n = BigInt(count % bits);
      r = n === 0n ? a : ((a >> n) | (a << (BigInt(bits) - n))) & mask;
      cf = (r & sign) !== 0n;
      of = ((r & sign) !== 0n) !== ((r & (sign >> 1n)) !== 0n);
      setStatus(s, (cf ? RFLAGS.CF : 0n) | (of ? RFLAGS.OF : 0n), ~(RFLAGS.CF | RFLAGS.OF));
      return r;
    }
    case 'rcl':
    case 'rcr': {
      // Rotate through CF: a (bits+1)-bit rotation; 8/16-bit counts are taken modulo 9/17.
      const n = count % (bits + 1);
      let wide = a | ((s.rflags & RFLAGS.CF) !== 0n ? 1n << BigInt(bits) : 0n);
      const wmask = (1n << BigInt(bits + 1)) - 1n;
      const bn = BigInt(n);
      if (n !== 0) {
        wide = op === 'rcl'
          ? ((wide << bn) | (wide >> BigInt(bits + 1 - n))) & wmask
          : ((wide >> bn) | (wide << BigInt(bits + 1 - n))) & wmask;
      }
      r = wide & mask;
      cf = (wide >> BigInt(bits)) === 1n;
      of = op === 'rcl'
        ? ((r & sign) !== 0n) !== cf
        : ((r & sign) !== 0n) !== ((r & (sign >> 1n)) !== 0n);
      setStatus(s, (cf ? RFLAGS.CF : 0n) | (of ? RFLAGS.OF : 0n), ~(RFLAGS.CF | RFLAGS.OF));
      return r;
    }
  }
}
