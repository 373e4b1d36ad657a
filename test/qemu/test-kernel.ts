/**
 * The kernel the QEMU tests boot (built by scripts/test-kernel/build.sh into .cache/test-kernel)
 * and the "user's tree": the Linux 6.1 source the project keeps extracted elsewhere, so a
 * breakpoint set on its entry_64.S has to be mapped onto the build's paths by the engine.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO } from '../support/paths';

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
