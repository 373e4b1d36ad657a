/**
 * Fuzzing the DAP request handler: an in-process KentryDebugSession (as the extension runs it
 * inline) gets random request sequences - launch with random and broken arguments, breakpoints
 * on random files and lines, stepping, pause, memory, evaluate, custom requests with random
 * arguments, disconnect - on the bundled sample and, when present, the real Linux 6.1
 * entry_64.S. The adapter never throws out of a handler, never leaves a request unanswered,
 * and keeps answering after errors.
 */
import { strict as assert } from 'assert';
import * as fc from 'fast-check';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { execFileSync } from 'child_process';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import { KentryDebugSession } from '../../debug-adapter/session';
import { nodeFiles } from '../../debug-adapter/node-files';
import { MACHINE_STATE_REQUEST, PAGE_WALK_REQUEST } from '../../debug-adapter/protocol';
import { REPO, SAMPLES, SEED_S } from '../support/paths';
import { fuzzParams, suiteTimeout } from './support';
import { InlineClient } from './inline-client';

const REAL_61 = path.join(REPO, '.cache/linux/linux-source-6.1/arch/x86/entry/entry_64.S');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kentry-dapfuzz-'));
const JUNK = path.join(tmp, 'junk.S');
const LOOP = path.join(tmp, 'loop.S');
fs.writeFileSync(JUNK, 'movq %rax,\n.macro\n\u0000\u00ff\nfoo bar baz\n');
fs.writeFileSync(LOOP, '\t.text\n\t.globl _start\n_start:\n1:\tincq %rax\n\tjmp 1b\n');

const ENTRY = path.join(SAMPLES, 'entry_64.S');
const HELLO = path.join(SAMPLES, 'user', 'hello.S');
const FILES = [ENTRY, HELLO, path.join(SAMPLES, 'include/kentry/calling.h'), JUNK, LOOP, tmp, '/nonexistent/x.S', '', 'relative.S', ...(fs.existsSync(SEED_S) ? [SEED_S] : []), ...(fs.existsSync(REAL_61) ? [REAL_61] : [])];

const junkValue = fc.oneof(fc.constant(undefined), fc.constant(null), fc.integer(), fc.string({ maxLength: 12 }), fc.constant({}), fc.constant([]), fc.double());
const fileArg = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...FILES) }, { weight: 1, arbitrary: junkValue });
const lineArg = fc.oneof(fc.integer({ min: 1, max: 1300 }), fc.constantFrom(0, -1, 2 ** 31, 1.5, NaN));
const addressArg = fc.oneof(fc.constantFrom('0x401000', '0xffffffff81000000', '0', '0xffffffffffffffff', 'rsp', 'not a number', '', '-1', '0x1ffffffffffffffff'), fc.string({ maxLength: 10 }), fc.integer());
const exprArg = fc.oneof(fc.constantFrom('rax', '$rsp', 'regs->ip', 'this_cpu(cpu_tss_rw).x86_tss.sp2', '*(u64 *)$rsp', 'LSTAR', '1/0', '(', '__proto__'), fc.string({ maxLength: 20 }));

const launchArgs = fc.record({
  program: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 2, arbitrary: fileArg }),
  kernelEntry: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 2, arbitrary: fileArg }),
  stopOnEntry: fc.oneof(fc.boolean(), junkValue),
  cpu: fc.oneof(fc.constantFrom(undefined, 'intel', 'amd', 'bogus'), junkValue),
  kernel: fc.oneof(fc.constant(undefined), fc.record({ version: fc.oneof(fc.constantFrom('5.8.13', '6.1', '9.9'), junkValue), config: fc.oneof(fc.dictionary(fc.constantFrom('CONFIG_PAGE_TABLE_ISOLATION', 'CONFIG_X86_5LEVEL', '__proto__', 'BOGUS'), fc.oneof(fc.boolean(), junkValue)), junkValue) }), junkValue),
  instructionBudget: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 200_000 }) }, { weight: 1, arbitrary: fc.constantFrom(0, -1, NaN, 1e12, undefined) }),
  engine: fc.constantFrom(undefined, undefined, 'emulator', 'bogus'),
}, { requiredKeys: [] });

