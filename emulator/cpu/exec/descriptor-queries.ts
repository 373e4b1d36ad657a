/**
 * LSL, LAR, VERR: questions about a segment descriptor that answer in ZF instead of faulting
 * (SDM vol. 2, LAR/LSL/VERR, 64-bit mode). Linux's paranoid entry asks LSL for the CPU number:
 * GET_PERCPU_BASE loads __CPUNODE_SEG and `lsl`s it on CPUs without RDPID, because the per-CPU
 * GDT entry's limit is (node << 12) | cpu.
 */
import { Mnemonic, OpKind } from 'iced-x86';
import { RFLAGS } from '../../machine/facts/rflags';
import type { Machine } from '../../machine/machine';
import type { DecodedInsn, Handler } from '../decoded';
import { type Descriptor, parseDescriptor } from '../descriptors';

/** System descriptor types LSL accepts in 64-bit mode: LDT, available/busy 64-bit TSS. LAR also takes call gates. */
const LSL_SYSTEM_TYPES = new Set([2, 9, 11]);
const LAR_SYSTEM_TYPES = new Set([2, 9, 11, 12]);

function selectorOperand(m: Machine, d: DecodedInsn, i: number): number {
  const v = d.opKinds[i] === OpKind.Memory ? m.readMem(d, 2) : m.readOp(d, i);
  return Number(v & 0xffffn);
}

/**
 * The descriptor a selector names if the current privilege may see it, else undefined.
 * Null selectors, selectors past the GDT limit and LDT selectors (kentry models no LDT) fail.
 * Reads are implicit supervisor accesses; a page fault on the GDT still faults.
 */
function visibleDescriptor(m: Machine, sel: number, systemTypes: ReadonlySet<number>): Descriptor | undefined {
  const s = m.state;
  if ((sel & 0xfffc) === 0 || sel & 4 || (sel & 0xfff8) + 7 > s.gdtr.limit) return undefined;
  const desc = parseDescriptor(m.readLinear(s.gdtr.base + BigInt(sel & 0xfff8), 8, false, true));
  if (!desc.codeOrData && !systemTypes.has(desc.type)) return undefined;
  if (!desc.conforming && (desc.dpl < s.cpl || desc.dpl < (sel & 3))) return undefined;
  return desc;
}

function setZf(m: Machine, on: boolean): void {
  m.state.rflags = on ? m.state.rflags | RFLAGS.ZF : m.state.rflags & ~RFLAGS.ZF;
}

/** LSL r, r/m16: the byte-granular limit (G applied); 16-bit destinations get its low half. */
const lsl: Handler = (m, d) => {
  const desc = visibleDescriptor(m, selectorOperand(m, d, 1), LSL_SYSTEM_TYPES);
  setZf(m, desc !== undefined);
  if (desc) m.writeOp(d, 0, BigInt(desc.limit >>> 0) & (d.opSizes[0] === 2 ? 0xffffn : 0xffffffffn));
};

/** LAR r, r/m16: the descriptor's second dword masked to the access rights (0x00F0FF00; 0xFF00 for 16-bit). */
const lar: Handler = (m, d) => {
  const desc = visibleDescriptor(m, selectorOperand(m, d, 1), LAR_SYSTEM_TYPES);
  setZf(m, desc !== undefined);
  if (desc) m.writeOp(d, 0, (desc.raw >> 32n) & (d.opSizes[0] === 2 ? 0xff00n : 0x00f0ff00n));
};

/** VERR r/m16: ZF=1 if the segment is readable at the current privilege (data, or readable code). */
const verr: Handler = (m, d) => {
  const desc = visibleDescriptor(m, selectorOperand(m, d, 0), new Set());
  setZf(m, desc !== undefined && (!desc.code || desc.rw));
};

export const DESCRIPTOR_QUERY_HANDLERS: Array<[Mnemonic, Handler]> = [
  [Mnemonic.Lsl, lsl],
  [Mnemonic.Lar, lar],
  [Mnemonic.Verr, verr],
];
