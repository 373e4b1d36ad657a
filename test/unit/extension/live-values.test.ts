/**
 * The pure parts behind the live hover, the page walk of an operand and the views' edit action:
 * which expression a hovered word stands for, the bytes writeMemory sends, and which rows are editable.
 */
import * as assert from 'assert';
import { leadingNumber, littleEndian, toBase64 } from '../../../extension/commands/memoryBytes';
import { liveExpressionAt } from '../../../extension/hover/liveExpression';
import { msrRows, pagingRows, perCpuRows, ptRegsRows } from '../../../extension/views/rows';
import { stateAfterPushIp } from './fixture';

/** The expression for the word at the first occurrence of `word` in `line` (hovered in its middle). */
function exprAt(line: string, word: string, nth = 0): string | undefined {
  let at = -1;
  for (let i = 0; i <= nth; i++) at = line.indexOf(word, at + 1);
  assert.ok(at >= 0, `${word} in ${line}`);
  return liveExpressionAt(line, at + Math.floor(word.length / 2))?.expression;
}

describe('live values: what a hovered word of entry code evaluates as', () => {
  it('registers', () => {
    assert.strictEqual(exprAt('\tmovq\t%rsp, %rsi', '%rsp'), '$rsp');
    assert.strictEqual(exprAt('\tmovq\t%rsp, %rsi', '%rsi'), '$rsi');
    assert.strictEqual(liveExpressionAt('\tmovq\t%RSP, %rsi', 7)?.label, '%rsp');
  });

  it('pt_regs slots addressed off a register: RIP(%rsp), EFLAGS(%rsp), and with a displacement', () => {
    assert.strictEqual(exprAt('\tmovq\tRIP(%rsp), %r11', 'RIP'), '*(u64 *)($rsp + 128)');
    assert.strictEqual(exprAt('\tcmpq\t%r11, EFLAGS(%rsp)', 'EFLAGS'), '*(u64 *)($rsp + 144)');
    assert.strictEqual(exprAt('\tmovq\tRSP+8(%rbx), %rax', 'RSP'), '*(u64 *)($rbx + 160)');
    assert.strictEqual(liveExpressionAt('\tcmpq\t$__USER_CS, CS(%rsp)', 19)?.label, 'CS(%rsp)');
  });

  it('TSS asm-offsets and PER_CPU_VAR operands read the per-CPU value', () => {
    assert.strictEqual(exprAt('\tmovq\t%rsp, PER_CPU_VAR(cpu_tss_rw + TSS_sp2)', 'TSS_sp2'), 'this_cpu(cpu_tss_rw).x86_tss.sp2');
    assert.strictEqual(exprAt('\tmovq\tPER_CPU_VAR(cpu_current_top_of_stack), %rsp', 'cpu_current_top_of_stack'), 'this_cpu(cpu_current_top_of_stack)');
  });

  it('symbols and MSR names as written; mnemonics, labels, macros and comments give nothing', () => {
    assert.strictEqual(exprAt('\tmovl\t$MSR_LSTAR, %ecx', 'MSR_LSTAR'), 'MSR_LSTAR', 'an immediate: the name as the evaluator knows it');
    assert.strictEqual(exprAt('\tjmp\tentry_SYSCALL_64_after_hwframe', 'entry_SYSCALL_64_after_hwframe'), 'entry_SYSCALL_64_after_hwframe');
    assert.strictEqual(exprAt('\tswapgs', 'swapgs'), undefined);
    assert.strictEqual(exprAt('entry_SYSCALL_64:', 'entry_SYSCALL_64'), undefined);
    assert.strictEqual(exprAt('1:\tpushq\t%rax', 'pushq'), undefined);
    assert.strictEqual(exprAt('\tSWITCH_TO_KERNEL_CR3 scratch_reg=%rsp', 'SWITCH_TO_KERNEL_CR3'), undefined);
    assert.strictEqual(exprAt('\tmovq\tPER_CPU_VAR(x), %rsp', 'PER_CPU_VAR'), undefined);
    // scanSource blanks comments before this runs: a blank line has no words.
    assert.strictEqual(liveExpressionAt('                 ', 3), undefined);
  });
});

describe('memory edits: typed value to writeMemory bytes', () => {
  it('reads the number an evaluate result starts with', () => {
    assert.strictEqual(leadingNumber('0xffffffff81a00000 <entry_SYSCALL_64>  (LSTAR)'), 0xffffffff81a00000n);
    assert.strictEqual(leadingNumber('42'), 42n);
    assert.strictEqual(leadingNumber('-1'), -1n);
    assert.strictEqual(leadingNumber('not a number'), undefined);
  });

  it('encodes little-endian at the field size and refuses what does not fit', () => {
    assert.deepStrictEqual(Array.from(littleEndian(0x1234n, 2) as Uint8Array), [0x34, 0x12]);
    assert.deepStrictEqual(Array.from(littleEndian(-1n, 4) as Uint8Array), [0xff, 0xff, 0xff, 0xff]);
    assert.strictEqual(toBase64(littleEndian(0x0102030405060708n, 8) as Uint8Array), Buffer.from([8, 7, 6, 5, 4, 3, 2, 1]).toString('base64'));
    assert.match((littleEndian(0x10000n, 2) as { error: string }).error, /does not fit in 2 bytes/);
  });
});

describe('views: which rows can be edited, and how', () => {
  const state = stateAfterPushIp();

  it('MSRs and control registers through setVariable in the adapter\'s scope of that name', () => {
    const lstar = msrRows(state).find((r) => r.label === 'IA32_LSTAR')!;
    assert.deepStrictEqual(lstar.edit, { kind: 'variable', scope: 'MSRs', name: 'IA32_LSTAR', current: lstar.edit?.current });
    const paging = pagingRows(state);
    assert.deepStrictEqual(paging.find((r) => r.label === 'CR3')?.edit?.name, 'CR3');
    assert.deepStrictEqual(paging.find((r) => r.label === 'CR4')?.edit, { kind: 'variable', scope: 'Control registers', name: 'CR4', current: '0x3606f0' });
    assert.strictEqual(paging.find((r) => r.label === 'Walk page tables…')?.edit, undefined);
  });

  it('TSS fields, per-CPU variables and pt_regs slots through writeMemory at their address and size', () => {
    const per = perCpuRows(state);
    const sp2 = per[0].children!.find((r) => r.label === 'sp2')!;
    assert.deepStrictEqual({ kind: sp2.edit?.kind, size: (sp2.edit as { size: number }).size }, { kind: 'memory', size: 8 });
    const ip = ptRegsRows(state).find((r) => r.label === 'ip')!;
    assert.deepStrictEqual(ip.edit, { kind: 'memory', address: '0xffffc90000003fd8', size: 8, name: 'pt_regs->ip', current: '0x401005' });
    assert.strictEqual(ptRegsRows(state)[0].edit, undefined, 'the RSP row is not a slot');
  });
});
