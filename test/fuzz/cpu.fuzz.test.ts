/**
 * Fuzzing the CPU: random byte sequences executed in a small Linux-like machine (user and kernel
 * mode, random registers). step() never throws a JS exception and never reports an internal
 * error: every outcome is an instruction retired, an architectural exception with a message,
 * HLT or a triple fault.
 */
import { strict as assert } from 'assert';
import * as fc from 'fast-check';
import { testMachine, enterKernel, USER_CODE, KERNEL_CODE } from '../unit/cpu/harness';
import { CPU_PROFILES } from '../../emulator/cpu/profiles';
import { fuzzParams } from './support';

const STEPS = 64;

interface CpuCase { bytes: Uint8Array; kernel: boolean; amd: boolean; deliver: boolean; regs: bigint[]; rflags: bigint }

/** Interesting register values: pointers into mapped pages, canonical edges, small and huge numbers. */
const regValue = fc.oneof(
  fc.constantFrom(0n, 1n, 0xffffffffffffffffn, 0x7fffffffffffn, 0x800000000000n, 0xffff800000000000n, USER_CODE, KERNEL_CODE, 0x7ffffff000n - 0x100n, 0xffffffff82000000n),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
);

const cpuCase: fc.Arbitrary<CpuCase> = fc.record({
  bytes: fc.uint8Array({ minLength: 1, maxLength: 96 }),
  kernel: fc.boolean(),
  amd: fc.boolean(),
  deliver: fc.boolean(),
  regs: fc.array(regValue, { minLength: 16, maxLength: 16 }),
  rflags: fc.constantFrom(0x2n, 0x246n, 0x346n /* TF */, 0x40202n /* AC */, 0xffffffffn),
});

function runCase(c: CpuCase): void {
  const { m } = testMachine({ profile: c.amd ? CPU_PROFILES.amd : CPU_PROFILES.intel });
  if (c.kernel) enterKernel(m);
  m.mem.write(c.kernel ? 0x200000n : 0x300000n, c.bytes);
  c.regs.forEach((v, i) => { if (i !== 4 || v % 2n === 0n) m.state.gpr[i] = v; });
  m.state.rflags = c.rflags;
  m.deliverExceptions = c.deliver;
  for (let i = 0; i < STEPS; i++) {
    let r;
    try {
      r = m.step();
    } catch (e) {
      assert.fail(`step() threw: ${(e as Error).stack}`);
    }
    if (r.kind === 'ok') continue;
    if (r.kind === 'exception') {
      assert.ok(typeof r.message === 'string' && r.message.length > 0, 'an exception without a message');
      assert.ok(!/internal kentry error/.test(r.message), r.message);
    }
    if (r.kind === 'triple-fault') assert.ok(r.chain.length > 0);
    return;
  }
}

describe('fuzz: CPU', function () {
  it('random bytes at CPL 3 and CPL 0: architectural outcomes only, never a JS exception or an internal error', () => {
    fc.assert(fc.property(cpuCase, (c) => runCase(c)), fuzzParams(1500));
  });

  it('random bytes after a common prefix (REX, 0F escapes, segment overrides, LOCK, REP)', () => {
    const prefix = fc.constantFrom([0x48], [0x0f], [0x0f, 0x01], [0x0f, 0x38], [0x0f, 0x3a], [0x65], [0xf0], [0xf3], [0x66, 0x48], [0xc4], [0xc5], [0x62], [0x8f], [0xd8]);
    fc.assert(fc.property(prefix, cpuCase, (p, c) => runCase({ ...c, bytes: new Uint8Array([...p, ...c.bytes]) })), fuzzParams(1500));
  });
});
