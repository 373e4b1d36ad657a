/**
 * The DAP layer over a DebugEngine (the built-in emulator or QEMU): requests become engine calls,
 * engine events become DAP events (as vscode-mock-debug's mockDebug.ts). It never touches an
 * engine's internals, so every request works the same on both engines, or answers that the
 * engine lacks the capability. Runs inline in the extension host or over stdio.
 */
import {
  LoggingDebugSession, InitializedEvent, StoppedEvent, OutputEvent, TerminatedEvent, ExitedEvent,
  Thread, StackFrame, Scope, Source, Event,
} from '@vscode/debugadapter';
import type { DebugProtocol } from '@vscode/debugprotocol';
import * as path from 'path';
import type { FileAccess } from '../emulator/host';
import type { Diagnostic } from '../emulator/asm/types';
import type { CpuState } from '../emulator/machine/state';
import { GPR_NAMES } from '../emulator/machine/state';
import type { BreakpointOptions, DataBreakpointSpec, DebugEngine, EngineStop, ExceptionFilterId } from './engine';
import { createEngine } from './engines';
import { MACHINE_STATE_REQUEST, MACHINE_STATE_EVENT, PAGE_WALK_REQUEST, type KentryLaunchArguments, type MachineStateView } from './protocol';
import { SCOPES, scopeVariables, hex, type ScopeName } from './variables';

const THREAD_ID = 1;
/** More than any view asks for (VS Code's disassembly view asks ~50-400); bigger would run for minutes. */
const MAX_DISASSEMBLE = 10_000;
const MAX_READ_MEMORY = 1 << 20;

export interface KentrySessionOptions {
  fs: FileAccess;
  /** Folder of the bundled sample (the extension's samples/). */
  samplesDir: string;
}

type LaunchArgs = DebugProtocol.LaunchRequestArguments & KentryLaunchArguments;

/** Exception breakpoints: CPU faults (on by default) and the entry code's interesting events. */
export const EXCEPTION_FILTERS: (DebugProtocol.ExceptionBreakpointsFilter & { filter: ExceptionFilterId })[] = [
  { filter: 'gp', label: '#GP general protection', default: true, description: 'Stop when an instruction raises #GP (e.g. SYSRET to a non-canonical RIP on Intel).' },
  { filter: 'pf', label: '#PF page fault', default: true, description: 'Stop when an access faults in the page tables (e.g. touching the kernel half with the user CR3).' },
  { filter: 'ud', label: '#UD invalid opcode', default: true, description: 'Stop on an undefined or unimplemented instruction.' },
  { filter: 'db', label: '#DB debug trap', default: true, description: 'Stop on the single-step trap of RFLAGS.TF. Off: the trap is consumed, as if a ptrace debugger handled it.' },
  { filter: 'df', label: '#DF double fault', default: true, description: 'Stop on a double fault.' },
  { filter: 'triple-fault', label: 'Triple fault', default: true, description: 'Stop when the CPU would reset.' },
  { filter: 'privilege-change', label: 'Privilege change', default: false, description: 'Stop after every change of CPL (SYSCALL, SYSRET, IRET, exceptions).' },
  { filter: 'cr3-write', label: 'CR3 write', default: false, description: 'Stop after every MOV to CR3 (KPTI page-table switches).' },
  { filter: 'swapgs', label: 'SWAPGS', default: false, description: 'Stop after every SWAPGS.' },
  { filter: 'sysret', label: 'SYSRET', default: false, description: 'Stop after SYSRET returns to user mode.' },
  { filter: 'iret', label: 'IRET', default: false, description: 'Stop after IRET.' },
];

export class KentryDebugSession extends LoggingDebugSession {
  private engine: DebugEngine | undefined;
  private configurationDone!: Promise<void>;
  private resolveConfigurationDone!: () => void;
  /** Breakpoints asked for before the engine existed, sent at load. */
  private readonly pendingBreakpoints = new Map<string, { lines: number[]; options: BreakpointOptions[] }>();
  private pendingExceptionFilters: ExceptionFilterId[] | undefined;
  private readonly virtualSources = new Map<number, string>();
  /** State and view of the current stop, fetched once per stop for all scopes. */
  private stopData: Promise<{ state: CpuState; view: MachineStateView }> | undefined;
  private lastStop: EngineStop | undefined;

