/**
 * Recognising a real Linux tree from the entry file and building it as Kbuild does, on an
 * in-memory tree (the on-disk Debian trees are exercised in test/real).
 */
import { strict as assert } from 'assert';
import { memoryFiles } from '../../../emulator/host';
import {
  KERNEL_PROFILES, detectRealTree, familyOf, kernelBuild, parseCpuFeatures, profileForVersion, realTreeKernel,
} from '../../../emulator/kernel';

const ROOT = '/src/linux';
const ENTRY = `${ROOT}/arch/x86/entry/entry_64.S`;
const makefile = (v: number, p: number, s = 3): string => `# SPDX-License-Identifier: GPL-2.0\nVERSION = ${v}\nPATCHLEVEL = ${p}\nSUBLEVEL = ${s}\nEXTRAVERSION =\nNAME = Test\n`;

function tree(v: number, p: number, extra: Record<string, string> = {}): ReturnType<typeof memoryFiles> {
  return memoryFiles({
    [`${ROOT}/Makefile`]: makefile(v, p),
    [ENTRY]: '#include <linux/linkage.h>\n',
    [`${ROOT}/include/linux/kconfig.h`]: '#include <generated/autoconf.h>\n',
    [`${ROOT}/arch/x86/include/asm/cpufeatures.h`]: '#define NCAPINTS 21\n#define X86_FEATURE_PTI ( 7*32+11) /* x */\n#define X86_FEATURE_XENPV ( 8*32+16)\n#define X86_BUG_CPU_MELTDOWN X86_BUG(14)\n',
    ...extra,
  });
}

