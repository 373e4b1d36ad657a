/**
 * Fuzzing the one expression evaluator (watch, hover, Debug Console, conditional breakpoints):
 * random strings and random well-formed expressions never throw and never report an internal
 * error; every failure is a message.
 */
import { strict as assert } from 'assert';
import * as fc from 'fast-check';
import { evaluate, type EvalContext } from '../../emulator/runtime/evaluate';
import { newCpuState } from '../../emulator/machine/state';
import { fuzzParams } from './support';

function context(): EvalContext {
  const state = newCpuState();
  state.gpr = state.gpr.map((_, i) => BigInt(i) * 0x1111_1111_1111n);
  return {
    state,
    // Memory: readable below 2^47, "not mapped" above (as the kernel half with the user CR3).
    read: (address, size) => (address < 1n << 47n ? BigInt.asUintN(size * 8, address * 3n) : `#PF: 0x${address.toString(16)} is not mapped`),
    symbol: (name) => (name === 'entry_SYSCALL_64' ? 0xffffffff81000000n : undefined),
    perCpu: (name) => (name === 'cpu_tss_rw' ? { address: 0x6000n, size: 0x3000 } : name === 'cpu_current_top_of_stack' ? { address: 0x6014n, size: 8 } : undefined),
    ptRegsBase: () => 0x7000n,
  };
}

const ATOMS = ['rax', '$rsp', '%rdi', 'eax', 'r15d', 'rip', 'rflags', 'cr3', 'cpl', 'cs', 'gs_base', 'LSTAR', 'MSR_LSTAR', 'EFER', 'entry_SYSCALL_64',
  'regs->ip', 'regs->orig_ax', 'this_cpu(cpu_tss_rw).x86_tss.sp2', 'this_cpu(cpu_tss_rw).x86_tss.ist[3]', 'cpu_current_top_of_stack', 'nosuch', '0', '1', '0xffffffffffffffff', '18446744073709551616', '0x8000000000000000'];
const UNARY = ['-', '~', '!', '*', '&', '(u8)', '(u64 *)', '(struct pt_regs *)', '(unsigned long)', '(s32)', '(void *)', '(struct nosuch)'];
const BINARY = ['+', '-', '*', '/', '%', '&', '|', '^', '<<', '>>', '==', '!=', '<', '<=', '>', '>=', '&&', '||'];

const expr: fc.Arbitrary<string> = fc.letrec<{ e: string }>((tie) => ({
  e: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(...ATOMS),
    fc.bigInt({ min: 0n, max: (1n << 70n) }).map((n) => (n % 2n ? `0x${n.toString(16)}` : n.toString())),
    fc.tuple(fc.constantFrom(...UNARY), tie('e')).map(([op, a]) => `${op}${a}`),
    fc.tuple(tie('e'), fc.constantFrom(...BINARY), tie('e')).map(([a, op, b]) => `${a} ${op} ${b}`),
    tie('e').map((a) => `(${a})`),
    fc.tuple(tie('e'), tie('e')).map(([a, i]) => `${a}[${i}]`),
    tie('e').map((a) => `(${a})->ip`),
  ),
})).e;

function checkResult(text: string): void {
  let r;
  try {
    r = evaluate(context(), text);
  } catch (e) {
    assert.fail(`evaluate(${JSON.stringify(text)}) threw ${(e as Error).stack}`);
  }
  if ('error' in r) {
    assert.equal(typeof r.error, 'string');
    assert.ok(r.error.length > 0 && r.error.length < 500, `unhelpful message for ${JSON.stringify(text)}: ${r.error}`);
    assert.ok(!r.error.startsWith('internal error'), `internal error for ${JSON.stringify(text)}: ${r.error}`);
  } else {
    assert.ok(r.value >= 0n && r.value < 1n << 64n, `value out of 64 bits for ${JSON.stringify(text)}: ${r.value}`);
  }
}

describe('fuzz: expression evaluator', function () {
  it('random strings: never throws, errors are messages', () => {
    fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 60 }), fc.string({ unit: 'binary', maxLength: 30 }), fc.array(fc.constantFrom(...ATOMS, ...UNARY, ...BINARY, '(', ')', '[', ']', '.', '->', ','), { maxLength: 12 }).map((t) => t.join(''))), (s) => checkResult(s)), fuzzParams(3000));
  });

  it('random well-formed expressions: a 64-bit value or a message', () => {
    fc.assert(fc.property(expr, (s) => checkResult(s)), fuzzParams(3000));
  });

  it('deep nesting is an error message, not a stack overflow', () => {
    for (const depth of [1000, 100_000]) {
      checkResult('('.repeat(depth) + '1' + ')'.repeat(depth));
      checkResult('-'.repeat(depth) + '1');
      checkResult('*'.repeat(depth) + 'rsp');
    }
  });
});
