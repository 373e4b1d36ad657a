/**
 * Fuzzing the preprocessor and assembler: mutated sample and seed sources, directive/macro soup,
 * include cycles and binary junk. Whatever the input, preprocess/assemble return (no exception,
 * no hang: each case runs in a worker under a wall-clock limit) and every diagnostic names a file
 * and a line that exists in it.
 */
import { strict as assert } from 'assert';
import * as fc from 'fast-check';
import * as fs from 'fs';
import * as path from 'path';
import { REPO, SAMPLES, SEED_DIR } from '../support/paths';
import { AsmSandbox, problem } from './asm-sandbox';
import { fuzzParams, mutateLines, suiteTimeout, type LineMutation } from './support';

/** Every file under dir, by absolute path. */
function readTree(dir: string, out: Record<string, string> = {}): Record<string, string> {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) readTree(p, out);
    else if (/\.(S|s|h)$/.test(e.name)) out[p] = fs.readFileSync(p, 'utf8');
  }
  return out;
}

const SAMPLE_FILES = readTree(SAMPLES);
const ENTRY = path.join(SAMPLES, 'entry_64.S');
const REAL_61 = path.join(REPO, '.cache/linux/linux-source-6.1/arch/x86/entry/entry_64.S');
const SEEDS = fs.existsSync(SEED_DIR) ? fs.readdirSync(SEED_DIR).filter((f) => f.endsWith('.S')).map((f) => path.join(SEED_DIR, f)) : [];

/** Statements that stress the directive machinery; holes are filled by the generator. */
const SNIPPETS = [
  '.macro M a b=1', '.macro M2 x:req, y:vararg', '.endm', '.exitm', '.purgem M', 'M 1, 2', 'M2', 'M \\a',
  '.rept 3', '.rept 100000', '.rept -1', '.rept 1<<40', '.endr', '.irp r, rax, rbx, rcx', '.irpc c, 0123', 'push %\\r',
  '.if 1', '.if x+', '.ifdef foo', '.ifndef bar', '.ifc a,b', '.ifb', '.else', '.elseif 0', '.endif',
  '#if 1', '#if defined(X) &&', '#ifdef A', '#else', '#elif 1', '#endif', '#define A B B', '#define B A A', '#define F(x) F(x) x##x',
  '#undef A', '#include "a.h"', '#include "b.h"', '#include <kentry/calling.h>', '#include "missing.h"', '#error stop', '#warning w',
  '.fill 1000000000, 8, 0', '.fill 16, 1, 0x90', '.skip 1<<40', '.space 0x10000000', '.org 0x1000', '.org -1', '.align 4096', '.p2align 62', '.balign 3',
  '.byte 1, 2, 300', '.quad sym+1', '.long 1/0', '.ascii "unterminated', '.asciz "a\\"b"', '.string "x"',
  '.set x, x+1', '.equ y, y', 'z = z * 2', '.section .text', '.pushsection .data', '.popsection', '.previous', '.section', '.text', '.data',
  'ALTERNATIVE "nop", "ud2", 1', 'ALTERNATIVE_2 "", "", 1, "", 2', 'SYM_CODE_START(f)', 'SYM_CODE_END(f)', 'UNWIND_HINT_EMPTY', 'PUSH_AND_CLEAR_REGS', 'POP_REGS',
  'movq %rsp, PER_CPU_VAR(cpu_tss_rw + TSS_sp2)', 'movq %rax, %rbx', 'jmp 1f', '1:', 'jnz 1b', 'call do_syscall_64', 'swapgs', 'sysretq', 'lea (%rip), %rax',
  'mov $1<<70, %rax', 'movq (%rax,%rbx,3), %rcx', 'addq $x, (%rsp)', 'label:', 'label:', '0:', '.globl label', '.type label, @function', '.size label, .-label',
  '/* open comment', '*/', '// c++ comment', '# 1 "file.h"', '"', "'", '\\', ';;;', '.incbin "x"', '.include "a.h"', '.error "e"', '.warning "w"', '.print "p"',
  '.nops 9', '.nops -1', '.code32', '.code64', '.intel_syntax noprefix', '.att_syntax', '.cfi_startproc', '.cfi_endproc', '.end',
  '#define G(x, ...) x __VA_ARGS__ G', 'G(1, 2, 3)', 'F(', 'F(a,(b)', ')', '#if 1/0', '#if ((((', '#if', '#elif', '#include MAC', '#define MAC "a.h"',
  '#define S(x) #x', '.ascii S(a"b)', '#define P(a,b) a##b', 'P(mov,q) %rax, %rbx', 'P(,)', '__LINE__', '__FILE__', '# 99 "other.S"',
  '.altmacro', '.noaltmacro', '.macro N a\n.macro N2\n.endm\n.endm', '.macro L a, b\n\\a \\b\n.endm', 'L .rept, 3', '.irp x,1,2,3,4,5,6,7,8,9,10,11,12', '.irp', '.endr;.endr',
  '.if \\a', '.ifeqs "a","a"', '.ifnes', '.ifgt 1', '.iflt', '.ifnc a,b', '.endif;.endif', '.set .,0', '. = . + 4', '.-.', '.weak w', '.hidden h', '.local l',
  'ALTERNATIVE "", "", X86_FEATURE_PTI', 'ALTERNATIVE_2', 'SWITCH_TO_KERNEL_CR3 scratch_reg=%rsp', 'UNWIND_HINT_REGS base=%rsp offset=8', 'ENCODE_FRAME_POINTER', 'PUSH_REGS rdx=%rdx',
];

