/**
 * The project's starting point: the annotated v5.8.13 entry_SYSCALL_64 from ../shared/seed,
 * assembled with a small prelude of our own kernel-macro stand-ins. The result must be
 * byte-identical to gcc -E + GNU as, and the line table must lead back to the seed's lines.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assemble, link } from '../../../emulator/asm';
import * as facts from '../../../emulator/machine/facts';
import { compareWithGas, gas, gccPreprocess } from './gas-helper';

const repoRoot = path.resolve(__dirname, '../../..');
const seed = path.join(path.resolve(repoRoot, '../shared/seed'), 'entry_SYSCALL_64.v5.8.13.annotated.S');
const prelude = path.join(repoRoot, 'test/fixtures/asm/kernel-prelude.h');
const disk = { readFile: (p: string) => (fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : undefined) };

/** asm-offsets and selectors, from the machine facts (their one home). */
function factDefines(): Record<string, string> {
  const d: Record<string, string> = {};
  for (const f of facts.PT_REGS) d[f.asmName] = String(f.offset);
  for (const [k, v] of Object.entries(facts.TSS_ASM_OFFSETS)) d[k] = String(v);
  d.__USER_DS = String(facts.SELECTOR.__USER_DS);
  d.__USER_CS = String(facts.SELECTOR.__USER_CS);
  d.X86_EFLAGS_RF = `0x${facts.RFLAGS.RF.toString(16)}`;
  d.X86_EFLAGS_TF = `0x${facts.RFLAGS.TF.toString(16)}`;
  return d;
}

describe('asm: the seed entry_SYSCALL_64 (v5.8.13)', () => {
  const defines = factDefines();
  const obj = assemble({ file: seed, fs: disk, defines, preIncludes: [prelude] });
  const seedLines = fs.readFileSync(seed, 'utf8').split('\n');
  const lineOf = (re: RegExp, from = 0): number => seedLines.findIndex((l, i) => i >= from && re.test(l)) + 1;

  it('assembles without diagnostics, byte-identical to gcc -E + as --64', () => {
    assert.deepEqual(obj.diagnostics, []);
    const cppOut = gccPreprocess(seed, [], ['-include', prelude, ...Object.entries(defines).map(([k, v]) => `-D${k}=${v}`)]);
    assert.deepEqual(compareWithGas(obj, gas(cppOut)), []);
    assert.ok((obj.sections.get('.text')?.bytes.length ?? 0) > 100);
  });

  it('maps instructions back to the seed lines they are written on', () => {
    const at = (text: RegExp): (typeof obj.lines)[number] | undefined => obj.lines.find((l) => text.test(l.text));
    const swapgs = at(/^swapgs$/);
    assert.equal(swapgs?.loc.file, seed);
    assert.equal(swapgs?.loc.line, lineOf(/^\s*swapgs\s*$/));
    assert.deepEqual(swapgs?.stack, []);
    assert.equal(swapgs?.offset, 0, 'entry_SYSCALL_64 starts with swapgs');
    const save = at(/^movq %rsp, %gs:cpu_tss_rw \+ 20$/);
    assert.equal(save?.loc.line, lineOf(/movq\s+%rsp, PER_CPU_VAR\(cpu_tss_rw \+ TSS_sp2\)/));
    assert.equal(save?.isInstruction, true);
  });

  it('attributes macro-generated instructions to the prelude body with the seed invocation as the outer frame', () => {
    const pushes = obj.lines.filter((l) => l.stack[0]?.name === 'PUSH_AND_CLEAR_REGS');
    assert.equal(pushes.filter((l) => l.text.startsWith('pushq')).length, 15);
    const rax = pushes.find((l) => l.text === 'pushq $-38');
    assert.ok(rax, 'rax=$-ENOSYS reached the .irp body');
    assert.equal(rax.loc.file, prelude);
    assert.equal(rax.stack[0].loc.line, lineOf(/PUSH_AND_CLEAR_REGS rax=\$-ENOSYS/));
    assert.deepEqual(rax.stack.map((f) => f.kind), ['as-macro', 'repeat']);
    const sysret = obj.lines.find((l) => l.text === 'sysretq');
    assert.equal(sysret?.stack[0].name, 'USERGS_SYSRET64');
    assert.equal(sysret?.stack[0].loc.line, lineOf(/^\s*USERGS_SYSRET64/));
  });

  it('links at a kernel address with the per-CPU and C symbols supplied as externs', () => {
    const img = link([obj], {
      sectionBases: { '.text': 0xffffffff81a00000n },
      externs: new Map([['cpu_tss_rw', 0x6000n], ['cpu_current_top_of_stack', 0x6014n], ['do_syscall_64', 0xffffffff81001000n], ['swapgs_restore_regs_and_return_to_usermode', 0xffffffff81a00800n]]),
    });
    assert.deepEqual(img.diagnostics, []);
    assert.equal(img.symbols.get('entry_SYSCALL_64'), 0xffffffff81a00000n);
    const text = img.segments.find((s) => s.name === '.text');
    assert.ok(text);
    // movq %rsp, %gs:cpu_tss_rw+20 -> 65 48 89 24 25 <0x6014>
    const first = img.lines.find((l) => l.text.startsWith('movq %rsp, %gs:'));
    assert.ok(first);
    const off = Number(first.address - text.address);
    assert.deepEqual([...text.bytes.subarray(off, off + 9)], [0x65, 0x48, 0x89, 0x24, 0x25, 0x14, 0x60, 0x00, 0x00]);
    const call = img.lines.find((l) => l.text === 'call do_syscall_64');
    assert.ok(call);
    const coff = Number(call.address - text.address);
    const rel = new DataView(text.bytes.buffer, text.bytes.byteOffset + coff + 1, 4).getInt32(0, true);
    assert.equal(call.address + 5n + BigInt(rel), 0xffffffff81001000n);
    for (let i = 1; i < img.lines.length; i++) assert.ok(img.lines[i - 1].address <= img.lines[i].address);
  });
});