  constructor(private readonly options: KentrySessionOptions) {
    super();
    this.setDebuggerLinesStartAt1(true);
    this.setDebuggerColumnsStartAt1(true);
    this.configurationDone = new Promise((r) => (this.resolveConfigurationDone = r));
    this.guardRequestHandlers();
  }

  /**
   * Handlers are async: a bad argument (BigInt("junk"), a missing field) would reject a promise
   * nobody awaits and leave the request unanswered. Every handler's failure becomes an error response.
   */
  private guardRequestHandlers(): void {
    const self = this as unknown as Record<string, (response: DebugProtocol.Response, ...rest: unknown[]) => unknown>;
    const names = Object.getOwnPropertyNames(KentryDebugSession.prototype).filter((n) => n.endsWith('Request') && n !== 'dispatchRequest');
    for (const name of names) {
      const handler = self[name];
      self[name] = (response, ...rest) => {
        const fail = (e: unknown): void => this.sendErrorResponse(response, 3099, `${response.command} failed: ${e instanceof Error ? e.message : String(e)}`);
        try {
          const result = handler.call(this, response, ...rest);
          if (result instanceof Promise) result.catch(fail);
        } catch (e) {
          fail(e);
        }
      };
    }
  }

  protected override initializeRequest(response: DebugProtocol.InitializeResponse): void {
    response.body = {
      supportsConfigurationDoneRequest: true,
      supportsEvaluateForHovers: true,
      supportsSetVariable: true,
      supportsSteppingGranularity: true,
      supportsTerminateRequest: true,
      supportsStepBack: true,
      supportsConditionalBreakpoints: true,
      supportsHitConditionalBreakpoints: true,
      supportsLogPoints: true,
      supportsDataBreakpoints: true,
      supportsDataBreakpointBytes: true,
      supportsExceptionInfoRequest: true,
      supportsReadMemoryRequest: true,
      supportsWriteMemoryRequest: true,
      supportsDisassembleRequest: true,
      supportsInstructionBreakpoints: true,
      exceptionBreakpointFilters: EXCEPTION_FILTERS,
    };
    this.sendResponse(response);
  }

  protected override configurationDoneRequest(response: DebugProtocol.ConfigurationDoneResponse): void {
    this.resolveConfigurationDone();
    this.sendResponse(response);
  }

  protected override async launchRequest(response: DebugProtocol.LaunchResponse, launchArgs: LaunchArgs | undefined): Promise<void> {
    const args: LaunchArgs = launchArgs ?? {};
    let engine: DebugEngine;
    let diagnostics: Diagnostic[];
    try {
      engine = createEngine(args, { fs: this.options.fs, samplesDir: this.options.samplesDir });
      // Output during load (e.g. the scenario's explanation) goes to the Debug Console.
      engine.on('output', (text, category) => this.sendEvent(new OutputEvent(text, category)));
      diagnostics = await engine.load();
    } catch (e) {
      // An engine bug must not take the editor down: report it as a launch error.
      this.sendErrorResponse(response, 3001, `kentry failed to load: ${(e as Error).stack ?? e}`);
      return;
    }
    if (diagnostics.length) {
      const text = diagnostics.slice(0, 20).map(formatDiagnostic).join('\n');
      this.sendEvent(new OutputEvent(text + '\n', 'stderr'));
      this.sendErrorResponse(response, 3002, `kentry could not assemble the sources:\n${text}`);
      return;
    }
    this.engine = engine;
    engine.on('stopped', (s) => {
      this.stopData = undefined;
      this.lastStop = s;
      const ev = new StoppedEvent(s.reason, THREAD_ID, s.text) as DebugProtocol.StoppedEvent;
      ev.body.description = s.description;
      this.sendEvent(ev);
      this.sendEvent(new Event(MACHINE_STATE_EVENT, {}));
    });
    engine.on('exited', (code) => {
      this.sendEvent(new ExitedEvent(code));
      this.sendEvent(new TerminatedEvent());
    });
    for (const [file, b] of this.pendingBreakpoints) await engine.setBreakpoints(file, b.lines, b.options);
    await engine.setExceptionBreakpoints?.(this.pendingExceptionFilters ?? EXCEPTION_FILTERS.filter((f) => f.default).map((f) => f.filter));
    this.sendEvent(new InitializedEvent());
    await this.configurationDone;
    this.sendResponse(response);
    await engine.start(!!args.stopOnEntry);
  }

