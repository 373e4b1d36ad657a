/**
 * Differential test against the host CPU: a C harness (built with gcc at test time) runs each
 * instruction with RAX, RBX, RCX, RDX and RFLAGS set from the input and prints them afterwards;
 * the emulator runs the same bytes (assembled from the same text) and must agree on the
 * registers and on every flag the SDM defines for that instruction.
 *
 * Masked as undefined (Intel SDM vol. 2, "Flags Affected"):
 * - AND/OR/XOR/TEST: AF.
 * - SHL/SHR/SAR: AF when the count is non-zero; OF when the masked count is not 1; CF too when the
 *   masked count exceeds the operand width (8/16-bit operands take counts up to 31).
 * - ROL/ROR/RCL/RCR: OF when the masked count is not 1.
 * - SHLD/SHRD: AF; OF when the count is not 1; everything (result too) when the count exceeds the width.
 * - MUL/IMUL: SF, ZF, AF, PF.   DIV/IDIV: all six.
 * - BT/BTS/BTR/BTC: OF, SF, AF, PF.   BSF/BSR: CF, OF, SF, AF, PF, and the destination when the source is 0.
 */
import { strict as assert } from 'assert';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CPU_PROFILES } from '../../../emulator/cpu/profiles';
import { Machine } from '../../../emulator/machine/machine';
import { asm, hex } from './harness';

const CF = 0x1n, PF = 0x4n, AF = 0x10n, ZF = 0x40n, SF = 0x80n, OF = 0x800n;
const STATUS = CF | PF | AF | ZF | SF | OF;
const M64 = 0xffffffffffffffffn;
const SFX: Record<number, string> = { 1: 'b', 2: 'w', 4: 'l', 8: 'q' };
const R: Record<string, Record<number, string>> = {
  a: { 1: '%al', 2: '%ax', 4: '%eax', 8: '%rax' },
  b: { 1: '%bl', 2: '%bx', 4: '%ebx', 8: '%rbx' },
  c: { 1: '%cl', 2: '%cx', 4: '%ecx', 8: '%rcx' },
  d: { 1: '%dl', 2: '%dx', 4: '%edx', 8: '%rdx' },
};

interface Regs { a: bigint; b: bigint; c: bigint; d: bigint; f: bigint }
interface Case {
  /** GNU as text using only rax/rbx/rcx/rdx. */
  text: string;
  /** Flags the SDM leaves undefined for these inputs. */
  undef: (x: Regs) => bigint;
  /** Registers to compare (default all four). */
  compare?: (x: Regs) => Array<keyof Omit<Regs, 'f'>>;
  /** Produce an input from random numbers (default: random/edge values as they come). */
  shape?: (x: Regs) => Regs;
}

