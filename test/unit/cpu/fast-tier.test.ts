/**
 * The CPU's fast tier (Machine.runFast) against step(): after any number of instructions run by
 * runFast, the machine must be exactly where step() alone would have left it - all 16 GPRs, RIP,
 * RFLAGS, instructionsRetired, every byte of memory (page-table A/D bits included), the TLB, and
 * what memory observers (watches, the reverse-execution journal) heard - and runFast must leave to
 * step() whatever it cannot do exactly (faults, single-step, hardware breakpoints, code it does not
 * cover, the first access to a page).
 *
 * 1. Differential properties (fast-check, GNU as): random straight-line and looping programs run on
 *    two identical machines, A only by step(), B by runFast(k) with random k and random stops at
 *    instruction starts (falling back to step() when it returns 0), compared after every runFast
 *    call and at the end:
 *    - register programs: ALU/INC/DEC/NEG/NOT of every size incl. AH..BH with edge immediates,
 *      MOV/MOVZX/MOVSX/LEA, shifts, BT*, CMOVcc/SETcc and Jcc of every condition, counted loops;
 *    - memory programs: loads, stores and read-modify-writes on two data pages (page-crossing,
 *      aliased mappings, a writable alias of the running code), the stack, %gs:/%fs:, 32-bit
 *      addresses, PUSH/POP/CALL/RET, locked and string forms, with memory observers installed;
 *    - the same at CPL 0 (kernel stack, user pages under SMAP, STAC/CLAC mid-run);
 *    code also starts near a page end and runs on into the next page.
 * 2. What a debugger user would notice: breakpoints (stops) inside a hot loop are hit on the first
 *    iteration, the limit is never exceeded, TF/RF/DR7/AC/shadows/HLT keep runFast out, debugger
 *    edits and snapshot restores between runs are honoured, patched code runs as patched, faults
 *    and non-canonical jumps surface exactly as step() reports them, runFast leaves no trace of an
 *    instruction it leaves to step(), CR3 and TLB changes are honoured, and the hot loop really runs
 *    in the fast tier.
 *
 * CI runs a fixed seed; KENTRY_FUZZ_RUNS=N runs N programs per property with a random seed and
 * KENTRY_FUZZ_SEED=S replays a seed fast-check printed (test/fuzz/support.ts).
 */
import { strict as assert } from 'assert';
import { Decoder, DecoderOptions } from 'iced-x86';
import * as fc from 'fast-check';
import { CPU_PROFILES, type CpuProfile } from '../../../emulator/cpu/profiles';
import type { Machine, StepResult } from '../../../emulator/machine/machine';
import type { FastStops } from '../../../emulator/cpu/fast/tier';
import { fuzzParams } from '../../fuzz/support';
import { KERNEL_CODE, KERNEL_STACK_TOP, PageTables, USER_CODE, USER_STACK_TOP, asm, asmMany, enterKernel, hex, testMachine } from './harness';

// ------------------------------------------------------------------ machines

/** Two data pages, deliberately not physically contiguous, so page-crossing accesses are real. */
const DATA = 0x600000n;
const DATA_PHYS = [0x320000n, 0x330000n];
/** RSI in the memory programs: the boundary between the two data pages (disp < 0 and >= 0 both work). */
const DATA_PTR = DATA + 0x1000n;
const STACK_PHYS = 0x310000n;
const CODE_PHYS = 0x300000n;
/** Where userMachine maps the second code page (USER_CODE + 0x1000). */
const CODE2_PHYS = 0x370000n;
/** The harness maps USER_GS_BASE here. */
const GS_PHYS = 0x311000n;
const START_RSP = USER_STACK_TOP - 0x100n;
/** The harness's kernel text and the top page of its kernel stack. */
const KERNEL_CODE_PHYS = 0x200000n;
const KERNEL_STACK_PHYS = 0x503000n;
const KERNEL_START_RSP = KERNEL_STACK_TOP - 0x100n;
/** Kernel mapping of the page-table frame that holds the data pages' PTEs (kernel programs only). */
const PT_WINDOW = 0xffffffff83000000n;

const TF = 0x100n, IF = 0x200n, DF = 0x400n, RF = 0x10000n, AC = 0x40000n;
const STATUS = 0x8d5n; // CF PF AF ZF SF OF

interface Start {
  code: Uint8Array; regs: readonly bigint[]; rflags: bigint; data: Uint8Array; profile?: CpuProfile; kernel?: boolean;
  /** Memory observers to install (the runtime's watches, writer records, reverse-execution journal). */
  observe?: Observe;
  /** Where in its page the code starts: near the end, it runs on into the next page (blocks and instructions straddle). */
  codeOffset?: number;
}

/** 0: none; 1: Machine.onMemoryWrite; 2: the same, kernel half only; 3: PhysicalMemory.beforeWrite and onWrite. */
type Observe = 0 | 1 | 2 | 3;
/** What each machine's observers reported, in order (compared by traceDifferences()). */
const observed = new WeakMap<Machine, string[]>();

function installObservers(m: Machine, how: Observe): void {
  if (how === 0) return;
  const log: string[] = [];
  observed.set(m, log);
  if (how === 1 || how === 2) {
    m.onMemoryWriteKernelOnly = how === 2;
    m.onMemoryWrite = (linear, size, rip) => { log.push(`write ${hex(linear)}/${size} by ${hex(rip)}`); };
  } else {
    m.mem.beforeWrite = (phys, size) => { log.push(`before ${hex(phys)}/${size}`); };
    m.mem.onWrite = (phys, size) => { log.push(`after ${hex(phys)}/${size}`); };
  }
}

/** A harness.testMachine at CPL 3 (or 0) with the program at USER_CODE (or KERNEL_CODE) and the user data pages at DATA. */
function userMachine(st: Start): { m: Machine; pt: PageTables } {
  const { m, pt } = testMachine({ profile: st.profile });
  pt.map(DATA, DATA_PHYS[0], { user: true, nx: true });
  pt.map(DATA + 0x1000n, DATA_PHYS[1], { user: true, nx: true });
  // DATA + 0x2000 stays unmapped; aliases follow: of the first data page, and (writable) of the program's code.
  pt.map(DATA + 0x3000n, DATA_PHYS[0], { user: true, nx: true });
  pt.map(DATA + 0x4000n, st.kernel ? KERNEL_CODE_PHYS : CODE_PHYS, { user: true, nx: true });
  // A read-only alias of the second data page: stores fault, at CPL 0 too (CR0.WP).
  pt.map(DATA + 0x5000n, DATA_PHYS[1], { user: true, nx: true, writable: false });
  const offset = st.codeOffset ?? 0;
  if (st.kernel) {
    // CPL 0 at KERNEL_CODE on the kernel stack; the data pages stay user pages, so SMAP applies unless RFLAGS.AC.
    enterKernel(m);
    // The page-table frame holding the data pages' PTEs, mapped for the kernel (programs repoint PTEs).
    pt.map(PT_WINDOW, pt.pteAddress(DATA) & ~0xfffn, { nx: true });
    m.mem.write(KERNEL_CODE_PHYS + BigInt(offset), st.code);
    m.mem.write(KERNEL_STACK_PHYS, new Uint8Array(4096));
    m.state.rip = KERNEL_CODE + BigInt(offset);
  } else {
    // The second code page is physically elsewhere: code running across the boundary must be fetched through both.
    pt.map(USER_CODE + 0x1000n, CODE2_PHYS, { user: true, writable: false });
    const first = Math.min(st.code.length, 4096 - offset);
    m.mem.write(CODE_PHYS + BigInt(offset), st.code.subarray(0, first));
    if (first < st.code.length) m.mem.write(CODE2_PHYS, st.code.subarray(first));
    m.state.rip = USER_CODE + BigInt(offset);
  }
  // The stack and GS frames exist, as after a loader wrote argv/envp and TLS (never-written frames have their own test below).
  m.mem.write(STACK_PHYS, new Uint8Array(4096));
  m.mem.write(GS_PHYS, new Uint8Array(4096));
  m.mem.write(DATA_PHYS[0], st.data.subarray(0, 4096));
  m.mem.write(DATA_PHYS[1], st.data.subarray(4096, 8192));
  st.regs.forEach((v, i) => { m.state.gpr[i] = v; });
  m.state.rflags = st.rflags;
  installObservers(m, st.observe ?? 0);
  return { m, pt };
}

const ZERO_FRAME = new Uint8Array(4096);

/** Every difference a user could see between two machines (empty: identical). */
function differences(a: Machine, b: Machine, allMemory: boolean): string[] {
  const out: string[] = [];
  for (let i = 0; i < 16; i++) if (a.state.gpr[i] !== b.state.gpr[i]) out.push(`gpr[${i}] step ${hex(a.state.gpr[i])} fast ${hex(b.state.gpr[i])}`);
  if (a.state.rip !== b.state.rip) out.push(`rip step ${hex(a.state.rip)} fast ${hex(b.state.rip)}`);
  if (a.state.rflags !== b.state.rflags) out.push(`rflags step ${hex(a.state.rflags)} fast ${hex(b.state.rflags)}`);
  if (a.instructionsRetired !== b.instructionsRetired) out.push(`instructionsRetired step ${a.instructionsRetired} fast ${b.instructionsRetired}`);
  if (a.tsc !== b.tsc) out.push(`tsc step ${a.tsc} fast ${b.tsc}`);
  if (a.state.cpl !== b.state.cpl) out.push(`cpl step ${a.state.cpl} fast ${b.state.cpl}`);
  if (a.state.cr2 !== b.state.cr2) out.push(`cr2 step ${hex(a.state.cr2)} fast ${hex(b.state.cr2)}`);
  if (a.state.dr[6] !== b.state.dr[6]) out.push(`dr6 step ${hex(a.state.dr[6])} fast ${hex(b.state.dr[6])}`);
  const segA = JSON.stringify(a.state.seg, (_k, v) => (typeof v === 'bigint' ? hex(v) : v)), segB = JSON.stringify(b.state.seg, (_k, v) => (typeof v === 'bigint' ? hex(v) : v));
  if (segA !== segB) out.push(`segments step ${segA} fast ${segB}`);
  const frames = allMemory ? framesOf(a, b) : [...DATA_PHYS, STACK_PHYS, CODE_PHYS, CODE2_PHYS, GS_PHYS, KERNEL_STACK_PHYS];
  for (const f of frames) {
    // The frames themselves (no copies: this runs after every runFast call); a missing frame reads as zeros.
    const x = a.mem.existingFrame(Number(f >> 12n)) ?? ZERO_FRAME, y = b.mem.existingFrame(Number(f >> 12n)) ?? ZERO_FRAME;
    if (Buffer.from(x.buffer, x.byteOffset, x.length).equals(y)) continue;
    const i = x.findIndex((v, k) => v !== y[k]);
    out.push(`memory ${hex(f + BigInt(i))} step ${hex(BigInt(x[i]))} fast ${hex(BigInt(y[i]))} (physical; page tables included)`);
  }
  return out;
}

/**
 * Differences in what a run leaves besides the architectural state: the TLB (the TLB view; a
 * stale entry decides what later code sees) and the memory observers' event logs.
 */
