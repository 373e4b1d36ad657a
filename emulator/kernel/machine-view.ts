/**
 * The machine state the kentry views show (MSRs, TSS, per-CPU variables, CR3, pt_regs, SYSRET
 * checks, boot-time alternatives), as plain JSON-ready data. Produced by the emulator
 * (kernel/inspect.ts) and by the QEMU engine; carried by the debug adapter's kentry/machineState
 * message (debug-adapter/protocol.ts re-exports these types). Values are strings ("0x...")
 * because JSON has no 64-bit integers.
 */

export interface Changeable {
  /** True when the value differs from the previous stop. */
  changed: boolean;
}

export interface MsrView extends Changeable {
  name: string;
  number: string;
  value: string;
  /** Human decoding: set EFER bits, STAR selectors, LSTAR's symbol, what a base points at. */
  decoded: string;
  doc: string;
}

export interface FieldView extends Changeable {
  name: string;
  address: string;
  value: string;
  /** What the value means here, e.g. "user RSP saved by entry_SYSCALL_64". */
  decoded: string;
  doc: string;
}

export interface ControlRegisterView extends Changeable {
  name: 'CR0' | 'CR2' | 'CR3' | 'CR4';
  value: string;
  decoded: string;
}

export interface Cr3View extends Changeable {
  value: string;
  pgd: string;
  /** undefined when CR4.PCIDE is clear. */
  pcid: number | undefined;
  half: 'user' | 'kernel';
  /** Whether the kernel runs with page-table isolation (two PGDs). */
  pti: boolean;
  noflush: boolean;
  explanation: string;
}

export interface PtRegsFieldView extends Changeable {
  field: string;
  asmName: string;
  offset: number;
  address: string;
  value: string;
  /** Written since the entry code began building this frame. */
  filled: boolean;
  /** The instruction that wrote the slot (address and source line), when known. */
  writtenBy?: { address: string; file: string; line: number; text: string };
  doc: string;
}

export interface PtRegsView {
  /** Address of the pt_regs base (the slot of r15), or undefined before the frame exists. */
  base: string | undefined;
  rsp: string;
  /** Which stack RSP is on: "user", "kernel task stack", "trampoline (cpu_entry_area)" ... */
  rspOn: string;
  fields: PtRegsFieldView[];
}

export interface SysretCheckView {
  /** What the entry code (or for 6.7+, the C model) checks, e.g. "RCX == RIP". */
  condition: string;
  operands: string;
  pass: boolean | undefined;
}

export interface MachineStateView {
  /** Increases on every stop. */
  stopCount: number;
  cpl: number;
  rip: string;
  /** e.g. "kernel entry code (entry_SYSCALL_64)", "user program", "model: do_syscall_64". */
  where: string;
  msrs: MsrView[];
  tss: FieldView[];
  perCpu: FieldView[];
  cr3: Cr3View;
  controlRegisters: ControlRegisterView[];
  ptRegs: PtRegsView;
  sysretChecks: SysretCheckView[];
  /** Kernel version, config and CPU the session runs. */
  kernel: { version: string; cpu: string; config: Record<string, boolean>; factSources?: Record<string, string> };
  /** Each boot-time ALTERNATIVE site: which code is live and why. */
  alternatives?: AlternativeView[];
}

export interface AlternativeView {
  address: string;
  /** file:line of the debugged file that produced the site. */
  site: string;
  /** Where ALTERNATIVE itself was invoked (e.g. inside SWITCH_TO_KERNEL_CR3 in calling.h). */
  alternativeAt?: string;
  /** e.g. "X86_FEATURE_PTI", "!X86_FEATURE_XENPV" for ALT_NOT. */
  feature: string;
  live: 'replacement' | 'original';
  reason: string;
  /** The site's bytes as patched at boot (hex). */
  bytes: string;
}
