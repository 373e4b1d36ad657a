/**
 * Differential test against the host CPU. A C harness (built with gcc at test time, one process
 * per batch) runs each instruction with RAX, RBX, RCX, RDX and RFLAGS set from its input and
 * prints them afterwards (or "de" when the instruction raised #DE); the emulator runs the same
 * bytes, assembled by GNU as from the same text, and must agree on the registers, on #DE, and on
 * every status flag the SDM defines for that instruction and those operands. Over 100,000 runs:
 * every operand size, register/immediate/memory forms (locked too), AH..DH, random and edge operands, random input
 * flags (so preserved flags, ADC/SBB/RCL/RCR carries and SETcc/CMOVcc conditions are covered).
 *
 * Flags the SDM leaves undefined are masked out of the comparison (the emulator's own choices are
 * documented in emulator/cpu/flags.ts; it never leaves a flag "random"):
 * - AND/OR/XOR/TEST: AF.
 * - SHL/SAL/SHR/SAR: nothing when the masked count is 0; else AF, and OF when the masked count is not 1;
 *   CF of SHL/SHR when the masked count is >= the width (8/16-bit operands take counts up to 31).
 * - ROL/ROR/RCL/RCR: OF when the masked count is not 1 (count 0: nothing changes).
 * - SHLD/SHRD: AF; OF when the count is not 1; all flags and the result when the count exceeds the width.
 * - MUL/IMUL (all forms): SF, ZF, AF, PF.   DIV/IDIV: all six (and #DE on zero divisor or overflow).
 * - BT/BTS/BTR/BTC: OF, SF, AF, PF (ZF is unaffected and compared).
 * - BSF/BSR: CF, OF, SF, AF, PF; the destination when the source is 0.
 * - LZCNT/TZCNT: OF, SF, AF, PF.  POPCNT: none (all six defined).
 * - BSWAP of a 16-bit register is undefined and not tested.
 *
 * Where Intel and AMD differ (all within the masked, undefined parts; the defined parts agree):
 * - MUL/IMUL's SF/ZF/PF: Intel cores derive them from the low half, AMD from other internals.
 * - OF after multi-bit shifts/rotates and the result of SHLD/SHRD with count > width differ by vendor.
 * - BSF/BSR with a zero source: AMD documents the destination unchanged; Intel calls it undefined
 *   (current Intel cores also leave it unchanged - the emulator does so on both profiles).
 * - LZCNT/TZCNT on CPUs without ABM/BMI1 execute as BSR/BSF (the F3 prefix is ignored); both kentry
 *   profiles have them (CPUID 80000001h:ECX.ABM, 7:EBX.BMI1), as do the test hosts.
 * The host this runs on may be either vendor; the masks make the test vendor-neutral.
 */
import { strict as assert } from 'assert';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CPU_PROFILES } from '../../../emulator/cpu/profiles';
import { Machine } from '../../../emulator/machine/machine';
import { hex } from './harness';

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
const CONDITIONS = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];
/** Where each instruction's code sits in the emulator's memory (one slot per case). */
const CODE_BASE = 0x10000n;
const SLOT = 32;
/** The four memory words the instructions see (RSI = DATA + 16, like &r[7] in the harness). */
const DATA = 0x9000n;

/** Registers, RFLAGS, and four memory words; RSI points at the third (m[2]) in both worlds. */
interface Regs { a: bigint; b: bigint; c: bigint; d: bigint; f: bigint; m: bigint[] }
type RegName = 'a' | 'b' | 'c' | 'd';
interface Case {
  group: string;
  /** GNU as text using only rax/rbx/rcx/rdx (and AH..DH). */
  text: string;
  /** Flags the SDM leaves undefined for these inputs. */
  undef: (x: Regs) => bigint;
  /** Registers to compare (default all four). */
  compare?: (x: Regs) => RegName[];
  /** Reshape an input (the n-th one for this case) built from random and edge values. */
  shape?: (x: Regs, n: number) => Regs;
}

const none = (): bigint => 0n;
const mask = (size: number): bigint => (1n << BigInt(size * 8)) - 1n;

/** Undefined flags of a shift/rotate by `n` (already masked) on a `size`-byte operand. */
function shiftUndef(op: string, size: number, n: number): bigint {
  if (n === 0) return 0n;
  let u = n !== 1 ? OF : 0n;
  if (op === 'shl' || op === 'shr' || op === 'sar') u |= AF;
  if ((op === 'shl' || op === 'shr') && n >= size * 8) u |= CF;
  return u;
}

