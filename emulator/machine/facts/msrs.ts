import type { BitField } from './bits';

/** How a view should present an MSR's value beyond the raw number. */
export type MsrDecoding = 'bits' | 'star' | 'address' | 'mask-rflags' | 'raw';

export interface MsrInfo {
  name: string;
  /** Name used by Linux (msr-index.h). */
  linuxName: string;
  number: number;
  decoding: MsrDecoding;
  fields?: readonly BitField[];
  doc: string;
}

/** EFER (IA32_EFER, 0xC0000080). */
export const EFER_FIELDS: readonly BitField[] = [
  { name: 'SCE', bit: 0, doc: 'System-call extensions: SYSCALL/SYSRET enabled (else #UD)' },
  { name: 'LME', bit: 8, doc: 'Long mode enable' },
  { name: 'LMA', bit: 10, doc: 'Long mode active (read-only, set by the CPU)' },
  { name: 'NXE', bit: 11, doc: 'No-execute enable: page-table bit 63 is honoured' },
  { name: 'SVME', bit: 12, doc: 'AMD SVM enable' },
  { name: 'LMSLE', bit: 13, doc: 'AMD long-mode segment limit enable' },
  { name: 'FFXSR', bit: 14, doc: 'AMD fast FXSAVE/FXRSTOR' },
  { name: 'TCE', bit: 15, doc: 'AMD translation cache extension' },
];

export const MSR = {
  IA32_TSC: 0x10,
  IA32_APIC_BASE: 0x1b,
  IA32_SPEC_CTRL: 0x48,
  IA32_PRED_CMD: 0x49,
  IA32_SYSENTER_CS: 0x174,
  IA32_SYSENTER_ESP: 0x175,
  IA32_SYSENTER_EIP: 0x176,
  IA32_PAT: 0x277,
  EFER: 0xc0000080,
  STAR: 0xc0000081,
  LSTAR: 0xc0000082,
  CSTAR: 0xc0000083,
  SYSCALL_MASK: 0xc0000084,
  FS_BASE: 0xc0000100,
  GS_BASE: 0xc0000101,
  KERNEL_GS_BASE: 0xc0000102,
  TSC_AUX: 0xc0000103,
} as const;

/** Every MSR the emulator implements; RDMSR/WRMSR of any other number raises #GP(0). */
export const MSR_TABLE: readonly MsrInfo[] = [
  { name: 'EFER', linuxName: 'MSR_EFER', number: MSR.EFER, decoding: 'bits', fields: EFER_FIELDS,
    doc: 'Extended features: SYSCALL enable, long mode, NX.' },
  { name: 'STAR', linuxName: 'MSR_STAR', number: MSR.STAR, decoding: 'star',
    doc: 'Segment selectors for SYSCALL (bits 47:32: kernel CS, SS = CS+8) and SYSRET (bits 63:48: base; 64-bit CS = base+16, SS = base+8, RPL forced to 3).' },
  { name: 'LSTAR', linuxName: 'MSR_LSTAR', number: MSR.LSTAR, decoding: 'address',
    doc: '64-bit SYSCALL target RIP: Linux puts entry_SYSCALL_64 here (syscall_init).' },
  { name: 'CSTAR', linuxName: 'MSR_CSTAR', number: MSR.CSTAR, decoding: 'address',
    doc: 'Compatibility-mode SYSCALL target (entry_SYSCALL_compat). Unused by Intel CPUs.' },
  { name: 'SYSCALL_MASK', linuxName: 'MSR_SYSCALL_MASK', number: MSR.SYSCALL_MASK, decoding: 'mask-rflags',
    doc: 'RFLAGS bits SYSCALL clears (FMASK). Linux clears TF, DF, IF, IOPL, AC, NT so the entry code starts with interrupts off.' },
  { name: 'FS_BASE', linuxName: 'MSR_FS_BASE', number: MSR.FS_BASE, decoding: 'address',
    doc: 'FS segment base: the user thread pointer (TLS).' },
  { name: 'GS_BASE', linuxName: 'MSR_GS_BASE', number: MSR.GS_BASE, decoding: 'address',
    doc: 'GS segment base in use now. In the kernel it points at this CPU\'s per-CPU area (%gs:x addresses per-CPU variable x).' },
  { name: 'KERNEL_GS_BASE', linuxName: 'MSR_KERNEL_GS_BASE', number: MSR.KERNEL_GS_BASE, decoding: 'address',
    doc: 'The GS base SWAPGS exchanges with GS_BASE: the kernel\'s per-CPU base while in user mode, the user\'s GS base while in the kernel.' },
  { name: 'TSC_AUX', linuxName: 'MSR_TSC_AUX', number: MSR.TSC_AUX, decoding: 'raw',
    doc: 'Value RDTSCP/RDPID return; Linux stores the CPU (and node) number.' },
  { name: 'SYSENTER_CS', linuxName: 'MSR_IA32_SYSENTER_CS', number: MSR.IA32_SYSENTER_CS, decoding: 'raw',
    doc: 'SYSENTER code segment (32-bit entry).' },
  { name: 'SYSENTER_ESP', linuxName: 'MSR_IA32_SYSENTER_ESP', number: MSR.IA32_SYSENTER_ESP, decoding: 'address',
    doc: 'SYSENTER stack; Linux points it at the trampoline stack top.' },
  { name: 'SYSENTER_EIP', linuxName: 'MSR_IA32_SYSENTER_EIP', number: MSR.IA32_SYSENTER_EIP, decoding: 'address',
    doc: 'SYSENTER target (entry_SYSENTER_compat).' },
  { name: 'PAT', linuxName: 'MSR_IA32_CR_PAT', number: MSR.IA32_PAT, decoding: 'raw',
    doc: 'Page attribute table.' },
  { name: 'SPEC_CTRL', linuxName: 'MSR_IA32_SPEC_CTRL', number: MSR.IA32_SPEC_CTRL, decoding: 'raw',
    doc: 'Speculation control (IBRS, STIBP, SSBD): IBRS_ENTER writes it on newer kernels.' },
  { name: 'APIC_BASE', linuxName: 'MSR_IA32_APICBASE', number: MSR.IA32_APIC_BASE, decoding: 'raw',
    doc: 'Local APIC base address and enable bits.' },
  { name: 'TSC', linuxName: 'MSR_IA32_TSC', number: MSR.IA32_TSC, decoding: 'raw',
    doc: 'Time-stamp counter.' },
];

export const MSR_BY_NUMBER: ReadonlyMap<number, MsrInfo> = new Map(MSR_TABLE.map((m) => [m.number, m]));
export const MSR_BY_NAME: ReadonlyMap<string, MsrInfo> = new Map(MSR_TABLE.map((m) => [m.name, m]));

/** STAR's selector fields, as SYSCALL and SYSRET use them. */
export function decodeStar(star: bigint): { syscallCs: number; syscallSs: number; sysretBase: number; sysretCs64: number; sysretSs: number } {
  const syscallCs = Number((star >> 32n) & 0xfffcn);
  const sysretBase = Number((star >> 48n) & 0xffffn);
  return {
    syscallCs,
    syscallSs: syscallCs + 8,
    sysretBase,
    sysretCs64: ((sysretBase + 16) & 0xfffc) | 3,
    sysretSs: ((sysretBase + 8) & 0xfffc) | 3,
  };
}
