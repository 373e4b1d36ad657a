/**
 * The DAP layer over KentryRuntime: requests become engine calls, engine events become DAP
 * events (as vscode-mock-debug's mockDebug.ts). Runs inline in the extension host or over stdio.
 */
import {
  LoggingDebugSession, InitializedEvent, StoppedEvent, OutputEvent, TerminatedEvent, ExitedEvent,
  Thread, StackFrame, Scope, Source, Event,
} from '@vscode/debugadapter';
import type { DebugProtocol } from '@vscode/debugprotocol';
import * as path from 'path';
import type { FileAccess } from '../emulator/host';
import type { Diagnostic } from '../emulator/asm/types';
import { KentryRuntime } from '../emulator/runtime/runtime';
import { evaluate } from '../emulator/runtime/evaluate';
import { MACHINE_STATE_REQUEST, MACHINE_STATE_EVENT, PAGE_WALK_REQUEST, type KentryLaunchArguments } from './protocol';
import { SCOPES, scopeVariables, hex } from './variables';
import { pageWalk } from './page-walk';

const THREAD_ID = 1;

export interface KentrySessionOptions {
  fs: FileAccess;
  /** Folder of the bundled sample (the extension's samples/). */
  samplesDir: string;
}

type LaunchArgs = DebugProtocol.LaunchRequestArguments & KentryLaunchArguments;

export class KentryDebugSession extends LoggingDebugSession {
  private runtime: KentryRuntime | undefined;
  private configurationDone!: Promise<void>;
  private resolveConfigurationDone!: () => void;
  /** Breakpoints asked for before the image existed, resolved at load. */
  private readonly pendingBreakpoints = new Map<string, number[]>();
  private readonly virtualSources = new Map<number, string>();

  constructor(private readonly options: KentrySessionOptions) {
    super();
    this.setDebuggerLinesStartAt1(true);
    this.setDebuggerColumnsStartAt1(true);
    this.configurationDone = new Promise((r) => (this.resolveConfigurationDone = r));
  }

  protected override initializeRequest(response: DebugProtocol.InitializeResponse): void {
    response.body = {
      supportsConfigurationDoneRequest: true,
      supportsEvaluateForHovers: true,
      supportsSetVariable: false,
      supportsSteppingGranularity: true,
      supportsTerminateRequest: true,
      supportsReadMemoryRequest: false,
      supportsInstructionBreakpoints: false,
    };
    this.sendResponse(response);
  }

  protected override configurationDoneRequest(response: DebugProtocol.ConfigurationDoneResponse): void {
    this.resolveConfigurationDone();
    this.sendResponse(response);
  }

