/** CMPXCHG8B/16B and RDRAND/RDSEED. */
import { strict as assert } from 'assert';
import { CPU_PROFILES } from '../../../emulator/cpu/profiles';
import { Machine } from '../../../emulator/machine/machine';
import { asm, hex } from './harness';

const ZF = 0x40n, CF = 0x1n;
const r2s = (r: unknown): string => JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? hex(v) : v));

function machine(code: string): Machine {
  const m = new Machine(CPU_PROFILES.intel);
  m.mem.write(0x1000n, asm(code));
  m.state.rip = 0x1000n;
  m.state.gpr[4] = 0x8000n;
  return m;
}

describe('cpu: CMPXCHG8B/16B, RDRAND/RDSEED', () => {
  it('lock cmpxchg16b: equal stores RCX:RBX and sets ZF; different loads RDX:RAX and clears ZF', () => {
    const m = machine('lock cmpxchg16b (%rsi)\nlock cmpxchg16b (%rsi)\n');
    m.state.gpr[6] = 0x3000n;
    m.mem.writeU64(0x3000n, 0x1111n); m.mem.writeU64(0x3008n, 0x2222n);
    m.state.gpr[0] = 0x1111n; m.state.gpr[2] = 0x2222n; m.state.gpr[3] = 0xaaaan; m.state.gpr[1] = 0xbbbbn;
    assert.equal(m.step().kind, 'ok');
    assert.equal(m.state.rflags & ZF, ZF);
    assert.deepEqual([m.mem.readU64(0x3000n), m.mem.readU64(0x3008n)], [0xaaaan, 0xbbbbn]);
    assert.equal(m.step().kind, 'ok');
    assert.equal(m.state.rflags & ZF, 0n);
    assert.deepEqual([m.state.gpr[0], m.state.gpr[2]], [0xaaaan, 0xbbbbn]);
  });

  it('cmpxchg16b of an unaligned operand is #GP(0), with nothing changed', () => {
    const m = machine('cmpxchg16b (%rsi)\n');
    m.state.gpr[6] = 0x3008n;
    const r = m.step();
    assert.ok(r.kind === 'exception' && r.name === '#GP' && r.errorCode === 0, r2s(r));
    assert.equal(m.state.rip, 0x1000n);
  });

  it('cmpxchg8b compares EDX:EAX and, on a mismatch, zero-extends the loaded halves into RAX/RDX', () => {
    const m = machine('cmpxchg8b (%rsi)\n');
    m.state.gpr[6] = 0x3004n;
    m.mem.writeU64(0x3004n, 0x8765432112345678n);
    m.state.gpr[0] = 0xffffffff00000000n; m.state.gpr[2] = 0xffffffff00000000n;
    assert.equal(m.step().kind, 'ok');
    assert.equal(hex(m.state.gpr[0]), '0x12345678');
    assert.equal(hex(m.state.gpr[2]), '0x87654321');
    assert.equal(m.state.rflags & ZF, 0n);
  });

  it('rdrand/rdseed give CF=1 and a deterministic sequence (same values in a replayed session)', () => {
    const values = (): bigint[] => {
      const m = machine('rdrand %rax\nrdseed %ebx\nrdrand %cx\n');
      m.state.rflags = 0x2n | ZF;
      for (let i = 0; i < 3; i++) assert.equal(m.step().kind, 'ok');
      assert.equal(m.state.rflags & (CF | ZF), CF);
      assert.ok(m.state.gpr[3] <= 0xffffffffn && m.state.gpr[1] <= 0xffffn);
      return [m.state.gpr[0], m.state.gpr[3], m.state.gpr[1]];
    };
    const a = values();
    assert.deepEqual(values(), a);
    assert.notEqual(a[0], 0n);
  });
});
