/**
 * Disassembly with source locations, instruction breakpoints, and readMemory/writeMemory in the
 * current address space (the KPTI user page table does not map the kernel's stacks).
 */
import * as assert from 'assert';
import * as path from 'path';
import { SAMPLES, lineOf } from '../support/paths';
import { Dap, buildAdapter, num } from './dap-helpers';

const ENTRY = path.join(SAMPLES, 'entry_64.S');

describe('DAP: disassembly, instruction breakpoints, memory', function () {
  let d: Dap;
  const swapgsLine = lineOf(ENTRY, /^\s*swapgs\s*$/);
  const sp2WriteLine = lineOf(ENTRY, /movq\s+%rsp, PER_CPU_VAR\(cpu_tss_rw \+ TSS_sp2\)/);

  before(buildAdapter);
  beforeEach(async () => {
    d = new Dap();
    await d.start();
  });
  afterEach(() => d.stop());

  it('disassembles around RIP with a source line per instruction, backwards too', async () => {
    await d.launch({}, { breakpoints: [{ file: ENTRY, lines: [sp2WriteLine] }] });
    assert.strictEqual(d.capabilities.supportsDisassembleRequest, true);
    const rip = await d.rip();
    const r = await d.dc.customRequest('disassemble', { memoryReference: `0x${rip.toString(16)}`, instructionOffset: -1, instructionCount: 4, resolveSymbols: true });
    const insns = r.body.instructions as { address: string; instruction: string; line?: number; location?: { path?: string }; symbol?: string }[];
    assert.strictEqual(insns.length, 4);
    assert.match(insns[0].instruction, /^swapgs/, 'the instruction before is swapgs (from the line table)');
    assert.strictEqual(insns[0].line, swapgsLine);
    assert.strictEqual(BigInt(insns[1].address), rip);
    assert.match(insns[1].instruction, /^mov\s+%rsp,%gs:/);
    assert.strictEqual(insns[1].line, sp2WriteLine);
    assert.strictEqual(insns[1].location?.path, ENTRY);
    assert.strictEqual(insns[1].symbol, 'entry_SYSCALL_64');
    assert.ok(BigInt(insns[2].address) > rip && BigInt(insns[3].address) > BigInt(insns[2].address));
  });

  it('an instruction breakpoint stops at its address', async () => {
    await d.launch({ stopOnEntry: true });
    const target = num(await d.evaluate('entry_SYSCALL_64 + 3'));
    const set = await d.dc.customRequest('setInstructionBreakpoints', { breakpoints: [{ instructionReference: `0x${target.toString(16)}` }] });
    assert.ok(set.body.breakpoints[0].verified, set.body.breakpoints[0].message);
    const ev = await d.continue();
    assert.ok(ev !== 'terminated');
    assert.strictEqual(ev.body.reason, 'instruction breakpoint');
    assert.strictEqual(await d.rip(), target);
  });

  it('readMemory/writeMemory: user memory in ring 3; kernel stack unreadable through the user CR3', async () => {
    await d.launch({ stopOnEntry: true });
    const rsp = num((await d.variables('Registers')).get('rsp'));
    const at = `0x${(rsp - 16n).toString(16)}`;
    const w = await d.dc.customRequest('writeMemory', { memoryReference: at, data: Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]).toString('base64') });
    assert.strictEqual(w.body.bytesWritten, 8);
    const r = await d.dc.customRequest('readMemory', { memoryReference: at, count: 8 });
    assert.deepStrictEqual([...Buffer.from(r.body.data, 'base64')], [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.strictEqual(num(await d.evaluate(`*(u64 *)${at}`)), 0x0807060504030201n);
    const view = (await d.dc.customRequest('kentry/machineState')).body;
    const kernelStack = view.ptRegs.fields[0].address;
    const k = await d.dc.customRequest('readMemory', { memoryReference: kernelStack, count: 16 });
    assert.strictEqual(k.body.unreadableBytes, 16, 'the user half of the KPTI pair does not map the kernel stack');
  });
});