function cases(): Case[] {
  const out: Case[] = [];
  const none = (): bigint => 0n;
  for (const size of [1, 2, 4, 8]) {
    const s = SFX[size];
    const A = R.a[size], B = R.b[size], C = R.c[size];
    const countMask = size === 8 ? 0x3fn : 0x1fn;
    for (const op of ['add', 'adc', 'sub', 'sbb', 'cmp', 'and', 'or', 'xor', 'test', 'xadd']) {
      out.push({ text: `${op}${s} ${B}, ${A}`, undef: () => (['and', 'or', 'xor', 'test'].includes(op) ? AF : 0n) });
    }
    for (const op of ['neg', 'not', 'inc', 'dec']) out.push({ text: `${op}${s} ${A}`, undef: none });
    for (const op of ['shl', 'shr', 'sar', 'rol', 'ror', 'rcl', 'rcr']) {
      out.push({
        text: `${op}${s} %cl, ${A}`,
        undef: (x) => {
          const n = Number(x.c & countMask);
          if (n === 0) return 0n;
          let m = n !== 1 ? OF : 0n;
          if (['shl', 'shr', 'sar'].includes(op)) { m |= AF; if (n > size * 8) m |= CF; }
          return m;
        },
      });
    }
    for (const op of ['mul', 'imul']) out.push({ text: `${op}${s} ${B}`, undef: () => SF | ZF | AF | PF });
    out.push({ text: `cmpxchg${s} ${B}, ${C}`, undef: none });
    out.push({
      text: `div${s} ${B}`, undef: () => STATUS,
      shape: (x) => {
        const mask = (1n << BigInt(size * 8)) - 1n;
        const b = (x.b & mask) | 1n;
        if (size === 1) return { ...x, b, a: (x.a & ~0xffffn) | (((x.a >> 8n) & 0xffn) % b) << 8n | (x.a & 0xffn) };
        return { ...x, b, d: (x.d & ~mask) | ((x.d & mask) % b) };
      },
    });
    out.push({
      text: `idiv${s} ${B}`, undef: () => STATUS,
      shape: (x) => {
        // Dividend = sign extension of the low half, divisor not 0 or -1: the quotient always fits.
        const bits = BigInt(size * 8);
        const mask = (1n << bits) - 1n;
        let b = x.b & mask;
        if (b === 0n || b === mask) b = 3n;
        const low = size === 1 ? x.a & 0xffn : x.a & mask;
        const high = (low >> (bits - 1n)) & 1n ? mask : 0n;
        if (size === 1) return { ...x, b, a: (x.a & ~0xffffn) | (high << 8n) | low };
        return { ...x, b, a: (x.a & ~mask) | low, d: (x.d & ~mask) | high };
      },
    });
    for (const cc of ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g']) {
      if (size === 1) out.push({ text: `set${cc} %al`, undef: none });
      if (size >= 2) out.push({ text: `cmov${cc}${s === 'q' ? '' : ''} ${B}, ${A}`, undef: none });
    }
    if (size >= 2) {
      for (const op of ['bt', 'bts', 'btr', 'btc']) out.push({ text: `${op}${s} ${B}, ${A}`, undef: () => OF | SF | AF | PF });
      out.push({ text: `imul${s} ${B}, ${A}`, undef: () => SF | ZF | AF | PF });
      out.push({ text: `imul${s} $-77, ${B}, ${A}`, undef: () => SF | ZF | AF | PF });
      for (const op of ['bsf', 'bsr']) {
        out.push({
          text: `${op}${s} ${B}, ${A}`, undef: () => CF | OF | SF | AF | PF,
          compare: (x) => ((x.b & ((1n << BigInt(size * 8)) - 1n)) === 0n ? ['b', 'c', 'd'] : ['a', 'b', 'c', 'd']),
        });
      }
      for (const op of ['shld', 'shrd']) {
        out.push({
          text: `${op}${s} %cl, ${B}, ${A}`,
          undef: (x) => {
            const n = Number(x.c & countMask);
            if (n === 0) return 0n;
            if (n > size * 8) return STATUS;
            return AF | (n !== 1 ? OF : 0n);
          },
          compare: (x) => (Number(x.c & countMask) > size * 8 ? ['b', 'c', 'd'] : ['a', 'b', 'c', 'd']),
        });
      }
      out.push({ text: `movs${s === 'w' ? 'bw' : s === 'l' ? 'bl' : 'bq'} %bl, ${A}`, undef: none });
      out.push({ text: `movz${s === 'w' ? 'bw' : s === 'l' ? 'bl' : 'bq'} %bl, ${A}`, undef: none });
    }
    if (size >= 4) out.push({ text: `bswap ${A}`, undef: none });
  }
  for (const t of ['cbtw', 'cwtl', 'cltq', 'cwtd', 'cltd', 'cqto', 'lahf', 'sahf', 'clc', 'stc', 'cmc', 'movslq %ebx, %rax', 'movswq %bx, %rax', 'xchg %rbx, %rax', 'xchg %ebx, %eax', 'lea 7(%rbx,%rcx,8), %rax', 'lea (%ebx,%ecx,2), %eax']) {
    out.push({ text: t, undef: none });
  }
  return out;
}

function buildHarness(dir: string, texts: string[]): string {
  const fns = texts.map((t, i) => `static void f${i}(uint64_t *r) {
  uint64_t a = r[0], b = r[1], c = r[2], d = r[3], f = r[4];
  __asm__ volatile("push %4\\n\\tpopfq\\n\\t${t.replace(/%/g, '%%')}\\n\\tpushfq\\n\\tpop %4" : "+a"(a), "+b"(b), "+c"(c), "+d"(d), "+r"(f) : : "cc", "memory");
  r[0] = a; r[1] = b; r[2] = c; r[3] = d; r[4] = f;
}`);
  const src = `#include <stdio.h>
#include <stdint.h>
#include <inttypes.h>
${fns.join('\n')}
static void (*const table[])(uint64_t *) = { ${texts.map((_t, i) => `f${i}`).join(', ')} };
int main(void) {
  unsigned fn; uint64_t r[5];
  while (scanf("%u %" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64, &fn, &r[0], &r[1], &r[2], &r[3], &r[4]) == 6) {
    table[fn](r);
    printf("%" PRIx64 " %" PRIx64 " %" PRIx64 " %" PRIx64 " %" PRIx64 "\\n", r[0], r[1], r[2], r[3], r[4]);
  }
  return 0;
}
`;
  const c = path.join(dir, 'alu.c');
  const exe = path.join(dir, 'alu');
  fs.writeFileSync(c, src);
  execFileSync('gcc', ['-O1', '-mno-red-zone', '-o', exe, c]);
  return exe;
}

