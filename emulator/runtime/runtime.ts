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
  bootSystem, stepSystem, inspectMachine, kernelBuild, userTranslationUnit,
  type BootedSystem,
} from '../kernel';
import type { MachineStateView } from '../kernel/machine-view';
import { decodeOne, disassembleAround, type DisassembledLine } from './disasm';
import { linesAsPatched } from './patched-lines';
import { sourceFrames, samePrefix, type SourceFrame } from './frames';
import { History } from './history';
import { BreakpointBehaviour, type BreakpointOptions } from './conditions';
import { evaluate, type EvalContext, type EvalResult } from './evaluate';
import { Watches, type WatchSpec } from './watches';
import { setRegister } from './set-register';
import { applyScenario, SCENARIOS, type Scenario } from './scenarios';
import { EVENT_FILTERS, deliveredStop, eventStop, faultFilterOn, faultStop, type ExceptionFilter } from './exception-filters';
import { deliverReportedFault } from '../kernel/idt';
import { SIZEOF_PTREGS } from '../machine/facts';
import { readLE } from '../machine/memory';
import type { FastStops } from '../cpu/fast/tier';

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
  /** Steps kept for reverse execution (0 or absent: no recording). */
  historyLimit?: number;
  /** A prepared situation (scenarios.ts); default: the SYSRET fast path, i.e. no changes. */
  scenario?: string;
}

export type { ExceptionFilter } from './exception-filters';

