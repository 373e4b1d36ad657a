import { strict as assert } from 'assert';
import { GPR_INDEX } from '../../../emulator/machine/state';
import { CLOBBER_VALUE, stepSystem, type BootedSystem } from '../../../emulator/kernel';
import { writeLE } from '../../../emulator/machine/memory';
import { translate } from '../../../emulator/machine/paging';
import { bootWithGnu } from './boot-helpers';

/** Run the program until RIP sits on do_syscall_64 (pt_regs built, return address pushed). */
function atDoSyscall64(cpu = 'intel'): BootedSystem {
  const sys = bootWithGnu(cpu);
  for (let i = 0; i < 200 && !sys.models.has(sys.machine.state.rip); i++) stepSystem(sys);
  assert.ok(sys.models.has(sys.machine.state.rip), 'reached do_syscall_64');
  return sys;
}

const regsBase = (sys: BootedSystem): bigint => sys.layout.taskStackTop - 168n;
const setReg = (sys: BootedSystem, off: number, v: bigint): void => {
  assert.equal(sys.machine.writeVirtual(regsBase(sys) + BigInt(off), writeLE(v, 8)), undefined);
};

describe('do_syscall_64 model (5.8: nr in %rdi, regs in %rsi)', () => {
  it('getpid: regs->ax = 4242, returns like `ret` and clobbers caller-saved registers', () => {
    const sys = atDoSyscall64();
    const s = sys.machine.state;
    const rsp = s.gpr[GPR_INDEX.rsp];
    const ret = sys.machine.readU64Virtual(rsp) as bigint;
    const r = stepSystem(sys);
    assert.equal(r.kind, 'model');
    assert.equal(r.kind === 'model' && r.outcome.kind, 'return');
    assert.match(r.kind === 'model' && r.outcome.kind === 'return' ? r.outcome.summary : '', /getpid\(\) = 4242 \(modelled in TypeScript, not executed\)/);
    assert.equal(sys.machine.readU64Virtual(regsBase(sys) + 80n), 4242n);
    assert.equal(s.rip, ret);
    assert.equal(s.gpr[GPR_INDEX.rsp], rsp + 8n);
    assert.equal(s.gpr[GPR_INDEX.rcx], CLOBBER_VALUE);
    assert.equal(s.gpr[GPR_INDEX.r11], CLOBBER_VALUE);
  });

  it('unknown syscall number: -ENOSYS in regs->ax', () => {
    const sys = atDoSyscall64();
    sys.machine.state.gpr[GPR_INDEX.rdi] = 333n;
    stepSystem(sys);
    assert.equal(sys.machine.readU64Virtual(regsBase(sys) + 80n), BigInt.asUintN(64, -38n));
  });

  it('write with a kernel-space buffer fails access_ok: -EFAULT, nothing printed', () => {
    const sys = atDoSyscall64();
    sys.machine.state.gpr[GPR_INDEX.rdi] = 1n;
    setReg(sys, 112, 1n); // di: fd
    setReg(sys, 104, sys.layout.perCpuBase); // si: buf in kernel space
    setReg(sys, 96, 8n); // dx: count
    let out = '';
    stepSystem(sys, (t) => (out += t));
    assert.equal(out, '');
    assert.equal(sys.machine.readU64Virtual(regsBase(sys) + 80n), BigInt.asUintN(64, -14n));
  });

  it('write copies through the user mapping with SMAP honoured (stac/clac), to fd 1 only', () => {
    const sys = atDoSyscall64();
    const msg = sys.userImage.symbols.get('message') as bigint;
    sys.machine.state.gpr[GPR_INDEX.rdi] = 1n;
    setReg(sys, 112, 2n);
    setReg(sys, 104, msg);
    setReg(sys, 96, 5n);
    // SMAP is on: a plain supervisor read of the buffer (AC=0) faults.
    const plain = translate(sys.machine.state, sys.machine.mem, sys.machine.tlb, msg, { kind: 'read', user: false });
    assert.ok('fault' in plain && /SMAP/.test(plain.fault.message));
    let out = '';
    stepSystem(sys, (t) => (out += t));
    assert.equal(out, 'Hello');
    assert.equal(sys.machine.state.rflags & (1n << 18n), 0n, 'AC clear again after the copy');
  });

  it('write to a closed fd: -EBADF', () => {
    const sys = atDoSyscall64();
    sys.machine.state.gpr[GPR_INDEX.rdi] = 1n;
    setReg(sys, 112, 7n);
    stepSystem(sys);
    assert.equal(sys.machine.readU64Virtual(regsBase(sys) + 80n), BigInt.asUintN(64, -9n));
  });
});

describe('do_syscall_64 model: read', () => {
  it('read(0) is end of file (0); read from another fd is -EBADF', () => {
    for (const [fd, expect] of [[0n, 0n], [5n, BigInt.asUintN(64, -9n)]] as const) {
      const sys = atDoSyscall64();
      sys.machine.state.gpr[GPR_INDEX.rdi] = 0n;
      setReg(sys, 112, fd);
      stepSystem(sys);
      assert.equal(sys.machine.readU64Virtual(regsBase(sys) + 80n), expect);
    }
  });
});