  // ---------------------------------------------------------------- breakpoints

  protected override async setBreakPointsRequest(response: DebugProtocol.SetBreakpointsResponse, args: DebugProtocol.SetBreakpointsArguments): Promise<void> {
    const file = path.resolve(args.source.path ?? '');
    const bps = args.breakpoints ?? [];
    const lines = bps.map((b) => b.line);
    const options = bps.map((b): BreakpointOptions => ({ condition: b.condition, hitCondition: b.hitCondition, logMessage: b.logMessage }));
    if (!this.engine) {
      this.pendingBreakpoints.set(file, { lines, options });
      response.body = { breakpoints: lines.map((line) => ({ verified: false, line })) };
    } else {
      const resolved = await this.engine.setBreakpoints(file, lines, options);
      response.body = {
        breakpoints: resolved.map((b) => ({ verified: b.verified, line: b.line, message: b.message, source: args.source })),
      };
    }
    this.sendResponse(response);
  }

  protected override async setExceptionBreakPointsRequest(response: DebugProtocol.SetExceptionBreakpointsResponse, args: DebugProtocol.SetExceptionBreakpointsArguments): Promise<void> {
    const filters = [...args.filters, ...(args.filterOptions ?? []).map((f) => f.filterId)]
      .filter((f): f is ExceptionFilterId => EXCEPTION_FILTERS.some((x) => x.filter === f));
    if (!this.engine) this.pendingExceptionFilters = filters;
    else await this.engine.setExceptionBreakpoints?.(filters);
    response.body = { breakpoints: filters.map(() => ({ verified: true })) };
    this.sendResponse(response);
  }

  protected override async setInstructionBreakpointsRequest(response: DebugProtocol.SetInstructionBreakpointsResponse, args: DebugProtocol.SetInstructionBreakpointsArguments): Promise<void> {
    const engine = this.engine;
    if (!engine?.setInstructionBreakpoints) return this.unsupported(response, 'instruction breakpoints');
    // A reference that is not a number is refused on its own; the others still get set.
    const parsed = args.breakpoints.map((b) => {
      try {
        return BigInt.asUintN(64, BigInt(b.instructionReference) + BigInt(b.offset ?? 0));
      } catch {
        return undefined;
      }
    });
    const valid = args.breakpoints.filter((_, i) => parsed[i] !== undefined);
    const addresses = parsed.filter((a): a is bigint => a !== undefined);
    const resolved = await engine.setInstructionBreakpoints(addresses, valid.map((b) => ({ condition: b.condition, hitCondition: b.hitCondition })));
    let next = 0;
    response.body = {
      breakpoints: parsed.map((a, i) => {
        if (a === undefined) return { verified: false, message: `"${args.breakpoints[i].instructionReference}" is not an address` };
        const b = resolved[next++];
        return { verified: b.verified, message: b.message, instructionReference: hex(a) };
      }),
    };
    this.sendResponse(response);
  }

  protected override async dataBreakpointInfoRequest(response: DebugProtocol.DataBreakpointInfoResponse, args: DebugProtocol.DataBreakpointInfoArguments): Promise<void> {
    try {
      response.body = await this.dataBreakpointInfo(args);
    } catch (e) {
      response.body = { dataId: null, description: (e as Error).message };
    }
    this.sendResponse(response);
  }

