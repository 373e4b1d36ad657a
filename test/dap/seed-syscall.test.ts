/**
 * The user's story, driven over stdio by a real DAP client (DebugClient): the seed's own
 * entry_SYSCALL_64, unmodified, with a breakpoint on `swapgs`; a ring-3 getpid goes in and
 * comes back by SYSRET with the pid in RAX.
 */
import * as assert from 'assert';
import { execFileSync } from 'child_process';
import * as path from 'path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { REPO, SEED_S, lineOf } from '../support/paths';

const ADAPTER = path.join(REPO, 'dist', 'debugAdapter.js');

describe('DAP: a syscall through the seed entry_SYSCALL_64', function () {
  let dc: DebugClient;
  const swapgsLine = lineOf(SEED_S, /^\s*swapgs\s*$/);
  const sp2Line = lineOf(SEED_S, /movq\s+%rsp, PER_CPU_VAR\(cpu_tss_rw \+ TSS_sp2\)/);
  const callLine = lineOf(SEED_S, /call\s+do_syscall_64/);

  before(() => {
    execFileSync('node', ['scripts/build.mjs'], { cwd: REPO, stdio: 'ignore' });
  });
  beforeEach(async () => {
    dc = new DebugClient('node', ADAPTER, 'kentry');
    await dc.start();
  });
  afterEach(() => dc.stop());

  async function variables(scope: string): Promise<Map<string, string>> {
    const st = await dc.stackTraceRequest({ threadId: 1 });
    const scopes = await dc.scopesRequest({ frameId: st.body.stackFrames[0].id });
    const ref = scopes.body.scopes.find((s) => s.name === scope);
    assert.ok(ref, `scope ${scope} exists`);
    const vars = await dc.variablesRequest({ variablesReference: ref.variablesReference });
    return new Map(vars.body.variables.map((v: DebugProtocol.Variable) => [v.name, v.value]));
  }
  const num = (s: string | undefined): bigint => BigInt((s ?? '').split(/\s/)[0]);

  async function topFrame(): Promise<DebugProtocol.StackFrame> {
    return (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames[0];
  }

  it('breaks on swapgs, swaps GS bases, saves user RSP in TSS sp2, builds pt_regs, returns by SYSRET', async () => {
    const stopped = dc.waitForEvent('stopped');
    await Promise.all([
      dc.waitForEvent('initialized').then(async () => {
        await dc.setBreakpointsRequest({ source: { path: SEED_S }, breakpoints: [{ line: swapgsLine }, { line: callLine }] });
        await dc.configurationDoneRequest();
      }),
      dc.launch({ kernelEntry: SEED_S } as DebugProtocol.LaunchRequestArguments),
    ]);
    const ev = await stopped;
    assert.strictEqual(ev.body.reason, 'breakpoint');
    let top = await topFrame();
    assert.strictEqual(top.source?.path, SEED_S);
    assert.strictEqual(top.line, swapgsLine);

    const regs0 = await variables('Registers');
    assert.strictEqual(regs0.get('cpl'), '0 (kernel mode)');
    const userRsp = num(regs0.get('rsp'));
    const userRip = num(regs0.get('rcx'));
    const userFlags = num(regs0.get('r11'));
    const msr0 = await variables('MSRs');
    const gs0 = num(msr0.get('GS_BASE'));
    const kgs0 = num(msr0.get('KERNEL_GS_BASE'));
    assert.notStrictEqual(gs0, kgs0);

    await Promise.all([dc.nextRequest({ threadId: 1 }), dc.waitForEvent('stopped')]);
    top = await topFrame();
    assert.strictEqual(top.line, sp2Line, 'next goes to the line after swapgs');
    const msr1 = await variables('MSRs');
    assert.strictEqual(num(msr1.get('GS_BASE')), kgs0, 'GS_BASE now holds the per-CPU base');
    assert.strictEqual(num(msr1.get('KERNEL_GS_BASE')), gs0, 'KERNEL_GS_BASE now holds the user GS base');

    await Promise.all([dc.nextRequest({ threadId: 1 }), dc.waitForEvent('stopped')]);
    const tss = await variables('Per-CPU & TSS');
    const sp2 = [...tss].find(([k]) => /sp2/.test(k));
    assert.ok(sp2, 'TSS sp2 shown');
    assert.strictEqual(num(sp2[1]), userRsp, 'TSS sp2 holds the user RSP');

    await Promise.all([dc.continueRequest({ threadId: 1 }), dc.waitForEvent('stopped')]);
    top = await topFrame();
    assert.strictEqual(top.line, callLine);
    const pt = await variables('pt_regs');
    assert.strictEqual(num(pt.get('ss')), 0x2bn, 'pt_regs->ss = __USER_DS');
    assert.strictEqual(num(pt.get('sp')), userRsp, 'pt_regs->sp = user RSP');
    assert.strictEqual(num(pt.get('flags')), userFlags, 'pt_regs->flags = R11 as SYSCALL left it');
    assert.strictEqual(num(pt.get('cs')), 0x33n, 'pt_regs->cs = __USER_CS');
    assert.strictEqual(num(pt.get('ip')), userRip, 'pt_regs->ip = RCX as SYSCALL left it');
    assert.strictEqual(num(pt.get('orig_ax')), 39n, 'pt_regs->orig_ax = __NR_getpid');

    // Step out of the entry code: back in ring 3 after SYSRET, with getpid's result in RAX.
    const console: string[] = [];
    dc.on('output', (e: DebugProtocol.OutputEvent) => console.push(e.body.output));
    await Promise.all([dc.stepOutRequest({ threadId: 1 }), dc.waitForEvent('stopped')]);
    assert.ok(console.some((l) => /getpid\(\) = \d+/.test(l)), `the model says what it did: ${console.join('')}`);
    assert.ok(console.some((l) => /sysretq: ring 0 -> ring 3/.test(l)), `returned by SYSRET: ${console.join('')}`);
    assert.ok(!console.some((l) => /iretq/.test(l)), 'not by IRET');
    const regs = await variables('Registers');
    assert.strictEqual(regs.get('cpl'), '3 (user mode)');
    assert.strictEqual(num(regs.get('rip')), userRip, 'back at the instruction after syscall');
    const pid = num(regs.get('rax'));
    assert.ok(pid > 0n && pid < 0x400000n, `rax holds a pid, got ${pid}`);
    const state = (await dc.customRequest('kentry/machineState')).body;
    assert.strictEqual(state.cpl, 3);
  });
});
