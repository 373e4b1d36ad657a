import type { BitField } from './bits';

/** RFLAGS bits (Intel SDM vol. 1, 3.4.3). Bit 1 is reserved and always reads 1. */
export const RFLAGS_FIELDS: readonly BitField[] = [
  { name: 'CF', bit: 0, doc: 'Carry flag' },
  { name: 'PF', bit: 2, doc: 'Parity flag: even number of set bits in the low byte of the result' },
  { name: 'AF', bit: 4, doc: 'Auxiliary carry (carry out of bit 3)' },
  { name: 'ZF', bit: 6, doc: 'Zero flag' },
  { name: 'SF', bit: 7, doc: 'Sign flag' },
  { name: 'TF', bit: 8, doc: 'Trap flag: #DB after each instruction. SYSRET restoring TF traps at once, hence the entry code\'s TF check' },
  { name: 'IF', bit: 9, doc: 'Interrupt enable. SYSCALL_MASK clears it on entry' },
  { name: 'DF', bit: 10, doc: 'Direction flag for string instructions; cleared on entry so C code sees DF=0' },
  { name: 'OF', bit: 11, doc: 'Overflow flag' },
  { name: 'IOPL', bit: 12, width: 2, doc: 'I/O privilege level' },
  { name: 'NT', bit: 14, doc: 'Nested task' },
  { name: 'RF', bit: 16, doc: 'Resume flag: suppresses instruction breakpoints once. SYSCALL clears it; SYSRET cannot restore it' },
  { name: 'VM', bit: 17, doc: 'Virtual-8086 mode' },
  { name: 'AC', bit: 18, doc: 'Alignment check / SMAP override (stac/clac)' },
  { name: 'VIF', bit: 19, doc: 'Virtual interrupt flag' },
  { name: 'VIP', bit: 20, doc: 'Virtual interrupt pending' },
  { name: 'ID', bit: 21, doc: 'CPUID available' },
];

export const RFLAGS = {
  CF: 1n << 0n, FIXED1: 1n << 1n, PF: 1n << 2n, AF: 1n << 4n, ZF: 1n << 6n, SF: 1n << 7n,
  TF: 1n << 8n, IF: 1n << 9n, DF: 1n << 10n, OF: 1n << 11n, IOPL: 3n << 12n, NT: 1n << 14n,
  RF: 1n << 16n, VM: 1n << 17n, AC: 1n << 18n, VIF: 1n << 19n, VIP: 1n << 20n, ID: 1n << 21n,
} as const;

/** Bits software can change; the rest are reserved (bit 1 reads as 1). */
export const RFLAGS_DEFINED_MASK = 0x3f7fd5n;
