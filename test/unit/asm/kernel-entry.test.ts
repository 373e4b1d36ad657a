/**
 * The real thing: Linux 6.1's (and 6.12's) arch/x86/entry/entry_64.S with the kernel's own headers (from the
 * Debian linux-source package, read at test time, never copied into the repo) must assemble
 * byte-identical to gcc -E + GNU as, with no diagnostics. Skipped when the tarball is absent.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { assemble } from '../../../emulator/asm';
import * as facts from '../../../emulator/machine/facts';
import { compareWithGas, gas } from './gas-helper';

interface KernelVersion {
  version: string;
  /** Config and asm-offsets the version needs on top of the common ones. */
  config: string[];
  offsets: string[];
}

const VERSIONS: KernelVersion[] = [
  { version: '6.1', config: [], offsets: [] },
  {
    version: '6.12',
    config: ['OBJTOOL', 'MITIGATION_PAGE_TABLE_ISOLATION', 'MITIGATION_RETPOLINE', 'MITIGATION_UNRET_ENTRY', 'MITIGATION_IBPB_ENTRY', 'MITIGATION_SRSO', 'MITIGATION_RETHUNK', 'MITIGATION_CALL_DEPTH_TRACKING']
      .map((c) => `#define CONFIG_${c} 1`).concat(['#define CONFIG_PAGE_SHIFT 12']),
    offsets: ['#define FIXED_stack_canary 40', '#define X86_call_depth 48'],
  },
];

/** A kernel configuration for the entry code: x86-64, PTI, retpolines, IBT, 5-level paging, IA32. */
const AUTOCONF = [
  'X86_64', '64BIT', 'X86', 'SMP', 'PAGE_TABLE_ISOLATION', 'RETPOLINE', 'X86_KERNEL_IBT', 'CPU_UNRET_ENTRY', 'CPU_IBPB_ENTRY', 'CPU_SRSO',
  'IA32_EMULATION', 'X86_ESPFIX64', 'STACKPROTECTOR', 'X86_5LEVEL', 'DEBUG_ENTRY', 'X86_MCE', 'CC_HAS_IBT',
].map((c) => `#define CONFIG_${c} 1`).concat(['#define CONFIG_NR_CPUS 64', '#define CONFIG_PGTABLE_LEVELS 5', '#define CONFIG_FUNCTION_ALIGNMENT 16', '#define CONFIG_X86_L1_CACHE_SHIFT 6']);

const tarball = (k: KernelVersion): string => `/usr/src/linux-source-${k.version}.tar.xz`;
const treeOf = (k: KernelVersion): string => path.join(os.tmpdir(), `kentry-asm-linux-${k.version}`, `linux-source-${k.version}`);

function prepareTree(k: KernelVersion): string {
  const TREE = treeOf(k);
  const top = `linux-source-${k.version}`;
  if (!fs.existsSync(path.join(TREE, 'arch/x86/entry/entry_64.S'))) {
    fs.mkdirSync(path.dirname(TREE), { recursive: true });
    execFileSync('tar', ['xJf', tarball(k), '-C', path.dirname(TREE), '--wildcards', `${top}/arch/x86/include/*`, `${top}/include/*`, `${top}/arch/x86/entry/*`]);
  }
  // What a kernel build would generate: config, asm-offsets (TSS and pt_regs from the machine facts;
  // task_struct/per-CPU offsets are arbitrary), and the generated uapi/asm wrappers.
  const put = (rel: string, text: string): void => {
    fs.mkdirSync(path.dirname(path.join(TREE, rel)), { recursive: true });
    fs.writeFileSync(path.join(TREE, rel), text + '\n');
  };
  put('include/generated/autoconf.h', AUTOCONF.concat(k.config).join('\n'));
  put('include/generated/asm-offsets.h', [
    ...Object.entries(facts.TSS_ASM_OFFSETS).map(([k, v]) => `#define ${k} ${v}`),
    `#define PTREGS_SIZE ${facts.SIZEOF_PTREGS}`,
    '#define TASK_threadsp 2800', '#define TASK_stack_canary 2400', '#define X86_top_of_stack 24', '#define pcpu_hot_stack_canary 40',
    '#define TLB_STATE_user_pcid_flush_mask 22', '#define stack_canary_offset 40', '#define X86_current_task 0',
    ...k.offsets,
  ].join('\n'));
  put('arch/x86/include/generated/uapi/asm/types.h', '#include <asm-generic/types.h>');
  put('arch/x86/include/generated/uapi/asm/errno.h', '#include <asm-generic/errno.h>');
  put('arch/x86/include/generated/asm/export.h', '#include <asm-generic/export.h>');
  for (const f of ['asm/rwonce.h', 'asm/unistd_64.h', 'asm/unistd_64_x32.h', 'asm/unistd_32_ia32.h', 'asm/cpufeaturemasks.h']) put(`arch/x86/include/generated/${f}`, '');
  return TREE;
}

const INCLUDES = ['arch/x86/include', 'arch/x86/include/generated', 'include', 'arch/x86/include/uapi', 'arch/x86/include/generated/uapi', 'include/uapi', 'include/generated/uapi'];
const PRE = ['include/linux/compiler-version.h', 'include/linux/kconfig.h'];

for (const k of VERSIONS) describe(`asm: Linux ${k.version} arch/x86/entry/entry_64.S with the real kernel headers`, function () {
  let TREE = '';
  before(function () {
    if (!fs.existsSync(tarball(k))) this.skip();
    TREE = prepareTree(k);
  });

  it('assembles with no diagnostics, byte-identical to gcc -E + as --64 (all sections, all relocations)', () => {
    const file = path.join(TREE, 'arch/x86/entry/entry_64.S');
    const disk = { readFile: (p: string) => (fs.existsSync(p) && fs.statSync(p).isFile() ? fs.readFileSync(p, 'utf8') : undefined) };
    const obj = assemble({ file, fs: disk, includeDirs: INCLUDES.map((d) => path.join(TREE, d)), defines: { __KERNEL__: '1' }, preIncludes: PRE.map((p) => path.join(TREE, p)) });
    assert.deepEqual(obj.diagnostics.map((d) => `${d.loc.file}:${d.loc.line}: ${d.message}`), []);
    const cpp = execFileSync('gcc', ['-E', '-P', '-nostdinc', '-x', 'assembler-with-cpp', '-D__KERNEL__', '-D__ASSEMBLY__', ...INCLUDES.map((d) => `-I${d}`), ...PRE.flatMap((p) => ['-include', p]), 'arch/x86/entry/entry_64.S'], { cwd: TREE, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    assert.deepEqual(compareWithGas(obj, gas(cpp)), []);
    // The syscall entry is there and starts with endbr64 (IBT) then swapgs.
    const entry = obj.symbols.get('entry_SYSCALL_64');
    assert.ok(entry?.section);
    const bytes = obj.sections.get(entry.section)!.bytes.subarray(Number(entry.value), Number(entry.value) + 7);
    assert.deepEqual([...bytes], [0xf3, 0x0f, 0x1e, 0xfa, 0x0f, 0x01, 0xf8]);
    const swapgs = obj.lines.find((l) => l.section === entry.section && l.offset === Number(entry.value) + 4);
    assert.equal(swapgs?.text, 'swapgs');
    assert.equal(swapgs?.loc.file, file);
  });
});