  protected override async launchRequest(response: DebugProtocol.LaunchResponse, launchArgs: LaunchArgs | undefined): Promise<void> {
    const args: LaunchArgs = launchArgs ?? {};
    let rt: KentryRuntime;
    let diagnostics: Diagnostic[];
    try {
      rt = new KentryRuntime({
        fs: this.options.fs,
        samplesDir: this.options.samplesDir,
        program: args.program,
        kernelEntry: args.kernelEntry,
        cpu: args.cpu,
        kernelVersion: args.kernel?.version,
        config: args.kernel?.config,
        instructionBudget: args.instructionBudget,
      });
      diagnostics = rt.load();
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
    this.runtime = rt;
    rt.on('stopped', (s) => {
      const ev = new StoppedEvent(s.reason, THREAD_ID, s.text) as DebugProtocol.StoppedEvent;
      ev.body.description = s.description;
      this.sendEvent(ev);
      this.sendEvent(new Event(MACHINE_STATE_EVENT, { stopCount: rt.stopCount }));
    });
    rt.on('output', (text, category) => this.sendEvent(new OutputEvent(text, category)));
    rt.on('exited', (code) => {
      this.sendEvent(new ExitedEvent(code));
      this.sendEvent(new TerminatedEvent());
    });
    rt.on('transition', (t) => {
      this.sendEvent(new OutputEvent(`[cpu] ${t.mnemonic}: ring ${t.from} -> ring ${t.to} at ${rt.describeAddress(t.rip)}\n`, 'console'));
    });
    for (const [file, lines] of this.pendingBreakpoints) rt.setBreakpoints(file, lines);
    this.sendEvent(new InitializedEvent());
    await this.configurationDone;
    this.sendResponse(response);
    rt.start(!!args.stopOnEntry);
  }

  protected override setBreakPointsRequest(response: DebugProtocol.SetBreakpointsResponse, args: DebugProtocol.SetBreakpointsArguments): void {
    const file = path.resolve(args.source.path ?? '');
    const lines = (args.breakpoints ?? []).map((b) => b.line);
    if (!this.runtime) {
      this.pendingBreakpoints.set(file, lines);
      response.body = { breakpoints: lines.map((line) => ({ verified: false, line })) };
    } else {
      const resolved = this.runtime.setBreakpoints(file, lines);
      response.body = {
        breakpoints: resolved.map((b) => ({ verified: b.verified, line: b.line, message: b.message, source: args.source })),
      };
    }
    this.sendResponse(response);
  }

  protected override threadsRequest(response: DebugProtocol.ThreadsResponse): void {
    response.body = { threads: [new Thread(THREAD_ID, 'CPU 0')] };
    this.sendResponse(response);
  }

  protected override stackTraceRequest(response: DebugProtocol.StackTraceResponse): void {
    const rt = this.runtime;
    if (!rt) return this.sendErrorResponse(response, 3003, 'not running');
    const frames = rt.stackTrace().map((f, i) => {
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
      const ref = this.virtualSources.size + 1000;
      this.virtualSources.set(ref, file);
      return new Source(path.basename(file), undefined, ref);
    }
    return new Source(path.basename(file), file);
  }

  protected override sourceRequest(response: DebugProtocol.SourceResponse, args: DebugProtocol.SourceArguments): void {
    const file = this.virtualSources.get(args.sourceReference) ?? args.source?.path;
    const text = file ? this.runtime?.sourceText(file) : undefined;
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

  protected override variablesRequest(response: DebugProtocol.VariablesResponse, args: DebugProtocol.VariablesArguments): void {
    const rt = this.runtime;
    const scope = SCOPES[args.variablesReference - 1];
    if (!rt || !scope) {
      response.body = { variables: [] };
      return this.sendResponse(response);
    }
    try {
      response.body = { variables: scopeVariables(rt, scope) };
    } catch (e) {
      response.body = { variables: [{ name: 'error', value: String((e as Error).message), variablesReference: 0 }] };
    }
    this.sendResponse(response);
  }

  protected override evaluateRequest(response: DebugProtocol.EvaluateResponse, args: DebugProtocol.EvaluateArguments): void {
    const rt = this.runtime;
    if (!rt) return this.sendErrorResponse(response, 3005, 'not running');
    const r = evaluate(rt, args.expression);
    if ('error' in r) {
      // Hovers fall back to the language server's hover when evaluate has nothing to say.
      return this.sendErrorResponse(response, 3006, r.error, undefined, undefined);
    }
    const sym = rt.symbolAt(r.value);
    response.body = { result: `${hex(r.value)}${sym && rt.symbolAddress(sym) === r.value ? ` <${sym}>` : ''}${r.description ? `  (${r.description})` : ''}`, variablesReference: 0 };
    this.sendResponse(response);
  }

  private whenStopped(response: DebugProtocol.Response, action: (rt: KentryRuntime) => void): void {
    const rt = this.runtime;
    if (!rt) return this.sendErrorResponse(response, 3003, 'not running');
    this.sendResponse(response);
    action(rt);
  }

  protected override continueRequest(response: DebugProtocol.ContinueResponse): void {
    response.body = { allThreadsContinued: true };
    this.whenStopped(response, (rt) => rt.continue());
  }

  protected override nextRequest(response: DebugProtocol.NextResponse, args: DebugProtocol.NextArguments): void {
    this.whenStopped(response, (rt) => (args.granularity === 'instruction' ? rt.stepInstruction() : rt.next()));
  }

  protected override stepInRequest(response: DebugProtocol.StepInResponse, args: DebugProtocol.StepInArguments): void {
    this.whenStopped(response, (rt) => (args.granularity === 'instruction' ? rt.stepInstruction() : rt.stepIn()));
  }

  protected override stepOutRequest(response: DebugProtocol.StepOutResponse): void {
    this.whenStopped(response, (rt) => rt.stepOut());
  }

  protected override pauseRequest(response: DebugProtocol.PauseResponse): void {
    this.whenStopped(response, (rt) => rt.pause());
  }

  protected override terminateRequest(response: DebugProtocol.TerminateResponse): void {
    this.runtime?.pause();
    this.sendResponse(response);
    this.sendEvent(new TerminatedEvent());
  }

  protected override disconnectRequest(response: DebugProtocol.DisconnectResponse): void {
    this.runtime?.pause();
    this.sendResponse(response);
  }

  protected override customRequest(command: string, response: DebugProtocol.Response, args: unknown): void {
    const rt = this.runtime;
    if (!rt) return this.sendErrorResponse(response, 3003, 'not running');
    try {
      if (command === MACHINE_STATE_REQUEST) {
        response.body = rt.machineState();
      } else if (command === PAGE_WALK_REQUEST) {
        response.body = pageWalk(rt, args as { address: string; half?: 'user' | 'kernel' | 'both' });
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
