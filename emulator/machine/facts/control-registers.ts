import type { BitField } from './bits';

/** CR0 (Intel SDM vol. 3, 2.5). */
export const CR0_FIELDS: readonly BitField[] = [
  { name: 'PE', bit: 0, doc: 'Protected mode enable' },
  { name: 'MP', bit: 1, doc: 'Monitor coprocessor' },
  { name: 'EM', bit: 2, doc: 'x87 emulation' },
  { name: 'TS', bit: 3, doc: 'Task switched (lazy FPU)' },
  { name: 'ET', bit: 4, doc: 'Extension type (always 1)' },
  { name: 'NE', bit: 5, doc: 'Native x87 error reporting' },
  { name: 'WP', bit: 16, doc: 'Write protect: supervisor writes honour read-only pages' },
  { name: 'AM', bit: 18, doc: 'Alignment mask (with RFLAGS.AC)' },
  { name: 'NW', bit: 29, doc: 'Not write-through' },
  { name: 'CD', bit: 30, doc: 'Cache disable' },
  { name: 'PG', bit: 31, doc: 'Paging enable' },
];

/** CR4 (Intel SDM vol. 3, 2.5). */
export const CR4_FIELDS: readonly BitField[] = [
  { name: 'VME', bit: 0, doc: 'Virtual-8086 mode extensions' },
  { name: 'PVI', bit: 1, doc: 'Protected-mode virtual interrupts' },
  { name: 'TSD', bit: 2, doc: 'Time stamp disable (RDTSC at CPL0 only)' },
  { name: 'DE', bit: 3, doc: 'Debugging extensions' },
  { name: 'PSE', bit: 4, doc: 'Page size extensions' },
  { name: 'PAE', bit: 5, doc: 'Physical address extension (required for long mode)' },
  { name: 'MCE', bit: 6, doc: 'Machine-check enable' },
  { name: 'PGE', bit: 7, doc: 'Global pages: G-bit translations survive CR3 writes' },
  { name: 'PCE', bit: 8, doc: 'RDPMC at any CPL' },
  { name: 'OSFXSR', bit: 9, doc: 'FXSAVE/FXRSTOR and SSE enabled' },
  { name: 'OSXMMEXCPT', bit: 10, doc: 'Unmasked SSE exceptions' },
  { name: 'UMIP', bit: 11, doc: 'User-mode instruction prevention (SGDT etc. #GP at CPL>0)' },
  { name: 'LA57', bit: 12, doc: '5-level paging (57-bit linear addresses)' },
  { name: 'VMXE', bit: 13, doc: 'VMX enable' },
  { name: 'SMXE', bit: 14, doc: 'SMX enable' },
  { name: 'FSGSBASE', bit: 16, doc: 'RDFSBASE/WRGSBASE etc. allowed' },
  { name: 'PCIDE', bit: 17, doc: 'Process-context identifiers: CR3[11:0] is a PCID. KPTI uses it to keep both halves in the TLB' },
  { name: 'OSXSAVE', bit: 18, doc: 'XSAVE enabled' },
  { name: 'SMEP', bit: 20, doc: 'Supervisor-mode execution prevention: ring 0 cannot execute user pages' },
  { name: 'SMAP', bit: 21, doc: 'Supervisor-mode access prevention: ring 0 cannot touch user pages unless RFLAGS.AC' },
  { name: 'PKE', bit: 22, doc: 'Protection keys for user pages' },
  { name: 'CET', bit: 23, doc: 'Control-flow enforcement (shadow stacks, IBT)' },
];

/**
 * CR3 as Linux uses it with KPTI (arch/x86/entry/calling.h and asm/processor-flags.h):
 * the user page-table root is the kernel's plus 4 KiB (PTI_USER_PGTABLE_BIT = PAGE_SHIFT),
 * and the user PCID is the kernel's with bit 11 set (X86_CR3_PTI_PCID_USER_BIT).
 */
export const CR3 = {
  PCID_MASK: 0xfffn,
  PWT: 1n << 3n,
  PCD: 1n << 4n,
  ADDR_MASK: 0x000ffffffffff000n,
  NOFLUSH: 1n << 63n,
  PTI_USER_PGTABLE_BIT: 12,
  PTI_USER_PGTABLE_MASK: 1n << 12n,
  PTI_PCID_USER_BIT: 11,
  PTI_PCID_USER_MASK: 1n << 11n,
} as const;

export interface Cr3Decoded {
  raw: bigint;
  /** Physical address of the top-level page table (PML4 or PML5). */
  pgdAddress: bigint;
  /** PCID when CR4.PCIDE is set, else undefined (bits 3 and 4 are PWT/PCD then). */
  pcid: number | undefined;
  /** With KPTI: the user half (PGD bit 12 set) or the kernel half. */
  half: 'user' | 'kernel';
  /** Bit 63 on a MOV to CR3: keep the PCID's TLB entries. Never reads back as 1. */
  noflush: boolean;
}

export function decodeCr3(raw: bigint, pcidEnabled: boolean): Cr3Decoded {
  return {
    raw,
    pgdAddress: raw & CR3.ADDR_MASK,
    pcid: pcidEnabled ? Number(raw & CR3.PCID_MASK) : undefined,
    half: raw & CR3.PTI_USER_PGTABLE_MASK ? 'user' : 'kernel',
    noflush: (raw & CR3.NOFLUSH) !== 0n,
  };
}
