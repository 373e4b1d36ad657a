/** The hover's parts without a connection: comment blocks, notes, instruction docs, values, expansions. */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { memoryFiles } from '../../../emulator/host';
import type { ObjectImage } from '../../../emulator/asm/types';
import { INSTRUCTION_DOCS, lookupInstruction } from '../../../emulator/docs/instructions';
import { formatValue, lookupNamedValue } from '../../../emulator/docs/named-values';
import { lookupRegister } from '../../../emulator/docs/registers';
import { alignNotes, noteCodeBlocks, noteCommentsFor } from '../../../language-server/annotations';
import { commentMarkdownFor, renderComment } from '../../../language-server/comments';
import { expansionMarkdown, hoverMarkdown } from '../../../language-server/hover';
import { scanSource } from '../../../language-server/source-lines';
import { repoRoot } from './lsp-client';

const seedDir = path.resolve(repoRoot, '../shared/seed');
const noteText = fs.readFileSync(path.join(seedDir, 'entry_SYSCALL_64.v5.8.13.annotated.md'), 'utf8');
const lineOf = (text: string, needle: string): number => text.split('\n').findIndex((l) => l.includes(needle));

describe('hover: comments above a line', () => {
  it('renders a /* */ block without gutters, keeping a ``` fence and an indented code sample', () => {
    const md = renderComment(['/*', ' * Text here.', ' *', ' * ```', ' * #define A\t1', ' * ```', ' *', ' *     movq $x, %rcx', ' */']);
    assert.strictEqual(md, 'Text here.\n\n```\n#define A\t1\n```\n\n    movq $x, %rcx');
  });

  it('a hash-comment directive is not a comment, a hash comment is', () => {
    const lines = scanSource('#include "x.h"\n# a comment\n#if 0\n\tnop # trailing\n');
    assert.deepStrictEqual(lines.map((l) => l.kind), ['directive', 'comment', 'directive', 'code', 'blank']);
    assert.strictEqual(lines[3].comments[0].text, '# trailing');
  });

  it('does not take a "/*" inside a string for a comment', () => {
    const lines = scanSource('\t.ascii "/* not a comment"\n\tnop');
    assert.strictEqual(lines[0].kind, 'code');
    assert.strictEqual(lines[1].kind, 'code');
  });

  it('a blank line between the comment and the code means the comment is not about it', () => {
    const lines = scanSource('/* about nothing below */\n\n\tnop\n');
    assert.deepStrictEqual(commentMarkdownFor(lines, 2), { above: undefined, trailing: undefined });
  });
});

describe('hover: annotation notes aligned to a real file', () => {
  it('finds the note\'s fenced block, not the ``` fences inside its comments', () => {
    const blocks = noteCodeBlocks('note.md', noteText);
    assert.strictEqual(blocks.length, 1);
    assert.ok(blocks[0].lines.some((l) => l.code.includes('USERGS_SYSRET64')), 'the block runs to the closing fence');
  });

  it('aligns despite extra real lines, changed whitespace and a line the note rewrote', () => {
    const seed = fs.readFileSync(path.join(seedDir, 'entry_SYSCALL_64.v5.8.13.annotated.S'), 'utf8');
    const realLines = seed.split('\n').filter((l) => !/^\s*(\/\*|\*)/.test(l)).map((l) => l.replace(/\t/g, '  '));
    realLines.splice(0, 0, 'SYM_CODE_START(some_other_entry)', '\tpopq %rdi', 'SYM_CODE_END(some_other_entry)', '');
    const i = realLines.findIndex((l) => l.includes('movq  %rax, %rdi'));
    realLines[i] = '  movq  %rax, %r12';
    const real = realLines.join('\n');
    const [al] = alignNotes([{ path: 'n.md', text: noteText }], real);
    assert.ok(al, 'the note applies');
    const notes = (needle: string) => noteCommentsFor([al], lineOf(real, needle)).map((n) => n.markdown).join('\n');
    assert.match(notes('swapgs'), /Swap user GS and kernel GS/);
    assert.match(notes('movq  %rsp, %rsi'), /IRQs are off\.\n\npointer of struct pt_regs/);
    assert.strictEqual(notes('movq  %rax, %r12'), '', 'a rewritten line has no note');
    assert.strictEqual(noteCommentsFor([al], 1).length, 0, 'the popq of another function is not the note\'s popq');
  });

  it('does not apply a note to an unrelated file', () => {
    assert.deepStrictEqual(alignNotes([{ path: 'n.md', text: noteText }], '\tpopq %rdi\n\tpopq %rsp\n\tret\n'), []);
  });
});