function traceDifferences(a: Machine, b: Machine): string[] {
  const out: string[] = [];
  const ta = tlbText(a), tb = tlbText(b);
  if (ta !== tb) out.push(`TLB step [${ta}] fast [${tb}]`);
  const la = observed.get(a) ?? [], lb = observed.get(b) ?? [];
  for (let i = 0; i < Math.max(la.length, lb.length); i++) {
    if (la[i] !== lb[i]) { out.push(`memory observer event ${i}: step ${la[i] ?? '(none)'} fast ${lb[i] ?? '(none)'}`); break; }
  }
  return out;
}

/** The TLB as the TLB view shows it (lockstep compares it after every run: a stale entry decides what later code sees). */
function tlbText(m: Machine): string {
  return m.tlb.entries().map((e) => `${hex(e.linear)}->${hex(e.physBase)}${e.dirty ? ' dirty' : ''}${e.global ? ' global' : ''} pcid ${e.pcid}`).sort().join(', ');
}

/** Physical frames either machine has (page tables with their A/D bits included). */
function framesOf(a: Machine, b: Machine): bigint[] {
  const all = new Set<bigint>();
  for (const m of [a, b]) for (const k of m.mem.snapshot().keys()) all.add(BigInt(k) << 12n);
  return [...all];
}

const show = (r: StepResult): string => JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? hex(v) : v));

// ------------------------------------------------------------------ running A (step) beside B (runFast)

interface Schedule {
  /** runFast limits, used in turn. */
  limits: readonly number[];
  /** Code offsets to stop before. */
  stops: readonly number[];
  /** After this many runFast calls the stop set changes (version bumped): the first half is dropped. */
  changeStopsAfter: number;
}

interface Outcome { fastRan: number; instructions: number; end: StepResult | undefined }

/**
 * Run A by step() and B by runFast/step until A has run `budget` instructions or something other
 * than 'ok' happened; assert they agree after every runFast call and at the end. Returns how many
 * instructions B ran in the fast tier.
 */
function lockstep(a: Machine, b: Machine, budget: number, sched: Schedule, describe: () => string): Outcome {
  const base = a.state.rip;
  let stops: FastStops = { addresses: new Set(sched.stops.map((o) => base + BigInt(o))), version: 1 };
  let fastRan = 0;
  let calls = 0;
  let end: StepResult | undefined;
  const fail = (what: string): never => assert.fail(`${what}\n--- after ${a.instructionsRetired} instructions, program:\n${describe()}`);
  while (a.instructionsRetired < budget) {
    if (calls === sched.changeStopsAfter) {
      stops = { addresses: new Set(sched.stops.slice(sched.stops.length >> 1).map((o) => base + BigInt(o))), version: stops.version + 1 };
    }
    const limit = Math.min(sched.limits[calls % sched.limits.length], budget - a.instructionsRetired);
    calls++;
    const before = b.instructionsRetired;
    const ripBefore = b.state.rip;
    let n: number;
    try {
      n = b.runFast(limit, stops);
    } catch (e) {
      return fail(`runFast(${limit}) threw at ${hex(ripBefore)}: ${(e as Error).stack}`);
    }
    if (!Number.isInteger(n) || n < 0 || n > limit) fail(`runFast(${limit}) returned ${n}`);
    if (b.instructionsRetired - before !== n) fail(`runFast returned ${n} but instructionsRetired grew by ${b.instructionsRetired - before}`);
    if (n > 0) {
      fastRan += n;
      for (let i = 0; i < n; i++) {
        const rip = a.state.rip;
        if (stops.addresses.has(rip)) fail(`runFast ran the instruction at ${hex(rip)}, which is in stops (instruction ${i} of ${n})`);
        const r = a.step();
        if (r.kind !== 'ok') fail(`runFast ran ${n} instructions, but instruction ${i} (at ${hex(rip)}) gives step() ${show(r)}`);
      }
    } else {
      const ra = a.step();
      const rb = b.step();
      if (show(ra) !== show(rb)) fail(`step() after runFast returned 0: step-only machine ${show(ra)}, fast machine ${show(rb)}`);
      if (ra.kind !== 'ok') end = ra;
    }
    const diff = differences(a, b, false);
    if (diff.length) fail(`after runFast(${limit}) = ${n} from ${hex(ripBefore)}:\n  ${diff.join('\n  ')}`);
    const traces = traceDifferences(a, b);
    if (traces.length) fail(`after runFast(${limit}) = ${n} from ${hex(ripBefore)}:\n  ${traces.join('\n  ')}`);
    if (end) break;
  }
  const diff = differences(a, b, true);
  if (diff.length) fail(`at the end:\n  ${diff.join('\n  ')}`);
  return { fastRan, instructions: a.instructionsRetired, end };
}

// ------------------------------------------------------------------ random programs

/** Register names by size; index = encoding number. */
const NAMES: Record<number, readonly string[]> = {
  8: ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'],
  4: ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi', 'r8d', 'r9d', 'r10d', 'r11d', 'r12d', 'r13d', 'r14d', 'r15d'],
  2: ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di', 'r8w', 'r9w', 'r10w', 'r11w', 'r12w', 'r13w', 'r14w', 'r15w'],
  1: ['al', 'cl', 'dl', 'bl', 'spl', 'bpl', 'sil', 'dil', 'r8b', 'r9b', 'r10b', 'r11b', 'r12b', 'r13b', 'r14b', 'r15b'],
};
const HIGH = ['ah', 'ch', 'dh', 'bh'];
const LEGACY8 = ['al', 'cl', 'dl', 'bl', ...HIGH];
/** RCX is the loop counter, RSP the stack, RSI the data pointer: programs read them but never write them. */
const WRITABLE = [0, 2, 3, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15];
const SFX: Record<number, string> = { 1: 'b', 2: 'w', 4: 'l', 8: 'q' };
const CONDITIONS = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];
const ALU2 = ['add', 'sub', 'adc', 'sbb', 'cmp', 'and', 'or', 'xor', 'test'];
const ALU1 = ['inc', 'dec', 'neg', 'not'];
const M64 = (1n << 64n) - 1n;
const EDGE_VALUES = [0n, 1n, 2n, M64, M64 - 1n, 0x7fn, 0x80n, 0xffn, 0x100n, 0x7fffn, 0x8000n, 0xffffn, 0x7fffffffn, 0x80000000n,
  0xffffffffn, 0x100000000n, 0x7fffffffffffffffn, 0x8000000000000000n, 0xffffffff80000000n, 0xffffffffffff8000n, 0xffffffffffffff80n];

const sizeArb = fc.constantFrom(1, 2, 4, 8);
const value64 = fc.oneof(fc.constantFrom(...EDGE_VALUES), fc.bigInt({ min: 0n, max: M64 }), fc.bigInt({ min: 0n, max: 0x1ffn }));
const reg = (size: number, writable: boolean): fc.Arbitrary<string> =>
  fc.constantFrom(...(writable ? WRITABLE : [...Array(16).keys()]).map((i) => '%' + NAMES[size][i]));
/** An 8-bit register pair that assembles: a high-byte register excludes REX-only ones in the same instruction. */
const reg8pair = fc.oneof(
  fc.tuple(reg(1, true), reg(1, false)),
  fc.tuple(fc.constantFrom('%al', '%dl', '%bl', '%ah', '%dh', '%bh'), fc.constantFrom(...LEGACY8.map((r) => '%' + r))),
);
const regPair = (size: number): fc.Arbitrary<[string, string]> => (size === 1 ? reg8pair : fc.tuple(reg(size, true), reg(size, false)));

/** An immediate that GNU as accepts for this size (64-bit ALU ops take a sign-extended imm32). */
const imm = (size: number, signExtended32 = size === 8): fc.Arbitrary<string> => value64.map((v) => {
  if (signExtended32) return '$' + BigInt.asIntN(32, v).toString();
  return '$' + hex(BigInt.asUintN(size * 8, v));
});

/** One line of a program: plain text, or a forward jump over the next `skip` lines. */
/** `indirect`: through R11 (`call *%r11`, `jmp *%r11`) instead of a relative displacement. */
type Line = { text: string } | { jump: string; skip: number; long: boolean; indirect?: boolean } | { call: number; indirect?: boolean };

const t = (text: string): Line => ({ text });

const aluRegReg = sizeArb.chain((s) => fc.tuple(fc.constantFrom(...ALU2), regPair(s)).map(([op, [d, r]]) => t(`${op}${SFX[s]} ${r}, ${d}`)));
const aluImm = sizeArb.chain((s) => fc.tuple(fc.constantFrom(...ALU2), reg(s, true), imm(s)).map(([op, d, i]) => t(`${op}${SFX[s]} ${i}, ${d}`)));
const aluHigh = fc.tuple(fc.constantFrom(...ALU2), fc.constantFrom('%ah', '%bh', '%dh'), imm(1)).map(([op, d, i]) => t(`${op}b ${i}, ${d}`));
const unary = fc.oneof(
  sizeArb.chain((s) => fc.tuple(fc.constantFrom(...ALU1), reg(s, true)).map(([op, d]) => t(`${op}${SFX[s]} ${d}`))),
  fc.tuple(fc.constantFrom(...ALU1), fc.constantFrom('%ah', '%bh', '%dh')).map(([op, d]) => t(`${op}b ${d}`)),
);
const movRegReg = sizeArb.chain((s) => regPair(s).map(([d, r]) => t(`mov${SFX[s]} ${r}, ${d}`)));
const movImm = fc.oneof(
  sizeArb.chain((s) => fc.tuple(reg(s, true), imm(s)).map(([d, i]) => t(`mov${SFX[s]} ${i}, ${d}`))),
  fc.tuple(reg(8, true), value64).map(([d, v]) => t(`movabs $${hex(v)}, ${d}`)),
  fc.tuple(fc.constantFrom('%ah', '%bh', '%dh'), imm(1)).map(([d, i]) => t(`movb ${i}, ${d}`)),
);
/** MOVZX/MOVSX/MOVSXD: [mnemonic, source size, destination size]. */
const EXTENDS: Array<[string, number, number]> = [
  ['movzbw', 1, 2], ['movzbl', 1, 4], ['movzbq', 1, 8], ['movzwl', 2, 4], ['movzwq', 2, 8],
  ['movsbw', 1, 2], ['movsbl', 1, 4], ['movsbq', 1, 8], ['movswl', 2, 4], ['movswq', 2, 8], ['movslq', 4, 8],
];
const extend = fc.oneof(
  fc.constantFrom(...EXTENDS).chain(([op, from, to]) => fc.tuple(reg(from, false), reg(to, true)).map(([r, d]) => t(`${op} ${r}, ${d}`))),
  // From AH..BH: no REX, so 16/32-bit destinations among the first eight registers.
  fc.tuple(fc.constantFrom('movzbw', 'movzbl', 'movsbw', 'movsbl'), fc.constantFrom(...HIGH), fc.constantFrom(0, 2, 3, 5, 7))
    .map(([op, r, d]) => t(`${op} %${r}, %${NAMES[op.endsWith('w') ? 2 : 4][d]}`)),
);
const lea = fc.oneof(
  fc.tuple(fc.integer({ min: -0x90000000, max: 0x7fffffff }), reg(8, false), reg(8, false).filter((r) => r !== '%rsp'), fc.constantFrom(1, 2, 4, 8), fc.constantFrom(2, 4, 8), reg(8, true))
    .map(([disp, base, index, scale, size, d]) => t(`lea${SFX[size]} ${BigInt.asIntN(32, BigInt(disp))}(${base},${index},${scale}), %${NAMES[size][NAMES[8].indexOf(d.slice(1))]}`)),
  fc.tuple(fc.integer({ min: -128, max: 127 }), reg(4, false), reg(4, true)).map(([disp, base, d]) => t(`lea ${disp}(${base}), ${d}`)),
  fc.tuple(reg(4, false), reg(4, false).filter((r) => r !== '%esp'), reg(4, true)).map(([b, i, d]) => t(`lea (${b},${i},2), ${d}`)),
  fc.tuple(fc.integer({ min: -64, max: 64 }), reg(8, true)).map(([disp, d]) => t(`lea ${disp}(%rip), ${d}`)),
);
const jump: fc.Arbitrary<Line> = fc.oneof(
  { arbitrary: fc.record({ jump: fc.constantFrom(...CONDITIONS.map((c) => 'j' + c), 'jmp'), skip: fc.integer({ min: 0, max: 4 }), long: fc.boolean() }), weight: 8 },
  { arbitrary: fc.record({ jump: fc.constantFrom('jrcxz', 'jecxz'), skip: fc.integer({ min: 0, max: 4 }), long: fc.constant(false) }), weight: 1 },
  { arbitrary: fc.record({ jump: fc.constant('jmp'), skip: fc.integer({ min: 0, max: 4 }), long: fc.constant(false), indirect: fc.constant(true) }), weight: 1 },
);
/** Shift counts: 0 (flags unchanged), 1 (OF defined), the width edges, and beyond the mask. */
const shiftCount = fc.oneof(fc.constantFrom(0, 1, 2, 7, 8, 15, 16, 31, 32, 33, 63, 64, 65, 255), fc.integer({ min: 0, max: 255 }));
const shift = sizeArb.chain((s) => fc.tuple(fc.constantFrom('shl', 'sal', 'shr', 'sar'), reg(s, true), fc.oneof(shiftCount.map((n) => `$${n}, `), fc.constant('%cl, '), fc.constant('')))
  .map(([op, d, count]) => t(`${op}${SFX[s]} ${count}${d}`)));