type Req = { command: string; args: unknown };
const req = (command: string, args: fc.Arbitrary<unknown>): fc.Arbitrary<Req> => args.map((a) => ({ command, args: a }));
const threadArgs = fc.record({ threadId: fc.oneof(fc.constant(1), fc.integer()), granularity: fc.constantFrom(undefined, 'statement', 'line', 'instruction') });
const request: fc.Arbitrary<Req> = fc.oneof(
  req('threads', fc.constant({})),
  req('stackTrace', fc.record({ threadId: fc.constant(1), startFrame: fc.option(fc.integer()), levels: fc.option(fc.integer()) })),
  req('scopes', fc.record({ frameId: fc.oneof(fc.nat(5), fc.integer()) })),
  req('variables', fc.record({ variablesReference: fc.oneof(fc.nat(12), fc.integer()), start: fc.option(fc.integer()), count: fc.option(fc.integer()) })),
  req('evaluate', fc.record({ expression: exprArg, frameId: fc.option(fc.nat(5)), context: fc.constantFrom('watch', 'hover', 'repl', 'clipboard', undefined) })),
  req('setVariable', fc.record({ variablesReference: fc.nat(12), name: fc.constantFrom('rax', 'rip', 'CF', 'CR3', 'bogus', ''), value: exprArg })),
  req('setBreakpoints', fc.record({ source: fc.oneof(fc.record({ path: fileArg }), junkValue), breakpoints: fc.oneof(fc.array(fc.record({ line: lineArg, condition: fc.option(exprArg), hitCondition: fc.option(fc.constantFrom('3', '>2', '%2', 'x', '')), logMessage: fc.option(fc.constantFrom('rax={rax}', '{', '{nosuch}')) }, { requiredKeys: ['line'] }), { maxLength: 5 }), junkValue) })),
  req('setExceptionBreakpoints', fc.record({ filters: fc.oneof(fc.subarray(['gp', 'pf', 'ud', 'db', 'privilege-change', 'cr3-write', 'swapgs', 'sysret', 'iret', 'bogus']), junkValue) })),
  req('setInstructionBreakpoints', fc.record({ breakpoints: fc.array(fc.record({ instructionReference: addressArg, offset: fc.option(fc.integer()) }), { maxLength: 3 }) })),
  req('dataBreakpointInfo', fc.record({ name: exprArg, variablesReference: fc.option(fc.nat(12)) })),
  req('setDataBreakpoints', fc.record({ breakpoints: fc.array(fc.record({ dataId: fc.oneof(fc.string({ maxLength: 20 }), junkValue), accessType: fc.constantFrom('read', 'write', 'readWrite', undefined) }), { maxLength: 3 }) })),
  req('continue', threadArgs),
  req('next', threadArgs),
  req('stepIn', threadArgs),
  req('stepOut', threadArgs),
  req('stepBack', threadArgs),
  req('reverseContinue', threadArgs),
  req('pause', threadArgs),
  req('readMemory', fc.record({ memoryReference: addressArg, offset: fc.option(fc.integer()), count: fc.oneof(fc.nat(5000), fc.constantFrom(-1, 2 ** 40, NaN)) })),
  req('writeMemory', fc.record({ memoryReference: addressArg, offset: fc.option(fc.integer()), data: fc.oneof(fc.constantFrom('AAAA', '', '!!notbase64'), junkValue) })),
  req('disassemble', fc.record({ memoryReference: addressArg, offset: fc.option(fc.integer()), instructionOffset: fc.option(fc.integer({ min: -200, max: 200 })), instructionCount: fc.oneof(fc.nat(100), fc.constantFrom(-1, 2 ** 31)) })),
  req('source', fc.record({ sourceReference: fc.oneof(fc.nat(1005), fc.integer()), source: fc.option(fc.record({ path: fileArg })) })),
  req(MACHINE_STATE_REQUEST, junkValue),
  req(PAGE_WALK_REQUEST, fc.oneof(fc.record({ address: addressArg, half: fc.constantFrom('user', 'kernel', 'both', 'bogus', undefined) }), junkValue)),
  req('kentry/bogus', junkValue),
  req('bogusCommand', junkValue),
  req('terminate', fc.constant({})),
);

const RUN_CONTROL = new Set(['continue', 'next', 'stepIn', 'stepOut', 'stepBack', 'reverseContinue']);