describe('instruction, register and value docs', () => {
  it('documents at least 60 mnemonics, including the entry code\'s privileged ones', () => {
    assert.ok(INSTRUCTION_DOCS.length >= 60);
    for (const m of ['swapgs', 'sysretq', 'syscall', 'iretq', 'push', 'pop', 'bt', 'btr', 'shl', 'sar', 'cmp', 'jne', 'call', 'ret', 'lfence', 'mov']) {
      assert.ok(lookupInstruction(m), m);
    }
  });

  it('resolves AT&T size suffixes without eating real names', () => {
    assert.strictEqual(lookupInstruction('pushq')?.mnemonic, 'push');
    assert.strictEqual(lookupInstruction('cmpq')?.mnemonic, 'cmp');
    assert.strictEqual(lookupInstruction('shl')?.mnemonic, 'shl');
    assert.strictEqual(lookupInstruction('sysretq')?.mnemonic, 'sysretq');
    assert.strictEqual(lookupInstruction('movzbl')?.mnemonic, 'movz');
    assert.strictEqual(lookupInstruction('frobnicate'), undefined);
  });

  it('gives TSS_sp2, pt_regs offsets, selectors, MSRs and flag masks from the machine facts', () => {
    assert.strictEqual(formatValue(lookupNamedValue('TSS_sp2')!), '20');
    assert.strictEqual(formatValue(lookupNamedValue('RCX')!), '88');
    assert.strictEqual(formatValue(lookupNamedValue('__USER_DS')!), '0x2b');
    assert.strictEqual(formatValue(lookupNamedValue('__USER_CS')!), '0x33');
    assert.strictEqual(formatValue(lookupNamedValue('MSR_KERNEL_GS_BASE')!), '0xc0000102');
    assert.strictEqual(formatValue(lookupNamedValue('X86_EFLAGS_TF')!), '0x100');
    assert.strictEqual(formatValue(lookupNamedValue('X86_EFLAGS_IF_BIT')!), '9');
    assert.strictEqual(formatValue(lookupNamedValue('PTI_USER_PGTABLE_AND_PCID_MASK')!), '0x1800');
    assert.strictEqual(formatValue(lookupNamedValue('X86_CR3_PCID_NOFLUSH_BIT')!), '63');
  });

  it('explains %cr3 and maps %eax to rax', () => {
    assert.match(lookupRegister('%cr3')!.doc, /KPTI/);
    assert.match(lookupRegister('%eax')!.doc, /Syscall number/);
  });

  it('shows the privileged note of mov only for a move to or from a control register', () => {
    const fsx = memoryFiles({});
    const ctx = { fs: fsx, includeDirs: [], preIncludes: [] };
    assert.match(hoverMarkdown(ctx, '/a.S', '\tmov %rax, %cr3\n', 0, 2)!, /switches page tables/);
    assert.doesNotMatch(hoverMarkdown(ctx, '/a.S', '\tmov %rax, %rbx\n', 0, 2)!, /switches page tables/);
  });

  it('explains a \\param of the enclosing .macro with its default', () => {
    const ctx = { fs: memoryFiles({}), includeDirs: [], preIncludes: [] };
    const text = '.macro A reg=%rax\n.endm\n.macro POP_REGS pop_rdi=1 reg:req\n\t.if \\pop_rdi\n\tmovq \\reg, %rdi\n.endm\n';
    assert.match(hoverMarkdown(ctx, '/a.S', text, 3, 7)!, /\*\*\\pop_rdi\*\*: parameter of `\.macro POP_REGS`, default `1`/);
    assert.match(hoverMarkdown(ctx, '/a.S', text, 4, 8)!, /\*\*\\reg\*\*: parameter of `\.macro POP_REGS`, required/);
  });

  it('evaluates a #define from an included header', () => {
    const fsx = memoryFiles({ '/inc/h.h': '#define SHIFT 47\n#define CANON_SHIFT (64 - (SHIFT + 1))\n' });
    const text = '#include "h.h"\n\tshl $CANON_SHIFT, %rcx\n';
    const md = hoverMarkdown({ fs: fsx, includeDirs: ['/inc'], preIncludes: [] }, '/src/a.S', text, 1, 8)!;
    assert.match(md, /#define CANON_SHIFT \(64 - \(SHIFT \+ 1\)\)/);
    assert.match(md, /= `16`/);
  });
});

describe('hover: macro expansion from the line table', () => {
  const image = (): ObjectImage => ({
    sections: new Map(), symbols: new Map(), relocations: [], diagnostics: [], files: [],
    lines: [
      { section: '.entry.text', offset: 0, size: 4, loc: { file: '/k/calling.h', line: 10 }, stack: [{ kind: 'as-macro', name: 'SWITCH_TO_KERNEL_CR3', loc: { file: '/k/entry_64.S', line: 5 } }], text: 'movq %cr3, %rsp', isInstruction: true },
      { section: '.entry.text', offset: 4, size: 7, loc: { file: '/k/calling.h', line: 11 }, stack: [{ kind: 'as-macro', name: 'SWITCH_TO_KERNEL_CR3', loc: { file: '/k/entry_64.S', line: 5 } }], text: 'andq $0xffffffffffffe7ff, %rsp', isInstruction: true },
      { section: '.entry.text', offset: 11, size: 3, loc: { file: '/k/entry_64.S', line: 6 }, stack: [], text: 'swapgs', isInstruction: true },
    ],
  });

  it('lists what the macro on the line assembled to', () => {
    const md = expansionMarkdown(image(), '/k/entry_64.S', 5)!;
    assert.match(md, /SWITCH_TO_KERNEL_CR3, 2 statements/);
    assert.match(md, /movq %cr3, %rsp\n\tandq \$0xffffffffffffe7ff, %rsp/);
  });

  it('says nothing for a plain instruction', () => {
    assert.strictEqual(expansionMarkdown(image(), '/k/entry_64.S', 6), undefined);
  });
});