const bitTest = fc.constantFrom(2, 4, 8).chain((s) => fc.tuple(fc.constantFrom('bt', 'bts', 'btr', 'btc'), reg(s, true), fc.oneof(fc.integer({ min: 0, max: 255 }).map((n) => `$${n}`), reg(s, false)))
  .map(([op, d, src]) => t(`${op}${SFX[s]} ${src}, ${d}`)));
const cmov = fc.constantFrom(2, 4, 8).chain((s) => fc.tuple(fc.constantFrom(...CONDITIONS), reg(s, false), reg(s, true)).map(([cc, r, d]) => t(`cmov${cc}${SFX[s]} ${r}, ${d}`)));
const setcc = fc.tuple(fc.constantFrom(...CONDITIONS), fc.oneof(reg(1, true), fc.constantFrom('%ah', '%bh', '%dh'))).map(([cc, d]) => t(`set${cc} ${d}`));
const misc = fc.constantFrom('cltq', 'cqto', 'cltd', 'nop', 'pause', 'endbr64', 'nopl 0(%rax)', 'nopw 0(%rax,%rax,1)', 'cwtl', 'cbtw', 'cwtd').map(t);
/** Instructions the fast tier may not cover (it must stop before them and leave them to step()); RDTSC reads instructionsRetired. */
const uncovered = fc.constantFrom('imul %rbx, %rax', 'imul $-7, %r10d, %edx', 'mull %ebx', 'bswap %r8', 'lahf', 'sahf', 'cmc', 'stc', 'clc', 'std', 'cld',
  'xchg %rax, %rdx', 'xchg %ah, %bl', 'rol %cl, %r9', 'ror $5, %dx', 'rcr $3, %bl', 'rcl %cl, %eax', 'shld $3, %rbx, %rax', 'shrd %cl, %edx, %ebx',
  'rdtsc', 'popcnt %rbx, %rdx', 'tzcnt %r11, %r12', 'bsr %edi, %ebp', 'xadd %eax, %edx', 'cmpxchg %rbx, %rdx', 'pushfq\npopfq')
  .map(t);

/** CPL 0 only: SMAP on and off mid-run (the entry code's STAC/CLAC around user accesses). */
const smapToggle = fc.constantFrom('stac', 'clac').map(t);

/** Where the PTE of the first data page (DATA) sits in the PT window (the same in every machine userMachine builds). */
const DATA_PTE_SLOT = (() => {
  const { pt } = userMachine({ code: new Uint8Array(1), regs: [], rflags: 0x2n, data: new Uint8Array(8192), kernel: true });
  return PT_WINDOW + (pt.pteAddress(DATA) & 0xfffn);
})();
/**
 * Two identical CPL 0 machines (RFLAGS.AC set: user pages allowed) for programs that repoint DATA's
 * PTE: frame 1 filled with 0x11, frame 2 with 0x22, RSI = DATA, R8 = DATA's PTE in the PT window.
 */
function pteMachines(src: string, more: (m: Machine, pte: bigint) => void): Machine[] {
  return [0, 1].map(() => {
    const data = new Uint8Array(8192);
    data.fill(0x11, 0, 4096);
    data.fill(0x22, 4096);
    const { m, pt } = userMachine({ code: asm(src), regs: [], rflags: 0x2n | AC, data, kernel: true });
    m.state.gpr[6] = DATA;
    m.state.gpr[8] = DATA_PTE_SLOT;
    more(m, pt.pteAddress(DATA));
    return m;
  });
}

/** CPL 0 only: repoint a data page's PTE (frame 1 or 2, read-only, not present), with or without INVLPG, or reload CR3. */
const pteEdit: fc.Arbitrary<Line> = fc.oneof(
  fc.tuple(fc.constantFrom(0, 1), fc.constantFrom(0x8000000000000007n, 0x8000000000000005n, 0x8000000000000006n), fc.constantFrom(0, 8)).map(([frame, bits, page]) =>
    t(`movabs $${hex(DATA_PHYS[frame] | bits)}, %rax\nmovabs %rax, ${hex(DATA_PTE_SLOT + BigInt(page))}`)),
  fc.constantFrom('invlpg (%rsi)', 'invlpg -0x1000(%rsi)', 'mov %cr3, %r11\nmov %r11, %cr3').map(t),
);

const registerLine: fc.Arbitrary<Line> = fc.oneof(
  { arbitrary: aluRegReg, weight: 6 }, { arbitrary: aluImm, weight: 5 }, { arbitrary: aluHigh, weight: 1 }, { arbitrary: unary, weight: 3 },
  { arbitrary: movRegReg, weight: 3 }, { arbitrary: movImm, weight: 3 }, { arbitrary: extend, weight: 3 }, { arbitrary: lea, weight: 2 },
  { arbitrary: shift, weight: 3 }, { arbitrary: bitTest, weight: 2 }, { arbitrary: cmov, weight: 2 }, { arbitrary: setcc, weight: 2 }, { arbitrary: misc, weight: 1 },
  { arbitrary: jump, weight: 4 }, { arbitrary: uncovered, weight: 1 },
);

/** A memory operand in the data pages: around RSI (both pages, page-crossing included) or indexed by the loop counter. */
const memOperand = fc.oneof(
  fc.integer({ min: -0x1000, max: 0xff8 }).map((d) => `${d}(%rsi)`),
  fc.integer({ min: -9, max: 1 }).map((d) => `${d}(%rsi)`),
  fc.tuple(fc.integer({ min: -0x800, max: 0x700 }), fc.constantFrom(1, 2, 4, 8)).map(([d, sc]) => `${d}(%rsi,%rcx,${sc})`),
  fc.integer({ min: 0, max: 0xf0 }).map((d) => `${d}(%rsp)`),
  // 32-bit addressing (RSI's value fits in 32 bits) and segment bases: GS is the user GS page, FS base 0.
  fc.integer({ min: -0x1000, max: 0xff8 }).map((d) => `${d}(%esi)`),
  fc.integer({ min: 0, max: 0xff8 }).map((d) => `%gs:${d}`),
  fc.integer({ min: -0x100, max: 0x100 }).map((d) => `%fs:${d}(%rsi)`),
);
/** The aliases of the first data page (DATA + 0x3000) and, read-only, the second (DATA + 0x5000); the writable alias of the code (DATA + 0x4000). */
const aliasOperand = fc.oneof(
  fc.integer({ min: 0, max: 0xff8 }).map((d) => `${0x2000 + d}(%rsi)`),
  fc.integer({ min: 0, max: 0xff8 }).map((d) => `${0x4000 + d}(%rsi)`), // the read-only alias of the second page
);
const codeAliasOperand = fc.integer({ min: 0, max: 0x180 }).map((d) => `${0x3000 + d}(%rsi)`);