function divShape(size: number, signed: boolean): (x: Regs, n: number) => Regs {
  const bits = BigInt(size * 8);
  const m = mask(size);
  return (x, n) => {
    const kind = n % 8;
    // 0: whatever the random values give (mostly #DE by overflow); 1: divisor 0; 2: INT_MIN / -1; else a quotient that fits.
    if (kind === 0) return x;
    if (kind === 1) return { ...x, b: x.b & ~m };
    let b = x.b & m;
    if (kind === 2 && signed) {
      const min = 1n << (bits - 1n);
      if (size === 1) return { ...x, b: (x.b & ~m) | m, a: (x.a & ~0xffffn) | 0xff80n };
      return { ...x, b: (x.b & ~m) | m, a: (x.a & ~m) | min, d: x.d | m };
    }
    if (!signed) {
      b |= 1n;
      if (size === 1) return { ...x, b: (x.b & ~m) | b, a: (x.a & ~0xffffn) | ((((x.a >> 8n) & 0xffn) % b) << 8n) | (x.a & 0xffn) };
      return { ...x, b: (x.b & ~m) | b, d: (x.d & ~m) | ((x.d & m) % b) };
    }
    // Dividend = sign extension of the low half, divisor neither 0 nor -1: the quotient always fits.
    if (b === 0n || b === m) b = 3n;
    const low = size === 1 ? x.a & 0xffn : x.a & m;
    const high = (low >> (bits - 1n)) & 1n ? m : 0n;
    if (size === 1) return { ...x, b: (x.b & ~m) | b, a: (x.a & ~0xffffn) | (high << 8n) | low };
    return { ...x, b: (x.b & ~m) | b, a: (x.a & ~m) | low, d: (x.d & ~m) | high };
  };
}

