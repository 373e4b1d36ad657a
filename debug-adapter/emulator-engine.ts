/**
 * The built-in engine: KentryRuntime (assemble, boot, emulate) behind the DebugEngine interface.
 * Everything is synchronous underneath; the promises only satisfy the interface.
 */
import { EventEmitter } from 'events';
import type { Diagnostic } from '../emulator/asm/types';
import type { FileAccess } from '../emulator/host';
import { cloneCpuState, type CpuState } from '../emulator/machine/state';
import { KentryRuntime } from '../emulator/runtime/runtime';
import type { AppliedAlternative } from '../emulator/kernel/alternatives';
import type {
  BreakpointOptions, DataBreakpointSpec, DebugEngine, DisassembledInstruction, EngineBreakpoint, EngineEvents, EngineFrame,
  EngineValue, ExceptionFilterId, Unavailable,
} from './engine';
import type { KentryLaunchArguments, MachineStateView, PageWalkArguments, PageWalkResult } from './protocol';
import { pageWalk } from './page-walk';

export interface EngineOptions {
  fs: FileAccess;
  /** Folder of the bundled sample (the extension's samples/). */
  samplesDir: string;
}

/** Instructions of history kept for reverse execution when launch.json does not say. */
export const DEFAULT_HISTORY_LIMIT = 200_000;

export class EmulatorEngine extends EventEmitter<EngineEvents> implements DebugEngine {
  readonly kind = 'emulator' as const;
  readonly runtime: KentryRuntime;

  constructor(args: KentryLaunchArguments, opts: EngineOptions) {
    super();
    this.runtime = new KentryRuntime({
      fs: opts.fs,
      samplesDir: opts.samplesDir,
      program: args.program,
      kernelEntry: args.kernelEntry,
      cpu: args.cpu,
      kernelVersion: args.kernel?.version,
      config: args.kernel?.config,
      instructionBudget: args.instructionBudget,
      historyLimit: args.historyLimit ?? DEFAULT_HISTORY_LIMIT,
      scenario: args.scenario,
    });
    const rt = this.runtime;
    rt.on('stopped', (s) => this.emit('stopped', s));
    rt.on('output', (text, category) => this.emit('output', text, category));
    rt.on('exited', (code) => this.emit('exited', code));
    rt.on('transition', (t) => {
      this.emit('output', `[cpu] ${t.mnemonic}: ring ${t.from} -> ring ${t.to} at ${rt.describeAddress(t.rip)}\n`, 'console');
    });
  }

  async load(): Promise<Diagnostic[]> {
    return this.runtime.load();
  }

  async start(stopOnEntry: boolean): Promise<void> {
    this.runtime.start(stopOnEntry);
  }

  async continue(): Promise<void> {
    this.runtime.continue();
  }

  async next(): Promise<void> {
    this.runtime.next();
  }

  async stepIn(): Promise<void> {
    this.runtime.stepIn();
  }

  async stepOut(): Promise<void> {
    this.runtime.stepOut();
  }

  async stepInstruction(): Promise<void> {
    this.runtime.stepInstruction();
  }

  async pause(): Promise<void> {
    this.runtime.pause();
  }

  async terminate(): Promise<void> {
    this.runtime.pause();
  }

  async stepBack(granularity: 'instruction' | 'line'): Promise<void> {
    this.runtime.stepBack(granularity);
  }

  async reverseContinue(): Promise<void> {
    this.runtime.reverseContinue();
  }

  async setBreakpoints(file: string, lines: number[], options?: BreakpointOptions[]): Promise<EngineBreakpoint[]> {
    return this.runtime.setBreakpoints(file, lines, options);
  }

  async setInstructionBreakpoints(addresses: bigint[], options?: BreakpointOptions[]): Promise<EngineBreakpoint[]> {
    return this.runtime.setInstructionBreakpoints(addresses, options);
  }

  async setExceptionBreakpoints(filters: ExceptionFilterId[]): Promise<void> {
    this.runtime.setExceptionFilters(filters);
  }

  async setDataBreakpoints(specs: DataBreakpointSpec[]): Promise<EngineBreakpoint[]> {
    return this.runtime.setDataBreakpoints(specs);
  }

  async stackTrace(): Promise<EngineFrame[]> {
    return this.runtime.stackTrace();
  }

  async cpuState(): Promise<CpuState> {
    return cloneCpuState(this.runtime.system.machine.state);
  }

  async machineState(): Promise<MachineStateView> {
    return this.runtime.machineState();
  }

  async pageWalk(args: PageWalkArguments): Promise<PageWalkResult[]> {
    return pageWalk(this.runtime, args);
  }

  async evaluate(expression: string): Promise<EngineValue | { error: string; address?: bigint; size?: number }> {
    const r = this.runtime.evaluate(expression);
    if ('error' in r) return r;
    const sym = this.runtime.symbolAt(r.value);
    return sym !== undefined && this.runtime.symbolAddress(sym) === r.value ? { ...r, symbol: sym } : r;
  }

  async readMemory(address: bigint, length: number): Promise<Uint8Array | Unavailable> {
    const r = this.runtime.system.machine.readVirtual(address, length);
    return r instanceof Uint8Array ? r : { unavailable: r.message };
  }

  async writeMemory(address: bigint, data: Uint8Array): Promise<string | undefined> {
    return this.runtime.writeMemory(address, data);
  }

  async setRegister(name: string, value: bigint): Promise<string | undefined> {
    return this.runtime.setRegister(name, value);
  }

  async disassemble(address: bigint, instructionOffset: number, count: number): Promise<DisassembledInstruction[]> {
    const alternatives = this.runtime.system.alternatives;
    return this.runtime.disassemble(address, instructionOffset, count).map((row) => {
      const note = bootPatchNote(alternatives, row.address);
      return note ? { ...row, text: `${row.text}    (${note})` } : row;
    });
  }

  symbolAt(address: bigint): string | undefined {
    return this.runtime.symbolAt(address);
  }

  sourceText(file: string): string | undefined {
    return this.runtime.sourceText(file);
  }

  describeAddress(address: bigint): string {
    return this.runtime.describeAddress(address);
  }
}

/**
 * Why the bytes at `address` are not what the source line says: an alternative the boot patched
 * in there (the last applied record for the site wins, as in apply_alternatives), or its NOP padding.
 */
export function bootPatchNote(alternatives: readonly AppliedAlternative[], address: bigint): string | undefined {
  const a = [...alternatives].reverse().find((r) => r.applied && address >= r.instrAddress && address < r.instrAddress + BigInt(r.instrlen));
  if (!a) return undefined;
  const feature = a.inverted ? `ALT_NOT(X86_FEATURE_${a.feature})` : `X86_FEATURE_${a.feature}`;
  return address < a.instrAddress + BigInt(a.replacementlen) ? `alternative: ${feature} patched in` : `alternative: ${feature} patched in, padding`;
}
