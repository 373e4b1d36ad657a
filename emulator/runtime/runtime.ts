/**
 * KentryRuntime: the debugger engine. It assembles the kernel entry code and the user
 * program, boots the emulated machine, and runs it with breakpoints and source-level
 * stepping (macro expansions behave like inlined functions). No protocol, no I/O: the
 * debug adapter and the CLI drive it and listen to its events.
 */
import { EventEmitter } from 'events';
import type { FileAccess } from '../host';
import type { Diagnostic, LinkedImage, LinkedLine, SourceLoc } from '../asm/types';
import { assemble } from '../asm';
import { CPU_PROFILES } from '../cpu/profiles';
import {
  KERNEL_PROFILES, bootSystem, stepSystem, inspectMachine, kernelTranslationUnits, userTranslationUnit, withGeneratedHeaders,
  type BootedSystem,
} from '../kernel';
import type { MachineStateView } from '../../debug-adapter/protocol';
import { decodeOne } from './disasm';
import { linesAsPatched } from './patched-lines';
import { sourceFrames, samePrefix, type SourceFrame } from './frames';

export interface RuntimeOptions {
  fs: FileAccess;
  /** Folder of the bundled sample (entry_64.S, include/, user/). */
  samplesDir: string;
  program?: string;
  kernelEntry?: string;
  cpu?: string;
  kernelVersion?: string;
  config?: Record<string, boolean>;
  /** Instructions one continue may run before it pauses by itself (runaway guard). */
  instructionBudget?: number;
}

export type StopReason = 'entry' | 'breakpoint' | 'step' | 'pause' | 'exception' | 'goto';

export interface StopEvent {
  reason: StopReason;
  /** One line for the user: why we stopped. */
  description: string;
  /** Exception details (#GP, #PF...). */
  text?: string;
}

/** What the last privilege transition was, for "how did the syscall return, and why". */
export interface Transition {
  kind: 'syscall' | 'sysret' | 'iret' | 'other';
  from: number;
  to: number;
  rip: bigint;
  mnemonic: string;
}

export interface ResolvedBreakpoint {
  line: number;
  verified: boolean;
  message?: string;
  addresses: bigint[];
}

export interface StackFrameInfo {
  name: string;
  loc: SourceLoc | undefined;
  address: bigint;
  /** 'model' frames are TypeScript models of C functions, not executed code. */
  kind: 'code' | 'macro' | 'model' | 'user';
}

export interface RuntimeEvents {
  stopped: [StopEvent];
  output: [string, 'stdout' | 'console' | 'stderr'];
  exited: [number];
  transition: [Transition];
}

const DEFAULT_BUDGET = 50_000_000;
const SLICE = 20_000;

type RunMode =
  | { kind: 'continue' }
  | { kind: 'next' | 'stepIn' | 'stepOut'; start: SourceFrame[]; depth: number; startCpl: number; returnTo?: { rip: bigint; cpl: number } };

export class KentryRuntime extends EventEmitter<RuntimeEvents> {
  system!: BootedSystem;
  private readonly lineAt = new Map<bigint, LinkedLine>();
  /** Instruction rows of the kernel (as patched at boot) and the user program, by address. */
  private lines: LinkedLine[] = [];
  private sortedSymbols: { name: string; address: bigint }[] = [];
  private readonly breakpointsByFile = new Map<string, ResolvedBreakpoint[]>();
  private breakpointAddresses = new Set<bigint>();
  /** Innermost macro frames hidden at this stop (inline-frame stepping, as gdb does). */
  private hiddenFrames = 0;
  private pauseRequested = false;
  private running = false;
  private exitCode: number | undefined;
  /** Per syscall: which instruction last wrote each 8-byte slot (for the pt_regs view). */
  readonly writes = new Map<bigint, { rip: bigint }>();
  private previousView: MachineStateView | undefined;
  private lastView: MachineStateView | undefined;
  stopCount = 0;
  lastTransition: Transition | undefined;
  /** RIP of the user `syscall` that entered the kernel (shown as the bottom frame). */
  private syscallSite: bigint | undefined;
  lastStop: StopEvent | undefined;
  private files: FileAccess | undefined;