const memLine: fc.Arbitrary<Line> = fc.oneof(
  // Aliased data: a store through one mapping, a load through the other, in one block.
  fc.tuple(sizeArb, fc.integer({ min: 0, max: 0xff8 })).chain(([sz, d]) => fc.tuple(reg(sz, false), reg(sz, true))
    .map(([r, dst]) => t(`mov${SFX[sz]} ${r}, ${d - 0x1000}(%rsi)\nmov${SFX[sz]} ${0x2000 + d}(%rsi), ${dst}`))),
  sizeArb.chain((sz) => fc.tuple(fc.constantFrom('mov', 'add', 'xor'), reg(sz, false), aliasOperand).map(([op, r, mo]) => t(`${op}${SFX[sz]} ${r}, ${mo}`))),
  // Self-modifying code through the alias (the program's own bytes change under it).
  sizeArb.chain((sz) => fc.tuple(fc.constantFrom('mov', 'add', 'xor', 'inc'), reg(sz, false), codeAliasOperand)
    .map(([op, r, mo]) => t(op === 'inc' ? `inc${SFX[sz]} ${mo}` : `${op}${SFX[sz]} ${r}, ${mo}`))),
  sizeArb.chain((s) => fc.tuple(memOperand, reg(s, true)).map(([mo, d]) => t(`mov${SFX[s]} ${mo}, ${d}`))),
  sizeArb.chain((s) => fc.tuple(reg(s, false), memOperand).map(([r, mo]) => t(`mov${SFX[s]} ${r}, ${mo}`))),
  sizeArb.chain((s) => fc.tuple(imm(s), memOperand).map(([i, mo]) => t(`mov${SFX[s]} ${i}, ${mo}`))),
  fc.tuple(fc.constantFrom('%ah', '%bh', '%ch'), memOperand.filter((mo) => !mo.includes('%rsp'))).map(([r, mo]) => t(`movb ${r}, ${mo}`)),
  sizeArb.chain((s) => fc.tuple(fc.constantFrom(...ALU2.filter((o) => o !== 'test')), memOperand, reg(s, true)).map(([op, mo, d]) => t(`${op}${SFX[s]} ${mo}, ${d}`))),
  sizeArb.chain((s) => fc.tuple(fc.constantFrom(...ALU2), reg(s, false), memOperand).map(([op, r, mo]) => t(`${op}${SFX[s]} ${r}, ${mo}`))),
  sizeArb.chain((s) => fc.tuple(fc.constantFrom(...ALU2), imm(s), memOperand).map(([op, i, mo]) => t(`${op}${SFX[s]} ${i}, ${mo}`))),
  sizeArb.chain((s) => fc.tuple(fc.constantFrom(...ALU1), memOperand).map(([op, mo]) => t(`${op}${SFX[s]} ${mo}`))),
  fc.tuple(fc.constantFrom(...EXTENDS), memOperand).chain(([[op, , to], mo]) => reg(to, true).map((d) => t(`${op} ${mo}, ${d}`))),
  sizeArb.chain((s) => reg(s, true).map((d) => t(`mov${SFX[s]} .Lcode(%rip), ${d}`))),
  fc.tuple(reg(8, false), reg(8, true)).map(([r, d]) => t(`push ${r}\npop ${d}`)),
  reg(8, false).map((r) => t(`push ${r}`)),
  reg(8, true).map((d) => t(`pop ${d}`)),
  imm(8).map((i) => t(`pushq ${i}`)),
  memOperand.map((mo) => t(`pushq ${mo}`)),
  memOperand.map((mo) => t(`popq ${mo}`)),
  fc.integer({ min: 0, max: 2 }).map((call): Line => ({ call })),
  fc.integer({ min: 0, max: 2 }).map((call): Line => ({ call, indirect: true })),
  fc.constantFrom(2, 4, 8).chain((s) => fc.tuple(fc.constantFrom(...CONDITIONS), memOperand, reg(s, true)).map(([cc, mo, d]) => t(`cmov${cc}${SFX[s]} ${mo}, ${d}`))),
  fc.tuple(fc.constantFrom(...CONDITIONS), memOperand).map(([cc, mo]) => t(`set${cc} ${mo}`)),
  sizeArb.chain((s) => fc.tuple(fc.constantFrom('shl', 'shr', 'sar'), fc.oneof(shiftCount.map((n) => `$${n}, `), fc.constant('%cl, '), fc.constant('')), memOperand)
    .map(([op, count, mo]) => t(`${op}${SFX[s]} ${count}${mo}`))),
  fc.constantFrom(2, 4, 8).chain((s) => fc.tuple(fc.constantFrom('bt', 'bts', 'btr', 'btc'), fc.integer({ min: 0, max: 255 }), memOperand).map(([op, n, mo]) => t(`${op}${SFX[s]} $${n}, ${mo}`))),
  // Locked and string forms stay with step().
  sizeArb.chain((s) => fc.tuple(fc.constantFrom('add', 'or', 'xor'), reg(s, false), memOperand).map(([op, r, mo]) => t(`lock ${op}${SFX[s]} ${r}, ${mo}`))),
  fc.constantFrom('lodsb', 'stosq', 'xchg %rax, (%rsi)').map(t),
  // MOV with a 64-bit absolute address (moffs: A0-A3), plain and %gs:-relative.
  fc.tuple(fc.constantFrom('%al', '%ax', '%eax', '%rax'), fc.integer({ min: 0, max: 0x1ff8 }), fc.boolean(), fc.boolean()).map(([r, d, load, gs]) =>
    t(gs ? (load ? `movabs %gs:${d & 0xff8}, ${r}` : `movabs ${r}, %gs:${d & 0xff8}`) : load ? `movabs ${hex(DATA + BigInt(d))}, ${r}` : `movabs ${r}, ${hex(DATA + BigInt(d))}`)),
);

interface Program {
  pre: Line[];
  body: Line[];
  /** 0: straight-line code, no loop. */
  iterations: number;
  post: Line[];
  subs: Line[][];
  /** The last subroutine returns with `ret $8` (pops one more slot). */
  retImm: boolean;
  regs: bigint[];
  rflags: bigint;
  /** Seed of the data pages' bytes (a seed, not 8 KiB of bytes: shrinking stays quick). */
  dataSeed: number;
  sched: Schedule;
  /** Run at CPL 0 (kernel text and stack; user data pages under SMAP). */
  kernel: boolean;
  observe: Observe;
  codeOffset: number;
}

/** 8 KiB of reproducible bytes (xorshift32; seed 0: zeros). */
function dataBytes(seed: number): Uint8Array {
  const out = new Uint8Array(8192);
  let x = seed | 0;
  if (x === 0) return out;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Assembly text of a block; forward jumps land after `skip` lines (or at the block's end). */
function renderBlock(lines: readonly Line[], tag: string, subs: number): string {
  const out: string[] = [];
  const labelsAt = new Map<number, string[]>();
  lines.forEach((l, i) => {
    for (const lab of labelsAt.get(i) ?? []) out.push(`${lab}:`);
    if ('text' in l) out.push(l.text);
    else if ('call' in l) {
      const target = `.Lsub${l.call % subs}`;
      out.push(!subs ? 'nop' : l.indirect ? `lea ${target}(%rip), %r11\ncall *%r11` : `call ${target}`);
    } else {
      const lab = `.L${tag}_${i}`;
      const at = Math.min(lines.length, i + 1 + l.skip);
      labelsAt.set(at, [...(labelsAt.get(at) ?? []), lab]);
      if (l.indirect) out.push(`lea ${lab}(%rip), %r11\njmp *%r11`);
      else if (l.jump === 'jrcxz' || l.jump === 'jecxz') out.push(`${l.jump} ${lab}`); // rel8 only
      else out.push(`${l.long ? '{disp32} ' : ''}${l.jump} ${lab}`);
    }
  });
  for (const lab of labelsAt.get(lines.length) ?? []) out.push(`${lab}:`);
  return out.join('\n');
}

function render(p: Program): string {
  const subs = p.subs.length;
  const parts = [renderBlock(p.pre, 'pre', subs)];
  if (p.iterations > 0) parts.push(`mov $${p.iterations}, %ecx`, '.Ltop:', renderBlock(p.body, 'body', subs), 'dec %ecx', 'jnz .Ltop');
  parts.push(renderBlock(p.post, 'post', subs), '.Lcode:', 'ud2');
  // Subroutines sit after the UD2 that ends the program; one may call only those after it (no recursion).
  const inSub = (l: Line, i: number): Line => ('call' in l ? (l.call + i + 1 < subs ? { ...l, call: l.call + i + 1 } : t('nop')) : l);
  p.subs.forEach((s, i) => parts.push(`.Lsub${i}:`, renderBlock(s.map((l) => inSub(l, i)), `sub${i}`, subs), p.retImm && i === subs - 1 ? 'ret $8' : 'ret'));
  return parts.filter((x) => x !== '').join('\n');
}

function programArb(line: fc.Arbitrary<Line>, withMemory: boolean, kernel = false): fc.Arbitrary<Program> {
  const block = (max: number): fc.Arbitrary<Line[]> => fc.array(line, { maxLength: max });
  return fc.record({
    pre: block(8),
    body: block(14),
    iterations: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 13, max: 80 })),
    post: block(6),
    subs: withMemory ? fc.array(block(6), { maxLength: 3 }) : fc.constant([]),
    retImm: fc.boolean(),
    regs: fc.array(value64, { minLength: 16, maxLength: 16 }).map((r) => {
      r[4] = kernel ? KERNEL_START_RSP : START_RSP;
      if (withMemory) { r[6] = DATA_PTR; r[1] &= 0xfn; } // RCX indexes the data pages before a loop sets it
      return r;
    }),
    // Random status flags and DF; sometimes TF (#DB after each instruction) or AC (#AC on a misaligned access).
    // At CPL 0, AC is SMAP's override (STAC), set half the time.
    rflags: fc.tuple(fc.integer({ min: 0, max: 0xfff }), kernel ? fc.constantFrom(0n, AC) : fc.constantFrom(0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, TF, AC))
      .map(([f, extra]) => 0x2n | IF | (BigInt(f) & (STATUS | DF)) | extra),
    dataSeed: withMemory ? fc.integer() : fc.constant(0),
    sched: fc.record({
      limits: fc.array(fc.oneof(fc.constantFrom(1, 1, 2, 3, 5, 8, 1 << 20), fc.integer({ min: 1, max: 200 })), { minLength: 1, maxLength: 6 }),
      stops: fc.array(fc.nat(), { maxLength: 4 }),
      changeStopsAfter: fc.integer({ min: 0, max: 20 }),
    }),
    kernel: fc.constant(kernel),
    observe: withMemory ? fc.constantFrom<Observe>(0, 0, 1, 2, 3) : fc.constant<Observe>(0),
    codeOffset: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.integer({ min: 0xd00, max: 0xfff }), weight: 1 }),
  });
}

/** Candidates fast-check may try while shrinking a failing program. */
const SHRINK_TRIES = 600;

/** Instructions each program may run (loops of 12 iterations with calls stay well below). */
const BUDGET = 3000;

/** Offsets of the instructions in `code` (decoded straight through, as far as it decodes). */
function instructionStarts(code: Uint8Array): number[] {
  const out: number[] = [];
  const dec = new Decoder(64, code, DecoderOptions.None);
  while (dec.canDecode) {
    const at = dec.position;
    dec.decode();
    out.push(at);
  }
  return out;
}

function runProgram(p: Program, code: Uint8Array): Outcome {
  const start: Start = { code, regs: p.regs, rflags: p.rflags, data: dataBytes(p.dataSeed), kernel: p.kernel, observe: p.observe, codeOffset: p.codeOffset };
  const a = userMachine(start).m;
  const b = userMachine(start).m;
  // Stops are picked among the program's instruction starts (an address inside an instruction never matches).
  const starts = instructionStarts(code);
  const sched = { ...p.sched, stops: p.sched.stops.map((i) => starts[i % starts.length]) };
  return lockstep(a, b, BUDGET, sched, () => `${render(p)}\n--- regs ${p.regs.map(hex).join(' ')} rflags ${hex(p.rflags)} observe ${p.observe} code at +${hex(BigInt(p.codeOffset))} limits ${p.sched.limits.join(',')} stops at +${sched.stops.map((o) => hex(BigInt(o))).join(',')}`,
);
}

const HOT_LOOP = '1: add %rcx, %rax\ndec %rcx\njnz 1b\nud2';

/** A ring-3 machine running `src` with some registers set (by encoding number; RSP is set already). */
function program(src: string, regs: Record<number, bigint> = {}): { m: Machine; pt: PageTables } {
  const r = new Array<bigint>(16).fill(0n);
  r[4] = START_RSP;
  for (const [i, v] of Object.entries(regs)) r[Number(i)] = v;
  return userMachine({ code: asm(src), regs: r, rflags: 0x202n, data: new Uint8Array(8192) });
}

/** program() with the code page mapped writable (self-modifying code). */
function writableCode(src: string, regs: Record<number, bigint> = {}): Machine {
  const { m, pt } = program(src, regs);
  pt.map(USER_CODE, CODE_PHYS, { user: true, writable: true });
  return m;
}