function cases(): Case[] {
  const out: Case[] = [];
  const add = (group: string, text: string, undef: Case['undef'] = none, extra: Partial<Case> = {}): void => {
    out.push({ group, text, undef, ...extra });
  };
  for (const size of [1, 2, 4, 8]) {
    const s = SFX[size];
    const A = R.a[size], B = R.b[size], C = R.c[size];
    const countMask = size === 8 ? 0x3fn : 0x1fn;
    const bigImm = { 1: '$0x9c', 2: '$0x1234', 4: '$0x87654321', 8: '$-0x789abcdf' }[size];
    for (const op of ['add', 'adc', 'sub', 'sbb', 'cmp', 'and', 'or', 'xor', 'test']) {
      const u = ['and', 'or', 'xor', 'test'].includes(op) ? (): bigint => AF : none;
      add('arith', `${op}${s} ${B}, ${A}`, u);
      add('arith', `${op}${s} $-3, ${A}`, u);
      add('arith', `${op}${s} ${bigImm}, ${A}`, u);
    }
    add('arith', `xadd${s} ${B}, ${A}`);
    for (const op of ['neg', 'not', 'inc', 'dec']) add('arith', `${op}${s} ${A}`);
    add('arith', `cmpxchg${s} ${B}, ${C}`, none, {
      // Half the runs make the accumulator equal the destination (the store path).
      shape: (x, n) => (n % 2 ? { ...x, a: (x.a & ~mask(size)) | (x.c & mask(size)) } : x),
    });
    add('arith', `xchg${s} ${B}, ${A}`);

    for (const op of ['shl', 'shr', 'sar', 'rol', 'ror', 'rcl', 'rcr']) {
      add('shift', `${op}${s} %cl, ${A}`, (x) => shiftUndef(op, size, Number(x.c & countMask)));
      add('shift', `${op}${s} $1, ${A}`, () => shiftUndef(op, size, 1));
      for (const imm of [3, size * 8 - 1, size * 8, 33, 63]) {
        add('shift', `${op}${s} $${imm}, ${A}`, () => shiftUndef(op, size, Number(BigInt(imm) & countMask)));
      }
    }
    if (size >= 2) {
      for (const op of ['shld', 'shrd']) {
        const undef = (n: number): bigint => (n === 0 ? 0n : n > size * 8 ? STATUS : AF | (n !== 1 ? OF : 0n));
        const cmp = (n: number): RegName[] => (n > size * 8 ? ['b', 'c', 'd'] : ['a', 'b', 'c', 'd']);
        add('shift', `${op}${s} %cl, ${B}, ${A}`, (x) => undef(Number(x.c & countMask)), { compare: (x) => cmp(Number(x.c & countMask)) });
        for (const imm of [1, 7, size * 8 - 1, 40]) {
          const n = Number(BigInt(imm) & countMask);
          add('shift', `${op}${s} $${imm}, ${B}, ${A}`, () => undef(n), { compare: () => cmp(n) });
        }
      }
    }

    const mulUndef = (): bigint => SF | ZF | AF | PF;
    for (const op of ['mul', 'imul']) add('muldiv', `${op}${s} ${B}`, mulUndef);
    add('muldiv', `div${s} ${B}`, () => STATUS, { shape: divShape(size, false) });
    add('muldiv', `idiv${s} ${B}`, () => STATUS, { shape: divShape(size, true) });
    if (size >= 2) {
      add('muldiv', `imul${s} ${B}, ${A}`, mulUndef);
      add('muldiv', `imul${s} $-77, ${B}, ${A}`, mulUndef);
      add('muldiv', `imul${s} ${size === 2 ? '$0x1235' : '$0x12345'}, ${B}, ${A}`, mulUndef);
    }

    if (size >= 2) {
      for (const op of ['bt', 'bts', 'btr', 'btc']) {
        add('bits', `${op}${s} ${B}, ${A}`, () => OF | SF | AF | PF);
        for (const imm of [3, size * 8 - 1, 37]) add('bits', `${op}${s} $${imm}, ${A}`, () => OF | SF | AF | PF);
      }
      for (const op of ['bsf', 'bsr']) {
        add('bits', `${op}${s} ${B}, ${A}`, () => CF | OF | SF | AF | PF, {
          compare: (x) => ((x.b & mask(size)) === 0n ? ['b', 'c', 'd'] : ['a', 'b', 'c', 'd']),
        });
      }
      for (const op of ['lzcnt', 'tzcnt']) add('bits', `${op}${s} ${B}, ${A}`, () => OF | SF | AF | PF);
      add('bits', `popcnt${s} ${B}, ${A}`);
    }
    if (size >= 4) add('bits', `bswap ${A}`);

    for (const cc of CONDITIONS) {
      if (size === 1) { add('move', `set${cc} %al`); add('move', `set${cc} %bh`); }
      else add('move', `cmov${cc}${s} ${B}, ${A}`);
    }
  }
  // Memory operands: RSI points into four words the host and the emulator both hold.
  for (const size of [1, 2, 4, 8]) {
    const s = SFX[size];
    const A = R.a[size], B = R.b[size];
    const countMask = size === 8 ? 0x3fn : 0x1fn;
    for (const op of ['add', 'adc', 'sub', 'sbb', 'cmp', 'and', 'or', 'xor', 'test']) {
      const u = ['and', 'or', 'xor', 'test'].includes(op) ? (): bigint => AF : none;
      add('memory', `${op}${s} ${B}, (%rsi)`, u);
      add('memory', `${op}${s} $-3, -9(%rsi)`, u);
      if (op !== 'test') add('memory', `${op}${s} -16(%rsi), ${A}`, u);
      if (op !== 'test' && op !== 'cmp') add('memory', `lock ${op}${s} ${B}, 8(%rsi)`, u);
    }
    for (const op of ['neg', 'not', 'inc', 'dec']) { add('memory', `${op}${s} (%rsi)`); add('memory', `lock ${op}${s} -5(%rsi)`); }
    for (const op of ['shl', 'shr', 'sar', 'rol', 'ror', 'rcl', 'rcr']) {
      add('memory', `${op}${s} %cl, (%rsi)`, (x) => shiftUndef(op, size, Number(x.c & countMask)));
      add('memory', `${op}${s} $1, -7(%rsi)`, () => shiftUndef(op, size, 1));
    }
    add('memory', `xadd${s} ${B}, (%rsi)`);
    add('memory', `lock xadd${s} ${B}, -8(%rsi)`);
    add('memory', `xchg${s} ${B}, (%rsi)`);
    add('memory', `lock cmpxchg${s} ${B}, (%rsi)`, none, { shape: (x, n) => (n % 2 ? { ...x, a: (x.a & ~mask(size)) | (x.m[2] & mask(size)) } : x) });
    add('memory', `mov${s} ${B}, -3(%rsi)`);
    add('memory', `mov${s} 5(%rsi), ${A}`);
    add('memory', `mov${s} $-2, (%rsi)`);
    add('memory', `mul${s} (%rsi)`, () => SF | ZF | AF | PF);
    if (size >= 2) {
      add('memory', `imul${s} -16(%rsi), ${A}`, () => SF | ZF | AF | PF);
      for (const op of ['bt', 'bts', 'btr', 'btc']) {
        // A register bit offset addresses a signed bit string around (%rsi): keep it within the four words.
        add('memory', `${op}${s} ${B}, (%rsi)`, () => OF | SF | AF | PF, { shape: (x) => ({ ...x, b: BigInt.asUintN(64, (x.b & 0xffn) - 128n) }) });
        add('memory', `${op}${s} $37, -8(%rsi)`, () => OF | SF | AF | PF);
      }
      add('memory', `lock bts${s} ${B}, (%rsi)`, () => OF | SF | AF | PF, { shape: (x) => ({ ...x, b: BigInt.asUintN(64, (x.b & 0xffn) - 128n) }) });
      for (const op of ['popcnt', 'lzcnt', 'tzcnt']) add('memory', `${op}${s} 3(%rsi), ${A}`, op === 'popcnt' ? none : () => OF | SF | AF | PF);
      for (const cc of ['ne', 'l', 'be']) add('memory', `cmov${cc}${s} -12(%rsi), ${A}`);
    }
  }
  for (const cc of CONDITIONS) add('memory', `set${cc} -1(%rsi)`);
  for (const t of ['movzbl (%rsi), %eax', 'movzbq 7(%rsi), %rax', 'movsbq -1(%rsi), %rax', 'movswl (%rsi), %eax', 'movzwq -2(%rsi), %rax',
    'movslq 4(%rsi), %rax', 'movsbw -16(%rsi), %bx', 'movbe (%rsi), %eax', 'movbe %rbx, -8(%rsi)', 'movbe 3(%rsi), %bx']) {
    add('memory', t);
  }
  // High-byte registers (AH, BH, CH, DH share slots with AL..DL).
  for (const op of ['add', 'adc', 'sub', 'sbb', 'cmp', 'and', 'or', 'xor']) {
    add('arith', `${op}b %bh, %ah`, ['and', 'or', 'xor'].includes(op) ? (): bigint => AF : none);
    add('arith', `${op}b %ch, %dl`, ['and', 'or', 'xor'].includes(op) ? (): bigint => AF : none);
  }
  for (const t of ['neg %ah', 'not %bh', 'inc %ch', 'dec %dh', 'xchg %ah, %bl', 'xadd %bh, %al', 'cmpxchg %ch, %bh']) add('arith', t);
  add('shift', 'shr %cl, %ah', (x) => shiftUndef('shr', 1, Number(x.c & 0x1fn)));
  add('shift', 'rcl %cl, %bh', (x) => shiftUndef('rcl', 1, Number(x.c & 0x1fn)));
  add('muldiv', 'mul %bh', () => SF | ZF | AF | PF);
  add('muldiv', 'div %bh', () => STATUS, { shape: (x, n) => (n % 3 === 0 ? x : { ...x, b: x.b | 0x8000n, a: x.a & ~0xff00n }) });
  for (const t of ['movsbw %bl, %ax', 'movsbl %bl, %eax', 'movsbq %bl, %rax', 'movswl %bx, %eax', 'movswq %bx, %rax', 'movslq %ebx, %rax',
    'movzbw %bl, %ax', 'movzbl %bl, %eax', 'movzbq %bl, %rax', 'movzwl %bx, %eax', 'movzwq %bx, %rax', 'movzbl %bh, %eax', 'movsbl %ah, %ebx', 'movsbw %dh, %cx',
    'cbtw', 'cwtl', 'cltq', 'cwtd', 'cltd', 'cqto', 'lahf', 'sahf', 'clc', 'stc', 'cmc',
    'lea 7(%rbx,%rcx,8), %rax', 'lea (%ebx,%ecx,2), %eax', 'lea -1(%rbx), %ax', 'mov %bh, %al', 'movb $0x5a, %ah', 'movw $-2, %ax', 'movl $-2, %eax']) {
    add('move', t);
  }
  return out;
}

