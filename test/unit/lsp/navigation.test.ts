/** Definitions, outline, inactive regions and diagnostic placement, on in-memory files. */
import * as assert from 'assert';
import { memoryFiles } from '../../../emulator/host';
import type { Diagnostic } from '../../../emulator/asm/types';
import { findDefinition, wordAt } from '../../../language-server/definitions';
import { diagnosticsForFile } from '../../../language-server/diagnostics';
import { evaluateCondition, inactiveRegions } from '../../../language-server/inactive';
import { documentSymbols } from '../../../language-server/symbols';

describe('definitions and symbols', () => {
  const header = '#define PER_CPU_VAR(var) %gs:var\n.macro POP_REGS pop_rdi=1\n\tpopq %r15\n.endm\n';
  const main = '#include <asm/calling.h>\nSYM_CODE_START(entry)\n\tPOP_REGS pop_rdi=0\n\tmovq %rsp, PER_CPU_VAR(x)\n\tjmp entry\n1:\tjmp 1b\nSYM_CODE_END(entry)\n';
  const ctx = { fs: memoryFiles({ '/inc/asm/calling.h': header }), includeDirs: ['/inc'], preIncludes: [] };

  it('finds a macro in an <included> header, a cpp macro, a label and the header itself', () => {
    assert.deepStrictEqual(findDefinition(ctx, '/s/e.S', main, 2, 3), { file: '/inc/asm/calling.h', line: 1, column: 7 });
    assert.deepStrictEqual(findDefinition(ctx, '/s/e.S', main, 3, 14), { file: '/inc/asm/calling.h', line: 0, column: 8 });
    assert.deepStrictEqual(findDefinition(ctx, '/s/e.S', main, 4, 6), { file: '/s/e.S', line: 1, column: 15 });
    assert.deepStrictEqual(findDefinition(ctx, '/s/e.S', main, 0, 12), { file: '/inc/asm/calling.h', line: 0, column: 0 });
  });

  it('returns nothing for a register or an unknown name', () => {
    assert.strictEqual(findDefinition(ctx, '/s/e.S', main, 3, 8), undefined);
    assert.strictEqual(findDefinition(ctx, '/s/e.S', '\tcall nowhere\n', 0, 7), undefined);
  });

  it('takes a %register, a \\param and a $constant as one word', () => {
    assert.strictEqual(wordAt('\tmovq %rsp, %gs:0x10', 7)?.word, '%rsp');
    assert.strictEqual(wordAt('\tmovq \\reg, %rax', 7)?.word, '\\reg');
    assert.strictEqual(wordAt('\tpushq $__USER_DS', 10)?.word, '__USER_DS');
  });

  it('outlines functions with their labels, macros and defines', () => {
    const syms = documentSymbols(main + header);
    assert.deepStrictEqual(syms.map((s) => [s.name, s.kind, s.line, s.endLine]), [
      ['entry', 'function', 1, 6],
      ['PER_CPU_VAR', 'cpp-macro', 7, 7],
      ['POP_REGS', 'as-macro', 8, 10],
    ]);
    assert.deepStrictEqual(syms[0].children.map((c) => c.name), ['1']);
  });
});

describe('inactive #if regions', () => {
  const text = '#ifdef CONFIG_X86_5LEVEL\n\tfive\n#else\n\tfour\n#endif\n#if defined(A) && B > 2\n\tab\n#elif 0\n\tnever\n#endif\n';

  it('greys out the branch the config does not take', () => {
    assert.deepStrictEqual(inactiveRegions(text, new Map()), [{ startLine: 1, endLine: 1 }, { startLine: 6, endLine: 6 }, { startLine: 8, endLine: 8 }]);
    assert.deepStrictEqual(inactiveRegions(text, new Map([['CONFIG_X86_5LEVEL', '1'], ['A', ''], ['B', '3']])), [{ startLine: 3, endLine: 3 }, { startLine: 8, endLine: 8 }]);
  });

  it('evaluates cpp arithmetic and treats unknown names as 0', () => {
    assert.strictEqual(evaluateCondition('(1 << 4) == 16 && !UNKNOWN', new Map()), true);
    assert.strictEqual(evaluateCondition('X ? 0 : 1', new Map([['X', '2']])), false);
    assert.strictEqual(evaluateCondition('((', new Map()), false, 'malformed input is false, not a throw');
  });
});

describe('diagnostics placement', () => {
  it('puts an error inside a macro on the line that called it, naming the macro and the inner line', () => {
    const d: Diagnostic[] = [
      { severity: 'error', message: 'unknown instruction "frob"', loc: { file: '/s/e.S', line: 3 }, stack: [] },
      { severity: 'error', message: 'bad operand', loc: { file: '/inc/calling.h', line: 7 }, stack: [{ kind: 'as-macro', name: 'POP_REGS', loc: { file: '/s/e.S', line: 9 } }] },
      { severity: 'warning', message: 'elsewhere', loc: { file: '/other.S', line: 1 }, stack: [] },
    ];
    assert.deepStrictEqual(diagnosticsForFile(d, '/s/e.S'), [
      { line: 2, severity: 'error', message: 'unknown instruction "frob"', origin: undefined },
      { line: 8, severity: 'error', message: 'bad operand (in POP_REGS, at calling.h:7)', origin: { file: '/inc/calling.h', line: 7 } },
    ]);
  });
});