  /** Which data breakpoint a variable, expression or address stands for (see DataBreakpointSpec's dataId). */
  private async dataBreakpointInfo(args: DebugProtocol.DataBreakpointInfoArguments): Promise<DebugProtocol.DataBreakpointInfoResponse['body']> {
    const engine = this.engine;
    if (!engine?.setDataBreakpoints) return { dataId: null, description: `the ${engine?.kind ?? ''} engine has no data breakpoints` };
    const memory = (address: bigint, size: number, what: string): DebugProtocol.DataBreakpointInfoResponse['body'] => ({
      dataId: `mem:${hex(address)}:${size}`, description: `${what} (${size} bytes at ${hex(address)})`, accessTypes: ['write', 'read', 'readWrite'], canPersist: false,
    });
    const register = (dataId: string, what: string): DebugProtocol.DataBreakpointInfoResponse['body'] => ({
      dataId,
      description: `${what} (write: stops when it changes; read: after an instruction that reads it)`,
      accessTypes: dataId === 'reg:rip' ? ['write'] : ['write', 'read', 'readWrite'],
    });
    const size = args.bytes ?? 8;
    if (args.asAddress) {
      const r = await engine.evaluate(args.name);
      if ('error' in r) return { dataId: null, description: r.error };
      return memory(r.value, size, args.name);
    }
    const scope = args.variablesReference ? SCOPES[args.variablesReference - 1] : undefined;
    const { view } = await this.currentStop();
    if (scope === 'Registers' || scope === 'RFLAGS') {
      const reg = scope === 'RFLAGS' ? 'rflags' : args.name;
      if (!(GPR_NAMES as readonly string[]).includes(reg) && reg !== 'rip' && reg !== 'rflags') return { dataId: null, description: `${args.name} cannot be watched` };
      return register(`reg:${reg}`, reg);
    }
    if (scope === 'MSRs') {
      const m = view.msrs.find((x) => x.name === args.name);
      return m ? register(`msr:${m.number}`, `MSR ${m.name}`) : { dataId: null, description: `no MSR ${args.name}` };
    }
    if (scope === 'Control registers') {
      const cr = /^CR[0234]/.exec(args.name)?.[0].toLowerCase();
      return cr ? register(`cr:${cr}`, cr.toUpperCase()) : { dataId: null, description: `${args.name} cannot be watched` };
    }
    if (scope === 'Per-CPU & TSS') {
      const f = [...view.tss, ...view.perCpu].find((x) => x.name === args.name);
      if (!f) return { dataId: null, description: `no field ${args.name}` };
      // The row's name is a per-CPU path ("cpu_tss_rw.x86_tss.sp2"): the evaluator knows its size.
      const [variable, ...fields] = f.name.split('.');
      const typed = await engine.evaluate(`this_cpu(${variable})${fields.map((x) => `.${x}`).join('')}`);
      const fieldSize = typed.address === BigInt(f.address) && typed.size ? typed.size : 8;
      return memory(BigInt(f.address), fieldSize, f.name);
    }
    if (scope === 'pt_regs') {
      const f = view.ptRegs.fields.find((x) => x.field === args.name);
      return f ? memory(BigInt(f.address), 8, `pt_regs->${f.field}`) : { dataId: null, description: `no pt_regs field ${args.name}` };
    }
    // A watch expression: a register by name, or an lvalue such as *(u64 *)($rsp+8) or this_cpu(...).
    const name = args.name.trim().replace(/^[$%]/, '').toLowerCase();
    if ((GPR_NAMES as readonly string[]).includes(name) || name === 'rip' || name === 'rflags') return register(`reg:${name}`, name);
    if (/^cr[0234]$/.test(name)) return register(`cr:${name}`, name.toUpperCase());
    const m = view.msrs.find((x) => x.name.toLowerCase() === name || `msr_${x.name.toLowerCase()}` === name);
    if (m) return register(`msr:${m.number}`, `MSR ${m.name}`);
    const r = await engine.evaluate(args.name);
    // Unreadable right now (e.g. kernel memory under the user CR3) is still a place to watch.
    if (r.address !== undefined) return memory(r.address, r.size ?? 8, args.name);
    if ('error' in r) return { dataId: null, description: r.error };
    return { dataId: null, description: `${args.name} is a value, not a location in memory` };
  }

  protected override async setDataBreakpointsRequest(response: DebugProtocol.SetDataBreakpointsResponse, args: DebugProtocol.SetDataBreakpointsArguments): Promise<void> {
    const engine = this.engine;
    if (!engine?.setDataBreakpoints) return this.unsupported(response, 'data breakpoints');
    const specs: DataBreakpointSpec[] = args.breakpoints.map((b) => ({
      dataId: b.dataId, accessType: b.accessType ?? 'write', condition: b.condition, hitCondition: b.hitCondition,
    }));
    const resolved = await engine.setDataBreakpoints(specs);
    response.body = { breakpoints: resolved.map((b) => ({ verified: b.verified, message: b.message })) };
    this.sendResponse(response);
  }

