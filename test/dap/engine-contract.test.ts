/**
 * The session only needs the DebugEngine interface: a minimal engine (no optional capabilities,
 * like a live QEMU) gets stack, every scope and evaluate from cpuState() + machineState(), and
 * the optional requests answer "not supported by the qemu engine" instead of failing.
 */
import * as assert from 'assert';
import { EventEmitter } from 'events';
import * as net from 'net';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { KentryDebugSession } from '../../debug-adapter/session';
import { registerEngine, type EngineKind } from '../../debug-adapter/engines';
import type { DebugEngine, EngineEvents, EngineFrame } from '../../debug-adapter/engine';
import { newCpuState } from '../../emulator/machine/state';
import { stateAfterPushIp } from '../unit/extension/fixture';
import { nodeFiles } from '../../debug-adapter/node-files';

class MinimalEngine extends EventEmitter<EngineEvents> implements DebugEngine {
  readonly kind = 'qemu' as const;
  async load() { return []; }
  async start() { this.emit('stopped', { reason: 'entry', description: 'Paused on entry' }); }
  async continue() { this.emit('exited', 0); }
  async next() { this.emit('stopped', { reason: 'step', description: 'Stepped' }); }
  async stepIn() { return this.next(); }
  async stepOut() { return this.next(); }
  async stepInstruction() { return this.next(); }
  async pause() { this.emit('stopped', { reason: 'pause', description: 'Paused' }); }
  async terminate() { /* nothing to stop */ }
  async setBreakpoints(_file: string, lines: number[]) { return lines.map((line) => ({ line, verified: true })); }
  async stackTrace(): Promise<EngineFrame[]> { return [{ name: 'entry_SYSCALL_64', loc: { file: '/ws/entry.S', line: 50 }, address: 0xffffffff81a00041n, kind: 'code' }]; }
  async cpuState() {
    const s = newCpuState();
    s.gpr[0] = 39n;
    s.rip = 0xffffffff81a00041n;
    return s;
  }
  async machineState() { return stateAfterPushIp(); }
  async pageWalk() { return []; }
  async evaluate(e: string) { return e === 'rax' ? { value: 39n } : { error: `cannot evaluate "${e}"` }; }
  async readMemory() { return { unavailable: 'not connected' }; }
  symbolAt() { return 'entry_SYSCALL_64'; }
  sourceText() { return undefined; }
  describeAddress(a: bigint) { return `0x${a.toString(16)}`; }
}

describe('DAP: the session over a minimal engine', function () {
  let server: net.Server;
  let dc: DebugClient;

  before(async () => {
    registerEngine('minimal-test' as EngineKind, () => new MinimalEngine());
    server = net.createServer((socket) => {
      const session = new KentryDebugSession({ fs: nodeFiles, samplesDir: '/nonexistent' });
      session.setRunAsServer(true);
      session.start(socket, socket);
    }).listen(0);
    await new Promise((r) => server.once('listening', r));
  });
  after(() => server.close());
  beforeEach(async () => {
    dc = new DebugClient('node', '', 'kentry');
    await dc.start((server.address() as net.AddressInfo).port);
    await Promise.all([
      dc.waitForEvent('stopped'),
      dc.configurationSequence(),
      dc.launch({ engine: 'minimal-test' } as DebugProtocol.LaunchRequestArguments),
    ]);
  });
  afterEach(() => dc.stop());

  it('stack, every scope and evaluate come from the engine interface', async () => {
    const st = await dc.stackTraceRequest({ threadId: 1 });
    assert.strictEqual(st.body.stackFrames[0].name, 'entry_SYSCALL_64');
    const scopes = (await dc.scopesRequest({ frameId: st.body.stackFrames[0].id })).body.scopes;
    for (const scope of scopes) {
      const vars = (await dc.variablesRequest({ variablesReference: scope.variablesReference })).body.variables;
      assert.ok(vars.length > 0, `${scope.name} has rows`);
      assert.ok(!vars.some((v) => v.name === 'error'), `${scope.name}: ${JSON.stringify(vars[0])}`);
    }
    const regs = (await dc.variablesRequest({ variablesReference: scopes[0].variablesReference })).body.variables;
    assert.strictEqual(regs.find((v) => v.name === 'rax')?.value, '0x0000000000000027');
    assert.strictEqual((await dc.evaluateRequest({ expression: 'rax' })).body.result, '0x0000000000000027');
  });

  it('optional capabilities the engine lacks are refused with the engine named', async () => {
    const refused = async (p: Promise<unknown>): Promise<void> => {
      await assert.rejects(p, /not supported by the qemu engine/);
    };
    await refused(dc.customRequest('stepBack', { threadId: 1 }));
    await refused(dc.customRequest('reverseContinue', { threadId: 1 }));
    await refused(dc.customRequest('setDataBreakpoints', { breakpoints: [] }));
    await refused(dc.customRequest('setInstructionBreakpoints', { breakpoints: [] }));
    await refused(dc.customRequest('disassemble', { memoryReference: '0x0', instructionCount: 1 }));
    await refused(dc.customRequest('writeMemory', { memoryReference: '0x0', data: '' }));
    await refused(dc.setVariableRequest({ variablesReference: 1, name: 'rax', value: '1' }));
    const info = await dc.customRequest('dataBreakpointInfo', { name: 'rax' });
    assert.strictEqual(info.body.dataId, null);
    const mem = await dc.customRequest('readMemory', { memoryReference: '0x1000', count: 8 });
    assert.strictEqual(mem.body.unreadableBytes, 8);
    assert.ok((await dc.threadsRequest()).success, 'the session keeps answering');
  });
});