const snippet = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...SNIPPETS) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
);

const mutation: fc.Arbitrary<LineMutation> = fc.record({
  op: fc.constantFrom('delete', 'duplicate', 'insert', 'truncate', 'junk', 'swap'),
  a: fc.nat(),
  b: fc.nat({ max: 40 }),
  text: snippet,
});

function check(outcome: Awaited<ReturnType<AsmSandbox['run']>>, what: () => string): void {
  const p = problem(outcome);
  assert.equal(p, undefined, `${p}\ncase: ${what()}`);
}

describe('fuzz: preprocessor and assembler', function () {
  this.timeout(suiteTimeout(180_000));
  const sandbox = new AsmSandbox();
  after(() => sandbox.close());

  it('mutations of the bundled sample (entry_64.S and its headers) never crash, hang or lose a diagnostic location', async () => {
    const names = Object.keys(SAMPLE_FILES);
    await fc.assert(fc.asyncProperty(fc.constantFrom(...names), fc.array(mutation, { minLength: 1, maxLength: 6 }), fc.constantFrom('preprocess', 'assemble') as fc.Arbitrary<'preprocess' | 'assemble'>, async (victim, ms, mode) => {
      const files = { ...SAMPLE_FILES, [victim]: mutateLines(SAMPLE_FILES[victim], ms) };
      check(await sandbox.run({ files, main: ENTRY, samplesDir: SAMPLES, mode }), () => `${victim} mutated by ${JSON.stringify(ms)} (${mode})`);
    }), fuzzParams(40));
  });

  (SEEDS.length ? it : it.skip)('mutations of the seed (../shared/seed/*.S, read at test time) behave the same', async () => {
    const seeds = Object.fromEntries(SEEDS.map((f) => [f, fs.readFileSync(f, 'utf8')]));
    await fc.assert(fc.asyncProperty(fc.constantFrom(...SEEDS), fc.array(mutation, { minLength: 1, maxLength: 6 }), async (seed, ms) => {
      const files = { ...SAMPLE_FILES, [seed]: mutateLines(seeds[seed], ms) };
      check(await sandbox.run({ files, main: seed, samplesDir: SAMPLES, mode: 'assemble' }), () => `${seed} mutated by ${JSON.stringify(ms)}`);
    }), fuzzParams(25));
  });

  (fs.existsSync(REAL_61) ? it : it.skip)('mutations of the real Linux 6.1 entry_64.S (its tree read from disk, Kbuild flags)', async () => {
    const real = fs.readFileSync(REAL_61, 'utf8');
    await fc.assert(fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 6 }), async (ms) => {
      const files = { [REAL_61]: mutateLines(real, ms) };
      check(await sandbox.run({ files, main: REAL_61, samplesDir: SAMPLES, mode: 'assemble', realTree: true }, 60), () => `real 6.1 entry_64.S mutated by ${JSON.stringify(ms)}`);
    }), fuzzParams(8));
  });

  it('directive and macro soup across three files that include each other', async () => {
    const file = fc.array(snippet, { maxLength: 30 }).map((ls) => ls.join('\n'));
    await fc.assert(fc.asyncProperty(file, file, file, async (main, a, b) => {
      const dir = '/fuzz';
      const files = { ...SAMPLE_FILES, [`${dir}/main.S`]: main, [`${dir}/a.h`]: a, [`${dir}/b.h`]: b };
      check(await sandbox.run({ files, main: `${dir}/main.S`, samplesDir: SAMPLES, mode: 'assemble' }), () => JSON.stringify({ main, a, b }));
    }), fuzzParams(120));
  });

  it('binary junk as the entry file', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 2000 }), async (bytes) => {
      const files = { ...SAMPLE_FILES, '/fuzz/junk.S': Buffer.from(bytes).toString('latin1') };
      check(await sandbox.run({ files, main: '/fuzz/junk.S', samplesDir: SAMPLES, mode: 'assemble' }), () => JSON.stringify(Array.from(bytes)));
    }), fuzzParams(40));
  });
});
