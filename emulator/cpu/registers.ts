/**
 * iced-x86 Register numbers to CpuState.gpr slots, precomputed so operand access is a table
 * lookup: AL..R15L = 1..20 (AH..BH are 5..8), AX..R15W = 21..36, EAX.. = 37..52, RAX.. = 53..68.
 */
import { Register } from 'iced-x86';
import type { CpuState } from '../machine/state';

/** gpr index for a GPR Register, -1 for anything else. */
export const GPR_SLOT = new Int8Array(256).fill(-1);
/** Operand size in bytes for a GPR Register. */
export const GPR_SIZE = new Uint8Array(256);
/** 1 for AH, CH, DH, BH (bits 15:8 of slot 0..3). */
export const GPR_HIGH8 = new Uint8Array(256);

for (let i = 0; i < 4; i++) { GPR_SLOT[Register.AL + i] = i; GPR_SIZE[Register.AL + i] = 1; }
for (let i = 0; i < 4; i++) { GPR_SLOT[Register.AH + i] = i; GPR_SIZE[Register.AH + i] = 1; GPR_HIGH8[Register.AH + i] = 1; }
for (let i = 0; i < 12; i++) { GPR_SLOT[Register.SPL + i] = 4 + i; GPR_SIZE[Register.SPL + i] = 1; }
for (let i = 0; i < 16; i++) {
  GPR_SLOT[Register.AX + i] = i; GPR_SIZE[Register.AX + i] = 2;
  GPR_SLOT[Register.EAX + i] = i; GPR_SIZE[Register.EAX + i] = 4;
  GPR_SLOT[Register.RAX + i] = i; GPR_SIZE[Register.RAX + i] = 8;
}

export const MASK: readonly bigint[] = [0n, 0xffn, 0xffffn, 0n, 0xffffffffn, 0n, 0n, 0n, 0xffffffffffffffffn];
export const SIGN: readonly bigint[] = [0n, 0x80n, 0x8000n, 0n, 0x80000000n, 0n, 0n, 0n, 0x8000000000000000n];
const M64 = 0xffffffffffffffffn;
const M32 = 0xffffffffn;
export const BITS: readonly bigint[] = [0n, 8n, 16n, 0n, 32n, 0n, 0n, 0n, 64n];

export function readGpr(s: CpuState, reg: Register): bigint {
  const slot = GPR_SLOT[reg];
  const v = s.gpr[slot];
  const size = GPR_SIZE[reg];
  if (size === 8) return v;
  if (GPR_HIGH8[reg]) return (v >> 8n) & 0xffn;
  return v & MASK[size];
}

/** Write with x86-64 merge rules: 8/16-bit writes keep the other bits, 32-bit writes zero-extend. */
export function writeGpr(s: CpuState, reg: Register, value: bigint): void {
  const slot = GPR_SLOT[reg];
  const size = GPR_SIZE[reg];
  // Values are usually in range already: compare (free) before masking (allocates).
  if (size === 8) s.gpr[slot] = value >= 0n && value <= M64 ? value : value & M64;
  else if (size === 4) s.gpr[slot] = value >= 0n && value <= M32 ? value : value & M32;
  else if (GPR_HIGH8[reg]) s.gpr[slot] = (s.gpr[slot] & ~0xff00n) | ((value & 0xffn) << 8n);
  else s.gpr[slot] = (s.gpr[slot] & ~MASK[size]) | (value & MASK[size]);
}

export function isGpr(reg: Register): boolean {
  return GPR_SLOT[reg] >= 0;
}

/** Sign-extend a `size`-byte value to a 64-bit unsigned bigint. */
export function signExtend(v: bigint, size: number): bigint {
  return size === 8 ? v : BigInt.asUintN(64, BigInt.asIntN(size * 8, v));
}

export function toSigned(v: bigint, size: number): bigint {
  return BigInt.asIntN(size * 8, v);
}
