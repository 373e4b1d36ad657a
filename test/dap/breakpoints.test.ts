/**
 * Data breakpoints (memory write/read, pt_regs slots, registers, MSRs, CR3), conditional and
 * hit-count breakpoints, logpoints, and exception breakpoints (faults and entry/exit events).
 */
import * as assert from 'assert';
import * as path from 'path';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { SAMPLES, lineOf } from '../support/paths';
import { Dap, buildAdapter, num, userPrograms } from './dap-helpers';

const ENTRY = path.join(SAMPLES, 'entry_64.S');

describe('DAP: data, conditional and exception breakpoints', function () {
  let d: Dap;
  const swapgsLine = lineOf(ENTRY, /^\s*swapgs\s*$/);
  const sp2WriteLine = lineOf(ENTRY, /movq\s+%rsp, PER_CPU_VAR\(cpu_tss_rw \+ TSS_sp2\)/);
  const sp2ReadLine = lineOf(ENTRY, /pushq\s+PER_CPU_VAR\(cpu_tss_rw \+ TSS_sp2\)/);
  const program = userPrograms('kentry-dap-bp-');

  before(buildAdapter);
  beforeEach(async () => {
    d = new Dap();
    await d.start();
  });
  afterEach(() => d.stop());

  async function watch(info: DebugProtocol.DataBreakpointInfoArguments, accessType: 'read' | 'write' | 'readWrite' = 'write'): Promise<string> {
    const r = await d.dc.customRequest('dataBreakpointInfo', info);
    assert.ok(r.body.dataId, `no data breakpoint for ${info.name}: ${r.body.description}`);
    const set = await d.dc.customRequest('setDataBreakpoints', { breakpoints: [{ dataId: r.body.dataId, accessType }] });
    assert.ok(set.body.breakpoints[0].verified, set.body.breakpoints[0].message);
    return r.body.dataId as string;
  }

  it('TSS sp2 from the Per-CPU & TSS scope: stops after the write that saves the user RSP, then on its read', async () => {
    await d.launch({ stopOnEntry: true });
    assert.strictEqual(d.capabilities.supportsDataBreakpoints, true);
    const userRsp = num((await d.variables('Registers')).get('rsp'));
    const tss = await d.variables('Per-CPU & TSS');
    const sp2Name = [...tss.keys()].find((k) => /sp2/.test(k)) as string;
    const dataId = await watch({ variablesReference: await d.scopeRef('Per-CPU & TSS'), name: sp2Name });
    assert.match(dataId, /^mem:0x[0-9a-f]+:8$/);
    let ev = await d.continue();
    assert.ok(ev !== 'terminated');
    assert.strictEqual(ev.body.reason, 'data breakpoint');
    assert.match(ev.body.description ?? '', new RegExp(`entry_64\\.S:${sp2WriteLine}\\)`), ev.body.description);
    assert.match(ev.body.description ?? '', new RegExp(`-> 0x${userRsp.toString(16)}`), 'the new value is the user RSP');

    await d.dc.customRequest('setDataBreakpoints', { breakpoints: [{ dataId, accessType: 'read' }] });
    ev = await d.continue();
    assert.ok(ev !== 'terminated');
    assert.match(ev.body.description ?? '', /read by .*entry_64\.S:/);
    assert.match(ev.body.description ?? '', new RegExp(`entry_64\\.S:${sp2ReadLine}\\)`), ev.body.description);
  });

  it('pt_regs->ax: written by PUSH_AND_CLEAR_REGS (-ENOSYS), then by the do_syscall_64 model (the result)', async () => {
    await d.launch({ stopOnEntry: true });
    await watch({ variablesReference: await d.scopeRef('pt_regs'), name: 'ax' });
    let ev = await d.continue();
    assert.ok(ev !== 'terminated');
    assert.match(ev.body.description ?? '', /calling\.h/, ev.body.description);
    assert.match(ev.body.description ?? '', /-> 0xffffffffffffffda/, '-ENOSYS first');
    ev = await d.continue();
    assert.ok(ev !== 'terminated');
    assert.match(ev.body.description ?? '', /by the do_syscall_64 model/);
    const ax = num((await d.variables('pt_regs')).get('ax'));
    assert.ok(ax > 0n && ax < 0x400000n, `then the pid: ${ax}`);
  });

  it('registers, MSRs and CR3: stops after the instruction that changes them', async () => {
    await d.launch({ stopOnEntry: true });
    await watch({ variablesReference: await d.scopeRef('Control registers'), name: 'CR3' });
    let ev = await d.continue();
    assert.ok(ev !== 'terminated');
    assert.match(ev.body.description ?? '', /CR3 changed: 0x[0-9a-f]+ -> 0x[0-9a-f]+ by .*mov|CR3 changed/);
    assert.strictEqual((await d.variables('Registers')).get('cpl'), '0 (kernel mode)');

    await watch({ variablesReference: await d.scopeRef('MSRs'), name: 'GS_BASE' });
    ev = await d.continue();
    assert.ok(ev !== 'terminated');
    // The next GS_BASE change is the exit path's swapgs (the entry one is behind us).
    assert.match(ev.body.description ?? '', /MSR GS_BASE changed/);

    const info = await d.dc.customRequest('dataBreakpointInfo', { name: '$rbx' });
    assert.strictEqual(info.body.dataId, 'reg:rbx');
    await d.dc.customRequest('setDataBreakpoints', { breakpoints: [{ dataId: 'reg:rbx', accessType: 'write' }] });
    ev = await d.continue();
    assert.ok(ev !== 'terminated');
    assert.match(ev.body.description ?? '', /rbx changed: 0x0 -> 0x[0-9a-f]+ by .*hello\.S/);
  });

  it('reads of registers, MSRs and CR3: stop after the instruction that reads them', async () => {
    await d.launch({ stopOnEntry: true });
    // SWITCH_TO_KERNEL_CR3 reads CR3 (mov %cr3, %rsp) right after SYSCALL and SWAPGS.
    await watch({ variablesReference: await d.scopeRef('Control registers'), name: 'CR3' }, 'read');
    let ev = await d.continue();
    assert.ok(ev !== 'terminated');
    assert.match(ev.body.description ?? '', /CR3 read/);
    assert.strictEqual((await d.variables('Registers')).get('cpl'), '0 (kernel mode)');

    // The exit path's swapgs reads KERNEL_GS_BASE (the entry one is behind us).
    await d.dc.customRequest('setDataBreakpoints', { breakpoints: [] });
    await watch({ variablesReference: await d.scopeRef('MSRs'), name: 'KERNEL_GS_BASE' }, 'read');
    ev = await d.continue();
    assert.ok(ev !== 'terminated');
    assert.match(ev.body.description ?? '', /MSR 0xc0000102 read/);

    // r11 holds the user RFLAGS; the entry code reads it when it checks R11 == RFLAGS or pushes it.
    await d.dc.customRequest('setDataBreakpoints', { breakpoints: [] });
    await watch({ name: '$r11' }, 'read');
    ev = await d.continue();
    assert.ok(ev !== 'terminated');
    assert.match(ev.body.description ?? '', /r11 read/);
    const rip = await d.dc.customRequest('dataBreakpointInfo', { name: '$rip' });
    assert.deepStrictEqual(rip.body.accessTypes, ['write'], 'rip is only watched for writes');
  });

  it('a watch expression names its memory: this_cpu(cpu_tss_rw).x86_tss.sp2 is the TSS sp2 slot', async () => {
    await d.launch({ stopOnEntry: true });
    const tss = await d.variables('Per-CPU & TSS');
    const sp2 = (await d.dc.customRequest('dataBreakpointInfo', { variablesReference: await d.scopeRef('Per-CPU & TSS'), name: [...tss.keys()].find((k) => /sp2/.test(k)) })).body.dataId;
    const byExpr = (await d.dc.customRequest('dataBreakpointInfo', { name: 'this_cpu(cpu_tss_rw).x86_tss.sp2' })).body.dataId;
    assert.strictEqual(byExpr, sp2);
    const pcid = [...(await d.variables('Per-CPU & TSS')).keys()].find((k) => /user_pcid_flush_mask/.test(k));
    const mask = (await d.dc.customRequest('dataBreakpointInfo', { variablesReference: await d.scopeRef('Per-CPU & TSS'), name: pcid })).body.dataId;
    assert.match(mask, /:2$/, 'a 2-byte per-CPU field is watched as 2 bytes');
    const value = await d.dc.customRequest('dataBreakpointInfo', { name: '$rsp + 8' });
    assert.strictEqual(value.body.dataId, null, 'a value is not a location');
    const byAddress = (await d.dc.customRequest('dataBreakpointInfo', { name: 'this_cpu(cpu_tss_rw).x86_tss.sp2', asAddress: true, bytes: 4 })).body.dataId;
    assert.match(byAddress, /^mem:0x[0-9a-f]+:4$/, 'asAddress: the name is an address expression');
    const bad = await d.dc.customRequest('setDataBreakpoints', {
      breakpoints: [{ dataId: 'mem:zz:8' }, { dataId: 'mem:0x10:3' }, { dataId: 'reg:rip', accessType: 'read' }, { dataId: 'what' }, { dataId: sp2 }],
    });
    assert.deepStrictEqual(bad.body.breakpoints.map((b: { verified: boolean }) => b.verified), [false, false, false, false, true], 'bad ones refused, each with a reason');
    assert.ok(bad.body.breakpoints.slice(0, 4).every((b: { message?: string }) => b.message));
    const ib = await d.dc.customRequest('setInstructionBreakpoints', { breakpoints: [{ instructionReference: 'junk' }, { instructionReference: '0xffffffff81a00000' }] });
    assert.deepStrictEqual(ib.body.breakpoints.map((b: { verified: boolean }) => b.verified), [false, true]);
  });

  it('conditions, hit counts and logpoints use the expression evaluator', async () => {
    let ev = await d.launch({}, { breakpoints: [{ file: ENTRY, lines: [swapgsLine], options: [{ condition: '$rax == 1' }] }] });
    assert.ok(ev !== 'terminated');
    assert.strictEqual(num((await d.variables('Registers')).get('rax')), 1n, 'only the write() syscall matches');
    await d.stop();
    d = new Dap();
    await d.start();
    ev = await d.launch({}, { breakpoints: [{ file: ENTRY, lines: [swapgsLine], options: [{ hitCondition: '3' }] }] });
    assert.ok(ev !== 'terminated');
    assert.strictEqual(num((await d.variables('Registers')).get('rax')), 231n, 'the third syscall is exit_group');
  });

  it('a logpoint prints and does not stop; a broken condition stops and says why', async () => {
    const ended = await d.launch({}, { breakpoints: [{ file: ENTRY, lines: [swapgsLine], options: [{ logMessage: 'syscall nr={$rax} from {*(u64 *)($rsp)}' }] }] });
    assert.strictEqual(ended, 'terminated', 'logpoints never stop');
    const logs = d.output.filter((o) => /^syscall nr=/.test(o));
    assert.deepStrictEqual(logs.map((l) => l.split(' ')[1]), ['nr=0x27', 'nr=0x1', 'nr=0xe7']);
    await d.stop();
    d = new Dap();
    await d.start();
    const ev = await d.launch({}, { breakpoints: [{ file: ENTRY, lines: [swapgsLine], options: [{ condition: 'no_such_thing == 1' }] }] });
    assert.ok(ev !== 'terminated');
    assert.match(ev.body.description ?? '', /condition "no_such_thing == 1": unknown name "no_such_thing"/);
  });

  it('exception filters: faults by default; SWAPGS, CR3 write, privilege change and SYSRET on request', async () => {
    let ev = await d.launch({}, { filters: ['swapgs', 'cr3-write', 'privilege-change', 'sysret'] });
    const filters = (d.capabilities.exceptionBreakpointFilters ?? []);
    assert.deepStrictEqual(filters.filter((f) => f.default).map((f) => f.filter), ['gp', 'pf', 'ud', 'db', 'df', 'triple-fault']);
    const seen: string[] = [];
    for (let i = 0; i < 6 && ev !== 'terminated'; i++) {
      assert.strictEqual(ev.body.reason, 'exception');
      seen.push((ev.body.description ?? '').split(/:| at /)[0]);
      ev = await d.continue();
    }
    assert.deepStrictEqual(seen, ['Privilege change', 'SWAPGS', 'CR3 write', 'CR3 write', 'SWAPGS', 'SYSRET']);
  });

  it('with the #DB filter off, single-step traps are consumed and the program runs to its end', async () => {
    const ended = await d.launch({ scenario: 'iret-tf' }, { filters: ['gp', 'pf', 'ud', 'df', 'triple-fault'] });
    assert.strictEqual(ended, 'terminated');
    assert.ok(d.output.some((o) => /by IRET because RF and TF clear in R11 failed/.test(o)));
  });

  it('an unknown engine fails the launch with the engines there are', async () => {
    await assert.rejects(d.launch({ engine: 'bogus' }), /engine "bogus" is not available \(known: emulator/);
    await assert.rejects(d.launch({ scenario: 'nope' }), /launch\.json:1: error: unknown scenario "nope" \(known: sysret, iret-rcx-rip/);
    assert.ok((await d.dc.threadsRequest()).success, 'the adapter keeps answering');
  });

  it('#UD stops by default; with the #PF filter off the fault goes through the IDT to the #PF handler stub (a HLT)', async () => {
    let ev = await d.launch({ program: program('ud.S', '\tud2\n') });
    assert.ok(ev !== 'terminated');
    assert.match(ev.body.description ?? '', /^#UD/);
    const info = await d.dc.customRequest('exceptionInfo', { threadId: 1 });
    assert.strictEqual(info.body.exceptionId, '#UD');
    assert.match(info.body.description, /^#UD at .*ud\.S:4/);
    await d.stop();
    d = new Dap();
    await d.start();
    ev = await d.launch({ program: program('pf.S', '\tmovq 0x10, %rax\n') }, { filters: ['gp', 'ud'] });
    assert.ok(ev !== 'terminated');
    assert.match(ev.body.description ?? '', /^HLT at .*kentry_exc_page_fault/);
    assert.match((await d.variables('Registers')).get('cpl') ?? '', /^0/);
  });
});