export type StopReason = 'entry' | 'breakpoint' | 'step' | 'pause' | 'exception' | 'goto' | 'data breakpoint' | 'instruction breakpoint';

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
/** How far past a symbol an address is still named after it (1 MiB: more than any entry text section). */
const SYMBOL_REACH = 0x100000n;
const SLICE = 20_000;
/** Instructions per slice when the fast tier runs them (about 20-50 ms: pause stays prompt). */
const FAST_SLICE = 2_000_000;
/** Longest fast run one history record holds: stepping back into it re-runs at most this many. */
const SPAN = 4096;

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
  /** What each breakpoint address does (conditions, hit counts, log messages): line and instruction breakpoints. */
  private readonly lineBehaviours = new Map<string, Map<number, BreakpointBehaviour>>();
  private breakpointBehaviours = new Map<bigint, { behaviour: BreakpointBehaviour; instruction: boolean }[]>();
  private instructionBreakpoints: { address: bigint; behaviour: BreakpointBehaviour }[] = [];
  private exceptionFilters = new Set<ExceptionFilter>(['gp', 'pf', 'ud', 'db', 'df', 'triple-fault']);
  private eventFiltersOn = false;
  /** Reverse execution: undo records of the steps run so far (undefined when historyLimit is 0). */
  history: History | undefined;
  private watches: Watches | undefined;
  scenario: Scenario | undefined;
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
    const scenarioName = this.options.scenario ?? 'sysret';
    const scenario = SCENARIOS.find((x) => x.name === scenarioName);
    if (!scenario) return [configError(`unknown scenario "${scenarioName}" (known: ${SCENARIOS.map((x) => x.name).join(', ')})`)];
    // A scenario about a CPU or config decides them; launch.json decides the rest.
    const cpuName = scenario.cpu ?? this.options.cpu ?? 'intel';
    const baseCpu = CPU_PROFILES[cpuName];
    if (!baseCpu) return [configError(`unknown cpu profile "${cpuName}" (known: ${Object.keys(CPU_PROFILES).join(', ')})`)];
    const cpu = scenario.cpuVariant ? scenario.cpuVariant(baseCpu) : baseCpu;
    let files = this.options.fs;
    let program = this.defaultProgram;
    if (scenario.program && !this.options.program) {
      // The scenario's program is a virtual file, shown like any source.
      program = `/kentry-generated/scenarios/${scenario.name}.S`;
      const text = scenario.program;
      const base = files;
      files = { ...base, readFile: (p: string) => (p === program ? text : base.readFile(p)) };
    }
    // kernelBuild picks the profile (a real tree's Makefile version, else kernel.version, default 5.8) and the units.
    const build = kernelBuild(this.defaultKernelEntry, this.options.samplesDir, files, this.options.kernelVersion, { ...(this.options.config ?? {}), ...(scenario.config ?? {}) });
    if ('error' in build) return [configError(build.error)];
    const { profile, config, fs } = build;
    this.files = fs;
    const kernel = build.units.map((u) => assemble(u));
    const user = assemble({ ...userTranslationUnit(program, this.options.samplesDir), fs });
    const errors = [...kernel, user].flatMap((o) => o.diagnostics.filter((d) => d.severity === 'error'));
    if (errors.length) return errors;
    const booted = bootSystem({ profile, config, cpu, kernel, user });
    if ('errors' in booted) return booted.errors;
    this.system = booted;
    this.scenario = scenario;
    this.lines = [...linesAsPatched(booted.kernelImage.lines, booted.alternatives), ...booted.userImage.lines.filter((l) => l.isInstruction)];
    for (const l of this.lines) this.lineAt.set(l.address, l);
    this.indexSymbols(booted.kernelImage);
    this.indexSymbols(booted.userImage);
    booted.machine.onMemoryWrite = (linear, size, rip) => this.recordWrite(linear, size, rip);
    booted.machine.onMemoryWriteKernelOnly = true;
    const problem = applyScenario(scenario, this);
    if (problem) return [configError(`scenario "${scenario.name}": ${problem}`)];
    this.watches = new Watches(booted.machine);
    const limit = this.options.historyLimit ?? 0;
    if (limit > 0) {
      this.history = new History(booted.machine, limit, {
        dropped: (n) => this.emit('output', `[kentry] reverse-execution history is full: only the last ${n.toLocaleString('en')} instructions are kept (launch attribute historyLimit); older ones were dropped.\n`, 'console'),
      });
    }
    return [];
  }

  /** Instruction rows of entry_SYSCALL_64 (as patched at boot), for scenarios that patch it. */
  entryRows(): LinkedLine[] {
    return this.lines.filter((l) => l.address < 0x0000800000000000n === false && /^entry_SYSCALL_64/.test(this.symbolAt(l.address) ?? ''));
  }

  private indexSymbols(image: LinkedImage): void {
    for (const [name, address] of image.symbols) {
      if (!name.startsWith('.L') && !/^\d/.test(name)) this.sortedSymbols.push({ name, address });
    }
    this.sortedSymbols.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  }

  private recordWrite(linear: bigint, size: number, rip: bigint): void {
    for (let a = linear & ~7n; a < linear + BigInt(size); a += 8n) {
      const old = this.writes.get(a);
      if (old?.rip === rip) continue;
      this.writes.set(a, { rip });
      this.history?.onUndo(() => (old ? this.writes.set(a, old) : this.writes.delete(a)));
    }
  }

  /** The nearest symbol at or below an address, e.g. "entry_SYSCALL_64". */
  symbolAt(address: bigint): string | undefined {
    let lo = 0;
    let hi = this.sortedSymbols.length - 1;
    let best: { name: string; address: bigint } | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.sortedSymbols[mid].address <= address) {
        best = this.sortedSymbols[mid];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    // Far past the last symbol of an image (e.g. a non-canonical RIP) is nobody's code.
    return best && address - best.address < SYMBOL_REACH ? best.name : undefined;
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
  setBreakpoints(file: string, lines: number[], options: BreakpointOptions[] = []): ResolvedBreakpoint[] {
    const candidates = this.lineStarts(file);
    const previous = this.lineBehaviours.get(file);
    const behaviours = new Map<number, BreakpointBehaviour>();
    const result = lines.map((line, i): ResolvedBreakpoint => {
      const codeLines = [...candidates.keys()].filter((l) => l >= line).sort((a, b) => a - b);
      const actual = codeLines.find((l) => l - line < 20);
      if (actual === undefined) return { line, verified: false, message: 'no code is generated for this line', addresses: [] };
      // Keep the hit count of an unchanged breakpoint (VS Code resends the whole file's list on every edit).
      const opts = options[i] ?? {};
      const old = previous?.get(actual);
      behaviours.set(actual, old && sameOptions(old.options, opts) ? old : new BreakpointBehaviour(opts, `Breakpoint at ${baseName(file)}:${actual}`));
      return { line: actual, verified: true, addresses: candidates.get(actual) ?? [] };
    });
    this.breakpointsByFile.set(file, result);
    this.lineBehaviours.set(file, behaviours);
    this.rebuildBreakpointIndex();
    return result;
  }

  /** Instruction breakpoints (Disassembly view): replaces the previous set. */
  setInstructionBreakpoints(addresses: bigint[], options: BreakpointOptions[] = []): ResolvedBreakpoint[] {
    this.instructionBreakpoints = addresses.map((address, i) => ({ address, behaviour: new BreakpointBehaviour(options[i] ?? {}, `Instruction breakpoint at 0x${address.toString(16)}`) }));
    this.rebuildBreakpointIndex();
    return addresses.map((address) => {
      const insn = decodeOne(this.system.machine, address);
      return insn
        ? { line: 0, verified: true, addresses: [address] }
        : { line: 0, verified: false, message: `no instruction can be read at 0x${address.toString(16)} in the current address space`, addresses: [address] };
    });
  }

  private rebuildBreakpointIndex(): void {
    const index = new Map<bigint, { behaviour: BreakpointBehaviour; instruction: boolean }[]>();
    const add = (a: bigint, behaviour: BreakpointBehaviour, instruction: boolean): void => {
      const list = index.get(a) ?? [];
      list.push({ behaviour, instruction });
      index.set(a, list);
    };
    for (const [file, bps] of this.breakpointsByFile) {
      const behaviours = this.lineBehaviours.get(file);
      for (const b of bps) {
        const behaviour = behaviours?.get(b.line);
        if (b.verified && behaviour) for (const a of b.addresses) add(a, behaviour, false);
      }
    }
    for (const ib of this.instructionBreakpoints) add(ib.address, ib.behaviour, true);
    this.breakpointBehaviours = index;
    this.breakpointAddresses = new Set(index.keys());
    this.fastStops = undefined;
  }

  /** Where a fast run must hand over to execOne: breakpoints and the modelled C functions. */
  private fastStops: FastStops | undefined;
  private fastStopsVersion = 0;

  private stopsForFastRuns(): FastStops {
    this.fastStops ??= { addresses: new Set([...this.breakpointAddresses, ...this.system.models.keys()]), version: ++this.fastStopsVersion };
    return this.fastStops;
  }

  /**
   * Whether a continue may use the CPU's fast tier (Machine.runFast) between the instructions
   * execOne runs: only when nothing needs to see every instruction (data breakpoints,
   * SWAPGS/SYSRET/... event filters). The fast tier stops before breakpoints, models and anything
   * it does not run itself, so stops are the same either way. History records a fast run as one
   * span (see fastRun).
   */
  private fastRunsAllowed(mode: RunMode): boolean {
    return mode.kind === 'continue' && !this.watches?.any && !this.eventFiltersOn;
  }

  /**
   * Run instructions in the fast tier. With reverse execution on, each run of up to SPAN
   * instructions is one history record; stepping back into it re-runs it one instruction at a time
   * first (undoInstruction), which gives the same states because the machine is deterministic.
   */
  private fastRun(limit: number): number {
    const machine = this.system.machine;
    const h = this.history;
    if (!h) return machine.runFast(limit, this.stopsForFastRuns());
    h.begin();
    const n = machine.runFast(Math.min(limit, SPAN), this.stopsForFastRuns());
    if (n > 0) h.end();
    else h.discard();
    return n;
  }

  /**
   * Undo one instruction. A fast-tier span is first undone whole and re-run with step(), one
   * record per instruction (spans hold no models, faults or privilege changes, so nothing else
   * happens on the way), then its last instruction is undone.
   */
  private undoInstruction(): ReturnType<History['undo']> {
    this.splitNewestSpan();
    return this.history?.undo();
  }

  /** The newest record's location after splitting a span (where undoInstruction would go). */
  private newestLocation(): { rip: bigint; cpl: number } | undefined {
    this.splitNewestSpan();
    return this.history?.peekLocation();
  }

  private splitNewestSpan(): void {
    const h = this.history;
    const top = h?.peek();
    if (!h || !top || top.retired <= 1) return;
    const n = top.retired;
    h.undo();
    const machine = this.system.machine;
    for (let i = 0; i < n; i++) {
      h.begin();
      const r = machine.step();
      if (r.kind !== 'ok') { h.abort(); break; } // cannot happen for a span; stop rather than record a fault
      h.end();
    }
  }

  /** At a breakpoint address: stop, log and go on, or go on. */
  private breakpointReached(reverse = false): StopEvent | undefined {
    const list = this.breakpointBehaviours.get(this.rip);
    if (!list) return undefined;
    let stop: StopEvent | undefined;
    for (const { behaviour, instruction } of list) {
      // Logpoints print what happened going forwards; running backwards they stay quiet.
      if (reverse && behaviour.options.logMessage) continue;
      const r = behaviour.reached((e) => this.evaluate(e));
      if (r.action === 'log') this.emit('output', r.message + '\n', 'console');
      else if (r.action === 'stop' && !stop) {
        stop = {
          reason: instruction ? 'instruction breakpoint' : 'breakpoint',
          description: `${instruction ? 'Instruction breakpoint' : 'Breakpoint'} at ${this.describeAddress(this.rip)}${r.error ? ` (${r.error})` : ''}`,
          text: r.error,
        };
      }
    }
    return stop;
  }

  setExceptionFilters(filters: readonly string[]): void {
    this.exceptionFilters = new Set(filters as ExceptionFilter[]);
    this.eventFiltersOn = EVENT_FILTERS.some((f) => this.exceptionFilters.has(f));
  }

  /** Data breakpoints on memory, registers, MSRs and control registers; replaces the previous set. */
  setDataBreakpoints(specs: WatchSpec[]): { line: number; verified: boolean; message?: string }[] {
    return (this.watches as Watches).set(specs, (e) => this.evaluate(e));
  }

  // ---------------------------------------------------------------- expressions and edits

  /** What expressions see: this machine, its symbols, per-CPU area and pt_regs frame. */
  evalContext(): EvalContext {
    const { machine, profile, layout } = this.system;
    return {
      state: machine.state,
      read: (address, size) => {
        const r = machine.readVirtual(address, size);
        if (r instanceof Uint8Array) return readLE(r, size);
        const half = machine.state.cr3 & 0x1000n && this.system.pti ? ' (CR3 is the user page table: kernel memory is not mapped there)' : '';
        return `cannot read 0x${address.toString(16)}: ${r.message}${half}`;
      },
      symbol: (name) => this.symbolAddress(name),
      perCpu: (name) => {
        const v = profile.perCpu[name];
        return v ? { address: layout.perCpuBase + BigInt(v.offset), size: v.size } : undefined;
      },
      ptRegsBase: () => layout.taskStackTop - BigInt(SIZEOF_PTREGS),
    };
  }

  evaluate(expression: string): EvalResult {
    return evaluate(this.evalContext(), expression);
  }

  /** Debugger write to memory in the current address space; undefined on success. */
  writeMemory(address: bigint, data: Uint8Array): string | undefined {
    const r = this.system.machine.writeVirtual(address, data);
    this.lastView = undefined;
    return r ? `cannot write 0x${address.toString(16)}: ${r.message}` : undefined;
  }

  /** Set a register, RFLAGS bit (rflags.TF), MSR or control register; undefined on success. */
  setRegister(name: string, value: bigint): string | undefined {
    const err = setRegister(this.system.machine, name, value);
    if (!err) {
      this.history?.resync();
      this.lastView = undefined;
    }
    return err;
  }

  disassemble(address: bigint, instructionOffset: number, count: number): DisassembledLine[] {
    return disassembleAround(this.system.machine, this.lines, address, instructionOffset, count).map((d) => {
      const line = this.lineAt.get(d.address);
      return { ...d, symbol: this.symbolAt(d.address), loc: line?.loc };
    });
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
    const fast = this.fastRunsAllowed(mode);
    const slice = (): void => {
      const sliceEnd = executed + FAST_SLICE;
      for (let i = 0; i < SLICE && executed < sliceEnd; i++) {
        if (this.pauseRequested) return this.finish({ reason: 'pause', description: `Paused at ${this.describeAddress(this.rip)}` });
        if (executed >= this.budget) {
          return this.finish({ reason: 'pause', description: `Paused: ${executed.toLocaleString('en')} instructions ran without a stop (instructionBudget). Continue runs another budget.` });
        }
        if (!first && this.breakpointAddresses.has(this.rip)) {
          const stop = this.breakpointReached();
          if (stop) {
            const frames = this.framesAt(this.rip) ?? [];
            this.hiddenFrames = Math.max(0, frames.length - 1 - this.breakpointDepth(frames));
            return this.finish(stop, true);
          }
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
        if (fast) executed += this.fastRun(Math.min(this.budget, sliceEnd) - executed);
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

  /** Execute one instruction (or one modelled C function), recording it for reverse execution. Returns a stop, if it must stop. */
  private execOne(): StopEvent | undefined {
    const machine = this.system.machine;
    const rip = machine.state.rip;
    const cplBefore = machine.state.cpl;
    const cr3Before = machine.state.cr3;
    // Event filters (SWAPGS, SYSRET, ...) need to know what ran; decoding is only paid for when one is on.
    const insnText = this.eventFiltersOn ? decodeOne(machine, rip)?.text : undefined;
    const history = this.history;
    const watches = this.watches;
    history?.begin();
    watches?.beforeStep();
    const r = stepSystem(this.system, (text) => this.emit('output', text, 'stdout'));
    if (r.kind === 'model') {
      const outcome = r.outcome;
      this.emit('output', `[model] ${outcome.kind === 'error' ? outcome.message : outcome.summary}\n`, 'console');
      if (outcome.kind === 'error') {
        history?.abort();
        watches?.cancel();
        return { reason: 'exception', description: `Model ${r.symbol} failed`, text: outcome.message };
      }
      if (outcome.kind === 'return' && r.symbol === 'do_syscall_64') this.scenario?.afterSyscall?.(this);
      history?.end();
      if (outcome.kind === 'exit') {
        watches?.cancel();
        this.exitCode = outcome.code;
        this.emit('exited', outcome.code);
        return undefined;
      }
      return this.watchStop(rip, `the ${r.symbol} model`);
    }
    const result = r.result;
    if (result.kind === 'exception' && result.vector !== 1 && !faultFilterOn(result.vector, this.exceptionFilters) && machine.state.idtr.limit > 0) {
      // A fault nobody stops at goes through the booted kernel's IDT, as on the CPU: to its handler stub, or #DF / triple fault.
      const delivery = deliverReportedFault(machine, result);
      if (delivery.kind === 'triple-fault') {
        history?.abort();
        watches?.cancel();
        return faultStop({ kind: 'triple-fault', chain: delivery.chain }, this.exceptionFilters, (a) => this.describeAddress(a));
      }
      if (delivery.kind === 'delivered') {
        if (machine.state.cpl !== cplBefore) this.onTransition(rip, cplBefore, machine.state.cpl);
        history?.end();
        const watchStop = this.watchStop(rip);
        return deliveredStop(result, delivery.vector, this.exceptionFilters, machine.state, (a) => this.describeAddress(a)) ?? watchStop;
      }
    }
    if (result.kind === 'triple-fault' || (result.kind === 'exception' && result.vector !== 1)) {
      // A fault: the CPU rolled the instruction back; undoing its record also drops A/D bits the walk set.
      history?.abort();
      watches?.cancel();
      return faultStop(result, this.exceptionFilters, (a) => this.describeAddress(a));
    }
    if (machine.state.cpl !== cplBefore) this.onTransition(rip, cplBefore, machine.state.cpl);
    history?.end();
    const watchStop = this.watchStop(rip);
    if (result.kind === 'exception') {
      // The #DB single-step trap: the instruction completed. Filter off: consumed, as a ptrace debugger would.
      if (this.exceptionFilters.has('db')) {
        return { reason: 'exception', description: `#DB single-step trap (RFLAGS.TF) after ${this.describeAddress(rip)}`, text: result.message };
      }
    }
    if (result.kind === 'halt') return { reason: 'pause', description: `HLT at ${this.describeAddress(rip)}: the CPU waits for an interrupt` };
    if (watchStop) return watchStop;
    if (this.eventFiltersOn) return eventStop(this.exceptionFilters, this.system.machine.state, { text: insnText ?? '', at: this.describeAddress(rip), cplBefore, cr3Before });
    return undefined;
  }

  private watchStop(rip: bigint, by?: string): StopEvent | undefined {
    const hit = this.watches?.afterStep((e) => this.evaluate(e));
    if (!hit) return undefined;
    return { reason: 'data breakpoint', description: `Data breakpoint: ${hit} by ${by ?? this.describeAddress(rip)}` };
  }

  // ---------------------------------------------------------------- reverse execution

  /** Undo one instruction, or go back to the first instruction of the previous source line. */
  stepBack(granularity: 'instruction' | 'line'): void {
    if (this.running) return void this.emit('output', '[kentry] pause before stepping back\n', 'console');
    const h = this.history;
    if (!h) return this.stop({ reason: 'step', description: 'Reverse execution is off (launch attribute historyLimit is 0)' });
    if (!h.length) return this.stop({ reason: 'step', description: 'At the oldest recorded instruction: there is nothing to step back over' });
    if (granularity === 'instruction') {
      const undone = this.undoInstruction() as { rip: bigint };
      this.hiddenFrames = 0;
      return this.stop({ reason: 'step', description: `Stepped back over ${this.describeAddress(undone.rip)}` });
    }
    this.reverseRun('line');
  }

  /** Run backwards to the previous breakpoint or data-breakpoint write, or the start of the history. */
  reverseContinue(): void {
    if (this.running) return void this.emit('output', '[kentry] pause before running backwards\n', 'console');
    if (!this.history) return this.stop({ reason: 'step', description: 'Reverse execution is off (launch attribute historyLimit is 0)' });
    this.reverseRun('continue');
  }

  private lineKey(rip: bigint, depth: number): string | undefined {
    const frames = this.framesAt(rip);
    if (!frames) return undefined;
    return frames.slice(0, depth).map((f) => `${f.loc.file}:${f.loc.line}`).join('|');
  }

  private reverseRun(kind: 'line' | 'continue'): void {
    const state = this.system.machine.state;
    const startFrames = this.framesAt(this.rip) ?? [];
    const depth = Math.max(1, startFrames.length - this.hiddenFrames);
    const startCpl = state.cpl;
    const startKey = this.lineKey(this.rip, depth);
    let target: string | undefined;
    for (;;) {
      const undone = this.undoInstruction();
      if (!undone) {
        this.hiddenFrames = 0;
        return this.stop({ reason: 'step', description: `Reached the oldest recorded instruction (${this.describeAddress(this.rip)})` });
      }
      const watch = this.watches?.reverseHit(undone.rec);
      if (watch) {
        this.hiddenFrames = 0;
        return this.stop({ reason: 'data breakpoint', description: `Data breakpoint (reverse): ${watch} by ${this.describeAddress(this.rip)}` });
      }
      if (this.breakpointAddresses.has(this.rip)) {
        const stop = this.breakpointReached(true);
        if (stop) {
          const frames = this.framesAt(this.rip) ?? [];
          this.hiddenFrames = Math.max(0, frames.length - 1 - this.breakpointDepth(frames));
          return this.stop(stop);
        }
      }
      if (kind === 'continue') continue;
      // Stepping back over a syscall from user mode passes through the kernel, as `next` does forwards.
      if (startCpl === 3 && state.cpl !== 3) continue;
      const key = this.lineKey(this.rip, depth);
      if (key === undefined || key === startKey) continue;
      target = key;
      break;
    }
    // Land on the first instruction of that line: keep undoing while the previous step ran on it.
    const targetCpl = state.cpl;
    for (let p = this.newestLocation(); p && p.cpl === targetCpl && this.lineKey(p.rip, depth) === target; p = this.newestLocation()) this.undoInstruction();
    const frames = this.framesAt(this.rip) ?? [];
    this.hiddenFrames = Math.max(0, frames.length - depth);
    this.stop({ reason: 'step', description: `Stepped back to ${this.describeAddress(this.rip)}` });
  }

  private onTransition(rip: bigint, from: number, to: number): void {
    const mnemonic = decodeOne(this.system.machine, rip, from === 3 ? 'user' : 'kernel')?.mnemonic ?? '?';
    const kind: Transition['kind'] = /^syscall/.test(mnemonic) ? 'syscall' : /^sysret/.test(mnemonic) ? 'sysret' : /^iret/.test(mnemonic) ? 'iret' : 'other';
    const undo = { writes: new Map(this.writes), site: this.syscallSite, transition: this.lastTransition };
    this.history?.onUndo(() => {
      this.writes.clear();
      for (const [k, v] of undo.writes) this.writes.set(k, v);
      this.syscallSite = undo.site;
      this.lastTransition = undo.transition;
    });
    if (to === 0 && from === 3) {
      this.writes.clear();
      this.syscallSite = rip;
    }
    if (to === 3) this.syscallSite = undefined;
    this.lastTransition = { kind, from, to, rip, mnemonic };
    this.emit('transition', this.lastTransition);
    if (to === 3 && from === 0 && this.options.scenario !== undefined) this.emit('output', this.returnVerdict(mnemonic), 'console');
  }

  /** Which exit the syscall took and, for IRET, which opportunistic-SYSRET check failed. */
  private returnVerdict(mnemonic: string): string {
    const checks = inspectMachine(this.system, this.writes).sysretChecks;
    const failed = checks.filter((c) => c.pass === false);
    const how = /^sysret/.test(mnemonic) ? 'SYSRET' : /^iret/.test(mnemonic) ? 'IRET' : mnemonic;
    if (!failed.length) return `[kentry] returned to user mode by ${how}: every opportunistic-SYSRET check passed\n`;
    const list = failed.map((c) => `${c.condition} failed (${c.operands})`).join('; ');
    if (how === 'SYSRET') return `[kentry] returned to user mode by SYSRET although ${list}: the check did not run\n`;
    return `[kentry] returned to user mode by ${how} because ${list}\n`;
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

function sameOptions(a: BreakpointOptions, b: BreakpointOptions): boolean {
  return (a.condition ?? '') === (b.condition ?? '') && (a.hitCondition ?? '') === (b.hitCondition ?? '') && (a.logMessage ?? '') === (b.logMessage ?? '');
}

function baseName(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

function leU64(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  return v;
}