/** Run `count` instructions as the debugger's continue does (runFast, step() where it returns 0); returns how many ran fast. */
function continueFor(m: Machine, count: number): number {
  let fastRan = 0;
  for (let done = 0; done < count;) {
    const n = m.runFast(count - done);
    if (n > 0) { fastRan += n; done += n; continue; }
    const r = m.step();
    assert.equal(r.kind, 'ok', show(r));
    done++;
  }
  return fastRan;
}

/**
 * fc.assert over `arb`, with every program the run will see assembled up front in one GNU as run
 * (fc.sample with the same seed yields the same programs; shrinking's new ones go through asm()).
 */
function differential(arb: fc.Arbitrary<Program>, ciRuns: number): { programs: number; instructions: number; fastRan: number } {
  const params = fuzzParams<[Program]>(ciRuns);
  const seed = params.seed ?? Date.now() ^ (Math.random() * 0x100000000);
  const numRuns = params.numRuns ?? ciRuns;
  asmMany(fc.sample(arb, { seed, numRuns }).map(render));
  const totals = { programs: 0, instructions: 0, fastRan: 0 };
  // Shrinking a failure re-assembles each candidate (GNU as, ~10 ms): after SHRINK_TRIES candidates
  // the rest count as passing, so fast-check reports the smallest failure found so far.
  let triesAfterFailure = -1;
  fc.assert(fc.property(arb, (p) => {
    if (triesAfterFailure >= 0 && ++triesAfterFailure > SHRINK_TRIES) return;
    let o: Outcome;
    try {
      o = runProgram(p, asm(render(p)));
    } catch (e) {
      if (triesAfterFailure < 0) triesAfterFailure = 0;
      throw e;
    }
    totals.programs++;
    totals.instructions += o.instructions;
    totals.fastRan += o.fastRan;
  }), { ...params, seed, numRuns, verbose: fc.VerbosityLevel.None, includeErrorInReport: true });
  return totals;
}

