/**
 * The la57 scenario really runs 5-level paging (CR4.LA57, the 57-bit canonical check), and the
 * #DF and triple-fault exception breakpoints fire when a fault cannot be delivered through the
 * booted kernel's IDT.
 */
import * as assert from 'assert';
import * as path from 'path';
import { SAMPLES, lineOf } from '../support/paths';
import { Dap, buildAdapter, num, userPrograms } from './dap-helpers';

const ENTRY = path.join(SAMPLES, 'entry_64.S');

describe('DAP: LA57 boot and the IDT (#DF, triple fault)', function () {
  let d: Dap;
  const canonicalCheckLine = lineOf(ENTRY, /ALTERNATIVE "shl \$\(64 - 48\), %rcx/);
  const program = userPrograms('kentry-dap-idt-');

  before(buildAdapter);
  beforeEach(async () => {
    d = new Dap();
    await d.start();
  });
  afterEach(() => d.stop());

  it('la57: CR4.LA57=1, the canonical check shifts by 64-57 (shl/sar $7), and the syscall returns by SYSRET', async () => {
    let ev = await d.launch({ scenario: 'la57' }, { breakpoints: [{ file: ENTRY, lines: [canonicalCheckLine] }] });
    assert.ok(ev !== 'terminated', d.output.join(''));
    assert.match(d.output.join(''), /\[scenario\] LA57: set: .*CR4\.LA57/);
    assert.match((await d.variables('Control registers')).get('CR4') ?? '', /LA57/);
    const rip = await d.rip();
    const r = await d.dc.customRequest('disassemble', { memoryReference: `0x${rip.toString(16)}`, instructionCount: 2 });
    const texts = (r.body.instructions as { instruction: string }[]).map((i) => i.instruction);
    assert.match(texts[0], /^shl\s+\$(0x)?7,\s*%rcx/, texts.join(' | '));
    assert.match(texts[1], /^sar\s+\$(0x)?7,\s*%rcx/, texts.join(' | '));
    const rcx = num((await d.variables('Registers')).get('rcx'));
    await d.stepInstruction();
    assert.strictEqual(num((await d.variables('Registers')).get('rcx')), BigInt.asUintN(64, rcx << 7n), 'shl $7 ran');
    await d.stepInstruction();
    assert.strictEqual(num((await d.variables('Registers')).get('rcx')), rcx, 'sar $7 restored the canonical RCX');
    await d.dc.setExceptionBreakpointsRequest({ filters: ['sysret'] });
    ev = await d.continue();
    assert.ok(ev !== 'terminated');
    assert.match(ev.body.description ?? '', /^SYSRET at .*back to ring 3/);
  });

  /** Stop at _start, point TSS.sp0 (and optionally IST1) at unmapped vmalloc space, run with only `filters`. */
  async function faultWithBrokenStacks(filters: string[], breakIst1: boolean) {
    const ev = await d.launch({ program: program('pf.S', '\tmovq 0x10, %rax\n'), stopOnEntry: true });
    assert.ok(ev !== 'terminated');
    const tss = await d.dc.variablesRequest({ variablesReference: await d.scopeRef('Per-CPU & TSS') });
    const sp0 = tss.body.variables.find((v) => /^(TSS\.)?sp0\b|\bsp0$/.test(v.name));
    assert.ok(sp0?.memoryReference, `a TSS sp0 row with an address: ${tss.body.variables.map((v) => v.name).join(', ')}`);
    const unmapped = Buffer.from(new BigUint64Array([0xffffc90000000000n]).buffer).toString('base64');
    await d.dc.customRequest('writeMemory', { memoryReference: sp0.memoryReference, offset: 0, data: unmapped });
    if (breakIst1) await d.dc.customRequest('writeMemory', { memoryReference: sp0.memoryReference, offset: 32, data: unmapped }); // ist[0] at 36, sp0 at 4
    await d.dc.setExceptionBreakpointsRequest({ filters });
    return d.continue();
  }

  it('#DF filter: a #PF from ring 3 whose delivery faults (TSS.sp0 unmapped) stops as #DF at the #DF handler on IST1', async () => {
    const ev = await faultWithBrokenStacks(['df'], false);
    assert.ok(ev !== 'terminated', d.output.join(''));
    assert.strictEqual(ev.body.reason, 'exception');
    assert.match(ev.body.description ?? '', /^#DF: delivering #PF\(0x4\) from .*pf\.S:4.* faulted.*kentry_exc_double_fault.*IST1/);
    const regs = await d.variables('Registers');
    assert.match(regs.get('cpl') ?? '', /^0/);
    const info = await d.dc.customRequest('exceptionInfo', { threadId: 1 });
    assert.match(info.body.description, /^#DF/);
  });

  it('triple-fault filter: with IST1 unmapped too, delivering the #DF faults: a triple fault', async () => {
    const ev = await faultWithBrokenStacks(['triple-fault'], true);
    assert.ok(ev !== 'terminated', d.output.join(''));
    assert.strictEqual(ev.body.reason, 'exception');
    assert.match(ev.body.description ?? '', /^Triple fault/);
    assert.ok((await d.dc.threadsRequest()).success, 'the session keeps working');
  });

  it('with a #PF stop, the fault is reported at its instruction first, as before', async () => {
    const ev = await d.launch({ program: program('pf2.S', '\tmovq 0x10, %rax\n') }, { filters: ['pf', 'df', 'triple-fault'] });
    assert.ok(ev !== 'terminated');
    assert.match(ev.body.description ?? '', /^#PF\(0x4\) at .*pf2\.S:4/);
  });
});
