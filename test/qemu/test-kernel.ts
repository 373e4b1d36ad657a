/**
 * The kernel the QEMU tests boot (built by scripts/test-kernel/build.sh into .cache/test-kernel)
 * and the "user's tree": the Linux 6.1 source the project keeps extracted elsewhere, so a
 * breakpoint set on its entry_64.S has to be mapped onto the build's paths by the engine.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ElfFile, SymbolTable } from '../../emulator/formats/elf';
import type { EngineStop } from '../../debug-adapter/engine';
import type { QemuEngine } from '../../debug-adapter/engines/qemu/qemu-engine';
import { REPO, lineOf } from '../support/paths';

export const TEST_KERNEL_DIR = path.join(REPO, '.cache', 'test-kernel');

export interface TestKernel {
  bzImage: string;
  vmlinux: string;
  initrd: string;
  /** The static /init ELF (its symbols tell user addresses apart). */
  init: string;
  /** entry_64.S of a 6.1 tree other than the one the kernel was built from. */
  userEntryFile: string;
}

export function testKernel(): TestKernel | undefined {
  const k = {
    bzImage: path.join(TEST_KERNEL_DIR, 'bzImage'),
    vmlinux: path.join(TEST_KERNEL_DIR, 'vmlinux'),
    initrd: path.join(TEST_KERNEL_DIR, 'initramfs.cpio'),
    init: path.join(TEST_KERNEL_DIR, 'init'),
    userEntryFile: path.join(TEST_KERNEL_DIR, 'linux-source-6.1', 'arch', 'x86', 'entry', 'entry_64.S'),
  };
  const other = path.join(REPO, '.cache', 'linux', 'linux-source-6.1', 'arch', 'x86', 'entry', 'entry_64.S');
  if (fs.existsSync(other)) k.userEntryFile = other;
  const ok = [k.bzImage, k.vmlinux, k.initrd, k.init, k.userEntryFile].every((p) => fs.existsSync(p));
  return ok ? k : undefined;
}

let told = false;

/**
 * The test kernel, or skip the test: only when it is not built AND KENTRY_QEMU_TESTS is unset.
 * With KENTRY_QEMU_TESTS set a missing kernel is a failure (CI builds it first).
 */
export function requireTestKernel(ctx: Mocha.Context): TestKernel {
  const k = testKernel();
  if (k) return k;
  if (process.env.KENTRY_QEMU_TESTS) {
    throw new Error(`KENTRY_QEMU_TESTS is set but the test kernel is missing in ${TEST_KERNEL_DIR}: run scripts/test-kernel/build.sh`);
  }
  if (!told) {
    console.log(`    (QEMU tests skipped: no test kernel in ${TEST_KERNEL_DIR}; run scripts/test-kernel/build.sh, or set KENTRY_QEMU_TESTS=1 to make this a failure)`);
    told = true;
  }
  ctx.skip();
  throw new Error('unreachable');
}

export function nextStop(engine: QemuEngine, timeoutMs = 90000): Promise<EngineStop> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { engine.off('stopped', onStop); reject(new Error(`no stop within ${timeoutMs} ms; console:\n${engine.console.slice(-2000)}`)); }, timeoutMs);
    const onStop = (s: EngineStop): void => { clearTimeout(timer); resolve(s); };
    engine.once('stopped', onStop);
  });
}

/** Line of `swapgs` right after SYM_CODE_START(entry_SYSCALL_64) in the user's entry_64.S. */
export function syscallSwapgsLine(entryFile: string): number {
  const start = lineOf(entryFile, /^SYM_CODE_START\(entry_SYSCALL_64\)/);
  const lines = fs.readFileSync(entryFile, 'utf8').split('\n');
  for (let i = start; i < lines.length; i++) if (/^\s*swapgs\b/.test(lines[i])) return i + 1;
  throw new Error('no swapgs after entry_SYSCALL_64');
}

export function initText(k: TestKernel): { start: bigint; end: bigint } {
  const syms = new SymbolTable(new ElfFile(fs.readFileSync(k.init)).symbols());
  const start = syms.address('_start') as bigint;
  return { start, end: start + 0x1000n };
}