  constructor(private readonly options: RuntimeOptions) {
    super();
  }

  get budget(): number {
    return this.options.instructionBudget ?? DEFAULT_BUDGET;
  }

  get exited(): boolean {
    return this.exitCode !== undefined;
  }

  get defaultKernelEntry(): string {
    return this.options.kernelEntry ?? `${this.options.samplesDir}/entry_64.S`;
  }

  get defaultProgram(): string {
    return this.options.program ?? `${this.options.samplesDir}/user/hello.S`;
  }

  /** Assemble, link and boot. Returns the diagnostics that prevent a launch (empty on success). */
  load(): Diagnostic[] {
    const profile = KERNEL_PROFILES[this.options.kernelVersion ?? '5.8'];
    if (!profile) return [configError(`unknown kernel version "${this.options.kernelVersion}" (known: ${Object.keys(KERNEL_PROFILES).join(', ')})`)];
    const cpu = CPU_PROFILES[this.options.cpu ?? 'intel'];
    if (!cpu) return [configError(`unknown cpu profile "${this.options.cpu}" (known: ${Object.keys(CPU_PROFILES).join(', ')})`)];
    const config = { ...profile.config, ...(this.options.config ?? {}) };
    const fs = withGeneratedHeaders(this.options.fs, profile, config);
    this.files = fs;
    const kernelUnits = kernelTranslationUnits(this.defaultKernelEntry, this.options.samplesDir, profile, config, fs);
    const kernel = kernelUnits.map((u) => assemble({ ...u, fs }));
    const user = assemble({ ...userTranslationUnit(this.defaultProgram, this.options.samplesDir), fs });
    const errors = [...kernel, user].flatMap((o) => o.diagnostics.filter((d) => d.severity === 'error'));
    if (errors.length) return errors;
    const booted = bootSystem({ profile, config, cpu, kernel, user });
    if ('errors' in booted) return booted.errors;
    this.system = booted;
    this.lines = [...linesAsPatched(booted.kernelImage.lines, booted.alternatives), ...booted.userImage.lines.filter((l) => l.isInstruction)];
    for (const l of this.lines) this.lineAt.set(l.address, l);
    this.indexSymbols(booted.kernelImage);
    this.indexSymbols(booted.userImage);
    booted.machine.onMemoryWrite = (linear, size, rip) => this.recordWrite(linear, size, rip);
    return [];
  }

  private indexSymbols(image: LinkedImage): void {
    for (const [name, address] of image.symbols) {
      if (!name.startsWith('.L') && !/^\d/.test(name)) this.sortedSymbols.push({ name, address });
    }
    this.sortedSymbols.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  }

  private recordWrite(linear: bigint, size: number, rip: bigint): void {
    for (let a = linear & ~7n; a < linear + BigInt(size); a += 8n) this.writes.set(a, { rip });
  }

  /** The nearest symbol at or below an address, e.g. "entry_SYSCALL_64". */
  symbolAt(address: bigint): string | undefined {
    let lo = 0;
    let hi = this.sortedSymbols.length - 1;
    let best: string | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.sortedSymbols[mid].address <= address) {
        best = this.sortedSymbols[mid].name;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return best;
  }

  symbolAddress(name: string): bigint | undefined {
    return this.system.kernelImage.symbols.get(name) ?? this.system.userImage.symbols.get(name);
  }

  lineOf(address: bigint): LinkedLine | undefined {
    return this.lineAt.get(address);
  }

  framesAt(address: bigint): SourceFrame[] | undefined {
    const line = this.lineAt.get(address);
    return line ? sourceFrames(line, this.symbolAt(address) ?? '??') : undefined;
  }

  get rip(): bigint {
    return this.system.machine.state.rip;
  }

  // ---------------------------------------------------------------- breakpoints