  // ---------------------------------------------------------------- threads, stack, source, variables

  /** The exception widget: what the last exception stop was ("#GP(0x0)", "SWAPGS", "Triple fault"). */
  protected override exceptionInfoRequest(response: DebugProtocol.ExceptionInfoResponse): void {
    const s = this.lastStop;
    if (!s || s.reason !== 'exception') return this.sendErrorResponse(response, 3012, 'not stopped on an exception');
    response.body = {
      // "#GP(0x0) at ..." -> "#GP(0x0)"; "Triple fault: ..." / "CR3 write at ..." -> the two words.
      exceptionId: (s.description.startsWith('#') ? /^\S+/ : /^[^:\s]+(\s\w+)?/).exec(s.description)?.[0].replace(/\s+at$/, '') ?? 'exception',
      description: s.description,
      breakMode: 'always',
      details: { message: s.text ?? s.description },
    };
    this.sendResponse(response);
  }

  protected override threadsRequest(response: DebugProtocol.ThreadsResponse): void {
    response.body = { threads: [new Thread(THREAD_ID, 'CPU 0')] };
    this.sendResponse(response);
  }

  protected override async stackTraceRequest(response: DebugProtocol.StackTraceResponse): Promise<void> {
    const engine = this.engine;
    if (!engine) return this.sendErrorResponse(response, 3003, 'not running');
    const frames = (await engine.stackTrace()).map((f, i) => {
      const frame = new StackFrame(i, f.name, f.loc ? this.sourceFor(f.loc.file) : undefined, f.loc?.line ?? 0, 1) as DebugProtocol.StackFrame;
      frame.instructionPointerReference = hex(f.address);
      if (f.kind === 'model' || f.kind === 'user') frame.presentationHint = 'subtle';
      return frame;
    });
    response.body = { stackFrames: frames, totalFrames: frames.length };
    this.sendResponse(response);
  }

  private sourceFor(file: string): Source {
    if (file.startsWith('/kentry-generated/')) {
      for (const [ref, f] of this.virtualSources) if (f === file) return new Source(path.basename(file), undefined, ref);
      const ref = this.virtualSources.size + 1000;
      this.virtualSources.set(ref, file);
      return new Source(path.basename(file), undefined, ref);
    }
    return new Source(path.basename(file), file);
  }

  protected override sourceRequest(response: DebugProtocol.SourceResponse, args: DebugProtocol.SourceArguments): void {
    const file = this.virtualSources.get(args.sourceReference) ?? args.source?.path;
    const text = file ? this.engine?.sourceText(file) : undefined;
    if (text === undefined) return this.sendErrorResponse(response, 3004, `no source for ${file}`);
    response.body = { content: text };
    this.sendResponse(response);
  }

  protected override scopesRequest(response: DebugProtocol.ScopesResponse): void {
    response.body = {
      scopes: SCOPES.map((name, i) => new Scope(name, i + 1, name !== 'Registers' && name !== 'pt_regs')),
    };
    this.sendResponse(response);
  }

  private currentStop(): Promise<{ state: CpuState; view: MachineStateView }> {
    const engine = this.engine;
    if (!engine) return Promise.reject(new Error('not running'));
    this.stopData ??= Promise.all([engine.cpuState(), engine.machineState()]).then(([state, view]) => ({ state, view }));
    return this.stopData;
  }

  protected override async variablesRequest(response: DebugProtocol.VariablesResponse, args: DebugProtocol.VariablesArguments): Promise<void> {
    const engine = this.engine;
    const scope = SCOPES[args.variablesReference - 1];
    if (!engine || !scope) {
      response.body = { variables: [] };
      return this.sendResponse(response);
    }
    try {
      const { state, view } = await this.currentStop();
      response.body = { variables: scopeVariables({ state, view, symbolAt: (a) => engine.symbolAt(a) }, scope) };
    } catch (e) {
      response.body = { variables: [{ name: 'error', value: String((e as Error).message), variablesReference: 0 }] };
    }
    this.sendResponse(response);
  }

