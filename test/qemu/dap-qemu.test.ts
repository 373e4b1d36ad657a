/**
 * A whole debug session over DAP with `engine: "qemu"`: launch a real Linux 6.1 under QEMU,
 * a breakpoint on swapgs of the user's entry_64.S, the stop, the stack frame on that line,
 * registers in the Variables pane, the machine-state view, stepping, and ending the session.
 */
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { MACHINE_STATE_REQUEST, type MachineStateView } from '../../debug-adapter/protocol';
import { REPO } from '../support/paths';
import { requireTestKernel, syscallSwapgsLine } from './test-kernel';

describe('DAP: a session with engine "qemu" on Linux 6.1', function () {
  let dc: DebugClient | undefined;
  afterEach(async () => { await dc?.stop(); dc = undefined; });

  it('stops on the swapgs line of the user\'s entry_64.S, shows registers and the views, steps, and ends QEMU on disconnect', async function () {
    const k = requireTestKernel(this);
    dc = new DebugClient('node', path.join(__dirname, 'adapter-with-qemu.ts'), 'kentry', {
      env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require tsx/cjs`.trim(), KENTRY_SAMPLES_DIR: path.join(REPO, 'samples') },
    });
    dc.defaultTimeout = 60000;
    await dc.start();
    const line = syscallSwapgsLine(k.userEntryFile);
    const stopped = dc.waitForEvent('stopped', 90000) as Promise<DebugProtocol.StoppedEvent>;
    await dc.initializeRequest({ adapterID: 'kentry', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
    let verified: DebugProtocol.Breakpoint[] = [];
    await Promise.all([
      dc.waitForEvent('initialized').then(async () => {
        verified = (await dc!.setBreakpointsRequest({ source: { path: k.userEntryFile }, breakpoints: [{ line }] })).body.breakpoints;
        await dc!.configurationDoneRequest();
      }),
      dc.launchRequest({ engine: 'qemu', qemu: { kernel: k.bzImage, vmlinux: k.vmlinux, initrd: k.initrd, pti: true } } as DebugProtocol.LaunchRequestArguments),
    ]);
    assert.equal(verified[0]?.verified, true, JSON.stringify(verified));
    const ev = await stopped;
    assert.equal(ev.body.reason, 'breakpoint');

    const frames = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames;
    assert.equal(frames[0].source?.path, k.userEntryFile);
    assert.equal(frames[0].line, line);
    assert.match(frames[0].name, /entry_SYSCALL_64/);

    const scopes = (await dc.scopesRequest({ frameId: frames[0].id })).body.scopes;
    const all: string[] = [];
    for (const s of scopes) {
      const vars = (await dc.variablesRequest({ variablesReference: s.variablesReference })).body.variables;
      all.push(...vars.map((v) => `${v.name}=${v.value}`));
    }
    assert.ok(all.some((v) => /^rax=0x0*1$/.test(v)), all.join(' '));
    assert.ok(all.some((v) => /^rcx=0x0*40101/.test(v)), 'user RIP in rcx');

    const view = (await dc.customRequest(MACHINE_STATE_REQUEST, {})).body as MachineStateView;
    assert.equal(view.cr3.half, 'user');
    assert.equal(view.msrs.find((m) => m.name === 'LSTAR')?.value, 'unavailable');

    const stepped = dc.waitForEvent('stopped') as Promise<DebugProtocol.StoppedEvent>;
    await dc.nextRequest({ threadId: 1 });
    await stepped;
    const after = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames[0];
    assert.equal(after.source?.path, k.userEntryFile);
    assert.ok(after.line > line, `next went from ${line} to ${after.line}`);

    await dc.disconnectRequest({ terminateDebuggee: true });
  });
});