  /**
   * Resolve line breakpoints of one file. A line inside a macro body resolves to every
   * expansion; a line that calls a macro resolves to the first instruction of each call.
   * A line without code moves to the next line that has some.
   */
  setBreakpoints(file: string, lines: number[]): ResolvedBreakpoint[] {
    const candidates = this.lineStarts(file);
    const result = lines.map((line): ResolvedBreakpoint => {
      const codeLines = [...candidates.keys()].filter((l) => l >= line).sort((a, b) => a - b);
      const actual = codeLines.find((l) => l - line < 20);
      if (actual === undefined) return { line, verified: false, message: 'no code is generated for this line', addresses: [] };
      return { line: actual, verified: true, addresses: candidates.get(actual) ?? [] };
    });
    this.breakpointsByFile.set(file, result);
    this.breakpointAddresses = new Set([...this.breakpointsByFile.values()].flatMap((bs) => bs.flatMap((b) => b.addresses)));
    return result;
  }

  /** For each line of `file` that produced code: the addresses where execution first reaches it. */
  private lineStarts(file: string): Map<number, bigint[]> {
    const starts = new Map<number, bigint[]>();
    {
      let prev: SourceFrame[] | undefined;
      for (const l of this.lines) {
        const frames = sourceFrames(l, '');
        frames.forEach((f, depth) => {
          if (f.loc.file !== file) return;
          // First instruction of this level's line: the previous instruction was elsewhere at this depth.
          if (prev && samePrefix(prev, frames, depth + 1)) return;
          const list = starts.get(f.loc.line) ?? [];
          list.push(l.address);
          starts.set(f.loc.line, list);
        });
        prev = frames;
      }
    }
    return starts;
  }

  /** Source depth at which a breakpoint address matched, to show that level as the top frame. */
  private breakpointDepth(frames: SourceFrame[]): number {
    for (let d = frames.length - 1; d >= 0; d--) {
      const bps = this.breakpointsByFile.get(frames[d].loc.file);
      if (bps?.some((b) => b.verified && b.line === frames[d].loc.line)) return d;
    }
    return frames.length - 1;
  }

  // ---------------------------------------------------------------- execution

  start(stopOnEntry: boolean): void {
    if (stopOnEntry) this.stop({ reason: 'entry', description: `Paused on entry: ring 3 at ${this.describeAddress(this.rip)}` });
    else this.continue();
  }

  continue(): void {
    this.run({ kind: 'continue' });
  }

  next(): void {
    this.stepSource('next');
  }

  stepIn(): void {
    if (this.hiddenFrames > 0) {
      // Enter the macro invoked on this line without executing anything (inline stepping).
      this.hiddenFrames--;
      this.stop({ reason: 'step', description: 'Stepped into macro' });
      return;
    }
    this.stepSource('stepIn');
  }

  stepOut(): void {
    this.stepSource('stepOut');
  }

  stepInstruction(): void {
    if (this.exited) return;
    const r = this.execOne();
    this.hiddenFrames = 0;
    if (r) this.stop(r);
    else if (!this.exited) this.stop({ reason: 'step', description: 'Stepped one instruction' });
  }

  pause(): void {
    if (this.running) this.pauseRequested = true;
    else this.stop({ reason: 'pause', description: 'Paused' });
  }

  private stepSource(kind: 'next' | 'stepIn' | 'stepOut'): void {
    const frames = this.framesAt(this.rip) ?? [];
    const depth = Math.max(1, frames.length - this.hiddenFrames);
    this.run({ kind, start: frames, depth, startCpl: this.system.machine.state.cpl });
  }

  /** Run until the mode's stop condition, a breakpoint, an exception, exit, pause or the budget. */
  private run(mode: RunMode): void {
    if (this.exited) return;
    this.running = true;
    this.pauseRequested = false;
    let executed = 0;
    let first = true;
    const slice = (): void => {
      for (let i = 0; i < SLICE; i++) {
        if (this.pauseRequested) return this.finish({ reason: 'pause', description: `Paused at ${this.describeAddress(this.rip)}` });
        if (executed >= this.budget) {
          return this.finish({ reason: 'pause', description: `Paused: ${executed.toLocaleString('en')} instructions ran without a stop (instructionBudget). Continue runs another budget.` });
        }
        if (!first && this.breakpointAddresses.has(this.rip)) {
          const frames = this.framesAt(this.rip) ?? [];
          this.hiddenFrames = Math.max(0, frames.length - 1 - this.breakpointDepth(frames));
          return this.finish({ reason: 'breakpoint', description: `Breakpoint at ${this.describeAddress(this.rip)}` }, true);
        }
        if (!first && mode.kind !== 'continue' && this.stepDone(mode)) {
          return this.finish({ reason: 'step', description: 'Stepped' }, true);
        }
        if (mode.kind === 'next' && !mode.returnTo) mode.returnTo = this.callReturnPoint();
        first = false;
        const stop = this.execOne();
        executed++;
        if (stop) return this.finish(stop);
        if (this.exited) return this.finish(undefined);
      }
      setImmediate(slice);
    };
    slice();
  }

