/**
 * Linux x86-64 GDT layout (arch/x86/include/asm/segment.h). The order is forced by
 * SYSCALL/SYSRET: SYSCALL loads CS=STAR[47:32], SS=CS+8; 64-bit SYSRET loads
 * CS=STAR[63:48]+16, SS=STAR[63:48]+8.
 */
export const GDT_ENTRY = {
  KERNEL32_CS: 1,
  KERNEL_CS: 2,
  KERNEL_DS: 3,
  DEFAULT_USER32_CS: 4,
  DEFAULT_USER_DS: 5,
  DEFAULT_USER_CS: 6,
  TSS: 8,
  LDT: 10,
  PER_CPU: 15,
} as const;

export const SELECTOR = {
  __KERNEL32_CS: GDT_ENTRY.KERNEL32_CS * 8,
  __KERNEL_CS: GDT_ENTRY.KERNEL_CS * 8,
  __KERNEL_DS: GDT_ENTRY.KERNEL_DS * 8,
  __USER32_CS: GDT_ENTRY.DEFAULT_USER32_CS * 8 + 3,
  __USER_DS: GDT_ENTRY.DEFAULT_USER_DS * 8 + 3,
  __USER_CS: GDT_ENTRY.DEFAULT_USER_CS * 8 + 3,
  TSS: GDT_ENTRY.TSS * 8,
} as const;

export const SEGMENT_REGISTERS = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'] as const;
export type SegmentName = (typeof SEGMENT_REGISTERS)[number];

/** Descriptor attribute bits as stored in a descriptor's bytes 5..6 (access byte + flags nibble). */
export const DESCRIPTOR = {
  ACCESSED: 1 << 0,
  RW: 1 << 1, // writable data / readable code
  DC: 1 << 2,
  CODE: 1 << 3,
  S: 1 << 4, // code/data (not system)
  DPL_SHIFT: 5,
  P: 1 << 7,
  L: 1 << 13, // 64-bit code (in the 16-bit attribute word)
  DB: 1 << 14,
  G: 1 << 15,
} as const;
