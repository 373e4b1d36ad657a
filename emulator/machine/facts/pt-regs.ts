/**
 * struct pt_regs on x86-64 (arch/x86/include/asm/ptrace.h), in memory order from the
 * lowest address. The entry code builds it top-down: ss first (highest), r15 last.
 * Offsets are the asm-offsets the assembly uses (R15=0 ... SS=160, SIZEOF_PTREGS=168).
 */
export interface PtRegsField {
  /** C field name. */
  field: string;
  /** asm-offsets name (calling.h / asm-offsets). */
  asmName: string;
  offset: number;
  doc: string;
}

const F = (field: string, asmName: string, offset: number, doc: string): PtRegsField => ({ field, asmName, offset, doc });

export const PT_REGS: readonly PtRegsField[] = [
  F('r15', 'R15', 0, 'callee-saved'),
  F('r14', 'R14', 8, 'callee-saved'),
  F('r13', 'R13', 16, 'callee-saved'),
  F('r12', 'R12', 24, 'callee-saved'),
  F('bp', 'RBP', 32, 'callee-saved frame pointer'),
  F('bx', 'RBX', 40, 'callee-saved'),
  F('r11', 'R11', 48, 'user RFLAGS as saved by SYSCALL'),
  F('r10', 'R10', 56, '4th syscall argument (rcx is taken by SYSCALL)'),
  F('r9', 'R9', 64, '6th syscall argument'),
  F('r8', 'R8', 72, '5th syscall argument'),
  F('ax', 'RAX', 80, 'return value; -ENOSYS until the syscall runs'),
  F('cx', 'RCX', 88, 'user RIP as saved by SYSCALL'),
  F('dx', 'RDX', 96, '3rd syscall argument'),
  F('si', 'RSI', 104, '2nd syscall argument'),
  F('di', 'RDI', 112, '1st syscall argument'),
  F('orig_ax', 'ORIG_RAX', 120, 'syscall number (orig_ax survives after ax is overwritten)'),
  F('ip', 'RIP', 128, 'user RIP (from RCX): where SYSRET/IRET returns'),
  F('cs', 'CS', 136, 'user code selector (__USER_CS)'),
  F('flags', 'EFLAGS', 144, 'user RFLAGS (from R11)'),
  F('sp', 'RSP', 152, 'user RSP (saved in TSS sp2 first)'),
  F('ss', 'SS', 160, 'user stack selector (__USER_DS)'),
];

export const SIZEOF_PTREGS = 168;

export const PT_REGS_BY_ASM_NAME: ReadonlyMap<string, PtRegsField> = new Map(PT_REGS.map((f) => [f.asmName, f]));
