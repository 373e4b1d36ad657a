import * as assert from 'assert';
import { MachineStateStore } from '../../../extension/state/machineStateStore';
import { configurationForFile, definesSyscallEntry, withEditorCpu } from '../../../extension/debug/launchDefaults';
import { renderStackDiagram } from '../../../extension/views/stackDiagramHtml';
import {
  CHANGED_MARK,
  msrRows,
  pagingRows,
  perCpuRows,
  ptRegsRows,
  RSP_MARK,
  rowsToText,
  sysretRows,
} from '../../../extension/views/rows';
import { stateAfterPushIp } from './fixture';

describe('extension views (rows built from a MachineStateView)', () => {
  const state = stateAfterPushIp();

  it('MSRs: value, decoded symbol, and a changed mark only on changed registers', () => {
    const rows = msrRows(state);
    const lstar = rows.find((r) => r.label === 'IA32_LSTAR')!;
    assert.match(lstar.description!, /0xffffffff81a00000\s+entry_SYSCALL_64/);
    assert.ok(!lstar.description!.includes(CHANGED_MARK));
    assert.strictEqual(lstar.icon, 'value');
    const gs = rows.find((r) => r.label === 'IA32_GS_BASE')!;
    assert.ok(gs.description!.startsWith(CHANGED_MARK), 'the mark leads, so a narrow sidebar still shows it');
    assert.strictEqual(gs.icon, 'changed');
    assert.match(gs.tooltip!, /0xc0000101/);
  });

  it('pt_regs: unwritten slots say so, RSP is marked, and the writer line can be revealed', () => {
    const rows = ptRegsRows(state);
    assert.match(rows[0].description!, /kernel task stack/);
    const r15 = rows.find((r) => r.label === 'r15')!;
    assert.match(r15.description!, /not written/);
    assert.strictEqual(r15.icon, 'empty');
    const ip = rows.find((r) => r.label === 'ip')!;
    assert.match(ip.description!, new RegExp(`^${RSP_MARK}\\s+${CHANGED_MARK}\\s+0x401005$`));
    assert.deepStrictEqual(ip.reveal, { file: '/ws/entry.S', line: 50 });
    assert.ok(!rows.find((r) => r.label === 'cs')!.description!.includes(RSP_MARK));
  });

  it('Per-CPU & TSS, CR3 & Paging and SYSRET checks read as a user expects', () => {
    const perCpu = rowsToText(perCpuRows(state));
    assert.match(perCpu, /TSS \(cpu_tss_rw\)\s+← changed\n\s+sp0\s+0xfffffe0000003000/);
    const paging = rowsToText(pagingRows(state));
    assert.match(paging, /CR3\s+← changed\s+0x1000\s+kernel half/);
    assert.match(paging, /PCID\s+off/);
    assert.deepStrictEqual(pagingRows(state).map((r) => r.label), ['CR3', 'CR0', 'CR4', 'Walk page tables…'], 'CR3 is listed once, decoded');
    const sysret = sysretRows(state);
    assert.deepStrictEqual(sysret.map((r) => r.icon), ['pass', 'pending']);
  });

  it('the stack diagram marks the stack RSP is on and the slot it points at', () => {
    const html = renderStackDiagram(state, { nonce: 'N', cspSource: 'vscode-resource:' });
    assert.match(html, /<section class="stack kernel active"/);
    assert.doesNotMatch(html, /<section class="stack user active"/);
    assert.match(html, /class="slot filled changed rsp"[^>]*><span class="addr">0xffffc90000003fd8/);
    assert.match(html, /nonce-N/);
    assert.match(html, /data-stack="trampoline">[\s\S]*?top 0xfffffe0000003000/, 'TSS sp0 is the trampoline top');
    assert.match(html, /user RSP 0x7ffffffde000 \(saved in pt_regs-&gt;sp\)/);
    const idle = renderStackDiagram(undefined, { nonce: 'N', cspSource: 'x' });
    assert.match(idle, /No kentry session is stopped/);
  });

  it('the store keeps the newest stop and clears on session end', () => {
    const store = new MachineStateStore();
    let fired = 0;
    store.onDidChange(() => fired++);
    store.update(state);
    store.update({ ...state, stopCount: 3 });
    assert.strictEqual(store.current!.stopCount, 7, 'an older answer does not replace a newer one');
    store.clear();
    assert.strictEqual(store.current, undefined);
    assert.strictEqual(fired, 2);
  });
});

describe('F5 without launch.json', () => {
  it('debugs a file defining entry_SYSCALL_64 as the entry code, anything else as the program', () => {
    assert.ok(definesSyscallEntry('SYM_CODE_START(entry_SYSCALL_64)\n\tswapgs\n'));
    assert.ok(definesSyscallEntry('ENTRY(entry_SYSCALL_64)\n'));
    assert.ok(!definesSyscallEntry('\tmovq $entry_SYSCALL_64, %rax\n'));
    assert.strictEqual(configurationForFile('/a/entry_64.S', 'SYM_CODE_START(entry_SYSCALL_64)').kernelEntry, '/a/entry_64.S');
    const prog = configurationForFile('/a/hello.S', '_start:\n\tsyscall\n');
    assert.strictEqual(prog.program, '/a/hello.S');
    assert.strictEqual(prog.kernelEntry, undefined);
  });

  it('the emulator gets the kentry.cpu setting the hovers use unless launch.json names a CPU; QEMU is left alone', () => {
    const cpuOf = (config: Record<string, unknown>, setting: string | undefined): unknown => withEditorCpu(config, setting).cpu;
    assert.strictEqual(cpuOf({ kernelEntry: '/a/entry_64.S' }, 'amd'), 'amd');
    assert.strictEqual(cpuOf({ cpu: 'intel' }, 'amd'), 'intel');
    assert.strictEqual(cpuOf({ engine: 'qemu' }, 'amd'), undefined);
    assert.strictEqual(cpuOf({}, undefined), undefined);
  });
});
