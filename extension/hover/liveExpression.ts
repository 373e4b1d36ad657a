/**
 * Which debugger expression a hovered word of AT&T assembly stands for, so the hover (and the
 * "walk page tables of this operand" command) can ask the stopped session for its live value:
 *   %rsp                         -> the register
 *   RSP(%rsp), CS+8(%rsp)        -> the 8-byte slot at that pt_regs offset from the base register
 *   cpu_tss_rw + TSS_sp2         -> this_cpu(cpu_tss_rw).x86_tss.sp2 (the TSS slot's value)
 *   PER_CPU_VAR(cpu_number)      -> this_cpu(cpu_number)
 *   MSR_LSTAR, entry_SYSCALL_64  -> the MSR, the symbol's address
 * Words in comments give nothing (the language server explains those). Pure: no vscode import.
 */
import { PT_REGS_BY_ASM_NAME, X86_HW_TSS } from '../../emulator/machine/facts';

export interface LiveExpression {
  /** What the evaluator is asked. */
  expression: string;
  /** How the hover names it, e.g. "%rsp" or "RSP(%rsp)". */
  label: string;
  /** 0-based columns of the hovered word (the hover's range). */
  start: number;
  end: number;
}

const WORD = /[%$]?[A-Za-z_][A-Za-z0-9_]*/g;
/** Words that are never values: mnemonics' size suffixes come with the mnemonic, so only directives and macros' syntax. */
const NOT_VALUES = /^(PER_CPU_VAR|ALTERNATIVE|ALTERNATIVE_2|SYM_[A-Z_]+|ENTRY|END|UNWIND_HINT_[A-Z_]+)$/;

/** The word at `character` in `code` (a line with comments blanked out), or undefined. */
export function wordAt(code: string, character: number): { word: string; start: number; end: number } | undefined {
  for (const m of code.matchAll(WORD)) {
    const start = m.index ?? 0;
    const end = start + m[0].length;
    if (character >= start && character <= end && character < code.length) return { word: m[0], start, end };
  }
  return undefined;
}

const TSS_BY_ASM_NAME = new Map(X86_HW_TSS.filter((f) => f.asmName).map((f) => [f.asmName as string, f.field]));

/**
 * @param code the line with comments replaced by spaces
 */
export function liveExpressionAt(code: string, character: number): LiveExpression | undefined {
  const w = wordAt(code, character);
  if (!w) return undefined;
  const { word, start, end } = w;
  const at = (expression: string, label = word): LiveExpression => ({ expression, label, start, end });
  if (word.startsWith('%')) return at(`$${word.slice(1).toLowerCase()}`, word.toLowerCase());
  // An immediate ($__USER_CS, $MSR_LSTAR): the name itself, as the evaluator knows it (symbol, MSR).
  if (word.startsWith('$')) return NOT_VALUES.test(word.slice(1)) ? undefined : { ...at(word.slice(1), word.slice(1)), start: start + 1 };
  // The statement's first word is the mnemonic, a label or a macro call: nothing live to show.
  const before = code.slice(0, start);
  if (/^\s*$/.test(before) || /^\s*[\w.$]+:\s*$/.test(before)) return undefined;
  if (NOT_VALUES.test(word)) return undefined;
  // pt_regs slot: RSP(%rsp), EFLAGS+8(%rsp) ...
  const slot = PT_REGS_BY_ASM_NAME.get(word);
  const mem = /^\s*([+-]\s*\d+\s*)?\(\s*%(\w+)\s*\)/.exec(code.slice(end));
  if (slot && mem) {
    const extra = mem[1] ? Number(mem[1].replace(/\s/g, '')) : 0;
    const offset = slot.offset + extra;
    return at(`*(u64 *)($${mem[2].toLowerCase()} + ${offset})`, `${word}${mem[1] ? mem[1].replace(/\s/g, '') : ''}(%${mem[2].toLowerCase()})`);
  }
  const tssField = TSS_BY_ASM_NAME.get(word);
  if (tssField) return at(`this_cpu(cpu_tss_rw).x86_tss.${tssField}`, `cpu_tss_rw.x86_tss.${tssField}`);
  // A per-CPU variable inside PER_CPU_VAR(...): its value, as the instruction reads it.
  if (/PER_CPU_VAR\s*\(\s*$/.test(before)) return at(`this_cpu(${word})`, `this_cpu(${word})`);
  return at(word);
}
