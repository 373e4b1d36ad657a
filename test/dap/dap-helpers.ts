/** A DebugClient on the built adapter, with the few steps every DAP suite repeats. */
import * as assert from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { REPO } from '../support/paths';

export const ADAPTER = path.join(REPO, 'dist', 'debugAdapter.js');

export class Dap {
  readonly dc = new DebugClient('node', ADAPTER, 'kentry');
  readonly output: string[] = [];
  capabilities: DebugProtocol.Capabilities = {};
  private ended!: Promise<'terminated'>;

  async start(): Promise<void> {
    this.dc.defaultTimeout = 20000;
    await this.dc.start();
    this.ended = new Promise((resolve) => this.dc.once('terminated', () => resolve('terminated')));
    this.dc.on('output', (e: DebugProtocol.OutputEvent) => this.output.push(e.body.output));
  }

  stop(): Promise<void> {
    return this.dc.stop();
  }

  /** Launch, set breakpoints/filters during configuration, and wait for the first stop (or the end). */
  async launch(
    args: Record<string, unknown>,
    config: { breakpoints?: { file: string; lines: number[]; options?: Partial<DebugProtocol.SourceBreakpoint>[] }[]; filters?: string[] } = {},
  ): Promise<DebugProtocol.StoppedEvent | 'terminated'> {
    const first = Promise.race([this.dc.waitForEvent('stopped') as Promise<DebugProtocol.StoppedEvent>, this.ended]);
    const init = await this.dc.initializeRequest({ adapterID: 'kentry', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path', supportsMemoryReferences: true });
    this.capabilities = init.body ?? {};
    await Promise.all([
      this.dc.waitForEvent('initialized').then(async () => {
        for (const b of config.breakpoints ?? []) {
          await this.dc.setBreakpointsRequest({ source: { path: b.file }, breakpoints: b.lines.map((line, i) => ({ line, ...(b.options?.[i] ?? {}) })) });
        }
        if (config.filters) await this.dc.setExceptionBreakpointsRequest({ filters: config.filters });
        await this.dc.configurationDoneRequest();
      }),
      this.dc.launchRequest(args as DebugProtocol.LaunchRequestArguments),
    ]);
    return first;
  }

  /** Run a request that resumes, and wait for the next stop (or the end of the session). */
  async resume(req: () => Promise<unknown>): Promise<DebugProtocol.StoppedEvent | 'terminated'> {
    const next = Promise.race([this.dc.waitForEvent('stopped') as Promise<DebugProtocol.StoppedEvent>, this.ended]);
    await req();
    return next;
  }

  async stopped(req: () => Promise<unknown>): Promise<DebugProtocol.StoppedEvent> {
    const ev = await this.resume(req);
    assert.notStrictEqual(ev, 'terminated', `expected a stop, the session ended. Output:\n${this.output.join('')}`);
    return ev as DebugProtocol.StoppedEvent;
  }

  continue(): Promise<DebugProtocol.StoppedEvent | 'terminated'> {
    return this.resume(() => this.dc.continueRequest({ threadId: 1 }));
  }

  stepInstruction(): Promise<DebugProtocol.StoppedEvent> {
    return this.stopped(() => this.dc.stepInRequest({ threadId: 1, granularity: 'instruction' }));
  }

  stepBack(granularity: 'instruction' | 'line' = 'line'): Promise<DebugProtocol.StoppedEvent> {
    return this.stopped(() => this.dc.customRequest('stepBack', { threadId: 1, granularity } as DebugProtocol.StepBackArguments));
  }

  reverseContinue(): Promise<DebugProtocol.StoppedEvent> {
    return this.stopped(() => this.dc.customRequest('reverseContinue', { threadId: 1 }));
  }

  async frames(): Promise<DebugProtocol.StackFrame[]> {
    return (await this.dc.stackTraceRequest({ threadId: 1 })).body.stackFrames;
  }

  async scopeRef(scope: string): Promise<number> {
    const f = await this.frames();
    const scopes = await this.dc.scopesRequest({ frameId: f[0]?.id ?? 0 });
    const ref = scopes.body.scopes.find((s) => s.name === scope);
    assert.ok(ref, `scope ${scope} exists`);
    return ref.variablesReference;
  }

  async variables(scope: string): Promise<Map<string, string>> {
    const vars = await this.dc.variablesRequest({ variablesReference: await this.scopeRef(scope) });
    return new Map(vars.body.variables.map((v) => [v.name, v.value]));
  }

  async evaluate(expression: string): Promise<string> {
    const r = await this.dc.evaluateRequest({ expression, context: 'watch' });
    return r.body.result;
  }

  async evaluateError(expression: string): Promise<string> {
    try {
      await this.dc.evaluateRequest({ expression, context: 'repl' });
    } catch (e) {
      return (e as Error).message;
    }
    assert.fail(`${expression} evaluated without an error`);
  }

  async rip(): Promise<bigint> {
    return num((await this.variables('Registers')).get('rip'));
  }
}

export const num = (s: string | undefined): bigint => BigInt((s ?? '').split(/\s/)[0]);

/** Build dist/ once per suite (KENTRY_DAP_PREBUILT=1 skips it when dist/debugAdapter.js is fresh). */
export function buildAdapter(): void {
  if (process.env.KENTRY_DAP_PREBUILT === '1') return;
  execFileSync('node', ['scripts/build.mjs'], { cwd: REPO, stdio: 'ignore' });
}

/**
 * A writer of throwaway ring-3 programs: `program('x.S', body)` puts `body` after a `_start:` label
 * in a fresh temp folder (one per suite) and returns the file's path.
 */
export function userPrograms(prefix: string): (name: string, body: string) => string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return (name, body) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, `\t.text\n\t.globl _start\n_start:\n${body}\n`);
    return file;
  };
}
