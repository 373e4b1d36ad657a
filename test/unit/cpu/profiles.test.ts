/**
 * The documented Intel vs AMD differences (emulator/cpu/PROFILES.md), each run on both profiles
 * with the same code so the difference is what a user would see in the debugger.
 */
import { strict as assert } from 'assert';
import { CPU_PROFILES, cpuid } from '../../../emulator/cpu/profiles';
import type { Machine } from '../../../emulator/machine/machine';
import { SELECTOR } from '../../../emulator/machine/facts/segments';
import { KERNEL_CODE, enterKernel, hex, testMachine } from './harness';

const NONCANON = 0x0000800000000000n;
type Outcome = string;
const r2s = (r: unknown): string => JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? hex(v) : v));

function kernelRun(profile: 'intel' | 'amd', code: string, setup: (m: Machine) => void = () => undefined): { m: Machine; first: Outcome } {
  const { m } = testMachine({ profile: CPU_PROFILES[profile], kernel: code });
  enterKernel(m);
  setup(m);
  const r = m.step();
  return { m, first: r.kind === 'exception' ? `${r.name}${r.errorCode !== undefined ? `(${r.errorCode})` : ''} at cpl ${m.state.cpl}` : r.kind };
}

describe('cpu: Intel and AMD profiles differ where the vendors do', () => {
  it('SYSRET with a non-canonical RCX: Intel #GP(0) at CPL 0 on the user RSP, AMD returns and faults in user mode', () => {
    const setup = (m: Machine): void => { m.state.gpr[1] = NONCANON; m.state.gpr[11] = 0x246n; m.state.gpr[4] = 0x7000n; };
    const intel = kernelRun('intel', 'sysretq\n', setup);
    assert.equal(intel.first, '#GP(0) at cpl 0');
    assert.equal(intel.m.state.gpr[4], 0x7000n, 'a #GP taken in ring 0 with a user-chosen RSP: why entry_SYSCALL_64 checks RCX');
    const amd = kernelRun('amd', 'sysretq\n', setup);
    assert.equal(amd.first, 'ok');
    const r = amd.m.step();
    assert.ok(r.kind === 'exception' && r.name === '#GP' && amd.m.state.cpl === 3, r2s(r));
  });

  it('SYSRET and SS: Intel loads flat user SS attributes, AMD changes only the selector (X86_BUG_SYSRET_SS_ATTRS)', () => {
    const setup = (m: Machine): void => {
      m.state.gpr[1] = 0x400000n; m.state.gpr[11] = 0x246n;
      m.state.seg.ss = { selector: 0, base: 0n, limit: 0, attrs: 0 }; // as after an interrupt nulls SS at CPL 0
    };
    const intel = kernelRun('intel', 'sysretq\n', setup);
    const amd = kernelRun('amd', 'sysretq\n', setup);
    assert.equal(intel.m.state.seg.ss.selector, SELECTOR.__USER_DS);
    assert.equal(amd.m.state.seg.ss.selector, SELECTOR.__USER_DS);
    assert.notEqual(intel.m.state.seg.ss.attrs, 0, 'Intel: usable flat data segment');
    assert.equal(amd.m.state.seg.ss.attrs, 0, 'AMD: still the unusable null attributes');
  });

  it('loading a null selector into FS: Intel clears the hidden base, AMD keeps it (X86_BUG_NULL_SEG)', () => {
    const setup = (m: Machine): void => { m.state.seg.fs = { ...m.state.seg.fs, base: 0x1234000n }; m.state.gpr[0] = 0n; };
    assert.equal(kernelRun('intel', 'mov %ax, %fs\n', setup).m.state.seg.fs.base, 0n);
    assert.equal(kernelRun('amd', 'mov %ax, %fs\n', setup).m.state.seg.fs.base, 0x1234000n);
  });

  it('features: PCID/INVPCID only on intel (CR4.PCIDE #GP and INVPCID #UD on amd), RDPID only on amd, LA57 only on intel-la57', () => {
    const cr4 = (m: Machine): void => { m.state.gpr[0] = m.state.cr4 | (1n << 17n); m.state.cr3 &= ~0xfffn; };
    assert.equal(kernelRun('intel', 'mov %rax, %cr4\n', cr4).first, 'ok');
    assert.equal(kernelRun('amd', 'mov %rax, %cr4\n', cr4).first, '#GP(0) at cpl 0');
    const inv = (m: Machine): void => { m.state.gpr[0] = 2n; m.state.gpr[3] = m.state.gpr[4] - 0x100n; };
    assert.equal(kernelRun('intel', 'invpcid (%rbx), %rax\n', inv).first, 'ok');
    assert.equal(kernelRun('amd', 'invpcid (%rbx), %rax\n', inv).first, '#UD at cpl 0');
    assert.equal(kernelRun('intel', 'rdpid %rax\n').first, '#UD at cpl 0');
    assert.equal(kernelRun('amd', 'rdpid %rax\n').first, 'ok');
    assert.ok(CPU_PROFILES['intel-la57'].features.has('LA57') && !CPU_PROFILES.intel.features.has('LA57') && !CPU_PROFILES.amd.features.has('LA57'));
  });

  it('CPUID tells them apart: vendor string, family, and the feature bits Linux reads', () => {
    const str = (...w: number[]): string => w.map((x) => String.fromCharCode(x & 0xff, (x >> 8) & 0xff, (x >> 16) & 0xff, (x >>> 24) & 0xff)).join('');
    const [, bi, ci, di] = cpuid(CPU_PROFILES.intel, 0, 0);
    const [, ba, ca, da] = cpuid(CPU_PROFILES.amd, 0, 0);
    assert.equal(str(bi, di, ci), 'GenuineIntel');
    assert.equal(str(ba, da, ca), 'AuthenticAMD');
    const pcid = (p: keyof typeof CPU_PROFILES): boolean => (cpuid(CPU_PROFILES[p], 1, 0)[2] & (1 << 17)) !== 0;
    assert.deepEqual([pcid('intel'), pcid('amd')], [true, false]);
    const rdpid = (p: keyof typeof CPU_PROFILES): boolean => (cpuid(CPU_PROFILES[p], 7, 0)[2] & (1 << 22)) !== 0;
    assert.deepEqual([rdpid('intel'), rdpid('intel-la57'), rdpid('amd')], [false, true, true]);
    const family = (p: keyof typeof CPU_PROFILES): number => { const a = cpuid(CPU_PROFILES[p], 1, 0)[0]; return ((a >> 8) & 0xf) + ((a >> 20) & 0xff); };
    assert.deepEqual([family('intel'), family('amd')], [6, 0x17]);
  });

  it('both profiles run the same ALU code identically (vendor differences are confined to undefined flags, which kentry fixes)', () => {
    const code = 'imul %rbx, %rax\nbsf %rcx, %rdx\nshl $5, %rax\n';
    const run = (p: 'intel' | 'amd'): string => {
      const { m } = testMachine({ profile: CPU_PROFILES[p], kernel: code });
      enterKernel(m);
      Object.assign(m.state.gpr, { 0: 0x123456789n, 3: 0xfedcbn, 1: 0n, 2: 77n });
      for (let i = 0; i < 3; i++) assert.equal(m.step().kind, 'ok');
      return `${hex(m.state.gpr[0])} ${hex(m.state.gpr[2])} ${hex(m.state.rflags)} ${hex(m.state.rip - KERNEL_CODE)}`;
    };
    assert.equal(run('intel'), run('amd'));
  });
});
