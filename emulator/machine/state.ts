/**
 * Architectural CPU state: what the Variables pane shows and what the CPU executes on.
 * Kept as plain data so a snapshot is a structured clone and a diff is a field compare.
 */
import type { SegmentName } from './facts/segments';

/** General-purpose registers in encoding order (the index is the ModRM/REX register number). */
export const GPR_NAMES = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as const;
export type GprName = (typeof GPR_NAMES)[number];
export const GPR_INDEX: Readonly<Record<GprName, number>> = Object.fromEntries(GPR_NAMES.map((n, i) => [n, i])) as Record<GprName, number>;

/** A segment register: the visible selector and the hidden descriptor cache the CPU loaded. */
export interface SegmentRegister {
  selector: number;
  base: bigint;
  limit: number;
  /** Descriptor attributes: access byte in bits 0-7, flags nibble (AVL, L, D/B, G) in bits 12-15. */
  attrs: number;
}

export interface DescriptorTableRegister {
  base: bigint;
  limit: number;
}

export interface CpuState {
  gpr: bigint[];
  rip: bigint;
  rflags: bigint;
  seg: Record<SegmentName, SegmentRegister>;
  /** Task register (selector + cached TSS descriptor) and LDTR. */
  tr: SegmentRegister;
  ldtr: SegmentRegister;
  gdtr: DescriptorTableRegister;
  idtr: DescriptorTableRegister;
  cr0: bigint;
  cr2: bigint;
  cr3: bigint;
  cr4: bigint;
  cr8: bigint;
  dr: bigint[];
  /**
   * Model-specific registers by number. FS_BASE and GS_BASE are not stored here: they are
   * seg.fs.base / seg.gs.base (one home), and RDMSR/WRMSR of them go there.
   */
  msrs: Map<number, bigint>;
  /** Current privilege level (CS.RPL in long mode). */
  cpl: number;
}

export function nullSegment(): SegmentRegister {
  return { selector: 0, base: 0n, limit: 0, attrs: 0 };
}

export function newCpuState(): CpuState {
  return {
    gpr: new Array<bigint>(16).fill(0n),
    rip: 0n,
    rflags: 2n,
    seg: { es: nullSegment(), cs: nullSegment(), ss: nullSegment(), ds: nullSegment(), fs: nullSegment(), gs: nullSegment() },
    tr: nullSegment(),
    ldtr: nullSegment(),
    gdtr: { base: 0n, limit: 0 },
    idtr: { base: 0n, limit: 0 },
    cr0: 0n,
    cr2: 0n,
    cr3: 0n,
    cr4: 0n,
    cr8: 0n,
    dr: new Array<bigint>(8).fill(0n),
    msrs: new Map(),
    cpl: 0,
  };
}

export function cloneCpuState(s: CpuState): CpuState {
  return {
    ...s,
    gpr: s.gpr.slice(),
    seg: {
      es: { ...s.seg.es }, cs: { ...s.seg.cs }, ss: { ...s.seg.ss },
      ds: { ...s.seg.ds }, fs: { ...s.seg.fs }, gs: { ...s.seg.gs },
    },
    tr: { ...s.tr },
    ldtr: { ...s.ldtr },
    gdtr: { ...s.gdtr },
    idtr: { ...s.idtr },
    dr: s.dr.slice(),
    msrs: new Map(s.msrs),
  };
}
