/**
 * The Debug Console / watch / hover evaluator and setVariable: registers, arithmetic, casts and
 * dereference, symbols, MSRs, per-CPU variables and pt_regs fields; errors shown, never fatal.
 */
import * as assert from 'assert';
import * as path from 'path';
import { SAMPLES, lineOf } from '../support/paths';
import { Dap, buildAdapter, num } from './dap-helpers';

const ENTRY = path.join(SAMPLES, 'entry_64.S');

describe('DAP: expressions and setVariable', function () {
  let d: Dap;
  const afterPushLine = lineOf(ENTRY, /^\s*movq\s+%rax, %rdi/);

  before(buildAdapter);
  beforeEach(async () => {
    d = new Dap();
    await d.start();
    await d.launch({}, { breakpoints: [{ file: ENTRY, lines: [afterPushLine] }] });
  });
  afterEach(() => d.stop());

  it('registers, arithmetic, comparisons, casts, dereference, symbols and MSRs', async () => {
    const regs = await d.variables('Registers');
    const pt = await d.variables('pt_regs');
    assert.strictEqual(num(await d.evaluate('$rax + 1')), num(regs.get('rax')) + 1n);
    assert.strictEqual(num(await d.evaluate('(1 << 4) | 3 ^ 1')), 0x12n);
    assert.strictEqual(num(await d.evaluate('~0 >> 60')), 0xfn);
    assert.strictEqual(num(await d.evaluate('cpl == 0 && %rsp > 0xffff800000000000')), 1n);
    assert.strictEqual(num(await d.evaluate('(u8)0x1234')), 0x34n);
    assert.strictEqual(num(await d.evaluate('(s8)0x80')), 0xffffffffffffff80n, 'signed casts sign-extend');
    assert.strictEqual(num(await d.evaluate('*(u64 *)($rsp+8)')), num(pt.get('r14')), 'the r14 slot of pt_regs');
    assert.strictEqual(num(await d.evaluate('*(u32 *)($rsp + 8*10)')), num(pt.get('ax')) & 0xffffffffn, 'ax slot, 4 bytes');
    assert.match(await d.evaluate('entry_SYSCALL_64'), /<entry_SYSCALL_64>/);
    assert.strictEqual(num(await d.evaluate('LSTAR == entry_SYSCALL_64')), 1n, 'LSTAR points at the entry code');
    assert.strictEqual(num(await d.evaluate('MSR_KERNEL_GS_BASE')), 0n, 'user GS base (none) after swapgs');
  });

  it('pt_regs by field and per-CPU variables by struct path', async () => {
    const pt = await d.variables('pt_regs');
    const tss = await d.variables('Per-CPU & TSS');
    assert.match(await d.evaluate('regs->orig_ax'), /^0x0+27 .*syscall number/);
    assert.strictEqual(num(await d.evaluate('regs->sp')), num(pt.get('sp')));
    const sp2 = [...tss].find(([k]) => /sp2/.test(k))?.[1];
    assert.strictEqual(num(await d.evaluate('this_cpu(cpu_tss_rw).x86_tss.sp2')), num(sp2), 'TSS sp2 through the struct');
    assert.strictEqual(num(await d.evaluate('this_cpu(cpu_tss_rw).x86_tss.sp2 == regs->sp')), 1n, 'sp2 saved the user RSP that pt_regs->sp holds');
    assert.strictEqual(num(await d.evaluate('this_cpu(cpu_tss_rw).x86_tss.sp1')), num(await d.evaluate('this_cpu(cpu_tss_rw).x86_tss.sp1')));
    const hover = await d.dc.evaluateRequest({ expression: 'rsp', context: 'hover' });
    assert.ok(hover.body.result.startsWith('0xffff'));
  });

  it('errors are shown and the session goes on', async () => {
    assert.match(await d.evaluateError('1 +'), /unexpected end/);
    assert.match(await d.evaluateError('*(u64 *)0x10'), /cannot read 0x10/);
    assert.match(await d.evaluateError('1/0'), /division by zero/);
    assert.match(await d.evaluateError('regs->nope'), /struct pt_regs has no field "nope"/);
    assert.match(await d.evaluateError('this_cpu(nope)'), /no per-CPU variable "nope"/);
    assert.strictEqual(num(await d.evaluate('2*3')), 6n, 'still answering');
  });

  it('setVariable: a register, an RFLAGS bit, an MSR; a read-only name is refused', async () => {
    let r = await d.dc.setVariableRequest({ variablesReference: await d.scopeRef('Registers'), name: 'rbx', value: '0x1234 + 1' });
    assert.strictEqual(num(r.body.value), 0x1235n);
    assert.strictEqual(num((await d.variables('Registers')).get('rbx')), 0x1235n);
    r = await d.dc.setVariableRequest({ variablesReference: await d.scopeRef('RFLAGS'), name: 'CF', value: '1' });
    assert.strictEqual(r.body.value, '1');
    assert.strictEqual(num(await d.evaluate('$rflags & 1')), 1n);
    r = await d.dc.setVariableRequest({ variablesReference: await d.scopeRef('MSRs'), name: 'CSTAR', value: '0xdead000' });
    assert.match(r.body.value, /0x0*dead000/);
    await assert.rejects(d.dc.setVariableRequest({ variablesReference: await d.scopeRef('Registers'), name: 'cpl', value: '3' }), /cannot set "cpl"/);
    // Stepping goes on from the edited state.
    const ev = await d.stepInstruction();
    assert.strictEqual(ev.body.reason, 'step');
    assert.strictEqual(num((await d.variables('Registers')).get('rbx')), 0x1235n);
  });
});