/** Deterministic xorshift so failures reproduce. */
function rng(seed: bigint): () => bigint {
  let x = seed;
  return () => {
    x ^= (x << 13n) & M64;
    x ^= x >> 7n;
    x ^= (x << 17n) & M64;
    return x;
  };
}

const EDGES = [0n, 1n, 2n, 0x7fn, 0x80n, 0xffn, 0x100n, 0x7fffn, 0x8000n, 0xffffn, 0x7fffffffn, 0x80000000n, 0xffffffffn,
  0x7fffffffffffffffn, 0x8000000000000000n, M64, 0x0fn, 0x10n, 0x8000000000000001n, 0xfffffffffffffff0n];
const COUNTS = [0n, 1n, 2n, 7n, 8n, 9n, 15n, 16n, 17n, 31n, 32n, 33n, 63n, 64n, 65n];

describe('cpu: differential test against the host CPU', function () {
  let exe: string | undefined;
  const all = cases();
  before(function () {
    if (os.arch() !== 'x64' || spawnSync('gcc', ['--version']).status !== 0) this.skip();
    exe = buildHarness(fs.mkdtempSync(path.join(os.tmpdir(), 'kentry-diff-')), all.map((c) => c.text));
  });

  it('registers and defined flags match the host for ALU, shift, multiply/divide, bit, set/cmov and move instructions', function () {
    if (!exe) this.skip();
    const next = rng(0x9e3779b97f4a7c15n);
    const inputs: Array<{ fn: number; x: Regs }> = [];
    all.forEach((c, fn) => {
      const raw: Regs[] = [];
      for (const a of EDGES) for (const b of [0n, 1n, 0x80n, 0x8000000000000000n, M64]) raw.push({ a, b, c: COUNTS[raw.length % COUNTS.length], d: next(), f: 0n });
      for (const a of [1n, 0x80n, 0x8000000000000001n, M64]) for (const cnt of COUNTS) raw.push({ a, b: next(), c: cnt, d: next(), f: 0n });
      for (let i = 0; i < 30; i++) raw.push({ a: next(), b: next(), c: next() & 0xffn, d: next(), f: 0n });
      for (const r of raw) {
        r.f = 0x202n | (next() & STATUS); // random input status flags: preserved ones must survive
        inputs.push({ fn, x: c.shape ? c.shape(r) : r });
      }
    });
    const out = execFileSync(exe as string, {
      input: inputs.map(({ fn, x }) => `${fn} ${x.a.toString(16)} ${x.b.toString(16)} ${x.c.toString(16)} ${x.d.toString(16)} ${x.f.toString(16)}`).join('\n') + '\n',
      maxBuffer: 64 << 20,
    }).toString().trim().split('\n');
    assert.equal(out.length, inputs.length);

    const machines = new Map<number, Machine>();
    const failures: string[] = [];
    inputs.forEach(({ fn, x }, i) => {
      const c = all[fn];
      let m = machines.get(fn);
      if (!m) {
        m = new Machine(CPU_PROFILES.intel);
        m.mem.write(0x1000n, asm(c.text));
        machines.set(fn, m);
      }
      const s = m.state;
      s.rip = 0x1000n;
      s.gpr[0] = x.a; s.gpr[3] = x.b; s.gpr[1] = x.c; s.gpr[2] = x.d;
      s.rflags = x.f;
      const r = m.step();
      const [ha, hb, hc, hd, hf] = out[i].split(' ').map((v) => BigInt('0x' + v));
      const where = `${c.text} a=${hex(x.a)} b=${hex(x.b)} c=${hex(x.c)} d=${hex(x.d)} f=${hex(x.f)}`;
      if (r.kind !== 'ok') { failures.push(`${where}: emulator ${r.kind} ${r.kind === 'exception' ? r.message : ''}`); return; }
      const mask = STATUS & ~c.undef(x);
      const emu: Regs = { a: s.gpr[0], b: s.gpr[3], c: s.gpr[1], d: s.gpr[2], f: s.rflags };
      const host: Regs = { a: ha, b: hb, c: hc, d: hd, f: hf };
      for (const k of c.compare ? c.compare(x) : (['a', 'b', 'c', 'd'] as const)) {
        if (emu[k] !== host[k]) failures.push(`${where}: r${k}x emu ${hex(emu[k])} host ${hex(host[k])}`);
      }
      if ((emu.f & mask) !== (hf & mask)) failures.push(`${where}: flags emu ${hex(emu.f & mask)} host ${hex(hf & mask)} (compared ${hex(mask)})`);
    });
    // KENTRY_DIFF_DUMP=file writes every mismatch (the assertion shows the first 15).
    if (process.env.KENTRY_DIFF_DUMP) fs.writeFileSync(process.env.KENTRY_DIFF_DUMP, failures.join("\n"));
    assert.deepEqual(failures.slice(0, 15), [], `${failures.length} mismatches in ${inputs.length} runs`);
  });
});