  protected override async setVariableRequest(response: DebugProtocol.SetVariableResponse, args: DebugProtocol.SetVariableArguments): Promise<void> {
    const engine = this.engine;
    if (!engine?.setRegister) return this.unsupported(response, 'setting registers');
    const scope: ScopeName | undefined = SCOPES[args.variablesReference - 1];
    const value = await engine.evaluate(args.value);
    if ('error' in value) return this.sendErrorResponse(response, 3008, `${args.value}: ${value.error}`);
    const target = scope === 'RFLAGS' ? `rflags.${args.name}` : scope === 'Control registers' ? args.name.toLowerCase() : args.name;
    const err = await engine.setRegister(target, value.value);
    if (err) return this.sendErrorResponse(response, 3009, err);
    this.stopData = undefined;
    const { state, view } = await this.currentStop();
    this.sendEvent(new Event(MACHINE_STATE_EVENT, view));
    const updated = scope ? scopeVariables({ state, view, symbolAt: (a) => engine.symbolAt(a) }, scope).find((x) => x.name === args.name) : undefined;
    response.body = { value: updated?.value ?? hex(value.value) };
    this.sendResponse(response);
  }

  protected override async evaluateRequest(response: DebugProtocol.EvaluateResponse, args: DebugProtocol.EvaluateArguments): Promise<void> {
    const engine = this.engine;
    if (!engine) return this.sendErrorResponse(response, 3005, 'not running');
    const r = await engine.evaluate(args.expression);
    if ('error' in r) {
      // Hovers fall back to the language server's hover when evaluate has nothing to say.
      return this.sendErrorResponse(response, 3006, r.error, undefined, undefined);
    }
    response.body = {
      result: `${hex(r.value)}${r.symbol ? ` <${r.symbol}>` : ''}${r.description ? `  (${r.description})` : ''}`,
      variablesReference: 0,
      memoryReference: r.address !== undefined ? hex(r.address) : undefined,
    };
    this.sendResponse(response);
  }

  // ---------------------------------------------------------------- memory and disassembly

  protected override async readMemoryRequest(response: DebugProtocol.ReadMemoryResponse, args: DebugProtocol.ReadMemoryArguments): Promise<void> {
    const engine = this.engine;
    if (!engine) return this.sendErrorResponse(response, 3003, 'not running');
    const address = BigInt.asUintN(64, BigInt(args.memoryReference) + BigInt(args.offset ?? 0));
    // Read page by page so a readable prefix is returned before an unmapped page.
    const chunks: Uint8Array[] = [];
    let done = 0;
    const count = Math.min(Math.max(0, Math.floor(Number(args.count)) || 0), MAX_READ_MEMORY);
    while (done < count) {
      const a = address + BigInt(done);
      const n = Math.min(count - done, 4096 - Number(a & 0xfffn));
      const r = await engine.readMemory(a, n);
      if (!(r instanceof Uint8Array)) break;
      chunks.push(r);
      done += n;
    }
    response.body = {
      address: hex(address),
      data: Buffer.concat(chunks).toString('base64'),
      unreadableBytes: count - done,
    };
    this.sendResponse(response);
  }

  protected override async writeMemoryRequest(response: DebugProtocol.WriteMemoryResponse, args: DebugProtocol.WriteMemoryArguments): Promise<void> {
    const engine = this.engine;
    if (!engine?.writeMemory) return this.unsupported(response, 'writing memory');
    const address = BigInt.asUintN(64, BigInt(args.memoryReference) + BigInt(args.offset ?? 0));
    const data = new Uint8Array(Buffer.from(args.data, 'base64'));
    const err = await engine.writeMemory(address, data);
    if (err) return this.sendErrorResponse(response, 3010, err);
    this.stopData = undefined;
    response.body = { bytesWritten: data.length };
    this.sendResponse(response);
    this.sendEvent(new Event('memory', { memoryReference: hex(address), offset: 0, count: data.length }));
  }

