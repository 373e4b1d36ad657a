/** DR0-DR3 hardware breakpoints armed through DR7: instruction faults, data traps, and MOV SS deferral. */
import { strict as assert } from 'assert';
import type { Machine } from '../../../emulator/machine/machine';
import { SELECTOR } from '../../../emulator/machine/facts/segments';
import { KERNEL_CODE, KERNEL_DATA, enterKernel, hex, testMachine } from './harness';

const RF = 0x10000n;
const r2s = (r: unknown): string => JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? hex(v) : v));
/** DR7 value arming DRn with RW (0 exec, 1 write, 3 read/write) and LEN (0:1, 1:2, 3:4, 2:8 bytes). */
const dr7 = (n: number, rw: number, len: number): bigint => BigInt((1 << (2 * n)) | (rw << (16 + 4 * n)) | (len << (18 + 4 * n)));

function kernel(code: string): Machine {
  const { m } = testMachine({ kernel: code });
  enterKernel(m);
  return m;
}

describe('cpu: DR0-DR3 hardware breakpoints', () => {
  it('an instruction breakpoint faults before the instruction (RIP unchanged, DR6.B0); RF lets it run once', () => {
    const m = kernel('nop\nmov $5, %eax\nnop\n');
    m.state.dr[0] = KERNEL_CODE + 1n;
    m.state.dr[7] = dr7(0, 0, 0);
    assert.equal(m.step().kind, 'ok');
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#DB' && r.rip === KERNEL_CODE + 1n, r2s(r));
    assert.equal(m.state.gpr[0], 0n, 'not executed');
    assert.equal(m.state.dr[6] & 0xfn, 1n);
    m.state.rflags |= RF;
    assert.equal(m.step().kind, 'ok');
    assert.equal(m.state.gpr[0], 5n);
    assert.equal(m.state.rflags & RF, 0n, 'RF clears after the instruction');
  });

  it('a write breakpoint traps after any write overlapping its range; reads do not trigger it', () => {
    const addr = KERNEL_DATA + 0x3010n;
    const m = kernel('mov (%rbx), %rcx\nmovq %rax, -6(%rbx)\nnop\n');
    m.state.gpr[3] = addr;
    m.state.gpr[0] = 0x1122334455667788n;
    m.state.dr[1] = addr;
    m.state.dr[7] = dr7(1, 1, 3); // 4-byte write watch
    assert.equal(m.step().kind, 'ok', 'a read of a write-only watch');
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#DB' && /DR1/.test(r.message), r2s(r));
    assert.equal(r.kind === 'exception' && r.rip, KERNEL_CODE + 7n, 'a trap: reported after the store');
    assert.equal(m.readU64Virtual(addr - 6n), 0x1122334455667788n, 'the store happened');
    assert.equal(m.state.dr[6] & 0xfn, 2n);
  });

  it('a read/write breakpoint also catches reads, including the stack reads of RET', () => {
    const m = kernel('push %rax\nret\n');
    m.state.gpr[0] = KERNEL_CODE + 0x40n;
    m.state.dr[2] = m.state.gpr[4] - 8n;
    m.state.dr[7] = dr7(2, 3, 2); // 8 bytes, read or write
    const push = m.step();
    assert.ok(push.kind === 'exception' && push.name === '#DB', r2s(push));
    const ret = m.step();
    assert.ok(ret.kind === 'exception' && ret.name === '#DB' && ret.rip === KERNEL_CODE + 0x40n, r2s(ret));
  });

  it('MOV SS from a watched address: the #DB waits until after the next instruction (the CVE-2018-8897 shape)', () => {
    const slot = KERNEL_DATA + 0x3020n;
    const m = kernel('mov (%rbx), %ss\nmov %rcx, %rsp\nnop\n');
    m.writeVirtual(slot, new Uint8Array([SELECTOR.__KERNEL_DS, 0]));
    m.state.gpr[3] = slot;
    m.state.gpr[1] = m.state.gpr[4] - 0x80n;
    m.state.dr[0] = slot;
    m.state.dr[7] = dr7(0, 3, 1);
    assert.equal(m.step().kind, 'ok', 'no #DB inside the MOV SS shadow');
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#DB' && r.rip === KERNEL_CODE + 5n, r2s(r));
    assert.equal(m.state.gpr[4], m.state.gpr[1], 'the stack switch completed first');
  });

  it('nothing armed (DR7 = 0x400, DR0 set) changes nothing', () => {
    const m = kernel('nop\nnop\n');
    m.state.dr[0] = KERNEL_CODE;
    m.state.dr[7] = 0x400n;
    assert.equal(m.step().kind, 'ok');
  });
});
