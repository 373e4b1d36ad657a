/** Loading entry code: kentry's preprocess + assemble (+ link + boot) against gcc -E + GNU as on the same file. */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { performance } from 'perf_hooks';
import { KentryRuntime } from '../emulator/runtime/runtime';
import { assemble } from '../emulator/asm';
import { kernelBuild, kernelTranslationUnits } from '../emulator/kernel/sources';
import { GENERATED_DIR, generatedHeaders } from '../emulator/kernel/generated-headers';
import { KERNEL_PROFILES, resolveConfig } from '../emulator/kernel/profiles';
import { detectRealTree, kbuildCppArgs, realTreeKernel } from '../emulator/kernel/real-tree';
import { nodeFiles } from '../debug-adapter/node-files';
import { add, skipped } from './report';
import { REAL_61, SAMPLES, hasReal61, tmp } from './paths';

function timeEach(reps: number, fn: () => void): number {
  fn(); // warm-up: module init, caches a long session also has
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) fn();
  return (performance.now() - t0) / reps / 1000;
}

function gnuSeconds(reps: number, cppArgs: string[], file: string): number | string {
  const once = (): string | undefined => {
    const pre = spawnSync('gcc', [...cppArgs, file], { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (pre.status !== 0) return `gcc -E failed: ${pre.stderr.slice(0, 200)}`;
    const as = spawnSync('as', ['--64', '-o', path.join(tmp, 'e.o')], { input: pre.stdout });
    if (as.status !== 0) return `as failed: ${String(as.stderr).slice(0, 200)}`;
    return undefined;
  };
  const err = once();
  if (err) return err;
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) once();
  return (performance.now() - t0) / reps / 1000;
}

export function benchSample(): void {
  const entry = path.join(SAMPLES, 'entry_64.S');
  const rt = new KentryRuntime({ fs: nodeFiles, samplesDir: SAMPLES });
  const ours = timeEach(10, () => rt.load());
  // GNU gets the same flags, with kentry's generated headers (asm-offsets, autoconf) written to disk.
  const profile = KERNEL_PROFILES['5.8'];
  const config = resolveConfig(profile);
  const scratch = fs.mkdtempSync(path.join(tmp, 'gen-'));
  for (const [file, text] of generatedHeaders(profile, config)) {
    const to = path.join(scratch, path.relative(GENERATED_DIR, file));
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.writeFileSync(to, text);
  }
  const onDisk = (p: string): string => (p.startsWith(GENERATED_DIR) ? path.join(scratch, path.relative(GENERATED_DIR, p)) : p);
  const unit = kernelTranslationUnits(entry, SAMPLES, profile, config, nodeFiles)[0];
  const cpp = ['-E', ...Object.entries(unit.defines ?? {}).map(([k, v]) => `-D${k}=${v}`), ...(unit.includeDirs ?? []).map((d) => `-I${onDisk(d)}`), ...(unit.preIncludes ?? []).flatMap((f) => ['-include', onDisk(f)])];
  const gnu = gnuSeconds(10, cpp, entry);
  if (typeof gnu === 'string') return skipped('launch the bundled sample vs gcc -E + as', gnu);
  add({ name: 'launch the bundled sample (assemble+link+boot) vs gcc -E + as', value: ours, unit: 's', reference: gnu, ratio: ours / gnu, note: 'ratio = ours / GNU (GNU side: no link, no boot)' });
}

export function benchReal61(): void {
  if (!hasReal61()) return skipped('launch the real Linux 6.1 entry_64.S vs gcc -E + as', 'no prepared tree under .cache/linux (scripts/linux-trees.sh)');
  const tree = detectRealTree(REAL_61, nodeFiles);
  if (!tree) return skipped('launch the real Linux 6.1 entry_64.S', 'not recognised as a tree');
  const k = realTreeKernel(tree, nodeFiles);
  const scratch = fs.mkdtempSync(path.join(tmp, 'cpp-'));
  fs.mkdirSync(path.join(scratch, 'generated'), { recursive: true });
  fs.writeFileSync(path.join(scratch, 'generated/autoconf.h'), k.fs.readFile(path.join(tree.root, 'include/generated/autoconf.h')) ?? '');
  const args = kbuildCppArgs(k);
  const gnu = gnuSeconds(5, [args[0], `-I${scratch}`, ...args.slice(1)], REAL_61);
  if (typeof gnu === 'string') return skipped('launch the real Linux 6.1 entry_64.S vs gcc -E + as', gnu);
  const b = kernelBuild(REAL_61, SAMPLES, nodeFiles);
  if ('error' in b) return skipped('assemble the real Linux 6.1 entry_64.S', b.error);
  const asmOnly = timeEach(5, () => assemble(b.units[0]));
  add({ name: 'assemble the real Linux 6.1 entry_64.S (preprocess+assemble) vs gcc -E + as', value: asmOnly, unit: 's', reference: gnu, ratio: asmOnly / gnu, note: 'same flags (Kbuild cpp args); ratio = ours / GNU' });
  const rt = new KentryRuntime({ fs: nodeFiles, samplesDir: SAMPLES, kernelEntry: REAL_61 });
  const launch = timeEach(5, () => {
    const errors = rt.load();
    if (errors.length) throw new Error(`${errors[0].loc.file}:${errors[0].loc.line}: ${errors[0].message}`);
  });
  add({ name: 'launch the real Linux 6.1 entry_64.S (assemble+link+boot) vs gcc -E + as', value: launch, unit: 's', reference: gnu, ratio: launch / gnu, note: 'what F5 costs before the first stop; ratio = ours / GNU (GNU side: no link, no boot)' });
}
