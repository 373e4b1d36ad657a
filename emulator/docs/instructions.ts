/**
 * What each mnemonic does, in our own words: one to three lines for the hover, with what it
 * does to privileged state (CPL, GS base, CR3, RFLAGS.IF ...) where that is the point.
 * Keys are base mnemonics; AT&T size suffixes (movq, pushq, cmpl) are resolved by lookupInstruction.
 */
export interface InstructionDoc {
  mnemonic: string;
  /** What it computes or moves. */
  summary: string;
  /** Its effect on privileged state or why the entry code uses it; absent for plain ALU ops. */
  privileged?: string;
  /** Flags it writes, in RFLAGS bit names. */
  flags?: string;
}

const D = (mnemonic: string, summary: string, privileged?: string, flags?: string): InstructionDoc => ({ mnemonic, summary, privileged, flags });
const ARITH = 'OF SF ZF AF PF CF';
const LOGIC = 'SF ZF PF set, OF CF cleared';

export const INSTRUCTION_DOCS: readonly InstructionDoc[] = [
  // Privilege transitions
  D('syscall', 'Fast system call: RCX := RIP of the next instruction, R11 := RFLAGS, RIP := LSTAR, RFLAGS &= ~SYSCALL_MASK.',
    'Enters ring 0: CS := STAR[47:32], SS := CS+8. Does NOT touch RSP or the GS base: the kernel must swapgs and find its own stack.'),
  D('sysret', 'Fast return from a system call: RIP := RCX, RFLAGS := R11 (RF and VM cleared).',
    'Leaves for ring 3: CS := STAR[63:48]+16, SS := STAR[63:48]+8, both with RPL 3. #GP in ring 0 if RCX is non-canonical (Intel), hence the canonical check before it.'),
  D('sysretq', '64-bit SYSRET: RIP := RCX, RFLAGS := R11 (RF and VM cleared).',
    'Returns to 64-bit ring 3: CS := STAR[63:48]+16 | 3, SS := STAR[63:48]+8 | 3. RSP is not restored: the kernel reloads the user RSP itself just before.'),
  D('sysretl', '32-bit SYSRET to compatibility mode: EIP := ECX, RFLAGS := R11.', 'CS := STAR[63:48] | 3 (the 32-bit user code segment).'),
  D('sysenter', 'Legacy fast system call: RIP := SYSENTER_EIP, RSP := SYSENTER_ESP.', 'Enters ring 0 with CS := SYSENTER_CS. Used by 32-bit programs.'),
  D('sysexit', 'Return from SYSENTER: RIP := RDX, RSP := RCX.', 'Leaves for ring 3.'),
  D('iret', 'Interrupt return: pops RIP, CS, RFLAGS, RSP and SS from the stack.', 'Can change CPL, IF, TF and the stack; the general (slow) way back to user mode.'),
  D('iretq', '64-bit interrupt return: pops RIP, CS, RFLAGS, RSP, SS (5 quadwords) from the stack.',
    'The general way back to user mode: restores any RFLAGS (RF and TF too) and any user CS/SS; used when SYSRET\'s conditions do not hold.'),
  D('int', 'Software interrupt: pushes SS, RSP, RFLAGS, CS, RIP and jumps through the IDT vector.', 'May enter ring 0 (stack from TSS sp0 or an IST slot).'),
  D('int3', 'Breakpoint trap (#BP, vector 3).', 'Enters the kernel through the IDT like an exception.'),
  D('ud2', 'Always raises #UD (invalid opcode).', 'Linux uses it for BUG() and WARN().'),
  D('hlt', 'Halts until the next interrupt.', 'Privileged: #GP at CPL > 0.'),
  // GS base, MSRs, control registers
  D('swapgs', 'Exchanges GS_BASE with KERNEL_GS_BASE (MSR 0xc0000101 <-> 0xc0000102).',
    'Privileged (ring 0, 64-bit only). On entry from user mode it makes %gs:x address this CPU\'s per-CPU data; on exit it gives the user its GS base back.'),
  D('rdmsr', 'EDX:EAX := MSR[ECX].', 'Privileged: #GP at CPL > 0 or for an unknown MSR.'),
  D('wrmsr', 'MSR[ECX] := EDX:EAX.', 'Privileged: #GP at CPL > 0. Writing SPEC_CTRL, EFER, LSTAR... changes how the CPU enters the kernel.'),
  D('rdgsbase', 'Reads the GS base into a register.', 'Needs CR4.FSGSBASE.'),
  D('wrgsbase', 'Writes the GS base from a register.', 'Needs CR4.FSGSBASE; a user program can set any GS base, which is why paranoid entry cannot trust GS.'),
  D('rdfsbase', 'Reads the FS base into a register.', 'Needs CR4.FSGSBASE.'),
  D('wrfsbase', 'Writes the FS base from a register.', 'Needs CR4.FSGSBASE.'),
  D('invlpg', 'Invalidates the TLB entries for one linear address.', 'Privileged.'),
  D('invpcid', 'Invalidates TLB entries by PCID (one address, one PCID, or all).', 'Privileged; KPTI uses it to flush the user PCID.'),
  D('lgdt', 'Loads the GDT register (base and limit).', 'Privileged.'),
  D('lidt', 'Loads the IDT register (base and limit).', 'Privileged.'),
  D('ltr', 'Loads the task register: selects the TSS (sp0, IST stacks, I/O bitmap).', 'Privileged.'),
  D('cli', 'Clears RFLAGS.IF: maskable interrupts off.', 'Needs CPL <= IOPL.', 'IF'),
  D('sti', 'Sets RFLAGS.IF: interrupts on after the next instruction.', 'Needs CPL <= IOPL.', 'IF'),
  D('stac', 'Sets RFLAGS.AC: lets ring 0 touch user pages despite SMAP.', 'Privileged.', 'AC'),
  D('clac', 'Clears RFLAGS.AC: SMAP protects user pages again.', 'Privileged.', 'AC'),
  D('cpuid', 'EAX/EBX/ECX/EDX := processor identification for leaf EAX (subleaf ECX).', 'Serializing.'),
  D('rdtsc', 'EDX:EAX := time-stamp counter.', '#GP at CPL > 0 when CR4.TSD is set.'),
  D('rdtscp', 'EDX:EAX := time-stamp counter, ECX := TSC_AUX (the CPU number on Linux).'),
  D('rdpid', 'Register := TSC_AUX (the CPU number on Linux).'),
  // Speculation barriers
  D('lfence', 'Load fence: no later instruction starts until all earlier ones have completed.',
    'Linux uses it as a speculation barrier (e.g. after the swapgs decision, against Spectre v1 on the GS base).'),
  D('mfence', 'Full memory fence: orders all earlier loads and stores before later ones.'),
  D('sfence', 'Store fence: orders earlier stores before later ones.'),
  D('pause', 'Spin-loop hint; also a speculation trap in retpolines.'),
  D('nop', 'Does nothing (any length 1..15 bytes: ALTERNATIVE pads with it).'),
  D('verw', 'Verifies a segment for writing; with the MD_CLEAR microcode it also flushes CPU buffers (MDS mitigation).'),
  // Data movement
  D('mov', 'Copies the source operand to the destination (AT&T: mov src, dst).',
    'To/from %crN it is privileged: a write to %cr3 switches page tables (KPTI: user <-> kernel PGD and PCID) and flushes non-global TLB entries unless bit 63 (NOFLUSH) is set.'),
  D('movabs', 'mov with a full 64-bit immediate or absolute address.'),
  D('movzx', 'Move with zero extension (AT&T movzbl, movzwq ...).'),
  D('movz', 'Move with zero extension (AT&T movzbl, movzwl ...).'),
  D('movs', 'Move with sign extension (AT&T movsbl, movslq ...), or string move without operands.'),
  D('movsx', 'Move with sign extension.'),
  D('cmov', 'Conditional move: copies when the condition (cmovz, cmovne ...) holds.'),
  D('lea', 'Load effective address: the address computed from the memory operand, no memory access.'),
  D('xchg', 'Exchanges two operands (with memory: atomically, implied LOCK).'),
  D('push', 'RSP -= 8, then stores the operand at (%rsp).', 'The entry code builds struct pt_regs with pushes, from ss down to r15.'),
  D('pop', 'Loads (%rsp) into the operand, then RSP += 8.'),
  D('pushf', 'Pushes RFLAGS.'),
  D('popf', 'Pops RFLAGS (IF, IOPL only as privilege allows).', undefined, 'all'),
  D('cltq', 'RAX := sign-extended EAX (Intel CDQE).'),
  D('cqto', 'RDX:RAX := sign-extended RAX (Intel CQO).'),
  // Arithmetic and logic
  D('add', 'dst += src.', undefined, ARITH),
  D('sub', 'dst -= src.', undefined, ARITH),
  D('adc', 'dst += src + CF.', undefined, ARITH),
  D('sbb', 'dst -= src + CF.', undefined, ARITH),
  D('inc', 'dst += 1 (CF unchanged).', undefined, 'OF SF ZF AF PF'),
  D('dec', 'dst -= 1 (CF unchanged).', undefined, 'OF SF ZF AF PF'),
  D('neg', 'dst := -dst.', undefined, ARITH),
  D('imul', 'Signed multiply.', undefined, 'OF CF'),
  D('mul', 'Unsigned multiply into RDX:RAX.', undefined, 'OF CF'),
  D('div', 'Unsigned divide RDX:RAX by the operand; #DE on zero or overflow.'),
  D('idiv', 'Signed divide RDX:RAX by the operand; #DE on zero or overflow.'),
  D('and', 'dst &= src.', undefined, LOGIC),
  D('or', 'dst |= src.', undefined, LOGIC),
  D('xor', 'dst ^= src. xor %eax,%eax is the idiom to zero a register (the entry code clears registers so user values cannot steer speculation).', undefined, LOGIC),
  D('not', 'dst := ~dst (flags unchanged).'),
  D('cmp', 'Computes dst - src and sets flags only (AT&T: cmp src, dst compares dst with src).', undefined, ARITH),
  D('test', 'Computes dst & src and sets flags only: ZF=1 when no tested bit is set.', undefined, LOGIC),
  D('shl', 'Shift left by the count (CL or immediate); the last bit shifted out goes to CF.', undefined, 'CF OF SF ZF PF'),
  D('sal', 'Same as shl.', undefined, 'CF OF SF ZF PF'),
  D('shr', 'Logical shift right: zeros come in at the top.', undefined, 'CF OF SF ZF PF'),
  D('sar', 'Arithmetic shift right: copies of the sign bit come in at the top. shl then sar by (64-48) sign-extends bit 47: the canonical-address check.', undefined, 'CF OF SF ZF PF'),
  D('rol', 'Rotate left.', undefined, 'CF OF'),
  D('ror', 'Rotate right.', undefined, 'CF OF'),
  D('bt', 'Bit test: CF := the selected bit of the operand.', undefined, 'CF'),
  D('bts', 'Bit test and set: CF := the bit, then the bit := 1. KPTI sets CR3 bits (user PGD, user PCID) with it.', undefined, 'CF'),
  D('btr', 'Bit test and reset: CF := the bit, then the bit := 0. SWITCH_TO_KERNEL_CR3 clears the user bits of CR3 with it.', undefined, 'CF'),
  D('btc', 'Bit test and complement: CF := the bit, then the bit is flipped.', undefined, 'CF'),
  D('bsf', 'Index of the lowest set bit.', undefined, 'ZF'),
  D('bsr', 'Index of the highest set bit.', undefined, 'ZF'),
  D('bswap', 'Reverses the byte order of a register.'),
  D('set', 'setCC: byte := 1 when the condition holds, else 0.'),
  // Control flow
  D('jmp', 'Jumps to the target (direct, or indirect through a register/memory: a retpoline target on mitigated kernels).'),
  D('call', 'Pushes the return address, then jumps to the target.'),
  D('ret', 'Pops the return address into RIP (optionally then RSP += imm16).'),
  D('leave', 'RSP := RBP, then pops RBP: tears down a stack frame.'),
  D('je', 'Jump if equal (ZF=1). Same as jz.'),
  D('jz', 'Jump if zero (ZF=1).'),
  D('jne', 'Jump if not equal (ZF=0). Same as jnz: in the SYSRET checks, "not equal" means take the slow IRET path.'),
  D('jnz', 'Jump if not zero (ZF=0).'),
  D('ja', 'Jump if above, unsigned (CF=0 and ZF=0).'),
  D('jae', 'Jump if above or equal, unsigned (CF=0). Same as jnc / jnb.'),
  D('jb', 'Jump if below, unsigned (CF=1). Same as jc.'),
  D('jbe', 'Jump if below or equal, unsigned (CF=1 or ZF=1).'),
  D('jc', 'Jump if carry (CF=1): after bt, jump if the bit was set.'),
  D('jnc', 'Jump if no carry (CF=0): after bt, jump if the bit was clear.'),
  D('jg', 'Jump if greater, signed (ZF=0 and SF=OF).'),
  D('jge', 'Jump if greater or equal, signed (SF=OF).'),
  D('jl', 'Jump if less, signed (SF!=OF).'),
  D('jle', 'Jump if less or equal, signed (ZF=1 or SF!=OF).'),
  D('js', 'Jump if sign (SF=1).'),
  D('jns', 'Jump if not sign (SF=0).'),
  D('jo', 'Jump if overflow (OF=1).'),
  D('jno', 'Jump if no overflow (OF=0).'),
  D('loop', 'RCX -= 1; jump if RCX != 0.'),
  // Strings
  D('rep', 'Repeat prefix: repeats the string instruction RCX times (STACKLEAK erases the stack with rep stos).'),
  D('stos', 'Stores AL/AX/EAX/RAX at (%rdi) and advances RDI (backwards when DF=1).'),
  D('lods', 'Loads from (%rsi) into AL/AX/EAX/RAX and advances RSI.'),
  D('scas', 'Compares AL/AX/EAX/RAX with (%rdi) and advances RDI.', undefined, ARITH),
  D('cld', 'Clears RFLAGS.DF: string instructions go forward (the C ABI requires DF=0).', undefined, 'DF'),
  D('std', 'Sets RFLAGS.DF: string instructions go backward.', undefined, 'DF'),
];

