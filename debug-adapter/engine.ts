/**
 * The engine behind a kentry debug session. The built-in emulator (emulator-engine.ts over
 * KentryRuntime) and the QEMU engine (a real kernel under QEMU's gdb stub) both implement it;
 * the DAP layer (session.ts), the views and the expressions only talk to this interface.
 * Calls are async because a remote engine answers over a socket.
 *
 * Methods marked optional are capabilities an engine may lack (reverse execution needs a
 * recorded history, which a live QEMU does not keep); the session answers "not supported by the
 * <kind> engine" for them instead of failing.
 */
import type { Diagnostic, SourceLoc } from '../emulator/asm/types';
import type { CpuState } from '../emulator/machine/state';
import type { MachineStateView, PageWalkArguments, PageWalkResult } from './protocol';

export interface EngineStop {
  reason: 'entry' | 'breakpoint' | 'step' | 'pause' | 'exception' | 'goto' | 'data breakpoint' | 'instruction breakpoint' | 'function breakpoint';
  /** One line for the user: why we stopped. */
  description: string;
  text?: string;
}

export interface EngineBreakpoint {
  line: number;
  verified: boolean;
  message?: string;
}

/** Extra behaviour of a source or instruction breakpoint (DAP SourceBreakpoint fields). */
export interface BreakpointOptions {
  /** Stop only when this expression (kentry expression syntax) is non-zero. */
  condition?: string;
  /** "5", "== 5", ">= 5", "% 5": stop on the matching hits only. */
  hitCondition?: string;
  /** Print this message (with {expression} interpolation) instead of stopping. */
  logMessage?: string;
}

export interface EngineFrame {
  name: string;
  loc: SourceLoc | undefined;
  address: bigint;
  /** 'model' frames are TypeScript models of C functions, not executed code. */
  kind: 'code' | 'macro' | 'model' | 'user';
}

export interface EngineEvents {
  stopped: [EngineStop];
  output: [string, 'stdout' | 'console' | 'stderr'];
  exited: [number];
}

/** What a view or scope cannot show on this engine, and why (e.g. an MSR QEMU's stub lacks). */
export interface Unavailable {
  unavailable: string;
}

/**
 * A data breakpoint target. `dataId` strings (opaque to VS Code) are built by the session:
 *   "mem:<hex address>:<size>"  memory, any address, in the current address space
 *   "reg:<name>"                a general-purpose register, rip or rflags
 *   "msr:<hex number>"          an MSR
 *   "cr:<cr0|cr3|cr4>"          a control register
 */
export interface DataBreakpointSpec extends BreakpointOptions {
  dataId: string;
  accessType: 'read' | 'write' | 'readWrite';
}

/** Exception-breakpoint filter ids every engine understands (the session declares these). */
export type ExceptionFilterId =
  | 'gp' | 'pf' | 'ud' | 'db' | 'df' | 'triple-fault'
  | 'privilege-change' | 'cr3-write' | 'swapgs' | 'sysret' | 'iret';

/** An evaluated expression. */
export interface EngineValue {
  value: bigint;
  description?: string;
  /** The symbol the value is exactly the address of, if any. */
  symbol?: string;
  /** For an lvalue in memory (e.g. *(u64 *)($rsp+8), regs->ip): where it lives and its size. */
  address?: bigint;
  size?: number;
}

export interface DisassembledInstruction {
  address: bigint;
  bytes: Uint8Array;
  /** AT&T text. */
  text: string;
  symbol?: string;
  loc?: SourceLoc;
}

export interface DebugEngine {
  readonly kind: 'emulator' | 'qemu';
  on<K extends keyof EngineEvents>(event: K, listener: (...args: EngineEvents[K]) => void): unknown;
  /** Prepare (assemble/boot, or connect/load symbols). Diagnostics that prevent the launch; empty on success. */
  load(): Promise<Diagnostic[]>;
  start(stopOnEntry: boolean): Promise<void>;
  continue(): Promise<void>;
  next(): Promise<void>;
  stepIn(): Promise<void>;
  stepOut(): Promise<void>;
  stepInstruction(): Promise<void>;
  pause(): Promise<void>;
  terminate(): Promise<void>;
  /** `options[i]` belongs to `lines[i]`; engines without conditions may ignore it. */
  setBreakpoints(file: string, lines: number[], options?: BreakpointOptions[]): Promise<EngineBreakpoint[]>;
  stackTrace(): Promise<EngineFrame[]>;
  cpuState(): Promise<CpuState>;
  machineState(): Promise<MachineStateView>;
  pageWalk(args: PageWalkArguments): Promise<PageWalkResult[]>;
  /** An error may still carry `address`/`size` when the expression names memory that cannot be read now. */
  evaluate(expression: string): Promise<EngineValue | { error: string; address?: bigint; size?: number }>;
  readMemory(address: bigint, length: number): Promise<Uint8Array | Unavailable>;
  symbolAt(address: bigint): string | undefined;
  sourceText(file: string): string | undefined;
  describeAddress(address: bigint): string;

  // ---- optional capabilities
  /** Undo one instruction (granularity 'instruction') or back to the previous source line. */
  stepBack?(granularity: 'instruction' | 'line'): Promise<void>;
  reverseContinue?(): Promise<void>;
  setExceptionBreakpoints?(filters: ExceptionFilterId[]): Promise<void>;
  /** Replaces all data breakpoints; one result per spec. */
  setDataBreakpoints?(specs: DataBreakpointSpec[]): Promise<EngineBreakpoint[]>;
  /** Replaces all instruction breakpoints. */
  setInstructionBreakpoints?(addresses: bigint[], options?: BreakpointOptions[]): Promise<EngineBreakpoint[]>;
  disassemble?(address: bigint, instructionOffset: number, count: number): Promise<DisassembledInstruction[]>;
  /** Undefined on success, or why it failed. */
  writeMemory?(address: bigint, data: Uint8Array): Promise<string | undefined>;
  /** Set a register ("rax", "rip", "rflags", "rflags.TF"), MSR ("LSTAR" or "0xc0000082") or control register. */
  setRegister?(name: string, value: bigint): Promise<string | undefined>;
}
