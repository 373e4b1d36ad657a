import { strict as assert } from 'assert';
import { CPU_PROFILES } from '../../../emulator/cpu/profiles';
import { MSR } from '../../../emulator/machine/facts/msrs';
import { SELECTOR } from '../../../emulator/machine/facts/segments';
import { KERNEL_CODE, KERNEL_STACK_TOP, PERCPU, USER_CODE, USER_GS_BASE, USER_STACK_TOP, enterKernel, hex, run, testMachine } from './harness';

// The syscall fast path's hardware steps, as entry_SYSCALL_64 relies on them.
const USER = `
  mov $39, %eax
  syscall
  nop
`;
const KERNEL = `
  swapgs
  mov %rsp, %gs:0x14            # like movq %rsp, PER_CPU_VAR(cpu_tss_rw + TSS_sp2)
  mov $0x1234, %rax
  swapgs
  sysretq
`;

describe('cpu: SYSCALL, SWAPGS, SYSRET', () => {
  it('round trip gives the exact registers, flags and segments the SDM specifies', () => {
    const { m } = testMachine({ user: USER, kernel: KERNEL });
    const s = m.state;
    s.rflags = 0x10246n | 0x40000n; // RF and AC set in user mode: SYSCALL must drop RF from R11
    assert.equal(run(m, 2).kind, 'ok'); // mov, syscall
    assert.equal(s.rip, KERNEL_CODE);
    assert.equal(s.gpr[1], USER_CODE + 7n, 'RCX = address after syscall');
    assert.equal(hex(s.gpr[11]), hex(0x40246n), 'R11 = RFLAGS with RF cleared');
    assert.equal(hex(s.rflags), hex(0x46n), 'RFLAGS &= ~SYSCALL_MASK (IF, AC gone), bit 1 set');
    assert.equal(s.cpl, 0);
    assert.equal(s.seg.cs.selector, SELECTOR.__KERNEL_CS);
    assert.equal(s.seg.ss.selector, SELECTOR.__KERNEL_DS);
    assert.equal(s.gpr[4], USER_STACK_TOP - 0x100n, 'SYSCALL does not touch RSP');

    assert.equal(m.step().kind, 'ok'); // swapgs
    assert.equal(s.seg.gs.base, PERCPU);
    assert.equal(s.msrs.get(MSR.KERNEL_GS_BASE), USER_GS_BASE);

    const writes: Array<[bigint, number, bigint]> = [];
    m.onMemoryWrite = (lin, size, rip) => writes.push([lin, size, rip]);
    assert.equal(m.step().kind, 'ok'); // mov %rsp, %gs:0x14
    assert.deepEqual(writes, [[PERCPU + 0x14n, 8, KERNEL_CODE + 3n]]);
    const saved = m.readU64Virtual(PERCPU + 0x14n);
    assert.equal(saved, USER_STACK_TOP - 0x100n);

    assert.equal(run(m, 3).kind, 'ok'); // mov, swapgs, sysretq
    assert.equal(s.rip, USER_CODE + 7n);
    assert.equal(s.cpl, 3);
    assert.equal(s.seg.cs.selector, SELECTOR.__USER_CS);
    assert.equal(s.seg.ss.selector, SELECTOR.__USER_DS);
    assert.equal(hex(s.rflags), hex(0x40246n), 'RFLAGS = R11 (RF/VM cleared)');
    assert.equal(s.seg.gs.base, USER_GS_BASE);
    assert.equal(s.gpr[0], 0x1234n);
    assert.equal(m.step().kind, 'ok', 'user code runs on after the return');
  });

  it('SYSCALL raises #UD when EFER.SCE is clear', () => {
    const { m } = testMachine({ user: USER });
    m.state.msrs.set(MSR.EFER, m.state.msrs.get(MSR.EFER)! & ~1n);
    m.step();
    const r = m.step();
    assert.equal(r.kind, 'exception');
    assert.equal(r.kind === 'exception' && r.name, '#UD');
    assert.equal(m.state.rip, USER_CODE + 5n, 'fault semantics: RIP still on syscall');
    assert.equal(m.state.cpl, 3);
  });

  it('SWAPGS and SYSRET from user mode fault (#UD and #GP(0))', () => {
    const { m } = testMachine({ user: 'swapgs\n' });
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#UD', JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? hex(v) : v)));
    const t = testMachine({ user: 'sysretq\n' }).m;
    const r2 = t.step();
    assert.ok(r2.kind === 'exception' && r2.name === '#GP' && r2.errorCode === 0);
  });

  const NONCANON = 0x0000800000000000n;
  it('Intel: SYSRET with non-canonical RCX raises #GP(0) in ring 0, before the mode change', () => {
    const { m } = testMachine({ kernel: 'sysretq\n' });
    enterKernel(m);
    m.state.gpr[1] = NONCANON;
    m.state.gpr[11] = 0x246n;
    m.state.gpr[4] = 0x1000n; // a user-controlled RSP: the hazard the seed's comment describes
    const r = m.step();
    assert.equal(r.kind, 'exception');
    if (r.kind !== 'exception') return;
    assert.equal(r.name, '#GP');
    assert.equal(r.errorCode, 0);
    assert.equal(r.rip, KERNEL_CODE);
    assert.equal(m.state.cpl, 0, 'still in ring 0');
    assert.equal(m.state.seg.cs.selector, SELECTOR.__KERNEL_CS);
    assert.equal(m.state.gpr[4], 0x1000n, 'with the user RSP in place');
  });

  it('AMD: the same SYSRET completes to CPL 3 and the fault comes from the user-mode fetch', () => {
    const { m } = testMachine({ kernel: 'sysretq\n', profile: CPU_PROFILES.amd });
    enterKernel(m);
    const ssAttrsBefore = m.state.seg.ss.attrs;
    m.state.gpr[1] = NONCANON;
    m.state.gpr[11] = 0x246n;
    assert.equal(m.step().kind, 'ok');
    assert.equal(m.state.cpl, 3);
    assert.equal(m.state.seg.ss.selector, SELECTOR.__USER_DS);
    assert.equal(m.state.seg.ss.attrs, ssAttrsBefore, 'AMD keeps the old SS attributes');
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#GP' && r.rip === NONCANON);
    assert.equal(m.state.cpl, 3);
  });

  it('32-bit SYSRET (no REX.W) returns to compatibility mode with CS = STAR[63:48] | 3', () => {
    const { m } = testMachine({ kernel: 'sysretl\n' });
    enterKernel(m);
    m.state.gpr[1] = 0xffffffff00001000n;
    m.state.gpr[11] = 0x202n;
    assert.equal(m.step().kind, 'ok');
    assert.equal(m.state.seg.cs.selector, SELECTOR.__USER32_CS);
    assert.equal(m.state.rip, 0x1000n, 'RIP = ECX');
    const r = m.step();
    assert.ok(r.kind === 'exception' && /compatibility-mode/.test(r.message));
  });

  it('SYSRET keeps the kernel stack pointer: the entry code must restore RSP itself', () => {
    const { m } = testMachine({ kernel: 'sysretq\n' });
    enterKernel(m);
    m.state.gpr[1] = USER_CODE;
    m.state.gpr[11] = 0x202n;
    m.step();
    assert.equal(m.state.gpr[4], KERNEL_STACK_TOP);
  });
});

