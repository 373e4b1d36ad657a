/**
 * Differential test against the host CPU: a C harness (built with gcc at test time) runs each ALU
 * instruction on given operands and input flags and prints the result and RFLAGS; the emulator
 * must agree on every flag the SDM defines for that instruction.
 *
 * Flags masked as undefined (Intel SDM vol. 2 "Flags Affected"):
 * - AND/OR/XOR/TEST: AF.
 * - SHL/SHR/SAR: AF when the count is non-zero; OF when the masked count is not 1; CF when the
 *   masked count exceeds the operand width (8/16-bit operands, counts up to 31).
 * - ROL/ROR/RCL/RCR: OF when the masked count is not 1.
 * - IMUL (two-operand): SF, ZF, AF, PF.
 * - BT/BTS/BTR/BTC: OF, SF, AF, PF.
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
const SUFFIX: Record<number, string> = { 1: 'b', 2: 'w', 4: 'l', 8: 'q' };
const MOD: Record<number, string> = { 1: 'b', 2: 'w', 4: 'k', 8: 'q' };
const REG_A: Record<number, string> = { 1: '%al', 2: '%ax', 4: '%eax', 8: '%rax' };
const REG_B: Record<number, string> = { 1: '%bl', 2: '%bx', 4: '%ebx', 8: '%rbx' };

type Kind = 'binary' | 'unary' | 'shift' | 'bt' | 'imul';
interface Op { name: string; kind: Kind; sizes: number[] }

const OPS: Op[] = [
  ...['add', 'adc', 'sub', 'sbb', 'cmp', 'and', 'or', 'xor', 'test'].map((name): Op => ({ name, kind: 'binary', sizes: [1, 2, 4, 8] })),
  ...['neg', 'not', 'inc', 'dec'].map((name): Op => ({ name, kind: 'unary', sizes: [1, 2, 4, 8] })),
  ...['shl', 'shr', 'sar', 'rol', 'ror', 'rcl', 'rcr'].map((name): Op => ({ name, kind: 'shift', sizes: [1, 2, 4, 8] })),
  ...['bt', 'bts', 'btr', 'btc'].map((name): Op => ({ name, kind: 'bt', sizes: [2, 4, 8] })),
  { name: 'imul', kind: 'imul', sizes: [2, 4, 8] },
];

/** The instruction text as both gcc (inline asm, operands %0=a %1=b) and GNU as (rax, rbx/cl) see it. */
function insnText(op: Op, size: number, forC: boolean): string {
  const sfx = SUFFIX[size];
  const a = forC ? `%${MOD[size]}0` : REG_A[size];
  const b = forC ? `%${MOD[size]}2` : REG_B[size];
  switch (op.kind) {
    case 'binary': return `${op.name}${sfx} ${b}, ${a}`;
    case 'unary': return `${op.name}${sfx} ${a}`;
    case 'shift': return `${op.name}${sfx} %%cl, ${a}`.replace('%%', forC ? '%%' : '%');
    case 'bt': return `${op.name}${sfx} ${b}, ${a}`;
    case 'imul': return `imul${sfx} ${b}, ${a}`;
  }
}

function undefinedMask(op: Op, size: number, b: bigint): bigint {
  const count = Number(b & (size === 8 ? 0x3fn : 0x1fn));
  switch (op.kind) {
    case 'binary': return ['and', 'or', 'xor', 'test'].includes(op.name) ? AF : 0n;
    case 'unary': return 0n;
    case 'imul': return SF | ZF | AF | PF;
    case 'bt': return OF | SF | AF | PF;
    case 'shift': {
      if (count === 0) return 0n;
      let m = count !== 1 ? OF : 0n;
      if (['shl', 'shr', 'sar'].includes(op.name)) {
        m |= AF;
        if (count > size * 8) m |= CF;
      }
      return m;
    }
  }
}

