/**
 * Bad input never throws out of the assembler: it becomes a Diagnostic at the right file:line,
 * with the macro/repeat chain that led there, and assembly continues with the next statement.
 */
import { strict as assert } from 'node:assert';
import { assemble } from '../../../emulator/asm';
import { memoryFiles } from '../../../emulator/host';
import { ours } from './gas-helper';

const where = (d: { loc: { file: string; line: number }; message: string }): string => `${d.loc.file}:${d.loc.line}: ${d.message}`;

describe('asm: diagnostics', () => {
  it('names an unknown mnemonic with its file:line and carries on', () => {
    const obj = ours('\tnop\n\tfrobq %rax\n\tret\n');
    assert.deepEqual(obj.diagnostics.map(where), ["/src/main.S:2: no such instruction: `frobq' in `frobq %rax'"]);
    assert.deepEqual([...(obj.sections.get('.text')?.bytes ?? [])], [0x90, 0xc3]);
  });

  it('points into the macro body (defining file:line) with the invocation chain outermost first', () => {
    const obj = ours('#include "m.h"\n\tnop\n\tOUTER\n', {
      '/src/m.h': '.macro INNER\n\tmovq %rax\n.endm\n.macro OUTER\n\tINNER\n.endm\n',
    });
    assert.equal(obj.diagnostics.length, 1);
    const d = obj.diagnostics[0];
    assert.equal(where(d), "/src/m.h:2: unsupported operand combination for `movq' (1 operand) in `movq %rax'");
    assert.deepEqual(d.stack.map((f) => `${f.kind} ${f.name} ${f.loc.file}:${f.loc.line}`), ['as-macro OUTER /src/main.S:3', 'as-macro INNER /src/m.h:5']);
  });

  it('reports bad operands, undefined local labels, missing .endm/.endr, and .intel_syntax', () => {
    const obj = ours('\tmovq %rax, %foo\n\tjmp 9f\n\tmovl 1b, %eax\n\t.intel_syntax noprefix\n.macro X\n\tnop\n');
    const msgs = obj.diagnostics.map(where);
    assert.ok(msgs.includes("/src/main.S:1: bad register name `%foo' in `movq %rax, %foo'"), msgs.join('\n'));
    assert.ok(msgs.some((m) => m.startsWith('/src/main.S:2: ') && /9/.test(m)), msgs.join('\n'));
    assert.ok(msgs.some((m) => m.startsWith('/src/main.S:3: ') && /local label `1'/.test(m)), msgs.join('\n'));
    assert.ok(msgs.some((m) => m.startsWith('/src/main.S:4: .intel_syntax is not supported')), msgs.join('\n'));
    assert.ok(msgs.some((m) => /missing \.endm/.test(m)), msgs.join('\n'));
  });

  it('stops runaway recursion, huge .rept counts and negative .skip with a diagnostic', () => {
    const obj = ours('.macro R\n\tR\n.endm\n\tR\n\t.rept 100000000\n\tnop\n\t.endr\n\t.skip 1b-2f\n1: nop\n2:\n\tret\n');
    const msgs = obj.diagnostics.map(where);
    assert.ok(msgs.some((m) => /nested more than 100 deep/.test(m)), msgs.join('\n'));
    assert.ok(msgs.some((m) => m.startsWith('/src/main.S:5: .rept count 100000000 too large')), msgs.join('\n'));
    assert.ok(msgs.some((m) => m.startsWith('/src/main.S:8: .skip')), msgs.join('\n'));
    assert.equal(obj.sections.get('.text')?.bytes.at(-1), 0xc3, 'assembly continued after the errors');
  });

  it('warns, like gas, when an immediate or datum is cut to its operand size (and keeps gas\'s bytes)', () => {
    const obj = ours('\tmovb $300, %al\n\taddl $0x1ffffffff, %eax\n\tmovb $300, %al\n\t.byte 256\n');
    assert.deepEqual(obj.diagnostics.map((d) => `${d.severity} ${d.loc.line}: ${d.message}`), [
      'warning 1: 0x12c shortened to 0x2c', 'warning 2: 0x1ffffffff shortened to 0xffffffff', 'warning 3: 0x12c shortened to 0x2c', 'warning 4: value 0x100 truncated to 0x0',
    ]);
    assert.deepEqual([...(obj.sections.get('.text')?.bytes ?? [])], [0xb0, 0x2c, 0x05, 0xff, 0xff, 0xff, 0xff, 0xb0, 0x2c, 0x00]);
  });

  it('reports a missing main file instead of throwing', () => {
    const obj = assemble({ file: '/nope.S', fs: memoryFiles({}) });
    assert.deepEqual(obj.diagnostics.map((d) => d.message), ['cannot read /nope.S']);
  });
});
