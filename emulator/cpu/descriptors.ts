/**
 * Segment descriptors as the CPU reads them from the GDT (Intel SDM vol. 3, 3.4.5). Reads are
 * implicit supervisor accesses: they go through paging with SMAP applying regardless of AC.
 */
import { DESCRIPTOR } from '../machine/facts/segments';
import type { SegmentRegister } from '../machine/state';
import type { Machine } from '../machine/machine';
import { CpuFault } from './fault';

export interface Descriptor {
  raw: bigint;
  base: bigint;
  /** Effective byte limit (granularity applied). */
  limit: number;
  /** Access byte in bits 0-7, flags nibble in bits 12-15 (SegmentRegister.attrs layout). */
  attrs: number;
  dpl: number;
  present: boolean;
  /** S=1: code or data; S=0: system (TSS, gates, LDT). */
  codeOrData: boolean;
  code: boolean;
  /** Code: readable; data: writable. */
  rw: boolean;
  conforming: boolean;
  /** System descriptor type (attrs & 0xf) */
  type: number;
}

export function parseDescriptor(raw: bigint): Descriptor {
  const access = Number((raw >> 40n) & 0xffn);
  const flags = Number((raw >> 52n) & 0xfn);
  const attrs = access | (flags << 12);
  let limit = Number((raw & 0xffffn) | (((raw >> 48n) & 0xfn) << 16n));
  if (attrs & DESCRIPTOR.G) limit = ((limit << 12) | 0xfff) >>> 0;
  const base = ((raw >> 16n) & 0xffffffn) | (((raw >> 56n) & 0xffn) << 24n);
  return {
    raw, base, limit, attrs,
    dpl: (access >> DESCRIPTOR.DPL_SHIFT) & 3,
    present: (access & DESCRIPTOR.P) !== 0,
    codeOrData: (access & DESCRIPTOR.S) !== 0,
    code: (access & DESCRIPTOR.CODE) !== 0,
    rw: (access & DESCRIPTOR.RW) !== 0,
    conforming: (access & DESCRIPTOR.CODE) !== 0 && (access & DESCRIPTOR.DC) !== 0,
    type: access & 0xf,
  };
}

/** Linear address of the GDT slot for `selector`, or a #GP(selector) if outside the GDT. LDT selectors are not supported. */
export function descriptorAddress(m: Machine, selector: number, what: string): bigint {
  if (selector & 4) throw new CpuFault(13, `${what}: selector 0x${selector.toString(16)} refers to the LDT, which kentry does not model`, selector & 0xfffc);
  const index = selector & 0xfff8;
  if (index + 7 > m.state.gdtr.limit) {
    throw new CpuFault(13, `${what}: selector 0x${selector.toString(16)} is beyond the GDT limit 0x${m.state.gdtr.limit.toString(16)}`, selector & 0xfffc);
  }
  return m.state.gdtr.base + BigInt(index);
}

export function readDescriptor(m: Machine, selector: number, what: string): Descriptor {
  const addr = descriptorAddress(m, selector, what);
  return parseDescriptor(m.readLinear(addr, 8, false, true));
}

export function segmentFrom(selector: number, d: Descriptor): SegmentRegister {
  return { selector, base: d.base, limit: d.limit, attrs: d.attrs | DESCRIPTOR.ACCESSED };
}

/** Flat 64-bit code and data descriptors as SYSCALL/SYSRET load them. */
export const FLAT_CODE64_ATTRS = 0x0b | DESCRIPTOR.S | DESCRIPTOR.P | DESCRIPTOR.L | DESCRIPTOR.G;
export const FLAT_DATA_ATTRS = 0x03 | DESCRIPTOR.S | DESCRIPTOR.P | DESCRIPTOR.DB | DESCRIPTOR.G;
export const FLAT_CODE32_ATTRS = 0x0b | DESCRIPTOR.S | DESCRIPTOR.P | DESCRIPTOR.DB | DESCRIPTOR.G;

export function flatSegment(selector: number, attrs: number, dpl: number): SegmentRegister {
  return { selector, base: 0n, limit: 0xffffffff, attrs: attrs | (dpl << DESCRIPTOR.DPL_SHIFT) };
}