describe('real Linux trees: recognition and Kbuild flags', () => {
  it('families by version: 5.8 -> 5.8, 5.9-6.2 -> 6.1, 6.3-6.8 -> 6.6, 6.9+ -> 6.12', () => {
    assert.deepEqual([[5, 8], [6, 1], [6, 2], [6, 6], [6, 8], [6, 9], [6, 12], [7, 0]].map(([a, b]) => familyOf(a, b)), ['5.8', '6.1', '6.1', '6.6', '6.6', '6.12', '6.12', '6.12']);
    assert.equal(profileForVersion('6.1.192')?.family, '6.1');
    assert.equal(profileForVersion('5.15')?.family, '6.1');
    assert.equal(profileForVersion('v6.12')?.family, '6.12');
    assert.equal(profileForVersion('nonsense'), undefined);
  });

  it('detects the tree from <root>/arch/x86/entry/entry_64.S + <root>/Makefile, with the exact release', () => {
    const t = detectRealTree(ENTRY, tree(6, 12));
    assert.deepEqual(t && { root: t.root, release: t.release, family: t.family, built: t.built }, { root: ROOT, release: '6.12.3', family: '6.12', built: false });
    assert.equal(detectRealTree('/src/other/entry_64.S', tree(6, 12)), undefined);
    assert.equal(detectRealTree(ENTRY, memoryFiles({ [ENTRY]: '' })), undefined, 'no Makefile: not a tree');
  });

  it('parses X86_FEATURE_* and X86_BUG_* numbers from the tree\'s cpufeatures.h', () => {
    const f = parseCpuFeatures(tree(6, 1).readFile(`${ROOT}/arch/x86/include/asm/cpufeatures.h`)!);
    assert.deepEqual(f, { PTI: 235, XENPV: 272, BUG_CPU_MELTDOWN: 21 * 32 + 14 });
  });

  it('Kbuild\'s flags: include path order, -include kconfig.h (compiler-version.h only if the tree has it), 6.12\'s KBUILD_MODNAME', () => {
    const k = realTreeKernel(detectRealTree(ENTRY, tree(6, 12))!, tree(6, 12));
    assert.deepEqual(k.includeDirs.map((d) => d.slice(ROOT.length + 1)), ['arch/x86/include', 'arch/x86/include/generated', 'include', 'arch/x86/include/uapi', 'arch/x86/include/generated/uapi', 'include/uapi', 'include/generated/uapi']);
    assert.deepEqual(k.preIncludes, [`${ROOT}/include/linux/kconfig.h`]);
    assert.equal(k.defines.KBUILD_MODNAME, '"entry_64"');
    assert.equal(realTreeKernel(detectRealTree(ENTRY, tree(6, 1))!, tree(6, 1)).defines.KBUILD_MODNAME, undefined);
  });

  it('an unbuilt tree gets autoconf.h/asm-offsets.h from the bundled profile; launch.json config and version override', () => {
    const b = kernelBuild(ENTRY, '/samples', tree(6, 1), undefined, { PAGE_TABLE_ISOLATION: false });
    assert.ok(!('error' in b));
    const autoconf = b.fs.readFile(`${ROOT}/include/generated/autoconf.h`)!;
    assert.match(autoconf, /#define CONFIG_X86_64 1/);
    assert.doesNotMatch(autoconf, /CONFIG_PAGE_TABLE_ISOLATION/);
    assert.match(autoconf, /#define CONFIG_NR_CPUS 64/);
    assert.match(b.fs.readFile(`${ROOT}/include/generated/asm-offsets.h`)!, /#define TSS_sp2 20/);
    assert.equal(b.profile.topOfStack.symbol, 'cpu_current_top_of_stack');
    assert.match(b.profile.factSources.config, /bundled .*overridden by launch.json kernel.config \(PAGE_TABLE_ISOLATION=n\)/);
    assert.equal(b.profile.x86Features.XENPV, 272, 'feature numbers from the tree');
    // 6.7 is in the 6.6 family but already returns bool from do_syscall_64.
    const b67 = kernelBuild(`${ROOT}/arch/x86/entry/entry_64.S`, '/samples', tree(6, 7));
    assert.ok(!('error' in b67));
    assert.equal(b67.profile.family, '6.6');
    assert.equal(b67.profile.doSyscall64.returnsBool, true);
    assert.equal(KERNEL_PROFILES['6.6'].doSyscall64.returnsBool, false);
  });

  it('the bundled sample and excerpts keep the 5.8 profile by default', () => {
    const b = kernelBuild('/samples/entry_64.S', '/samples', memoryFiles({ '/samples/entry_64.S': '#include <x.h>\nSYM_CODE_START(swapgs_restore_regs_and_return_to_usermode)\n' }));
    assert.ok(!('error' in b));
    assert.equal(b.profile.version, '5.8');
    assert.equal(b.tree, undefined);
    const six = kernelBuild('/samples/entry_64.S', '/samples', memoryFiles({}), '6.1');
    assert.ok('error' in six && /bundled sample and excerpts are Linux 5.8 entry code; for 6.1 set kernelEntry to a real tree/.test(six.error));
    const bad = kernelBuild('/samples/entry_64.S', '/samples', memoryFiles({}), '4.4');
    assert.ok('error' in bad && /unknown kernel version "4.4"/.test(bad.error));
  });
});

describe('the 5.8 profile agrees with what 5.8-era sources show (checked with the search tool, see emulator/kernel/README.md)', () => {
  const p = KERNEL_PROFILES['5.8'];
  it('task stack top is the TSS sp1 alias, do_syscall_64(nr, regs) returns void, 13-byte alt_instr', () => {
    assert.deepEqual({ symbol: p.topOfStack.symbol, offset: p.topOfStack.offset }, { symbol: 'cpu_tss_rw', offset: 12 });
    assert.equal(p.cppAliases.cpu_current_top_of_stack, 'cpu_tss_rw + TSS_sp1');
    assert.deepEqual([...p.doSyscall64.argNames], ['nr', 'regs']);
    assert.deepEqual([...p.doSyscall64.argRegisters], ['rdi', 'rsi']);
    assert.equal(p.doSyscall64.returnsBool, false);
    assert.equal(p.altInstr, '5.8');
  });
});

describe('real trees kentry has no profile for', () => {
  it('a 4.19 tree is a clear error naming the entry file, not an exception', () => {
    const b = kernelBuild(ENTRY, '/samples', memoryFiles({ [`${ROOT}/Makefile`]: makefile(4, 19), [ENTRY]: '' }));
    assert.ok('error' in b);
    assert.match(b.error, /entry_64\.S: no kentry profile for Linux 4\.19\.3/);
  });
});