function buildHarness(dir: string): string {
  const fns: string[] = [];
  const table: string[] = [];
  for (const op of OPS) {
    for (const size of op.sizes) {
      const fname = `f_${op.name}_${size}`;
      const bConstraint = op.kind === 'shift' ? '"c"(b)' : size === 1 ? '"q"(b)' : '"r"(b)';
      const aConstraint = size === 1 ? '"+q"(a)' : '"+r"(a)';
      fns.push(`static void ${fname}(uint64_t *pa, uint64_t b, uint64_t *pf) {
  uint64_t a = *pa, f = *pf;
  __asm__ volatile("push %1\\n\\tpopfq\\n\\t${insnText(op, size, true)}\\n\\tpushfq\\n\\tpop %1" : ${aConstraint}, "+r"(f) : ${bConstraint} : "cc", "memory");
  *pa = a; *pf = f;
}`);
      table.push(fname);
    }
  }
  const src = `#include <stdio.h>
#include <stdint.h>
#include <inttypes.h>
${fns.join('\n')}
static void (*const table[])(uint64_t *, uint64_t, uint64_t *) = { ${table.join(', ')} };
int main(void) {
  unsigned fn; uint64_t a, b, f;
  while (scanf("%u %" SCNx64 " %" SCNx64 " %" SCNx64, &fn, &a, &b, &f) == 4) {
    table[fn](&a, b, &f);
    printf("%" PRIx64 " %" PRIx64 "\\n", a, f);
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
    x ^= (x << 13n) & 0xffffffffffffffffn;
    x ^= x >> 7n;
    x ^= (x << 17n) & 0xffffffffffffffffn;
    return x;
  };
}

const EDGES = [0n, 1n, 2n, 0x7fn, 0x80n, 0xffn, 0x100n, 0x7fffn, 0x8000n, 0xffffn, 0x7fffffffn, 0x80000000n, 0xffffffffn,
  0x7fffffffffffffffn, 0x8000000000000000n, 0xffffffffffffffffn, 0x0fn, 0x10n, 0x8000000000000001n];

describe('cpu: differential ALU test against the host CPU', function () {
  let exe: string | undefined;
  before(function () {
    if (os.arch() !== 'x64' || spawnSync('gcc', ['--version']).status !== 0) this.skip();
    exe = buildHarness(fs.mkdtempSync(path.join(os.tmpdir(), 'kentry-diff-')));
  });

  it('emulator results and defined flags match the host for every op, size and operand set', function () {
    if (!exe) this.skip();
    const next = rng(0x9e3779b97f4a7c15n);
    const inputs: Array<{ fn: number; op: Op; size: number; a: bigint; b: bigint; f: bigint }> = [];
    let fn = 0;
    for (const op of OPS) {
      for (const size of op.sizes) {
        const pairs: Array<[bigint, bigint]> = [];
        if (op.kind === 'shift' || op.kind === 'bt') {
          for (const a of EDGES) for (const c of [0n, 1n, 2n, 7n, 8n, 9n, 15n, 16n, 17n, 31n, 32n, 33n, 63n, 64n, 65n]) pairs.push([a, c]);
        } else {
          for (const a of EDGES) for (const b of EDGES) pairs.push([a, b]);
        }
        for (let i = 0; i < 40; i++) pairs.push([next(), op.kind === 'shift' ? next() & 0xffn : next()]);
        for (const [a, b] of pairs) {
          const f = 0x202n | (next() & STATUS); // random input status flags: preserved ones must survive
          inputs.push({ fn, op, size, a, b, f });
        }
        fn++;
      }
    }
    const out = execFileSync(exe as string, { input: inputs.map((x) => `${x.fn} ${x.a.toString(16)} ${x.b.toString(16)} ${x.f.toString(16)}`).join('\n') + '\n' })
      .toString().trim().split('\n');
    assert.equal(out.length, inputs.length);

    const machines = new Map<string, Machine>();
    const failures: string[] = [];
    inputs.forEach((x, i) => {
      const key = `${x.op.name}${x.size}`;
      let m = machines.get(key);
      if (!m) {
        m = new Machine(CPU_PROFILES.intel);
        m.mem.write(0x1000n, asm(insnText(x.op, x.size, false)));
        machines.set(key, m);
      }
      const s = m.state;
      s.rip = 0x1000n;
      s.gpr[0] = x.a;
      s.gpr[3] = x.b;
      s.gpr[1] = x.b;
      s.rflags = x.f;
      const r = m.step();
      const [hr, hf] = out[i].split(' ').map((v) => BigInt('0x' + v));
      if (r.kind !== 'ok') { failures.push(`${key} a=${hex(x.a)} b=${hex(x.b)}: ${r.kind}`); return; }
      const mask = STATUS & ~undefinedMask(x.op, x.size, x.b);
      const er = s.gpr[0];
      const ef = s.rflags;
      if (er !== hr || (ef & mask) !== (hf & mask)) {
        failures.push(`${insnText(x.op, x.size, false)} a=${hex(x.a)} b=${hex(x.b)} fin=${hex(x.f)}: emu ${hex(er)}/${hex(ef & mask)} host ${hex(hr)}/${hex(hf & mask)}`);
      }
    });
    assert.deepEqual(failures.slice(0, 20), [], `${failures.length} mismatches of ${inputs.length}`);
  });
});
