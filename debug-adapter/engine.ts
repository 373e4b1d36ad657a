/**
 * The engine behind a kentry debug session. The built-in emulator (emulator/runtime/runtime.ts,
 * KentryRuntime) and the QEMU engine (a real kernel under QEMU's gdb stub) both implement it;
 * the DAP layer (session.ts), the views and the expressions only talk to this interface.
 * Calls are async because a remote engine answers over a socket.
 */
import type { Diagnostic, SourceLoc } from '../emulator/asm/types';
import type { CpuState } from '../emulator/machine/state';
import type { MachineStateView, PageWalkArguments, PageWalkResult } from './protocol';

export interface EngineStop {
  reason: 'entry' | 'breakpoint' | 'step' | 'pause' | 'exception' | 'goto' | 'data breakpoint' | 'instruction breakpoint';
  /** One line for the user: why we stopped. */
  description: string;
  text?: string;
}

export interface EngineBreakpoint {
  line: number;
  verified: boolean;
  message?: string;
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
  setBreakpoints(file: string, lines: number[]): Promise<EngineBreakpoint[]>;
  stackTrace(): Promise<EngineFrame[]>;
  cpuState(): Promise<CpuState>;
  machineState(): Promise<MachineStateView>;
  pageWalk(args: PageWalkArguments): Promise<PageWalkResult[]>;
  evaluate(expression: string): Promise<{ value: bigint; description?: string } | { error: string }>;
  readMemory(address: bigint, length: number): Promise<Uint8Array | Unavailable>;
  symbolAt(address: bigint): string | undefined;
  sourceText(file: string): string | undefined;
  describeAddress(address: bigint): string;
}
