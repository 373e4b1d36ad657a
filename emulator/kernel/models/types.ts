/**
 * Kernel C functions kentry does not execute: the entry code `call`s their address, the
 * runtime sees RIP arrive there and runs the TypeScript model instead, which must leave the
 * machine as the compiled function would (result in place, `ret` done, caller-saved registers
 * clobbered in a documented, deterministic way).
 */
import type { BootedSystem } from '../boot';

export interface ModelContext {
  system: BootedSystem;
  /** Output the process wrote to its console (fd 1/2). */
  console(text: string): void;
}

export type ModelOutcome =
  | { kind: 'return'; summary: string }
  | { kind: 'exit'; code: number; summary: string }
  | { kind: 'error'; message: string };

export interface KernelModel {
  /** The C symbol the model stands for, e.g. 'do_syscall_64'. */
  symbol: string;
  /** One line for hovers and the call stack. */
  description: string;
  run(ctx: ModelContext): ModelOutcome;
}