async function session(launch: Record<string, unknown>, early: Req[], reqs: Req[]): Promise<void> {
  const crashes: string[] = [];
  const onCrash = (e: unknown): void => { crashes.push(e instanceof Error ? e.stack ?? e.message : String(e)); };
  process.on('unhandledRejection', onCrash);
  process.on('uncaughtException', onCrash);
  const transcript: string[] = [];
  const client = new InlineClient(new KentryDebugSession({ fs: nodeFiles, samplesDir: SAMPLES }));
  const ask = async (command: string, args: unknown, ms = 20_000): Promise<DebugProtocol.Response | undefined> => {
    if (process.env.KENTRY_FUZZ_DEBUG) console.error(`-> ${command} ${JSON.stringify(args)?.slice(0, 300)}`);
    const r = await client.send(command, args, ms);
    transcript.push(`${command} ${JSON.stringify(args)?.slice(0, 200)} -> ${r ? (r.success ? 'ok' : `error: ${r.message}`) : 'NO RESPONSE'}`);
    assert.ok(r, `no response to ${command} within ${ms} ms\n${transcript.join('\n')}`);
    if (!r.success) assert.ok(typeof r.message === 'string' && r.message.length > 0, `error response to ${command} without a message`);
    return r;
  };
  try {
    await ask('initialize', { adapterID: 'kentry', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
    for (const r of early) await ask(r.command, r.args);
    const initialized = client.waitFor(['initialized'], 120_000);
    if (process.env.KENTRY_FUZZ_DEBUG) console.error(`-> launch ${JSON.stringify(launch)}`);
    const launched = client.send('launch', launch, 120_000);
    // configurationDone once the adapter is ready, or right away when the launch failed.
    const first = await Promise.race([initialized.then(() => 'initialized'), launched.then(() => 'launch')]);
    if (first === 'initialized') await ask('configurationDone', {});
    const lr = await launched;
    transcript.push(`launch ${JSON.stringify(launch)} -> ${lr ? (lr.success ? 'ok' : `error: ${lr.message?.slice(0, 200)}`) : 'NO RESPONSE'}`);
    assert.ok(lr, `no response to launch\n${transcript.join('\n')}`);
    for (const r of reqs) {
      const stopped = client.waitFor(['stopped', 'terminated', 'exited'], 3000);
      const res = await ask(r.command, r.args);
      if (RUN_CONTROL.has(r.command) && res?.success) await stopped;
    }
    // After all that, the session still answers.
    await ask('threads', {});
    await ask('disconnect', {});
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(crashes, [], `exceptions escaped the adapter\n${transcript.join('\n')}`);
  } finally {
    await client.send('disconnect', {}, 2000);
    process.off('unhandledRejection', onCrash);
    process.off('uncaughtException', onCrash);
  }
}

describe('fuzz: DAP requests (in-process session, stdio adapter)', function () {
  this.timeout(suiteTimeout(240_000));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('random launches and request sequences: every request answered, nothing escapes, the session keeps working', async () => {
    await fc.assert(fc.asyncProperty(launchArgs, fc.array(request, { maxLength: 3 }), fc.array(request, { maxLength: 25 }), (l, early, reqs) => session(l as Record<string, unknown>, early, reqs)), fuzzParams(30));
  });

  it('the stdio adapter (dist/debugAdapter.js) survives random sequences: the process keeps answering', async () => {
    execFileSync('node', ['scripts/build.mjs'], { cwd: REPO, stdio: 'ignore' });
    await fc.assert(fc.asyncProperty(launchArgs, fc.array(request, { maxLength: 20 }), async (l, reqs) => {
      const dc = new DebugClient('node', path.join(REPO, 'dist', 'debugAdapter.js'), 'kentry');
      await dc.start();
      const transcript: string[] = [];
      // The response (success or error), or 'NO RESPONSE' after 20 s.
      const ask = (command: string, args: unknown): Promise<string> => {
        const answer = dc.send(command, args).then(() => 'ok', (e: Error) => `error: ${e.message}`);
        const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('NO RESPONSE'), 20_000).unref());
        return Promise.race([answer, timeout]).then((a) => { transcript.push(`${command} -> ${a.slice(0, 120)}`); return a; });
      };
      try {
        await ask('initialize', { adapterID: 'kentry' });
        const launched = ask('launch', l);
        await Promise.race([new Promise((resolve) => dc.once('initialized', resolve)), launched]);
        await ask('configurationDone', {});
        await launched;
        for (const r of reqs) await ask(r.command, r.args);
        await ask('threads', {});
        assert.ok(!transcript.some((t) => t.endsWith('NO RESPONSE')), transcript.join('\n'));
      } finally {
        await dc.stop();
      }
    }), fuzzParams(5));
  });

  (fs.existsSync(REAL_61) ? it : it.skip)('the same on the real Linux 6.1 entry_64.S', async () => {
    await fc.assert(fc.asyncProperty(launchArgs, fc.array(request, { maxLength: 20 }), (l, reqs) => session({ ...l, kernelEntry: REAL_61, engine: undefined }, [], reqs)), fuzzParams(6));
  });
});