  private finish(stop: StopEvent | undefined, keepHidden = false): void {
    this.running = false;
    this.pauseRequested = false;
    if (!keepHidden) this.hiddenFrames = 0;
    if (stop) this.stop(stop);
  }

  /** For `next`: if the current instruction is call-like, where it comes back to. */
  private callReturnPoint(): { rip: bigint; cpl: number } | undefined {
    const insn = decodeOne(this.system.machine, this.rip);
    if (!insn) return undefined;
    if (/^(call|syscall|int|int3)/.test(insn.mnemonic)) return { rip: this.rip + BigInt(insn.length), cpl: this.system.machine.state.cpl };
    return undefined;
  }

  private stepDone(mode: Extract<RunMode, { start: SourceFrame[] }>): boolean {
    const state = this.system.machine.state;
    if (mode.returnTo) {
      if (state.rip !== mode.returnTo.rip || state.cpl !== mode.returnTo.cpl) return false;
      mode.returnTo = undefined;
    }
    const frames = this.framesAt(state.rip);
    if (!frames) {
      // A model (do_syscall_64) or code without source: stepIn stops there; next/stepOut run through it.
      return mode.kind === 'stepIn' && this.system.models.has(state.rip);
    }
    const k = mode.depth;
    switch (mode.kind) {
      case 'stepIn': {
        const changed = frames.length !== mode.start.length || !samePrefix(frames, mode.start, frames.length);
        if (changed) this.hiddenFrames = 0;
        return changed;
      }
      case 'next': {
        if (frames.length >= k && samePrefix(frames, mode.start, k)) return false;
        this.hiddenFrames = Math.max(0, frames.length - k);
        return true;
      }
      case 'stepOut': {
        if (k <= 1) {
          // Out of the outermost level: leave kernel mode (back to user), or return from the function.
          const done = state.cpl !== mode.startCpl;
          if (done) this.hiddenFrames = 0;
          return done;
        }
        // Out of the macro: the first instruction on another line of the invoking level.
        if (samePrefix(frames, mode.start, k - 1)) return false;
        this.hiddenFrames = Math.max(0, frames.length - (k - 1));
        return true;
      }
    }
  }

  /** Execute one instruction (or one modelled C function). Returns a stop, if it must stop. */
  private execOne(): StopEvent | undefined {
    const machine = this.system.machine;
    const rip = machine.state.rip;
    const cplBefore = machine.state.cpl;
    const r = stepSystem(this.system, (text) => this.emit('output', text, 'stdout'));
    if (r.kind === 'model') {
      const outcome = r.outcome;
      this.emit('output', `[model] ${outcome.kind === 'error' ? outcome.message : outcome.summary}\n`, 'console');
      if (outcome.kind === 'exit') {
        this.exitCode = outcome.code;
        this.emit('exited', outcome.code);
        return undefined;
      }
      if (outcome.kind === 'error') return { reason: 'exception', description: `Model ${r.symbol} failed`, text: outcome.message };
      return undefined;
    }
    const result = r.result;
    switch (result.kind) {
      case 'ok':
        break;
      case 'exception':
        return {
          reason: 'exception',
          description: `${result.name}${result.errorCode !== undefined ? `(0x${result.errorCode.toString(16)})` : ''} at ${this.describeAddress(result.rip)}`,
          text: result.message,
        };
      case 'triple-fault':
        return { reason: 'exception', description: 'Triple fault: a real machine would reset here', text: result.chain.join(' -> ') };
      case 'halt':
        return { reason: 'pause', description: `HLT at ${this.describeAddress(rip)}: the CPU waits for an interrupt` };
    }
    if (machine.state.cpl !== cplBefore) this.onTransition(rip, cplBefore, machine.state.cpl);
    return undefined;
  }

