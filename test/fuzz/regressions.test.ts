/**
 * Cases the fuzzers found, kept so they stay fixed. Each one once crashed, hung or ran out of
 * memory; now it ends with a clear diagnostic at the right file:line.
 */
import { strict as assert } from 'assert';
import { assemble } from '../../emulator/asm';
import { memoryFiles } from '../../emulator/host';
import { evaluate, type EvalContext } from '../../emulator/runtime/evaluate';
import { newCpuState } from '../../emulator/machine/state';

function diagnose(files: Record<string, string>, main = '/fuzz/main.S'): string[] {
  const obj = assemble({ file: main, fs: memoryFiles(files) });
  return obj.diagnostics.map((d) => `${d.loc.file}:${d.loc.line}: ${d.message}`);
}

describe('fuzz regressions: assembler', () => {
  it('a file that .includes itself stops at the include depth limit instead of running out of memory', () => {
    const d = diagnose({ '/fuzz/main.S': '.include "a.h"\n', '/fuzz/a.h': '.include "a.h"\nnop\n' });
    assert.deepEqual(d, ['/fuzz/a.h:1: .include nested more than 64 deep (include cycle through /fuzz/a.h?)']);
  });

  it('.org far forward is an error, not gigabytes of padding', () => {
    assert.deepEqual(diagnose({ '/fuzz/main.S': 'nop\n.org 0x7fffffff\n' }), ['/fuzz/main.S:2: .org moves more than 256 MiB forward']);
  });

  it('.space blocks that add up to more than 256 MiB are dropped with an error', () => {
    const d = diagnose({ '/fuzz/main.S': '.space 0x8000000\n.space 0x8000000\n.space 0x8000000\n' });
    assert.deepEqual(d, ['/fuzz/main.S:3: output larger than 256 MiB: data dropped']);
  });
});

describe('fuzz regressions: expression evaluator', () => {
  const ctx: EvalContext = {
    state: newCpuState(),
    read: () => 0n,
    symbol: () => undefined,
    perCpu: () => undefined,
    ptRegsBase: () => undefined,
  };

  it('names of Object.prototype members are unknown names, not internal errors', () => {
    assert.deepEqual(evaluate(ctx, '__proto__'), { error: 'unknown name "__proto__"' });
    assert.deepEqual(evaluate(ctx, 'constructor'), { error: 'unknown name "constructor"' });
    assert.deepEqual(evaluate(ctx, '(struct constructor *)0'), { error: 'unknown type "struct constructor"' });
  });

  it('100000 nested parentheses are an error message, not a stack overflow or a quadratic tokenizer', () => {
    assert.deepEqual(evaluate(ctx, '('.repeat(100_000) + '1' + ')'.repeat(100_000)), { error: 'expression nested more than 500 deep' });
  });
});
