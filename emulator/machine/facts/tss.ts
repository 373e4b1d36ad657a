/**
 * The 64-bit hardware TSS (struct x86_hw_tss, arch/x86/include/asm/processor.h). It is packed:
 * sp0 sits at offset 4. Linux's per-CPU `cpu_tss_rw` starts with it, so TSS_sp0 = 4 etc.
 */
export interface TssField {
  field: string;
  asmName?: string;
  offset: number;
  size: 2 | 4 | 8;
  /** What the CPU does with it, and what Linux (per version) uses it for. */
  doc: string;
}

export const X86_HW_TSS: readonly TssField[] = [
  { field: 'sp0', asmName: 'TSS_sp0', offset: 4, size: 8,
    doc: 'CPU: RSP loaded on an interrupt/exception from ring 3. Linux (KPTI era): top of the per-CPU entry trampoline stack; the SYSRET path also switches to it before SWITCH_TO_USER_CR3.' },
  { field: 'sp1', asmName: 'TSS_sp1', offset: 12, size: 8,
    doc: 'CPU: RSP for ring-1 transitions (unused). Linux 4.15-5.9: cpu_current_top_of_stack, the top of the current task\'s kernel stack.' },
  { field: 'sp2', asmName: 'TSS_sp2', offset: 20, size: 8,
    doc: 'CPU: RSP for ring-2 transitions (unused). Linux: scratch slot where entry_SYSCALL_64 saves the user RSP before it has a stack.' },
  { field: 'ist[0]', offset: 36, size: 8, doc: 'IST1: #DF stack' },
  { field: 'ist[1]', offset: 44, size: 8, doc: 'IST2: NMI stack' },
  { field: 'ist[2]', offset: 52, size: 8, doc: 'IST3: #DB stack' },
  { field: 'ist[3]', offset: 60, size: 8, doc: 'IST4: #MC stack' },
  { field: 'ist[4]', offset: 68, size: 8, doc: 'IST5: #VC stack (SEV-ES)' },
  { field: 'ist[5]', offset: 76, size: 8, doc: 'IST6: #VC2 stack' },
  { field: 'ist[6]', offset: 84, size: 8, doc: 'IST7: unused' },
  { field: 'io_bitmap_base', offset: 102, size: 2,
    doc: 'Offset of the I/O permission bitmap; Linux points it past the TSS limit when no task uses ioperm().' },
];

export const X86_HW_TSS_SIZE = 104;
export const TSS_ASM_OFFSETS: Readonly<Record<string, number>> = Object.fromEntries(
  X86_HW_TSS.filter((f) => f.asmName).map((f) => [f.asmName as string, f.offset]),
);