function buildHarness(dir: string, texts: string[]): string {
  const fns = texts.map((t, i) => `static void f${i}(uint64_t *r) {
  uint64_t a = r[0], b = r[1], c = r[2], d = r[3], f = r[4], *p = &r[7];
  __asm__ volatile("push %4\\n\\tpopfq\\n\\t${t.replace(/%/g, '%%').replace(/\n/g, '\\n\\t')}\\n\\tpushfq\\n\\tpop %4" : "+a"(a), "+b"(b), "+c"(c), "+d"(d), "+r"(f), "+S"(p) : : "cc", "memory");
  r[0] = a; r[1] = b; r[2] = c; r[3] = d; r[4] = f;
}`);
  const src = `#include <stdio.h>
#include <stdint.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
${fns.join('\n')}
static void (*const table[])(uint64_t *) = { ${texts.map((_t, i) => `f${i}`).join(', ')} };
static sigjmp_buf on_de;
static void divide_error(int sig) { (void)sig; siglongjmp(on_de, 1); }
int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = divide_error;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGFPE, &sa, 0);
  unsigned fn; uint64_t r[9];
#define X " %" SCNx64
  while (scanf("%u" X X X X X X X X X, &fn, &r[0], &r[1], &r[2], &r[3], &r[4], &r[5], &r[6], &r[7], &r[8]) == 10) {
    if (sigsetjmp(on_de, 1)) { puts("de"); continue; }
    table[fn](r);
    for (int i = 0; i < 9; i++) printf(i ? " %" PRIx64 : "%" PRIx64, r[i]);
    putchar('\\n');
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

/** All cases' code in one GNU as run: case i at CODE_BASE + i * SLOT. */
function assembleAll(dir: string, texts: string[]): Uint8Array {
  const s = path.join(dir, 'all.s');
  const o = path.join(dir, 'all.o');
  const b = path.join(dir, 'all.bin');
  fs.writeFileSync(s, `.text\n${texts.map((t, i) => `.org ${i * SLOT}\n${t}\n`).join('')}.org ${texts.length * SLOT}\n`);
  execFileSync('as', ['--64', '-o', o, s]);
  execFileSync('objcopy', ['-O', 'binary', '-j', '.text', o, b]);
  return new Uint8Array(fs.readFileSync(b));
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
  0x7fffffffffffffffn, 0x8000000000000000n, M64, 0x0fn, 0x10n, 0x8000000000000001n, 0xfffffffffffffff0n, 0xff00n, 0x80ffn];
const B_EDGES = [0n, 1n, 0x80n, 0x8000n, 0x8000000000000000n, M64];
const COUNTS = [0n, 1n, 2n, 7n, 8n, 9n, 15n, 16n, 17n, 18n, 31n, 32n, 33n, 63n, 64n, 65n];
/** Random runs per case on top of the edge grid. */
const RANDOM_RUNS = 90;

function inputsFor(c: Case, next: () => bigint): Regs[] {
  const raw: Regs[] = [];
  for (const a of EDGES) for (const b of B_EDGES) raw.push({ a, b, c: COUNTS[raw.length % COUNTS.length], d: next(), f: 0n, m: [next(), next(), next(), next()] });
  for (const a of [1n, 0x80n, 0x8000000000000001n, M64]) for (const cnt of COUNTS) raw.push({ a, b: next(), c: cnt | (next() & ~0xffn), d: next(), f: 0n, m: [next(), next(), next(), next()] });
  for (let i = 0; i < RANDOM_RUNS; i++) {
    // Mix full-width random values with small ones (carries and zero results need those).
    const v = (): bigint => (i % 3 === 0 ? next() & 0xffffn : next());
    raw.push({ a: v(), b: v(), c: next() & (i % 2 ? 0xffn : M64), d: next(), f: 0n, m: [v(), v(), v(), v()] });
  }
  return raw.map((r, n) => {
    r.f = 0x202n | (next() & STATUS); // random input status flags: preserved ones must survive
    return c.shape ? c.shape(r, n) : r;
  });
}

describe('cpu: differential test against the host CPU', function () {
  const all = cases();
  const groups = [...new Set(all.map((c) => c.group))];
  let exe: string | undefined;
  let machine: Machine | undefined;
  let total = 0;

  before(function () {
    if (os.arch() !== 'x64' || spawnSync('gcc', ['--version']).status !== 0) this.skip();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kentry-diff-'));
    exe = buildHarness(dir, all.map((c) => c.text));
    machine = new Machine(CPU_PROFILES.intel);
    machine.mem.write(CODE_BASE, assembleAll(dir, all.map((c) => c.text)));
  });

  after(function () {
    if (exe && total) assert.ok(total >= 100_000, `only ${total} differential runs (the suite promises 100,000)`);
  });

  for (const group of groups) {
    it(`${group}: registers, #DE and defined flags match the host (${all.filter((c) => c.group === group).length} instruction forms)`, function () {
      if (!exe || !machine) this.skip();
      const m = machine as Machine;
      const next = rng(0x9e3779b97f4a7c15n ^ BigInt(group.length * 0x1234567));
      const inputs: Array<{ fn: number; x: Regs }> = [];
      all.forEach((c, fn) => {
        if (c.group === group) for (const x of inputsFor(c, next)) inputs.push({ fn, x });
      });
      total += inputs.length;
      const out = execFileSync(exe as string, {
        input: inputs.map(({ fn, x }) => `${fn} ${[x.a, x.b, x.c, x.d, x.f, ...x.m].map((v) => v.toString(16)).join(' ')}`).join('\n') + '\n',
        maxBuffer: 256 << 20,
      }).toString().trim().split('\n');
      assert.equal(out.length, inputs.length);

      const s = m.state;
      const failures: string[] = [];
      let divideErrors = 0;
      inputs.forEach(({ fn, x }, i) => {
        const c = all[fn];
        s.rip = CODE_BASE + BigInt(fn * SLOT);
        s.gpr[0] = x.a; s.gpr[3] = x.b; s.gpr[1] = x.c; s.gpr[2] = x.d; s.gpr[6] = DATA + 16n;
        x.m.forEach((w, k) => m.mem.writeU64(DATA + BigInt(8 * k), w));
        s.rflags = x.f;
        const r = m.step();
        const where = `${c.text} a=${hex(x.a)} b=${hex(x.b)} c=${hex(x.c)} d=${hex(x.d)} f=${hex(x.f)} m=${x.m.map(hex).join(',')}`;
        if (out[i] === 'de') {
          divideErrors++;
          if (r.kind !== 'exception' || r.vector !== 0) failures.push(`${where}: host #DE, emulator ${r.kind === 'exception' ? r.name : r.kind}`);
          else if (s.gpr[0] !== x.a || s.gpr[2] !== x.d || s.rip !== CODE_BASE + BigInt(fn * SLOT)) failures.push(`${where}: #DE did not roll back`);
          return;
        }
        if (r.kind !== 'ok') { failures.push(`${where}: emulator ${r.kind} ${r.kind === 'exception' ? r.message : ''}`); return; }
        const [ha, hb, hc, hd, hf, ...hm] = out[i].split(' ').map((v) => BigInt('0x' + v));
        const flagMask = STATUS & ~c.undef(x);
        const emu: Regs = { a: s.gpr[0], b: s.gpr[3], c: s.gpr[1], d: s.gpr[2], f: s.rflags, m: [0, 1, 2, 3].map((k) => m.mem.readU64(DATA + BigInt(8 * k))) };
        const host: Regs = { a: ha, b: hb, c: hc, d: hd, f: hf, m: hm };
        for (let k = 0; k < 4; k++) if (emu.m[k] !== host.m[k]) failures.push(`${where}: memory word ${k - 2} emu ${hex(emu.m[k])} host ${hex(host.m[k])}`);
        for (const k of c.compare ? c.compare(x) : (['a', 'b', 'c', 'd'] as const)) {
          if (emu[k] !== host[k]) failures.push(`${where}: r${k}x emu ${hex(emu[k])} host ${hex(host[k])}`);
        }
        if ((emu.f & flagMask) !== (hf & flagMask)) failures.push(`${where}: flags emu ${hex(emu.f & flagMask)} host ${hex(hf & flagMask)} (compared ${hex(flagMask)})`);
      });
      // KENTRY_DIFF_DUMP=file writes every mismatch (the assertion shows the first 15).
      if (process.env.KENTRY_DIFF_DUMP) fs.appendFileSync(process.env.KENTRY_DIFF_DUMP, failures.join('\n') + '\n');
      assert.deepEqual(failures.slice(0, 15), [], `${failures.length} mismatches in ${inputs.length} runs`);
      if (group === 'muldiv') assert.ok(divideErrors > 500, `only ${divideErrors} #DE runs`);
    });
  }
});
