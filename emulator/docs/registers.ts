/**
 * What a register operand (%rax, %cr3, %gs ...) is for, as the entry code sees it.
 * Bit meanings of CR0/CR4/RFLAGS are not restated here: they live in machine/facts.
 */
import { CR0_FIELDS, CR4_FIELDS, RFLAGS_FIELDS, type BitField } from '../machine/facts';

export interface RegisterDoc {
  name: string;
  doc: string;
  /** Bit fields, for control/flag registers. */
  fields?: readonly BitField[];
}

const GPR: Record<string, string> = {
  rax: 'Syscall number on entry (then orig_ax); return value on exit.',
  rbx: 'Callee-saved.',
  rcx: 'SYSCALL saves the user RIP here; SYSRET jumps to it. Not a syscall argument for that reason.',
  rdx: '3rd argument (syscall and C ABI).',
  rsi: '2nd argument (syscall and C ABI).',
  rdi: '1st argument (syscall and C ABI).',
  rbp: 'Frame pointer (callee-saved).',
  rsp: 'Stack pointer. SYSCALL leaves the user RSP here: the kernel must switch to its own stack itself.',
  r8: '5th argument (syscall and C ABI).',
  r9: '6th argument (syscall and C ABI).',
  r10: '4th syscall argument (the C ABI uses rcx, which SYSCALL clobbers).',
  r11: 'SYSCALL saves the user RFLAGS here; SYSRET restores RFLAGS from it.',
  r12: 'Callee-saved.',
  r13: 'Callee-saved.',
  r14: 'Callee-saved.',
  r15: 'Callee-saved.',
  rip: 'Instruction pointer.',
};

const SPECIAL: RegisterDoc[] = [
  { name: 'cr0', doc: 'CR0: protection, paging and FPU control bits.', fields: CR0_FIELDS },
  { name: 'cr2', doc: 'CR2: the linear address of the last page fault.' },
  { name: 'cr3', doc: 'CR3: physical address of the top-level page table (+ PCID). With KPTI the kernel and user halves differ in bit 12 (PGD) and bit 11 (PCID); writing it switches address spaces.' },
  { name: 'cr4', doc: 'CR4: feature enables (PAE, PGE, PCIDE, SMEP, SMAP, FSGSBASE ...).', fields: CR4_FIELDS },
  { name: 'cs', doc: 'Code segment: its RPL is the current privilege level (CPL 0 kernel, 3 user).' },
  { name: 'ss', doc: 'Stack segment.' },
  { name: 'ds', doc: 'Data segment (base ignored in 64-bit mode).' },
  { name: 'es', doc: 'Extra segment (base ignored in 64-bit mode).' },
  { name: 'fs', doc: 'FS: its base (FS_BASE MSR) is the user thread pointer (TLS).' },
  { name: 'gs', doc: 'GS: its base (GS_BASE MSR) is the per-CPU area in the kernel after swapgs, so %gs:x reads per-CPU variable x.' },
  { name: 'rflags', doc: 'RFLAGS.', fields: RFLAGS_FIELDS },
  { name: 'eflags', doc: 'RFLAGS (32-bit name).', fields: RFLAGS_FIELDS },
];

const SUB_REGISTER: Record<string, string> = {
  eax: 'rax', ax: 'rax', al: 'rax', ebx: 'rbx', bx: 'rbx', bl: 'rbx', ecx: 'rcx', cx: 'rcx', cl: 'rcx',
  edx: 'rdx', dx: 'rdx', dl: 'rdx', esi: 'rsi', si: 'rsi', sil: 'rsi', edi: 'rdi', di: 'rdi', dil: 'rdi',
  ebp: 'rbp', bp: 'rbp', esp: 'rsp', sp: 'rsp',
};

const BY_NAME: ReadonlyMap<string, RegisterDoc> = new Map([
  ...Object.entries(GPR).map(([name, doc]): [string, RegisterDoc] => [name, { name, doc }]),
  ...SPECIAL.map((r): [string, RegisterDoc] => [r.name, r]),
]);

/** The doc for a register name with or without `%` (eax and r8d map to their 64-bit register). */
export function lookupRegister(written: string): RegisterDoc | undefined {
  const name = written.replace(/^%/, '').toLowerCase();
  const direct = BY_NAME.get(name);
  if (direct) return direct;
  const wide = SUB_REGISTER[name] ?? /^(r\d+)[dwb]$/.exec(name)?.[1];
  const doc = wide ? BY_NAME.get(wide) : undefined;
  return doc ? { ...doc, name } : undefined;
}