const BY_MNEMONIC: ReadonlyMap<string, InstructionDoc> = new Map(INSTRUCTION_DOCS.map((d) => [d.mnemonic, d]));
const SIZE_SUFFIX = /^(.+?)([bwlq])$/;

/**
 * The doc for a mnemonic as written in AT&T source: exact name first (shl, sysretq), then
 * without an operand-size suffix (movq -> mov, pushq -> push), then families (cmovne -> cmov, setz -> set).
 */
export function lookupInstruction(written: string): InstructionDoc | undefined {
  const m = written.toLowerCase();
  const exact = BY_MNEMONIC.get(m);
  if (exact) return exact;
  const suffixed = SIZE_SUFFIX.exec(m);
  if (suffixed && BY_MNEMONIC.has(suffixed[1])) return BY_MNEMONIC.get(suffixed[1]);
  if (/^movz[bw][wlq]$/.test(m)) return BY_MNEMONIC.get('movz');
  if (/^movs[bwl][wlq]$/.test(m)) return BY_MNEMONIC.get('movs');
  if (/^cmov/.test(m)) return BY_MNEMONIC.get('cmov');
  if (/^set[a-z]+$/.test(m)) return BY_MNEMONIC.get('set');
  if (/^rep(e|ne|z|nz)?$/.test(m)) return BY_MNEMONIC.get('rep');
  return undefined;
}