describe('cpu: single-step (RFLAGS.TF) around SYSRET and IRET', () => {
  it('SYSRET restoring TF traps at once in user mode, before any user instruction', () => {
    const { m } = testMachine({ kernel: 'sysretq\n', user: 'nop\nnop\n' });
    enterKernel(m);
    m.state.gpr[1] = USER_CODE;
    m.state.gpr[11] = 0x302n; // TF | IF
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#DB' && r.rip === USER_CODE, JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? hex(v) : v)));
    assert.equal(m.state.cpl, 3, 'SYSRET completed (a trap, not a fault)');
    assert.equal(m.state.rip, USER_CODE);
  });

  it('IRET loading TF traps only after the first user instruction', () => {
    const { m } = testMachine({ kernel: 'push %r8\npush %r9\npush %r10\npush %r11\npush %r12\niretq\n', user: 'nop\nnop\n' });
    enterKernel(m);
    const g = m.state.gpr;
    g[8] = BigInt(SELECTOR.__USER_DS); g[9] = USER_STACK_TOP - 0x80n; g[10] = 0x302n; g[11] = BigInt(SELECTOR.__USER_CS); g[12] = USER_CODE;
    assert.equal(run(m, 6).kind, 'ok', 'iretq itself does not trap');
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#DB' && r.rip === USER_CODE + 1n);
  });
});
