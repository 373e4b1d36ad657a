import { strict as assert } from 'assert';
import { inspectMachine, stepSystem, type BootedSystem } from '../../../emulator/kernel';
import type { MachineStateView } from '../../../debug-adapter/protocol';
import * as fs from 'fs';
import { bootWithGnu, bootWithKentry } from './boot-helpers';
import { seedFile } from './gnu-tools';

function withWrites(sys: BootedSystem): Map<bigint, { rip: bigint }> {
  const writes = new Map<bigint, { rip: bigint }>();
  sys.machine.onMemoryWrite = (linear, size, rip) => {
    for (let a = linear & ~7n; a < linear + BigInt(size); a += 8n) writes.set(a, { rip });
  };
  return writes;
}

describe('inspectMachine: the machine-state view', () => {
  it('in user mode: GS_BASE is the user base, KERNEL_GS_BASE the per-CPU area, CR3 the user half with PCID 0x801', () => {
    const sys = bootWithGnu('intel');
    const v = inspectMachine(sys, new Map());
    const msr = (n: string) => v.msrs.find((m) => m.name === n);
    assert.equal(v.where, 'user program');
    assert.equal(msr('LSTAR')?.decoded, 'entry_SYSCALL_64');
    assert.match(msr('GS_BASE')?.decoded ?? '', /user GS base/);
    assert.equal(msr('KERNEL_GS_BASE')?.decoded, 'per-CPU area of CPU 0');
    assert.match(msr('EFER')?.decoded ?? '', /SCE LME LMA NXE/);
    assert.match(msr('SYSCALL_MASK')?.decoded ?? '', /TF IF DF IOPL=3 NT AC/);
    assert.equal(v.cr3.half, 'user');
    assert.equal(v.cr3.pcid, 0x801);
    assert.ok(v.cr3.pti);
    assert.equal(v.ptRegs.base, undefined, 'no frame yet');
    assert.ok(v.sysretChecks.every((c) => c.pass === undefined));
    assert.match(v.tss.find((f) => f.name.endsWith('.sp0'))?.decoded ?? '', /trampoline/);
  });

  it('after swapgs the two GS MSRs are marked changed; at do_syscall_64 pt_regs is filled and the SYSRET checks pass', () => {
    const sys = bootWithGnu('intel');
    const writes = withWrites(sys);
    let prev: MachineStateView = inspectMachine(sys, writes);
    // Into the kernel: syscall (getpid), then swapgs.
    stepSystem(sys);
    stepSystem(sys);
    prev = inspectMachine(sys, writes, prev);
    stepSystem(sys);
    const v = inspectMachine(sys, writes, prev);
    assert.equal(v.stopCount, 3);
    assert.ok(v.msrs.find((m) => m.name === 'GS_BASE')?.changed);
    assert.ok(v.msrs.find((m) => m.name === 'KERNEL_GS_BASE')?.changed);
    assert.equal(v.msrs.find((m) => m.name === 'GS_BASE')?.decoded, 'per-CPU area of CPU 0');
    assert.match(v.where, /kernel entry code \(entry_SYSCALL_64/);
    for (let i = 0; i < 200 && !sys.models.has(sys.machine.state.rip); i++) stepSystem(sys);
    const at = inspectMachine(sys, writes, v);
    assert.equal(at.where, 'model: do_syscall_64');
    assert.equal(at.cr3.half, 'kernel');
    assert.equal(at.ptRegs.rspOn, 'kernel task stack');
    assert.ok(at.ptRegs.base);
    assert.ok(at.ptRegs.fields.every((f) => f.filled), 'every pt_regs slot written by the entry code');
    const ss = at.ptRegs.fields.find((f) => f.asmName === 'SS');
    assert.equal(BigInt(ss?.value ?? 0), 0x2bn);
    assert.equal(ss?.writtenBy?.address, `0x${(sys.kernelImage.symbols.get('entry_SYSCALL_64') as bigint + 0x29n).toString(16).padStart(16, '0')}`);
    assert.deepEqual(at.sysretChecks.map((c) => c.pass), [true, true, true, true, true, true]);
    const mask = at.perCpu.find((p) => p.name === 'cpu_tlbstate.user_pcid_flush_mask');
    assert.match(mask?.decoded ?? '', /no user PCID flush pending/);
  });
});

describe('inspectMachine with kentry\'s line table', () => {
  it('names the source line that filled each pt_regs slot (the seed\'s pushq $__USER_DS for ss)', () => {
    const sys = bootWithKentry('intel', { entryFile: seedFile });
    const writes = withWrites(sys);
    for (let i = 0; i < 200 && !sys.models.has(sys.machine.state.rip); i++) stepSystem(sys);
    const v = inspectMachine(sys, writes);
    const seedLines = fs.readFileSync(seedFile, 'utf8').split('\n');
    const ss = v.ptRegs.fields.find((f) => f.asmName === 'SS');
    assert.equal(ss?.writtenBy?.file, seedFile);
    assert.match(seedLines[(ss?.writtenBy?.line ?? 0) - 1], /pushq\s+\$__USER_DS/);
    const ax = v.ptRegs.fields.find((f) => f.asmName === 'RAX');
    assert.match(seedLines[(ax?.writtenBy?.line ?? 0) - 1], /PUSH_AND_CLEAR_REGS rax=\$-ENOSYS/, 'a macro-generated push is attributed to the macro use');
    assert.equal(BigInt(ax?.value ?? 0), BigInt.asUintN(64, -38n));
  });
});
