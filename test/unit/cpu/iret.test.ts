import { strict as assert } from 'assert';
import { SELECTOR } from '../../../emulator/machine/facts/segments';
import { KERNEL_CODE, KERNEL_STACK_TOP, USER_CODE, USER_STACK_TOP, enterKernel, hex, testMachine } from './harness';

const r2s = (r: unknown): string => JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? hex(v) : v));

/** Kernel code that builds an IRET frame from registers: ss=r8, rsp=r9, rflags=r10, cs=r11, rip=r12. */
const IRET_FRAME = `
  push %r8
  push %r9
  push %r10
  push %r11
  push %r12
  iretq
`;

function setup(cs: number, ss: number, rip = USER_CODE, flags = 0x3246n) {
  const { m } = testMachine({ kernel: IRET_FRAME, user: 'nop\n' });
  enterKernel(m);
  const g = m.state.gpr;
  g[8] = BigInt(ss); g[9] = USER_STACK_TOP - 0x80n; g[10] = flags; g[11] = BigInt(cs); g[12] = rip;
  for (let i = 0; i < 5; i++) assert.equal(m.step().kind, 'ok');
  return m;
}

describe('cpu: IRETQ', () => {
  it('returns to ring 3: pops RIP, CS, RFLAGS, RSP, SS; CPL 3; IOPL loaded at CPL 0', () => {
    const m = setup(SELECTOR.__USER_CS, SELECTOR.__USER_DS);
    const r = m.step();
    assert.equal(r.kind, 'ok', r2s(r));
    const s = m.state;
    assert.equal(s.rip, USER_CODE);
    assert.equal(s.cpl, 3);
    assert.equal(s.seg.cs.selector, SELECTOR.__USER_CS);
    assert.equal(s.seg.ss.selector, SELECTOR.__USER_DS);
    assert.equal(s.gpr[4], USER_STACK_TOP - 0x80n);
    assert.equal(hex(s.rflags), hex(0x3246n));
    assert.equal(m.step().kind, 'ok', 'user nop executes');
  });

  it('returns to ring 0 (same privilege) with the popped RSP', () => {
    const m = setup(SELECTOR.__KERNEL_CS, SELECTOR.__KERNEL_DS, KERNEL_CODE, 0x2n);
    assert.equal(m.step().kind, 'ok');
    assert.equal(m.state.cpl, 0);
    assert.equal(m.state.rip, KERNEL_CODE);
  });

  it('#GP(selector) when CS RPL does not match its DPL (kernel CS with RPL 3)', () => {
    const m = setup(SELECTOR.__KERNEL_CS | 3, SELECTOR.__USER_DS);
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#GP' && r.errorCode === SELECTOR.__KERNEL_CS, r2s(r));
    assert.equal(m.state.cpl, 0, 'nothing changed');
    assert.equal(m.state.gpr[4], KERNEL_STACK_TOP - 40n, 'RSP rolled back to the frame');
  });

  it('#GP(selector) when SS RPL differs from CS RPL, #GP(0) for a null SS to ring 3', () => {
    const m = setup(SELECTOR.__USER_CS, SELECTOR.__KERNEL_DS);
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#GP' && r.errorCode === SELECTOR.__KERNEL_DS, r2s(r));
    const n = setup(SELECTOR.__USER_CS, 3);
    const r2 = n.step();
    assert.ok(r2.kind === 'exception' && r2.name === '#GP' && r2.errorCode === 0, r2s(r2));
  });

  it('#GP(0) for a non-canonical RIP; #GP(selector) for a data segment as CS', () => {
    const m = setup(SELECTOR.__USER_CS, SELECTOR.__USER_DS, 0x0000800000000000n);
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#GP' && r.errorCode === 0, r2s(r));
    const n = setup(SELECTOR.__USER_DS, SELECTOR.__USER_DS);
    const r2 = n.step();
    assert.ok(r2.kind === 'exception' && r2.name === '#GP' && r2.errorCode === (SELECTOR.__USER_DS & 0xfffc), r2s(r2));
  });

  it('IRET at CPL 0 may clear IF; POPFQ at CPL 3 (IOPL 0) can change neither IOPL nor IF', () => {
    const m = setup(SELECTOR.__USER_CS, SELECTOR.__USER_DS, USER_CODE, 0x2n);
    m.state.rflags = 0x202n;
    assert.equal(m.step().kind, 'ok');
    assert.equal(hex(m.state.rflags), hex(0x2n));
    const { m: u } = testMachine({ user: 'pushq $0x3002\npopfq\n' });
    u.state.rflags = 0x202n;
    assert.equal(u.step().kind, 'ok');
    assert.equal(u.step().kind, 'ok');
    assert.equal(hex(u.state.rflags), hex(0x202n));
  });
});

describe('cpu: far RET', () => {
  it('lretq to ring 3 pops RIP, CS, RSP, SS; lretq with a bad CS is #GP(selector)', () => {
    const { m } = testMachine({ kernel: 'push %r8\npush %r9\npush %r11\npush %r12\nlretq\n', user: 'nop\n' });
    enterKernel(m);
    const g = m.state.gpr;
    g[8] = BigInt(SELECTOR.__USER_DS); g[9] = USER_STACK_TOP - 0x40n; g[11] = BigInt(SELECTOR.__USER_CS); g[12] = USER_CODE;
    for (let i = 0; i < 4; i++) assert.equal(m.step().kind, 'ok');
    const r = m.step();
    assert.equal(r.kind, 'ok', r2s(r));
    assert.equal(m.state.cpl, 3);
    assert.equal(m.state.rip, USER_CODE);
    assert.equal(m.state.gpr[4], USER_STACK_TOP - 0x40n);
    assert.equal(m.state.seg.ss.selector, SELECTOR.__USER_DS);
    const { m: b } = testMachine({ kernel: 'push %r11\npush %r12\nlretq\n' });
    enterKernel(b);
    b.state.gpr[11] = BigInt(SELECTOR.__KERNEL_DS);
    b.state.gpr[12] = KERNEL_CODE;
    b.step(); b.step();
    const e = b.step();
    assert.ok(e.kind === 'exception' && e.name === '#GP' && e.errorCode === SELECTOR.__KERNEL_DS, r2s(e));
  });

  it('lretq to the same level reloads CS and pops only RIP and CS', () => {
    const { m } = testMachine({ kernel: 'push %r11\npush %r12\nlretq $8\n' });
    enterKernel(m);
    m.state.gpr[11] = BigInt(SELECTOR.__KERNEL_CS);
    m.state.gpr[12] = KERNEL_CODE + 0x40n;
    m.step(); m.step();
    assert.equal(m.step().kind, 'ok');
    assert.equal(m.state.rip, KERNEL_CODE + 0x40n);
    assert.equal(m.state.gpr[4], KERNEL_STACK_TOP + 8n);
  });
});
