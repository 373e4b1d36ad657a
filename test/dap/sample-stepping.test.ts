/**
 * Source-level debugging of the bundled sample over stdio: macro expansions behave like inlined
 * functions, `next` steps over the modelled C call, program output reaches the Debug Console,
 * and bad input or runaway code never takes the session down.
 */
import * as assert from 'assert';
import { execFileSync } from 'child_process';
import * as path from 'path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { REPO, SAMPLES, lineOf, linesMatching } from '../support/paths';
import { userPrograms } from './dap-helpers';

const ADAPTER = path.join(REPO, 'dist', 'debugAdapter.js');
const ENTRY = path.join(SAMPLES, 'entry_64.S');
const CALLING_H = path.join(SAMPLES, 'include', 'kentry', 'calling.h');
const HELLO = path.join(SAMPLES, 'user', 'hello.S');

describe('DAP: stepping the bundled sample', function () {
  let dc: DebugClient;
  const pushLine = lineOf(ENTRY, /^\s*PUSH_AND_CLEAR_REGS rax=\$-ENOSYS/);
  const afterPushLine = lineOf(ENTRY, /^\s*movq\s+%rax, %rdi/);
  const callLine = lineOf(ENTRY, /^\s*call\s+do_syscall_64/);
  const swapgsLine = lineOf(ENTRY, /^\s*swapgs\s*$/);
  const program = userPrograms('kentry-dap-');

  before(() => execFileSync('node', ['scripts/build.mjs'], { cwd: REPO, stdio: 'ignore' }));
  beforeEach(async () => {
    dc = new DebugClient('node', ADAPTER, 'kentry');
    await dc.start();
  });
  afterEach(() => dc.stop());

  async function launch(args: Record<string, unknown>, breakpoints: { file: string; lines: number[] }[] = []): Promise<DebugProtocol.StoppedEvent> {
    const stopped = dc.waitForEvent('stopped') as Promise<DebugProtocol.StoppedEvent>;
    await Promise.all([
      dc.waitForEvent('initialized').then(async () => {
        for (const b of breakpoints) await dc.setBreakpointsRequest({ source: { path: b.file }, breakpoints: b.lines.map((line) => ({ line })) });
        await dc.configurationDoneRequest();
      }),
      dc.launch(args as DebugProtocol.LaunchRequestArguments),
    ]);
    return stopped;
  }
  async function frames(): Promise<DebugProtocol.StackFrame[]> {
    return (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames;
  }
  async function step(kind: 'next' | 'stepIn' | 'stepOut'): Promise<void> {
    const req = kind === 'next' ? dc.nextRequest({ threadId: 1 }) : kind === 'stepIn' ? dc.stepInRequest({ threadId: 1 }) : dc.stepOutRequest({ threadId: 1 });
    await Promise.all([req, dc.waitForEvent('stopped')]);
  }

  it('a macro call is a frame: step in to its body, step out to the next line', async () => {
    await launch({}, [{ file: ENTRY, lines: [pushLine] }]);
    let f = await frames();
    assert.strictEqual(f[0].source?.path, ENTRY);
    assert.strictEqual(f[0].line, pushLine, 'stops on the macro call line, not inside the macro');
    assert.match(f[0].name, /^entry_SYSCALL_64/, 'named after the nearest kernel symbol');
    assert.match(f[f.length - 1].name, /^user: .*syscall/, 'the user syscall site is the bottom frame');

    await step('stepIn');
    f = await frames();
    assert.strictEqual(f[0].source?.path, CALLING_H, 'inside the macro body');
    assert.strictEqual(f[0].name, 'PUSH_AND_CLEAR_REGS');
    assert.strictEqual(f[1].line, pushLine, 'the call site is the next frame');

    await step('next');
    const f2 = await frames();
    assert.strictEqual(f2[0].source?.path, CALLING_H);
    assert.ok(f2[0].line > f[0].line, 'next moves down the macro body');

    await step('stepOut');
    f = await frames();
    assert.strictEqual(f[0].source?.path, ENTRY);
    assert.strictEqual(f[0].line, afterPushLine, 'step out lands on the line after the macro call');
  });

  it('next steps over the modelled do_syscall_64; step in shows the model frame', async () => {
    await launch({}, [{ file: ENTRY, lines: [callLine] }]);
    await step('stepIn');
    let f = await frames();
    assert.match(f[0].name, /do_syscall_64.*model/i, 'the model says it is a model');
    assert.strictEqual(f[1].line, callLine);
    await step('next');
    f = await frames();
    assert.strictEqual(f[0].source?.path, ENTRY);
    assert.ok(f[0].line > callLine);
  });

  it('step in on the user syscall enters entry_SYSCALL_64 at swapgs; the program output reaches the console', async () => {
    const syscallLine = linesMatching(HELLO, /^\s*syscall\s*$/)[0];
    await launch({}, [{ file: HELLO, lines: [syscallLine] }]).catch(() => undefined);
    let f = await frames();
    assert.strictEqual(f[0].line, syscallLine);
    await step('stepIn');
    f = await frames();
    assert.strictEqual(f[0].source?.path, ENTRY);
    assert.strictEqual(f[0].line, swapgsLine);
    const out: string[] = [];
    dc.on('output', (e: DebugProtocol.OutputEvent) => out.push(e.body.output));
    await dc.setBreakpointsRequest({ source: { path: HELLO }, breakpoints: [] });
    await Promise.all([dc.continueRequest({ threadId: 1 }), dc.waitForEvent('terminated')]);
    assert.ok(out.join('').includes('Hello from ring 3'), `write() output shown: ${out.join('')}`);
  }).timeout(60000);

  it('an unknown instruction fails the launch with file:line, and the adapter keeps answering', async () => {
    const bad = program('bad.S', '\tmovq $1, %rax\n\tfrobnicate %rax\n');
    await assert.rejects(
      Promise.all([dc.configurationSequence(), dc.launch({ program: bad } as DebugProtocol.LaunchRequestArguments)]),
      (e: Error) => e.message.includes(`${bad}:5`) && /frobnicate/.test(e.message),
    );
    const threads = await dc.threadsRequest();
    assert.ok(threads.success, 'the adapter still answers after a failed launch');
  });

  it('pause stops a runaway loop and keeps breakpoints', async () => {
    const spin = program('spin.S', '1:\tincq %rax\n\tjmp 1b\n');
    await launch({ program: spin, stopOnEntry: true }, [{ file: ENTRY, lines: [swapgsLine] }]);
    await dc.continueRequest({ threadId: 1 });
    await new Promise((r) => setTimeout(r, 300));
    const [, stopped] = await Promise.all([dc.pauseRequest({ threadId: 1 }), dc.waitForEvent('stopped')]);
    assert.strictEqual(stopped.body.reason, 'pause');
    const f = await frames();
    assert.strictEqual(f[0].source?.path, spin);
    const regs = await dc.scopesRequest({ frameId: f[0].id });
    const vars = await dc.variablesRequest({ variablesReference: regs.body.scopes[0].variablesReference });
    const rax = BigInt(vars.body.variables.find((v) => v.name === 'rax')?.value ?? '0');
    assert.ok(rax > 1000n, `the loop really ran (rax=${rax})`);
    const bps = await dc.setBreakpointsRequest({ source: { path: ENTRY }, breakpoints: [{ line: swapgsLine }] });
    assert.ok(bps.body.breakpoints[0].verified, 'breakpoints still resolve after the pause');
  });

  it('a fault in user code stops with the exception named, and continue does not crash', async () => {
    const fault = program('fault.S', '\tmovq 0x10, %rax\n');
    const stopped = await launch({ program: fault });
    assert.strictEqual(stopped.body.reason, 'exception');
    assert.match(stopped.body.description ?? '', /#PF/);
    const again = dc.waitForEvent('stopped');
    await dc.continueRequest({ threadId: 1 });
    assert.strictEqual((await again).body.reason, 'exception');
  });
});