describe('cpu: fast tier (Machine.runFast) against step()', function () {
  this.timeout(120_000);

  describe('differential: random programs give the same machine by runFast as by step()', () => {
    it('register programs: ALU/INC/DEC/NEG/NOT of every size incl. AH..BH, MOV/MOVZX/MOVSX/LEA, shifts, BT*, CMOVcc/SETcc, Jcc of every condition, counted loops', () => {
      const arb = programArb(registerLine, false);
      const totals = differential(arb, 2000);
      // The fast tier must carry most of these programs, or the property proves nothing about it.
      assert.ok(totals.fastRan > totals.instructions / 3, `the fast tier ran only ${totals.fastRan} of ${totals.instructions} instructions in ${totals.programs} programs`);
    });

    it('memory programs: loads, stores, ALU/shift/BT/CMOVcc/SETcc on two data pages (page-crossing too), the stack, %gs:/%fs: and 32-bit addresses, PUSH/POP, CALL/RET, RIP-relative loads', () => {
      const arb = programArb(fc.oneof({ arbitrary: registerLine, weight: 2 }, { arbitrary: memLine, weight: 3 }), true);
      const totals = differential(arb, 1500);
      assert.ok(totals.fastRan > totals.instructions / 3, `the fast tier ran only ${totals.fastRan} of ${totals.instructions} instructions in ${totals.programs} programs`);
    });
  });

  describe('differential at CPL 0', () => {
    it('kernel programs: the memory programs on the kernel stack, user data pages under SMAP, STAC/CLAC, PTEs repointed with or without INVLPG', () => {
      const line = fc.oneof({ arbitrary: registerLine, weight: 2 }, { arbitrary: memLine, weight: 3 }, { arbitrary: smapToggle, weight: 1 }, { arbitrary: pteEdit, weight: 1 });
      const totals = differential(programArb(line, true, true), 800);
      assert.ok(totals.fastRan > totals.instructions / 3, `the fast tier ran only ${totals.fastRan} of ${totals.instructions} instructions in ${totals.programs} programs`);
    });
  });

  describe('what a debugger user notices', () => {
    // The first access to a page is step()'s (the fast tier uses only translations the TLB holds), so
    // these tests step the first instruction, as the debugger's continue does after a stop.
    it('the hot loop runs in the fast tier: after one step(), runFast(1e6) on `1: add %rcx,%rax; dec %rcx; jnz 1b` runs the other 299,999 instructions (CPL 3 and CPL 0)', () => {
      for (const kernel of [false, true]) {
        const { m } = program(HOT_LOOP, { 1: 100_000n });
        if (kernel) { enterKernel(m); m.mem.write(KERNEL_CODE_PHYS, asm(HOT_LOOP)); m.state.gpr[1] = 100_000n; }
        const base = kernel ? KERNEL_CODE : USER_CODE;
        assert.equal(m.step().kind, 'ok');
        const n = m.runFast(1_000_000);
        assert.equal(n, 299_999, `${kernel ? 'CPL 0' : 'CPL 3'}: runFast ran ${n} instructions of the hot loop`);
        assert.equal(m.state.gpr[0], 5_000_050_000n);
        assert.equal(m.state.gpr[1], 0n);
        assert.equal(m.state.rip, base + BigInt(asm(HOT_LOOP).length - 2), 'stopped before the UD2 (not a fast-tier instruction)');
        assert.equal(m.instructionsRetired, 300_000);
        assert.equal(m.state.rflags & 0x8d5n, 0x44n, 'ZF PF from the last DEC, CF kept clear');
      }
    });

    it('a fresh machine: the first access to the code page is step()\'s, then runFast takes over', () => {
      const { m } = program(HOT_LOOP, { 1: 10n });
      const n = m.runFast(1000);
      assert.ok(n === 0 || n === 30, `runFast = ${n}`);
      assert.ok(continueFor(m, 30 - n) > 0, 'the fast tier ran once step() had touched the page');
      assert.equal(m.state.gpr[0], 55n);
    });

    it('a breakpoint (stop) inside the loop body is hit on the first iteration and on every later one', () => {
      const src = 'mov $5, %ecx\n1: add %rcx, %rax\ninc %rbx\ndec %ecx\njnz 1b\nud2';
      const bp = USER_CODE + BigInt(asm('mov $5, %ecx\nadd %rcx, %rax').length);
      const { m } = program(src);
      const stops = { addresses: new Set([bp]), version: 1 };
      assert.equal(m.step().kind, 'ok');
      assert.equal(m.runFast(1_000_000, stops), 1, 'the first ADD, then the breakpoint');
      assert.equal(m.state.rip, bp);
      assert.deepEqual([m.state.gpr[0], m.state.gpr[3]], [5n, 0n]);
      assert.equal(m.runFast(1_000_000, stops), 0, 'a stop at RIP itself: nothing runs (the debugger steps over it)');
      for (let i = 1; i < 5; i++) {
        assert.equal(m.step().kind, 'ok', 'the debugger steps over the breakpoint');
        assert.equal(m.runFast(1_000_000, stops), 3, `iteration ${i + 1}: DEC, JNZ, ADD`);
        assert.equal(m.state.rip, bp);
        assert.equal(m.state.gpr[3], BigInt(i));
      }
      assert.equal(m.state.gpr[0], 15n);
    });

    it('a stop at an unmapped address (a modelled function): the run ends there without fetching it, as step() would not yet', () => {
      // A CALL to a page nothing maps: the runtime models the function there and stops before it.
      const src = 'mov $3, %ecx\n1: add %rcx, %rax\ndec %ecx\njnz 1b\ncall .+0x10000\nud2';
      const target = USER_CODE + BigInt(asm('mov $3, %ecx\n1: add %rcx, %rax\ndec %ecx\njnz 1b').length) + 0x10000n;
      const [a, b] = [0, 1].map(() => program(src).m);
      const o = lockstep(a, b, 11, { limits: [1 << 20], stops: [Number(target - USER_CODE)], changeStopsAfter: -1 }, () => src);
      assert.equal(b.state.rip, target, 'at the modelled function');
      assert.equal(o.end, undefined, 'no fault: nothing fetched there');
      assert.ok(o.fastRan > 0);
    });

    it('stops changed between runs (version bumped) are honoured, also when the same Set is mutated', () => {
      const src = 'mov $50, %ecx\n1: add %rcx, %rax\ninc %rbx\ndec %ecx\njnz 1b\nud2';
      const bp = USER_CODE + BigInt(asm('mov $50, %ecx\nadd %rcx, %rax').length);
      const { m } = program(src);
      const addresses = new Set<bigint>();
      const stops = { addresses, version: 1 };
      assert.equal(m.step().kind, 'ok');
      assert.equal(m.runFast(40, stops), 40, 'no stops: 10 iterations of 4');
      addresses.add(bp);
      stops.version++;
      assert.equal(m.runFast(1000, stops), 1, 'the ADD, then the new breakpoint');
      assert.equal(m.state.rip, bp);
      m.step();
      const none = { addresses: new Set<bigint>(), version: stops.version + 1 };
      assert.equal(m.runFast(1000, none), 2 + 39 * 4, 'breakpoint removed: the rest of iteration 11 and 39 more, to the UD2');
      assert.equal(m.state.gpr[3], 50n);
    });

    it('the limit is never exceeded, every call makes progress in the hot loop, and runFast(0) runs nothing', () => {
      const { m } = program(HOT_LOOP, { 1: 1000n });
      const ref = program(HOT_LOOP, { 1: 1000n }).m;
      assert.equal(m.step().kind, 'ok');
      assert.equal(ref.step().kind, 'ok');
      assert.equal(m.runFast(0), 0);
      assert.equal(m.instructionsRetired, 1);
      for (const limit of [1, 2, 3, 4, 5, 7, 11, 64, 100, 1000]) {
        const saved: number = m.instructionsRetired;
        const n = m.runFast(limit);
        assert.ok(n >= 1 && n <= limit, `runFast(${limit}) = ${n}`);
        assert.equal(m.instructionsRetired - saved, n);
        for (let i = 0; i < n; i++) assert.equal(ref.step().kind, 'ok');
        assert.deepEqual(differences(ref, m, false), [], `after runFast(${limit})`);
      }
    });

    // FOUND BUG (fixed in e25cb30, kept as a regression test): a fractional limit, e.g. runFast(2.5) from a caller dividing a
    // budget, throws "TypeError: Cannot convert undefined to a BigInt" at cpu/fast/tier.ts (block.offsets[end]).
    it('a fractional limit runs at most its whole part, without an exception', () => {
      for (const limit of [0.5, 1.5, 2.5, 7.9]) {
        const { m } = program(HOT_LOOP, { 1: 100n });
        assert.equal(m.step().kind, 'ok');
        let n = -1;
        assert.doesNotThrow(() => { n = m.runFast(limit); }, `runFast(${limit})`);
        assert.ok(n >= 0 && n <= Math.floor(limit), `runFast(${limit}) = ${n}`);
      }
    });

    // FOUND BUG (fixed in e25cb30, kept as a regression test): when FastTier.run throws (as above), the Number register file keeps
    // the aborted run's values while it still believes it matches CpuState (FastRegisters.known), so the
    // next runFast computes from them: after runFast(2.5) threw, runFast(9) left RAX 490, RCX 96 where
    // step() gives RAX 394, RCX 97.
    it('after a runFast call that failed, the next runs still match step()', () => {
      const [a, b] = [0, 1].map(() => program(HOT_LOOP, { 1: 100n }).m);
      for (const m of [a, b]) assert.equal(m.step().kind, 'ok');
      try { b.runFast(2.5); } catch { /* the bug above; what matters here is what follows */ }
      const ran = b.instructionsRetired - a.instructionsRetired;
      for (let i = 0; i < ran; i++) assert.equal(a.step().kind, 'ok');
      lockstep(a, b, 60, { limits: [9, 1 << 20], stops: [], changeStopsAfter: -1 }, () => `${HOT_LOOP}\n(after runFast(2.5))`);
    });

    // FOUND BUG (fixed in e25cb30, kept as a regression test): a memory observer that throws (a bug in a watch or in the runtime's
    // writer record) is turned by step() into an "internal kentry error" #UD at that instruction, with the
    // registers rolled back - the session stops there and keeps working. runFast lets the JS exception
    // escape instead (and the next run then computes from the aborted run's registers, the bug above).
    it('a memory observer that throws during a fast run: reported as step() reports it, at the same instruction', () => {
      const src = 'mov $10, %ecx\n1: add %rcx, %rax\nmov %rax, -8(%rsp)\ndec %ecx\njnz 1b\nud2';
      const [a, b] = [0, 1].map(() => {
        const m = program(src).m;
        let calls = 0;
        m.onMemoryWrite = () => { if (++calls === 5) throw new Error('watch handler failed'); };
        return m;
      });
      const outcome = (m: Machine, useFast: boolean): string => {
        for (let i = 0; i < 100; i++) {
          if (useFast && m.runFast(1000) > 0) continue;
          const r = m.step();
          if (r.kind !== 'ok') return show(r);
        }
        return 'no exception';
      };
      const ra = outcome(a, false);
      assert.match(ra, /internal kentry error.*watch handler failed/);
      let rb = '';
      assert.doesNotThrow(() => { rb = outcome(b, true); }, 'runFast let the observer\'s exception escape');
      assert.equal(rb, ra);
      assert.deepEqual(differences(a, b, true), []);
    });

    it('nothing runs with RFLAGS.TF or RF set, a DR7-armed breakpoint, RFLAGS.AC at CPL 3, a pending interrupt, HLT or a MOV SS shadow', () => {
      const cases: Array<[string, (m: Machine) => void]> = [
        ['RFLAGS.TF', (m) => { m.state.rflags |= TF; }],
        ['RFLAGS.RF', (m) => { m.state.rflags |= RF; }],
        ['DR7 instruction breakpoint elsewhere', (m) => { m.state.dr[0] = USER_CODE + 0x800n; m.state.dr[7] = 0x1n; }],
        ['DR7 write breakpoint (global enable)', (m) => { m.state.dr[1] = DATA; m.state.dr[7] = 0x8n | (0x1n << 20n) | (0x3n << 22n); }],
        ['RFLAGS.AC with CR0.AM at CPL 3', (m) => { m.state.rflags |= AC; }],
        ['a pending interrupt with IF=1', (m) => { m.state.rflags |= IF; m.requestInterrupt(0x20); }],
        ['HLT', (m) => { m.halted = true; }],
        ['nothing (the control: the fast tier runs)', () => undefined],
      ];
      for (const [what, arrange] of cases) {
        const { m } = program(HOT_LOOP, { 1: 100n });
        assert.equal(m.step().kind, 'ok'); // the code page is in the TLB: only `arrange` can keep runFast out
        arrange(m);
        const saved = { rip: m.state.rip, gpr: [...m.state.gpr], rflags: m.state.rflags, retired: m.instructionsRetired };
        const n = m.runFast(1000);
        if (what.startsWith('nothing')) { assert.ok(n > 0, what); continue; }
        assert.equal(n, 0, what);
        assert.deepEqual({ rip: m.state.rip, gpr: [...m.state.gpr], rflags: m.state.rflags, retired: m.instructionsRetired }, saved, `${what}: state unchanged`);
      }
      // TF: step() reports the single-step trap after one instruction; runFast left that to it.
      const { m } = program(HOT_LOOP, { 1: 100n });
      m.state.rflags |= TF;
      const r = m.step();
      assert.ok(r.kind === 'exception' && r.name === '#DB', show(r));
      // DR7 with no enable bits (0x400 is its reset value) arms nothing: the fast tier runs.
      const idle = program(HOT_LOOP, { 1: 100n }).m;
      assert.equal(idle.step().kind, 'ok');
      idle.state.dr[0] = USER_CODE;
      idle.state.dr[7] = 0x400n;
      assert.ok(idle.runFast(1000) > 0, 'DR7 = 0x400 (nothing armed)');
    });

    it('after STI (CPL 0, IF was clear) the next instruction (in the STI shadow) is left to step(); then the fast tier resumes', () => {
      const src = `cli\nsti\n${HOT_LOOP}`;
      const [a, b] = [0, 1].map(() => {
        const m = userMachine({ code: asm(src), regs: [], rflags: 0x2n, data: new Uint8Array(8192), kernel: true }).m;
        m.state.gpr[1] = 100n;
        return m;
      });
      for (const m of [a, b]) { assert.equal(m.step().kind, 'ok'); assert.equal(m.step().kind, 'ok'); }
      assert.notEqual(b.interruptShadow, 0, 'STI left a shadow');
      assert.equal(b.runFast(1000), 0, 'the instruction in the STI shadow');
      assert.ok(lockstep(a, b, 200, { limits: [1 << 20, 3], stops: [], changeStopsAfter: -1 }, () => src).fastRan > 0);
    });

    it('after MOV SS the next instruction (in the shadow) is left to step(); then the fast tier resumes', () => {
      const { m } = program(`mov %eax, %ss\n${HOT_LOOP}`, { 0: 0x2bn, 1: 100n }); // __USER_DS
      assert.equal(m.step().kind, 'ok');
      assert.notEqual(m.interruptShadow, 0, 'MOV SS left a shadow');
      assert.equal(m.runFast(1000), 0, 'the instruction in the shadow');
      assert.equal(m.step().kind, 'ok');
      assert.ok(m.runFast(1000) > 0);
    });

    it('debugger edits between runs are honoured: a register, RFLAGS, RIP, the GS base, a snapshot restored (reverse execution)', () => {
      // Each edit is made to both machines at the same instruction count; lockstep compares everything after every run.
      const src = 'mov $20, %ecx\n1: adc %rcx, %rax\nmov %gs:8, %rdx\nadd %rdx, %rbx\nmovq %rax, -8(%rsi)\nincq 8(%rsi)\ndec %ecx\njnz 1b\nud2';
      const [a, b] = [0, 1].map(() => program(src, { 6: DATA_PTR }).m);
      for (const m of [a, b]) m.mem.write(GS_PHYS, new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 7]));
      const sched = { limits: [1 << 20, 3, 1, 17], stops: [], changeStopsAfter: -1 };
      const snaps: Array<ReturnType<Machine['snapshot']>> = [];
      const phases: Array<[number, string, (m: Machine, i: number) => void]> = [
        [10, 'snapshot', (m) => { snaps.push(m.snapshot()); }],
        [25, 'RAX set', (m) => { m.state.gpr[0] = 0x123456789abcdefn; }],
        [40, 'CF flipped', (m) => { m.state.rflags ^= 1n; }],
        [55, 'GS base moved to the data page', (m) => { m.state.seg.gs = { ...m.state.seg.gs, base: DATA }; }],
        [70, 'RIP back to the start (set next statement)', (m) => { m.state.rip = USER_CODE; }],
        [85, 'the snapshot restored', (m, i) => { m.restore(snaps[i]); }],
        [110, 'the end', () => undefined],
      ];
      let fastRan = 0;
      for (const [until, what, edit] of phases) {
        fastRan += lockstep(a, b, until, sched, () => `${src}\n(before: ${what})`).fastRan;
        edit(a, 0);
        edit(b, 1);
      }
      assert.ok(fastRan > 0);
    });

    it('reverse execution over self-modifying code: after restoring a snapshot from before the patch, the old code runs again', () => {
      // The loop patches its own ADD immediate each iteration; snapshots before and after, restores in between.
      const src = 'mov $30, %ecx\n1: mov %ecx, %edx\nmovb %dl, 2f+2(%rip)\n2: add $0, %eax\ndec %ecx\njnz 1b\nud2';
      const [a, b] = [0, 1].map(() => writableCode(src));
      const sched = { limits: [1 << 20, 7, 1], stops: [], changeStopsAfter: -1 };
      const early: Array<ReturnType<Machine['snapshot']>> = [];
      lockstep(a, b, 12, sched, () => src);
      for (const m of [a, b]) early.push(m.snapshot());
      lockstep(a, b, 80, sched, () => src);
      a.restore(early[0]);
      b.restore(early[1]);
      const o = lockstep(a, b, 1000, sched, () => `${src}\n(after restoring the snapshot at 12 instructions)`);
      assert.ok(o.end?.kind === 'exception' && o.end.name === '#UD');
      assert.equal(b.state.gpr[0] & 0xffffffffn, 465n, 'EAX = 30 + 29 + ... + 1');
    });

    it('the same code at two linear addresses (aliases): stores are reported with the RIP of the alias that ran them', () => {
      const ALIAS = USER_CODE + 0x10000n;
      const src = 'mov $5, %ecx\n1: add %rcx, %rax\nmov %rax, -8(%rsp)\ndec %ecx\njnz 1b\nud2';
      const [a, b] = [0, 1].map(() => {
        const { m, pt } = program(src);
        pt.map(ALIAS, CODE_PHYS, { user: true, writable: false });
        installObservers(m, 1);
        return m;
      });
      const sched = { limits: [1 << 20, 4], stops: [], changeStopsAfter: -1 };
      let fastRan = 0;
      for (const start of [USER_CODE, ALIAS, USER_CODE, ALIAS]) {
        for (const m of [a, b]) m.state.rip = start;
        const o = lockstep(a, b, a.instructionsRetired + 100, sched, () => `${src}\n(run at ${hex(start)})`);
        assert.ok(o.end?.kind === 'exception' && o.end.name === '#UD');
        fastRan += o.fastRan;
      }
      assert.ok(fastRan > 0);
      assert.ok(observed.get(b)?.some((e) => e.includes(`by ${hex(ALIAS + 8n)}`)), 'stores reported at the alias');
    });

    describe('self-modifying code: a store into the code page makes the new code run', () => {
      // 'add $0, %eax' is 83 c0 00: the program stores ECX's low byte into its immediate before each ADD.
      const patchNext = (store: string): string => `mov $5, %ecx\nxor %eax, %eax\n1: mov %ecx, %edx\n${store} %dl, 2f+2(%rip)\n2: add $0, %eax\ndec %ecx\njnz 1b\nud2`;
      // The ADD's immediate becomes 100 when ECX reaches 5 (from 10), long after its block was compiled.
      const patchLater = (store: string): string =>
        `mov $10, %ecx\nxor %eax, %eax\n1: add $1, %eax\ncmp $5, %ecx\njne 2f\n${store} %dl, 1b+2(%rip)\n2: dec %ecx\njnz 1b\nud2`;
      const cases: Array<[string, string, bigint]> = [
        ['the next instruction, by a MOV store', patchNext('movb'), 15n],
        ['the next instruction, by XCHG (always step())', patchNext('xchgb'), 15n],
        ['an instruction of the hot loop, by a MOV store', patchLater('movb'), 406n],
        ['an instruction of the hot loop, by XCHG', patchLater('xchgb'), 406n],
      ];
      for (const [what, src, eax] of cases) {
        it(what, () => {
          const [a, b] = [0, 1].map(() => writableCode(src, { 2: 100n }));
          const o = lockstep(a, b, 10_000, { limits: [1 << 20, 3, 1], stops: [], changeStopsAfter: -1 }, () => src);
          assert.equal(b.state.gpr[0] & 0xffffffffn, eax, `EAX after the patched loop (${o.fastRan} instructions in the fast tier)`);
          assert.ok(o.end?.kind === 'exception' && o.end.name === '#UD', 'ran to the UD2');
        });
      }

      it('a debugger write into the code between runs (the runtime patching a breakpoint or ALTERNATIVE)', () => {
        // add %rcx,%rax (48 01 c8) becomes sub %rcx,%rax (48 29 c8) after 10 iterations.
        const { m } = program(HOT_LOOP, { 1: 100n });
        assert.ok(continueFor(m, 30) > 0, 'the loop ran in the fast tier before the patch');
        assert.equal(m.writeVirtual(USER_CODE + 1n, new Uint8Array([0x29])), undefined);
        continueFor(m, 270);
        const added = (100n + 91n) * 10n / 2n, subtracted = 90n * 91n / 2n;
        assert.equal(m.state.gpr[0], BigInt.asUintN(64, added - subtracted), 'the rest of the loop subtracted');
      });
    });

    describe('faults are left to step(): runFast stops before the instruction, step() reports it exactly', () => {
      const cases: Array<[string, string, Record<number, bigint>, string, bigint]> = [
        ['a load from an unmapped page after a hot loop', `mov $3, %ecx\n1: add %rcx, %rax\ndec %ecx\njnz 1b\nmov (%rdi), %rbx\nud2`, { 7: 0x10000000n }, '#PF', 0x10000000n],
        ['a store into the read-only code page', `mov $3, %ecx\n1: add %rcx, %rax\ndec %ecx\njnz 1b\nmov %rax, (%rdx)\nud2`, { 2: USER_CODE + 0x40n }, '#PF', USER_CODE + 0x40n],
        ['a load walking off the data pages on the 5th iteration', `mov $9, %ecx\n1: mov (%rdi), %rbx\nadd $0x800, %rdi\ndec %ecx\njnz 1b\nud2`, { 7: DATA }, '#PF', DATA + 0x2000n],
        ['an 8-byte load crossing into an unmapped page', `mov $3, %ecx\n1: add %rcx, %rax\ndec %ecx\njnz 1b\nmov 0x1ffc(%rdi), %rbx\nud2`, { 7: DATA }, '#PF', DATA + 0x2000n],
        ['a push below the mapped stack', `mov $3, %ecx\n1: add %rcx, %rax\ndec %ecx\njnz 1b\nmov %rdi, %rsp\npush %rax\nud2`, { 7: USER_STACK_TOP - 0x1000n }, '#PF', USER_STACK_TOP - 0x1008n],
        ['a load from a non-canonical address', `mov $3, %ecx\n1: add %rcx, %rax\ndec %ecx\njnz 1b\nmov (%rdi), %rbx\nud2`, { 7: 0x800000000000n }, '#GP', 0n],
      ];
      for (const [what, src, regs, name, cr2] of cases) {
        it(what, () => {
          const [a, b] = [0, 1].map(() => program(src, regs).m);
          const o = lockstep(a, b, 10_000, { limits: [1 << 20], stops: [], changeStopsAfter: -1 }, () => src);
          assert.ok(o.end?.kind === 'exception' && o.end.name === name, `step() reported ${o.end && show(o.end)}`);
          if (name === '#PF') assert.equal(o.end.cr2, cr2, 'CR2');
          assert.ok(o.fastRan > 0, 'the loop before the fault ran in the fast tier');
          assert.equal(b.state.rip, o.end.rip, 'RIP at the faulting instruction');
        });
      }
    });

    describe('runFast leaves no trace of an instruction it does not run (page tables, TLB)', () => {
      // FOUND BUG (fixed in cb54a13, kept as a regression test): FastMemory.readFrame/writeFrame translate (Machine.translateData:
      // A/D bits, TLB fill) before the checks that make them give up (FAST_STOP): a frame never written
      // (reads as zeros: fresh .bss, a fresh stack page) or, for stores, a frame holding code. runFast
      // then returns before the instruction, but its PTE already has A (and D) set and the TLB holds
      // the page (marked dirty for a store), which step() would do only when it runs the instruction.
      const neverWritten: Array<[string, string, bigint, string]> = [
        ['a store (ADD to memory) to a never-written data page', 'nop\naddl $1, (%rsi)\nud2', DATA, '0x60'],
        ['a load from a never-written data page', 'nop\nmovl (%rsi), %eax\nud2', DATA, '0x20'],
        ['a PUSH onto a never-written stack page', 'nop\npush %rsi\nud2', USER_STACK_TOP - 0x1000n, '0x60'],
      ];
      for (const [what, src, page, adBits] of neverWritten) {
        it(`${what}: no A/D bits and no TLB entry until the instruction runs`, () => {
          const { m, pt } = testMachine(); // the harness never writes the stack frame
          pt.map(DATA, 0x360000n, { user: true, nx: true }); // nor frame 0x360000
          m.mem.write(CODE_PHYS, asm(src));
          m.state.gpr[6] = DATA;
          assert.equal(m.step().kind, 'ok', 'the NOP: the code page is in the TLB now');
          const pte = m.mem.readU64(pt.pteAddress(page));
          const n = m.runFast(100);
          assert.equal(n, 0, 'the access is left to step() (or the test needs a new case)');
          assert.equal(hex(m.mem.readU64(pt.pteAddress(page))), hex(pte), 'runFast ran nothing, yet the PTE changed (A/D bits)');
          assert.equal(tlbText(m), `${hex(USER_CODE)}->${hex(CODE_PHYS)} pcid 0`, 'runFast ran nothing, yet the TLB holds more than the code page');
          assert.equal(m.step().kind, 'ok');
          assert.equal(hex(m.mem.readU64(pt.pteAddress(page)) & 0x60n), adBits, 'step() sets them when the instruction runs');
        });
      }

      // Same bug, the code-page check: the store is left to step() (right: it must drop decoded code),
      // but the TLB entry of the code page is already marked dirty.
      it('a store into a writable code page (left to step()): the TLB entry is not dirty before the store runs', () => {
        const src = 'mov $1, %ecx\nmovb %cl, 1f(%rip)\n1: nop\nud2';
        const [a, b] = [0, 1].map(() => writableCode(src));
        lockstep(a, b, 100, { limits: [1 << 20], stops: [], changeStopsAfter: -1 }, () => src);
      });

      // Same bug, seen by the reverse-execution journal (PhysicalMemory.beforeWrite): the A/D-bit writes
      // of the attempt are journalled as if the instruction before the store had made them.
      it('a store left to step(): the memory journal hears no page-table write before step() runs it', () => {
        const src = 'mov $1, %ecx\nmovb %cl, 1f(%rip)\n1: nop\nud2';
        const [a, b] = [0, 1].map(() => writableCode(src));
        for (const m of [a, b]) installObservers(m, 3);
        const n = b.runFast(100);
        for (let i = 0; i < n; i++) assert.equal(a.step().kind, 'ok');
        assert.deepEqual(observed.get(b), observed.get(a), `journal after runFast = ${n} and after ${n} step() calls`);
      });

      // FOUND BUG (fixed in cb54a13, kept as a regression test): a RET into a no-execute page. The RET runs in the fast tier,
      // which then tries the target; the #PF of that attempt drops the TLB entry for the page (as a
      // fault must, SDM 4.10.4.1) although step() has not faulted yet. So after runFast the TLB lacks
      // the data page a step()-only run still has, and step()'s #PF then says no "(cached translation)".
      const retIntoData = 'addl $0, (%rsi)\npush %rsi\nret';
      it('a RET into a no-execute page: the TLB after the run that ran the RET is the TLB after step()', () => {
        const [a, b] = [0, 1].map(() => program(retIntoData, { 6: DATA_PTR }).m);
        lockstep(a, b, 100, { limits: [1 << 20], stops: [], changeStopsAfter: -1 }, () => retIntoData);
      });

      it('a store to a user page after CLAC (SMAP, CPL 0): the TLB keeps the page until step() faults', () => {
        // The ADD after CLAC runs in the fast tier, which then tries the store: its SMAP fault drops the TLB entry.
        const src = 'stac\naddl $0, (%rsi)\nclac\nadd %eax, %eax\nmovb %al, (%rsi)\nud2';
        const store = KERNEL_CODE + BigInt(asm('stac\naddl $0, (%rsi)\nclac\nadd %eax, %eax').length);
        const [a, b] = [0, 1].map(() => {
          const m = userMachine({ code: asm(src), regs: [], rflags: 0x2n, data: new Uint8Array(8192), kernel: true }).m;
          m.state.gpr[6] = DATA_PTR;
          return m;
        });
        const o = lockstep(a, b, 100, { limits: [1 << 20], stops: [], changeStopsAfter: -1 }, () => src);
        assert.ok(o.end?.kind === 'exception' && o.end.name === '#PF' && o.end.rip === store, o.end && show(o.end));
      });

      it('a RET into a no-execute page: step() then reports the #PF exactly as a step()-only run does', () => {
        const [a, b] = [0, 1].map(() => program(retIntoData, { 6: DATA_PTR }).m);
        const untilFault = (m: Machine, useFast: boolean): StepResult => {
          for (let i = 0; i < 10; i++) {
            if (useFast && m.runFast(100) > 0) continue;
            const r = m.step();
            if (r.kind !== 'ok') return r;
          }
          return assert.fail('no fault');
        };
        const ra = untilFault(a, false);
        const rb = untilFault(b, true);
        assert.ok(ra.kind === 'exception' && ra.name === '#PF' && ra.errorCode === 0x15 && ra.rip === DATA_PTR, show(ra));
        assert.equal(show(rb), show(ra));
      });
    });

    describe('CR3 and TLB changes between runs are honoured', () => {
      /** Page tables mapping the same stack, but USER_CODE to a frame holding `sub` instead of `add`. */
      const SUB_LOOP = HOT_LOOP.replace('add', 'sub');
      const OTHER_CODE = 0x340000n;
      function twoSpaces(): { m: Machine; pt: PageTables; pt2: PageTables } {
        const { m, pt } = program(HOT_LOOP, { 1: 10n });
        m.mem.write(OTHER_CODE, asm(SUB_LOOP));
        const pt2 = new PageTables(m, 0x700000n);
        pt2.map(USER_CODE, OTHER_CODE, { user: true, writable: false });
        pt2.map(USER_STACK_TOP - 0x1000n, STACK_PHYS, { user: true, nx: true });
        return { m, pt, pt2 };
      }
      /** 3 iterations add 10+9+8; the other 7 (after the switch) subtract 7+...+1. */
      const SWITCHED = BigInt.asUintN(64, 27n - 28n);
      /** The 7 remaining iterations (3 instructions each). */
      const finish = (m: Machine): void => { continueFor(m, 21); };

      it('MOV CR3 to other page tables (as the kernel does): the other code runs', () => {
        const { m, pt2 } = twoSpaces();
        assert.ok(continueFor(m, 9) > 0);
        m.state.cr3 = pt2.root;
        m.tlb.flushPcid(0);
        finish(m);
        assert.equal(m.state.gpr[0], SWITCHED);
      });

      it('a PTE pointed at another frame, then INVLPG: the other code runs', () => {
        const { m, pt } = twoSpaces();
        assert.ok(continueFor(m, 9) > 0);
        m.mem.writeU64(pt.pteAddress(USER_CODE), OTHER_CODE | 0x5n); // P | US, read-only
        m.tlb.invlpg(USER_CODE, 0);
        finish(m);
        assert.equal(m.state.gpr[0], SWITCHED);
      });

      it('a store through a TLB entry a load made (not dirty) sets the PTE\'s Dirty bit, as step() does', () => {
        const src = 'mov $4, %ecx\n1: mov (%rsi), %rax\nadd %rcx, %rax\ndec %ecx\njnz 1b\nmov %rax, 8(%rsi)\nud2';
        const made = [0, 1].map(() => program(src, { 6: DATA }));
        const [a, b] = made.map((x) => x.m);
        lockstep(a, b, 100, { limits: [1 << 20, 2], stops: [], changeStopsAfter: -1 }, () => src);
        for (const { m, pt } of made) assert.equal(m.mem.readU64(pt.pteAddress(DATA)) & 0x60n, 0x60n, 'A and D set');
        assert.ok(tlbText(b).includes(`${hex(DATA)}->${hex(DATA_PHYS[0])} dirty`), tlbText(b));
      });

      it('the kernel rewrites a PTE by a store (fast or not), uses the stale translation, then INVLPG: as step() does', () => {
        // CPL 0: R8 points at the PTE of the first data page through a kernel mapping of its page-table frame;
        // the loop reads the page, repoints the PTE at the second data frame (and back), and only every
        // other iteration flushes it, so stale and fresh translations alternate.
        const src = `mov $6, %ecx
1: mov (%rsi), %rax
add %rax, %rbx
mov (%r8), %rdx
xor %r9, %rdx
mov %rdx, (%r8)
mov (%rsi), %rax
add %rax, %rbx
test $1, %ecx
jz 2f
invlpg (%rsi)
2: dec %ecx
jnz 1b
ud2`;
        const [a, b] = pteMachines(src, (m) => { m.state.gpr[9] = DATA_PHYS[0] ^ DATA_PHYS[1]; });
        const o = lockstep(a, b, 1000, { limits: [1 << 20, 5, 1, 2], stops: [], changeStopsAfter: -1 }, () => src);
        assert.ok(o.end?.kind === 'exception' && o.end.name === '#UD', o.end && show(o.end));
        assert.ok(o.fastRan > 0);
      });

      // FOUND BUG (fixed in e25cb30, kept as a regression test): FastMemory keeps its per-page frame cache until Tlb.flushes changes,
      // but the walk step() makes for a store through a clean entry replaces the TLB entry (Tlb.insert) without
      // bumping flushes; the fast tier then keeps loading from the old frame (RBX 0x1111... where step() reads
      // 0x2222...). The program computes with stale memory only when it runs fast.
      it('a PTE repointed without INVLPG, then a store re-walks it (the TLB entry was not dirty): later loads see the new frame, as in step()', () => {
        // CPL 0 (AC set: user pages allowed). The loads fill a clean TLB entry for DATA -> frame 1; the PTE is
        // repointed at frame 2 with no INVLPG, so loads keep using frame 1 (stale, as the CPU may); the store
        // needs the Dirty bit, so step() walks again and from then on DATA is frame 2 - for loads too.
        const src = `mov (%rsi), %rax
mov $3, %ecx
1: mov (%rsi), %rbx
add %rbx, %rax
dec %ecx
jnz 1b
mov %r9, (%r8)
mov $3, %ecx
1: mov (%rsi), %rbx
add %rbx, %rax
dec %ecx
jnz 1b
mov %rdx, 8(%rsi)
mov $3, %ecx
1: mov (%rsi), %rbx
add %rbx, %rax
dec %ecx
jnz 1b
ud2`;
        const [a, b] = pteMachines(src, (m, pte) => {
          m.state.gpr[9] = (m.mem.readU64(pte) & ~0x000ffffffffff000n) | DATA_PHYS[1];
          m.state.gpr[2] = 0x5555n;
        });
        const o = lockstep(a, b, 1000, { limits: [1 << 20, 2, 1], stops: [], changeStopsAfter: -1 }, () => src);
        assert.ok(o.end?.kind === 'exception' && o.end.name === '#UD', o.end && show(o.end));
        assert.ok(o.fastRan > 0);
        assert.equal(b.state.gpr[3], 0x2222222222222222n, 'the last loads read frame 2');
      });

      it('CR0.WP, CR4.SMAP and RFLAGS.AC changed between runs: permissions of cached translations follow them, as in step()', () => {
        // CPL 0 stores into the read-only alias of a user data page (DATA + 0x5000): allowed while WP=0 and AC=1.
        const src = 'mov $40, %ecx\n1: add %rcx, %rax\nmov %rax, 0x4000(%rsi)\ndec %ecx\njnz 1b\nud2';
        const edits: Array<[string, (m: Machine) => void]> = [
          ['CR0.WP set', (m) => { m.state.cr0 |= 1n << 16n; }],
          ['RFLAGS.AC cleared (SMAP applies)', (m) => { m.state.rflags &= ~AC; }],
          ['CR4.SMAP cleared with AC clear', (m) => { m.state.rflags &= ~AC; m.state.cr4 &= ~(1n << 21n); }],
        ];
        for (const [what, edit] of edits) {
          const [a, b] = [0, 1].map(() => {
            const m = userMachine({ code: asm(src), regs: [], rflags: 0x2n | AC, data: new Uint8Array(8192), kernel: true }).m;
            m.state.gpr[6] = DATA_PTR;
            m.state.cr0 &= ~(1n << 16n); // WP off
            return m;
          });
          const sched = { limits: [1 << 20, 5], stops: [], changeStopsAfter: -1 };
          const o1 = lockstep(a, b, 40, sched, () => `${src}\n(before: ${what})`);
          assert.equal(o1.end, undefined, `${what}: the stores work at first`);
          edit(a);
          edit(b);
          const o2 = lockstep(a, b, 200, sched, () => `${src}\n(after: ${what})`);
          assert.ok(o1.fastRan + o2.fastRan > 0, what);
          const expected = what.startsWith('CR4.SMAP') ? '#UD' : '#PF';
          assert.ok(o2.end?.kind === 'exception' && o2.end.name === expected, `${what}: ${o2.end && show(o2.end)}`);
        }
      });

      it('a PTE or CR3 changed without a TLB flush: the fast tier does what step() does (the stale translation)', () => {
        for (const change of ['pte', 'cr3'] as const) {
          const [x, y] = [twoSpaces(), twoSpaces()];
          const o1 = lockstep(x.m, y.m, 9, { limits: [1 << 20], stops: [], changeStopsAfter: -1 }, () => HOT_LOOP);
          for (const t of [x, y]) {
            if (change === 'pte') t.m.mem.writeU64(t.pt.pteAddress(USER_CODE), OTHER_CODE | 0x5n);
            else t.m.state.cr3 = t.pt2.root;
          }
          const o2 = lockstep(x.m, y.m, 100, { limits: [1 << 20, 2], stops: [], changeStopsAfter: -1 }, () => `${HOT_LOOP}\n(${change} changed after 9 instructions)`);
          assert.ok(o1.fastRan + o2.fastRan > 0, change);
        }
      });
    });

    describe('a jump to a non-canonical address gives the #GP step() gives (and with LA57, the #PF)', () => {
      const TOP_PAGE = 0x7ffffffff000n;
      const LOOP = 'mov $3, %ecx\n1: add %rcx, %rax\ndec %ecx\njnz 1b';
      const cases: Array<[string, string]> = [
        ['JMP rel32', `${LOOP}\n{disp32} jmp .+0x200`],
        ['JMP rel8', `${LOOP}\njmp .+0x7f`],
        ['Jcc taken (rel32)', `${LOOP}\ncmp %eax, %eax\n{disp32} je .+0x200`],
        ['Jcc taken (rel8)', `${LOOP}\ncmp %eax, %eax\nje .+0x7f`],
        ['falling off the end of the canonical half', `${LOOP}\nadd %rcx, %rax`],
      ];
      // With LA57 (5-level paging) the same targets are canonical: the jump happens and the fetch there faults (#PF).
      for (const [profile, levels] of [['intel', 4], ['amd', 4], ['intel-la57', 5]] as const) {
        for (const [what, src] of cases) {
          it(`${what} (${profile}${levels === 5 ? ': canonical, so #PF' : ''})`, () => {
            const code = asm(src);
            // The code ends at the last byte below 0x800000000000 (the first non-canonical address with 4-level paging).
            const at = TOP_PAGE + 0x1000n - BigInt(code.length);
            const [a, b] = [0, 1].map(() => {
              const { m, pt } = testMachine({ profile: CPU_PROFILES[profile], levels });
              pt.map(TOP_PAGE, 0x350000n, { user: true, writable: false });
              m.mem.write(0x350000n + (at - TOP_PAGE), code);
              m.state.rip = at;
              return m;
            });
            const o = lockstep(a, b, 1000, { limits: [1 << 20, 1], stops: [], changeStopsAfter: -1 }, () => src);
            assert.ok(o.end?.kind === 'exception' && o.end.vector === (levels === 5 ? 14 : 13), `step() reported ${o.end && show(o.end)}`);
            assert.ok(o.fastRan > 0, 'the loop ran in the fast tier');
          });
        }
      }
    });
  });

  it('an interrupt pending while IF=0 (entry code after SYSCALL) does not keep the fast tier out; it is taken after STI and its shadow, at the same instruction as with step()', () => {
    const src = 'mov $50, %ecx\n1: add %rcx, %rax\ndec %ecx\njnz 1b\nsti\nnop\nnop\nud2';
    const [a, b] = [0, 1].map(() => {
      const { m } = userMachine({ code: asm(src), regs: [], rflags: 0x2n, data: new Uint8Array(8192), kernel: true });
      m.requestInterrupt(0x20);
      return m;
    });
    for (let i = 0; i < 200 && a.pendingInterrupt !== undefined; i++) a.step();
    let fastRan = 0;
    for (let i = 0; i < 200 && b.pendingInterrupt !== undefined; i++) {
      const n = b.runFast(1000);
      fastRan += n;
      if (n === 0) b.step();
    }
    assert.ok(fastRan >= 100, `the loop ran in the fast tier with the interrupt pending (${fastRan})`);
    assert.equal(b.instructionsRetired, a.instructionsRetired, 'taken after the same instruction');
    assert.equal(hex(b.state.rip), hex(a.state.rip), 'at the same RIP');
  });
});