  protected override async disassembleRequest(response: DebugProtocol.DisassembleResponse, args: DebugProtocol.DisassembleArguments): Promise<void> {
    const engine = this.engine;
    if (!engine?.disassemble) return this.unsupported(response, 'disassembly');
    const address = BigInt.asUintN(64, BigInt(args.memoryReference) + BigInt(args.offset ?? 0));
    const clamp = (n: unknown, max: number): number => Math.max(-max, Math.min(max, Math.floor(Number(n)) || 0));
    const insns = await engine.disassemble(address, clamp(args.instructionOffset, MAX_DISASSEMBLE), Math.max(0, clamp(args.instructionCount, MAX_DISASSEMBLE)));
    response.body = {
      instructions: insns.map((i): DebugProtocol.DisassembledInstruction => ({
        address: hex(i.address),
        instructionBytes: Array.from(i.bytes, (b) => b.toString(16).padStart(2, '0')).join(' '),
        instruction: i.text,
        symbol: i.symbol,
        location: i.loc ? this.sourceFor(i.loc.file) : undefined,
        line: i.loc?.line,
      })),
    };
    this.sendResponse(response);
  }

  // ---------------------------------------------------------------- execution

  private whenStopped(response: DebugProtocol.Response, action: (engine: DebugEngine) => Promise<void> | undefined): void {
    const engine = this.engine;
    if (!engine) return this.sendErrorResponse(response, 3003, 'not running');
    this.sendResponse(response);
    action(engine)?.catch((e: Error) => this.sendEvent(new OutputEvent(`kentry: ${e.message}\n`, 'stderr')));
  }

  private unsupported(response: DebugProtocol.Response, what: string): void {
    this.sendErrorResponse(response, 3011, this.engine ? `${what}: not supported by the ${this.engine.kind} engine` : 'not running');
  }

  protected override continueRequest(response: DebugProtocol.ContinueResponse): void {
    response.body = { allThreadsContinued: true };
    this.whenStopped(response, (e) => e.continue());
  }

  protected override nextRequest(response: DebugProtocol.NextResponse, args: DebugProtocol.NextArguments): void {
    this.whenStopped(response, (e) => (args.granularity === 'instruction' ? e.stepInstruction() : e.next()));
  }

  protected override stepInRequest(response: DebugProtocol.StepInResponse, args: DebugProtocol.StepInArguments): void {
    this.whenStopped(response, (e) => (args.granularity === 'instruction' ? e.stepInstruction() : e.stepIn()));
  }

  protected override stepOutRequest(response: DebugProtocol.StepOutResponse): void {
    this.whenStopped(response, (e) => e.stepOut());
  }

  protected override stepBackRequest(response: DebugProtocol.StepBackResponse, args: DebugProtocol.StepBackArguments): void {
    if (this.engine && !this.engine.stepBack) return this.unsupported(response, 'step back');
    this.whenStopped(response, (e) => e.stepBack?.(args.granularity === 'instruction' ? 'instruction' : 'line'));
  }

  protected override reverseContinueRequest(response: DebugProtocol.ReverseContinueResponse): void {
    if (this.engine && !this.engine.reverseContinue) return this.unsupported(response, 'reverse continue');
    this.whenStopped(response, (e) => e.reverseContinue?.());
  }

  protected override pauseRequest(response: DebugProtocol.PauseResponse): void {
    this.whenStopped(response, (e) => e.pause());
  }

  protected override terminateRequest(response: DebugProtocol.TerminateResponse): void {
    void this.engine?.terminate();
    this.sendResponse(response);
    this.sendEvent(new TerminatedEvent());
  }

  protected override disconnectRequest(response: DebugProtocol.DisconnectResponse): void {
    void this.engine?.terminate();
    this.sendResponse(response);
  }

  protected override async customRequest(command: string, response: DebugProtocol.Response, args: unknown): Promise<void> {
    const engine = this.engine;
    if (!engine) return this.sendErrorResponse(response, 3003, 'not running');
    try {
      if (command === MACHINE_STATE_REQUEST) {
        response.body = await engine.machineState();
      } else if (command === PAGE_WALK_REQUEST) {
        response.body = await engine.pageWalk(args as { address: string; half?: 'user' | 'kernel' | 'both' });
      } else {
        return super.customRequest(command, response, args);
      }
    } catch (e) {
      return this.sendErrorResponse(response, 3007, `${command} failed: ${(e as Error).message}`);
    }
    this.sendResponse(response);
  }
}

export function formatDiagnostic(d: Diagnostic): string {
  const via = d.stack.length ? ` (expanded from ${d.stack.map((f) => `${f.name} at ${f.loc.file}:${f.loc.line}`).join(' <- ')})` : '';
  return `${d.loc.file}:${d.loc.line}: ${d.severity}: ${d.message}${via}`;
}
