/**
 * The fast tier's shifts, bit tests and sign extensions against step() (itself checked against
 * the host CPU in differential.test.ts): every form the fast tier compiles, every operand size,
 * counts 0..63 by immediate and by CL, edge values; full state compared after each instruction.
 */
import { strict as assert } from 'assert';
import { asm, testMachine, hex } from './harness';

const SIZES = [['b', ['%al', '%bl', '%ah', '%dil']], ['w', ['%ax', '%bx', '%r9w']], ['l', ['%eax', '%ebx', '%r9d']], ['q', ['%rax', '%rbx', '%r9']]] as const;
const VALUES = [0n, 1n, 0x80n, 0x7fn, 0xffn, 0x8000n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x123456789abcdef0n, 0x8000000000000000n, 0xffffffffffffffffn, 0x7fffffffffffffffn, 0x00000001_80000001n];

function programs(): string[] {
  const out: string[] = [];
  for (const [suffix, regs] of SIZES) {
    const bits = { b: 8, w: 16, l: 32, q: 64 }[suffix];
    for (const reg of regs) {
      for (const op of ['shl', 'shr', 'sar', 'sal']) {
        out.push([0, 1, 2, 7, 8, 15, 16, 31, 32, 33, 63].map((c) => `${op}${suffix} $${c}, ${reg}`).join('\n'));
        out.push(`${op}${suffix} ${reg}`); // by 1
        if (reg !== '%ah' || suffix === 'b') out.push(`${op}${suffix} %cl, ${reg}`);
      }
      if (bits > 8) {
        for (const op of ['bt', 'bts', 'btr', 'btc']) {
          out.push([0, 1, 5, bits - 1, bits, bits + 3].filter((b) => b < 256).map((b) => `${op}${suffix} $${b % 256}, ${reg}`).join('\n'));
          out.push(`${op}${suffix} ${{ b: '%cl', w: '%cx', l: '%ecx', q: '%rcx' }[suffix]}, ${reg}`);
        }
      }
    }
  }
  out.push('cltq', 'cqto', 'cltd');
  return out;
}

describe('fast tier: shifts, bit tests, sign extension vs step()', function () {
  this.timeout(120_000);
  it('the same registers and RFLAGS after every instruction, for edge values and every count', () => {
    const sources = programs();
    const codes = sources.map(asm);
    let fastRan = 0;
    let cases = 0;
    sources.forEach((src, i) => {
      const code = codes[i];
      const counts = /%(cl|cx|ecx|rcx)\b/.test(src) ? [0n, 1n, 7n, 31n, 32n, 63n, 64n + 5n] : [3n];
      // Register-only code: each case resets the registers of the same two machines.
      const a = testMachine().m, b = testMachine().m;
      const start = { rip: a.state.rip, rsp: a.state.gpr[4] };
      // A NOP first, which step() runs: it brings the code page into the TLB (the fast tier uses only
      // translations the TLB holds), then the code, then HLT (not for the fast tier).
      for (const m of [a, b]) m.mem.write(0x300000n, new Uint8Array([0x90, ...code, 0xf4]));
      for (const v of VALUES) for (const cl of counts) for (const flags of [0x202n, 0x2d7n]) {
        for (const m of [a, b]) {
          m.state.rip = start.rip;
          m.state.gpr[4] = start.rsp;
          m.state.gpr = m.state.gpr.map((_, k) => (k === 4 ? m.state.gpr[4] : k === 1 ? cl : BigInt.asUintN(64, v * BigInt(k * 2 + 1))));
          m.state.gpr[0] = v;
          m.state.gpr[3] = ~v & 0xffffffffffffffffn;
          m.state.rflags = flags;
        }
        assert.equal(a.step().kind, 'ok');
        assert.equal(b.step().kind, 'ok');
        const n = b.runFast(1000);
        fastRan += n;
        for (let k = 0; k < n; k++) assert.equal(a.step().kind, 'ok');
        cases++;
        const where = `${src.split('\n')[0]}… with value ${hex(v)}, CL ${hex(cl)}, RFLAGS ${hex(flags)} after ${n} instructions`;
        assert.deepEqual(b.state.gpr.map(hex), a.state.gpr.map(hex), where);
        assert.equal(hex(b.state.rflags), hex(a.state.rflags), where);
        assert.equal(hex(b.state.rip), hex(a.state.rip), where);
      }
    });
    assert.ok(fastRan > cases * 1.5, `the fast tier ran them (${fastRan} instructions in ${cases} cases)`);
  });
});
