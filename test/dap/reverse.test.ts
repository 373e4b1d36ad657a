/**
 * Reverse execution over DAP: stepBack and reverseContinue, by instruction and by source line,
 * across the privilege changes and KPTI CR3 switches of a syscall, restoring the exact state.
 */
import * as assert from 'assert';
import * as path from 'path';
import { SAMPLES, lineOf, linesMatching } from '../support/paths';
import { Dap, buildAdapter, num } from './dap-helpers';

const ENTRY = path.join(SAMPLES, 'entry_64.S');
const HELLO = path.join(SAMPLES, 'user', 'hello.S');

describe('DAP: reverse execution', function () {
  let d: Dap;
  const swapgsLine = lineOf(ENTRY, /^\s*swapgs\s*$/);
  const pushLine = lineOf(ENTRY, /^\s*PUSH_AND_CLEAR_REGS rax=\$-ENOSYS/);
  const afterPushLine = lineOf(ENTRY, /^\s*movq\s+%rax, %rdi/);
  const movRbxLine = lineOf(HELLO, /^\s*movq\s+%rax, %rbx/);
  const firstSyscallLine = linesMatching(HELLO, /^\s*syscall\s*$/)[0];

  before(buildAdapter);
  beforeEach(async () => {
    d = new Dap();
    await d.start();
  });
  afterEach(() => d.stop());

  /** Everything the Variables pane shows about the machine, plus some memory pages. */
  async function machineSnapshot(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const scope of ['Registers', 'Segments', 'MSRs', 'Control registers', 'Per-CPU & TSS', 'pt_regs']) {
      for (const [k, v] of await d.variables(scope)) out[`${scope}.${k}`] = v.replace(/\s+←.*$/, '');
    }
    const view = (await d.dc.customRequest('kentry/machineState')).body;
    const pages = [BigInt(view.ptRegs.fields[0].address) & ~0xfffn, BigInt(view.tss[0].address) & ~0xfffn];
    for (const p of pages) {
      // Read through the kernel half as the page walk does: the user CR3 may not map these.
      const walk = (await d.dc.customRequest('kentry/pageWalk', { address: `0x${p.toString(16)}`, half: 'kernel' })).body;
      out[`page ${p.toString(16)}`] = JSON.stringify(walk);
    }
    const rsp = num(out['Registers.rsp']);
    const mem = await d.dc.customRequest('readMemory', { memoryReference: `0x${(rsp & ~0xfffn).toString(16)}`, count: 4096 });
    out['stack page'] = mem.body.data ?? `unreadable ${mem.body.unreadableBytes}`;
    return out;
  }

  it('declares supportsStepBack; k instructions forward then k back restores every register, MSR, CR3 and the pages', async () => {
    await d.launch({ stopOnEntry: true }, { breakpoints: [{ file: ENTRY, lines: [swapgsLine] }] });
    assert.strictEqual(d.capabilities.supportsStepBack, true);
    await d.stepInstruction();
    const before = await machineSnapshot();
    let k = 0;
    let cr3 = before['Control registers.CR3'];
    let cr3Changes = 0;
    let sawRing0 = false;
    // Forward, by instruction, through SYSCALL, SWITCH_TO_KERNEL_CR3, the pt_regs pushes, the model and back by SYSRET.
    for (;;) {
      await d.stepInstruction();
      k++;
      const regs = await d.variables('Registers');
      const cpl = regs.get('cpl') ?? '';
      const cr = (await d.variables('Control registers')).get('CR3');
      if (cr !== cr3) { cr3Changes++; cr3 = cr ?? ''; }
      if (cpl.startsWith('0')) sawRing0 = true;
      if (sawRing0 && cpl.startsWith('3')) break;
      assert.ok(k < 400, 'the syscall returns within 400 instructions');
    }
    assert.ok(cr3Changes >= 2, 'went through KPTI CR3 switches both ways');
    for (let i = 0; i < k; i++) await d.stepBack('instruction');
    assert.deepStrictEqual(await machineSnapshot(), before, `${k} instructions back is exactly where we were`);
  });

  it('step back by line: out of ring 0 to the user syscall line, and over a macro call', async () => {
    await d.launch({}, { breakpoints: [{ file: ENTRY, lines: [afterPushLine] }] });
    let f = await d.frames();
    assert.strictEqual(f[0].line, afterPushLine);
    await d.stepBack('line');
    f = await d.frames();
    assert.strictEqual(f[0].source?.path, ENTRY);
    assert.strictEqual(f[0].line, pushLine, 'back to the PUSH_AND_CLEAR_REGS line, at its first instruction');
    const pt = await d.variables('pt_regs');
    assert.match(pt.get('r15') ?? '', /not yet written/, 'the pushes are undone');

    // From user code after the syscall, one line back is the syscall line (the kernel is passed over).
    await d.dc.setBreakpointsRequest({ source: { path: ENTRY }, breakpoints: [] });
    await d.dc.setBreakpointsRequest({ source: { path: HELLO }, breakpoints: [{ line: movRbxLine }] });
    await d.continue();
    f = await d.frames();
    assert.strictEqual(f[0].line, movRbxLine);
    const regsAfter = await d.variables('Registers');
    assert.ok(num(regsAfter.get('rax')) > 0n, 'getpid returned');
    await d.stepBack('line');
    f = await d.frames();
    assert.strictEqual(f[0].source?.path, HELLO);
    assert.strictEqual(f[0].line, firstSyscallLine, 'back on the syscall line, in ring 3');
    const regs = await d.variables('Registers');
    assert.strictEqual(regs.get('cpl'), '3 (user mode)');
    assert.strictEqual(num(regs.get('rax')), 39n, 'rax is the syscall number again');
  });

  it('reverse continue runs back to the previous breakpoint across SYSRET and CR3 switches', async () => {
    await d.launch({}, { breakpoints: [{ file: ENTRY, lines: [swapgsLine] }, { file: HELLO, lines: [movRbxLine] }] });
    const atSwapgs = await d.rip();
    const cr3Kernel = (await d.variables('Control registers')).get('CR3');
    await d.continue();
    assert.strictEqual((await d.frames())[0].line, movRbxLine);
    const ev = await d.reverseContinue();
    assert.strictEqual(ev.body.reason, 'breakpoint');
    assert.strictEqual(await d.rip(), atSwapgs, 'back at swapgs');
    assert.strictEqual((await d.variables('Control registers')).get('CR3'), cr3Kernel, 'with the CR3 of that moment');
    assert.strictEqual((await d.variables('Registers')).get('cpl'), '0 (kernel mode)');
    // Forward again from the past: the same syscall happens again.
    await d.continue();
    assert.strictEqual((await d.frames())[0].line, movRbxLine);
  });

  it('reverse continue stops at the instruction that wrote a watched location (TSS sp2), before the write', async () => {
    await d.launch({}, { breakpoints: [{ file: HELLO, lines: [movRbxLine] }] });
    const tss = await d.variables('Per-CPU & TSS');
    const name = [...tss.keys()].find((k) => /sp2/.test(k)) as string;
    const userRsp = num(tss.get(name));
    const info = await d.dc.customRequest('dataBreakpointInfo', { variablesReference: await d.scopeRef('Per-CPU & TSS'), name });
    await d.dc.customRequest('setDataBreakpoints', { breakpoints: [{ dataId: info.body.dataId, accessType: 'write' }] });
    const ev = await d.reverseContinue();
    assert.strictEqual(ev.body.reason, 'data breakpoint');
    assert.match(ev.body.description ?? '', /reverse/);
    const f = await d.frames();
    assert.strictEqual(f[0].line, lineOf(ENTRY, /movq\s+%rsp, PER_CPU_VAR\(cpu_tss_rw \+ TSS_sp2\)/), 'at the movq that saves the user RSP');
    assert.notStrictEqual(num((await d.variables('Per-CPU & TSS')).get(name)), userRsp, 'not yet written at this point');
    assert.strictEqual(num((await d.variables('Registers')).get('rsp')), userRsp, 'RSP still holds the user RSP it is about to save');
  });

  it('historyLimit drops the oldest instructions with a notice; stepping back stops at the oldest one', async () => {
    await d.launch({ stopOnEntry: true, historyLimit: 10 });
    for (let i = 0; i < 15; i++) await d.stepInstruction();
    assert.ok(d.output.some((o) => /history is full: only the last 10 instructions/.test(o)), d.output.join(''));
    for (let i = 0; i < 10; i++) await d.stepBack('instruction');
    const ev = await d.stepBack('instruction');
    assert.match(ev.body.description ?? '', /oldest recorded instruction/);
  });
});