  private onTransition(rip: bigint, from: number, to: number): void {
    const mnemonic = decodeOne(this.system.machine, rip, from === 3 ? 'user' : 'kernel')?.mnemonic ?? '?';
    const kind: Transition['kind'] = /^syscall/.test(mnemonic) ? 'syscall' : /^sysret/.test(mnemonic) ? 'sysret' : /^iret/.test(mnemonic) ? 'iret' : 'other';
    if (to === 0 && from === 3) {
      this.writes.clear();
      this.syscallSite = rip;
    }
    if (to === 3) this.syscallSite = undefined;
    this.lastTransition = { kind, from, to, rip, mnemonic };
    this.emit('transition', this.lastTransition);
  }

  private stop(stop: StopEvent): void {
    this.stopCount++;
    this.lastStop = stop;
    this.previousView = this.lastView;
    this.lastView = undefined;
    this.emit('stopped', stop);
  }

  /** The decoded machine state for the views, with `changed` against the previous stop. */
  machineState(): MachineStateView {
    if (!this.lastView) {
      this.lastView = inspectMachine(this.system, this.writes, this.previousView);
      this.lastView.stopCount = this.stopCount;
    }
    return this.lastView;
  }

  // ---------------------------------------------------------------- inspection

  /** Text of a source file the image came from (including generated headers). */
  sourceText(file: string): string | undefined {
    return (this.files ?? this.options.fs).readFile(file);
  }

  describeAddress(address: bigint): string {
    const line = this.lineAt.get(address);
    const sym = this.symbolAt(address);
    const where = line ? ` (${baseName(line.loc.file)}:${line.loc.line})` : '';
    return `0x${address.toString(16)}${sym ? ` <${sym}>` : ''}${where}`;
  }

  /** Call stack, innermost first: macro levels, the entry code line, a model, the user's syscall site. */
  stackTrace(): StackFrameInfo[] {
    const { machine, models } = this.system;
    const rip = machine.state.rip;
    const out: StackFrameInfo[] = [];
    let codeAddress: bigint | undefined = rip;
    const model = models.get(rip);
    if (model) {
      out.push({ name: `${model.symbol} [TypeScript model, not executed code]`, loc: undefined, address: rip, kind: 'model' });
      const ret = machine.readVirtual(machine.state.gpr[4], 8);
      codeAddress = ret instanceof Uint8Array ? leU64(ret) - 5n : undefined; // the `call rel32` before the return address
      if (codeAddress !== undefined && !this.lineAt.has(codeAddress)) codeAddress = undefined;
    }
    if (codeAddress !== undefined) {
      const frames = this.framesAt(codeAddress);
      if (frames) {
        const visible = model ? frames.length : frames.length - this.hiddenFrames;
        for (let d = visible - 1; d >= 0; d--) {
          out.push({ name: frames[d].name, loc: frames[d].loc, address: codeAddress, kind: d === 0 ? 'code' : 'macro' });
        }
      } else if (!model) {
        out.push({ name: this.symbolAt(codeAddress) ?? `0x${codeAddress.toString(16)}`, loc: undefined, address: codeAddress, kind: 'code' });
      }
    }
    if (this.syscallSite !== undefined && machine.state.cpl === 0) {
      const frames = this.framesAt(this.syscallSite);
      out.push({
        name: `user: ${frames?.[0].name ?? '?'} (syscall)`,
        loc: frames ? frames[frames.length - 1].loc : undefined,
        address: this.syscallSite,
        kind: 'user',
      });
    }
    return out;
  }
}

function configError(message: string): Diagnostic {
  return { severity: 'error', message, loc: { file: 'launch.json', line: 1 }, stack: [] };
}

function baseName(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

function leU64(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  return v;
}
