/**
 * Test helper for the real Linux trees scripts/linux-trees.sh prepares under .cache/linux/
 * (Debian linux-source-6.1 and -6.12, x86_64_defconfig + make prepare). Nothing of the trees is
 * copied into the repo: tests read them from disk.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FileAccess } from '../../emulator/host';
import { assemble } from '../../emulator/asm';
import type { ObjectImage } from '../../emulator/asm/types';
import { kernelBuild, type KernelBuild } from '../../emulator/kernel/sources';
import { kbuildCppArgs, realTreeKernel, detectRealTree } from '../../emulator/kernel/real-tree';
import { gas, type GasObject } from '../unit/asm/gas-helper';

export const REPO = path.resolve(__dirname, '../..');
export const SAMPLES = path.join(REPO, 'samples');
export const treeRoot = (v: string): string => path.join(REPO, '.cache/linux', `linux-source-${v}`);
export const entryOf = (v: string): string => path.join(treeRoot(v), 'arch/x86/entry/entry_64.S');

export const disk: FileAccess = { readFile: (p) => (fs.existsSync(p) && fs.statSync(p).isFile() ? fs.readFileSync(p, 'utf8') : undefined) };

/** Why the tree cannot be used, or undefined when it is prepared. */
export function treeMissing(v: string): string | undefined {
  if (!fs.existsSync(path.join(treeRoot(v), 'include/generated/asm-offsets.h'))) {
    return `Linux ${v} tree not prepared under .cache/linux (run scripts/linux-trees.sh)`;
  }
  return undefined;
}

/** The tree as if never built: include/generated and arch/x86/include/generated hidden. */
export function unbuilt(v: string): FileAccess {
  const hidden = [path.join(treeRoot(v), 'include/generated/'), path.join(treeRoot(v), 'arch/x86/include/generated/')];
  return { readFile: (p) => (hidden.some((h) => p.startsWith(h)) ? undefined : disk.readFile(p)) };
}

export function build(v: string, overrides: Record<string, boolean> = {}, files: FileAccess = disk): KernelBuild {
  const b = kernelBuild(entryOf(v), SAMPLES, files, undefined, overrides);
  if ('error' in b) throw new Error(b.error);
  return b;
}

export function ours(b: KernelBuild): ObjectImage {
  return assemble(b.units[0]);
}

/**
 * GNU's side on the same input: gcc -E with Kbuild's flags (an overridden autoconf.h is put in a
 * scratch include dir searched first), then as --64.
 */
export function gnu(v: string, overrides: Record<string, boolean> = {}): GasObject {
  const tree = detectRealTree(entryOf(v), disk);
  if (!tree) throw new Error('not a tree');
  const k = realTreeKernel(tree, disk, overrides);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'kentry-real-'));
  try {
    const autoconf = k.fs.readFile(path.join(tree.root, 'include/generated/autoconf.h')) ?? '';
    fs.mkdirSync(path.join(scratch, 'generated'), { recursive: true });
    fs.writeFileSync(path.join(scratch, 'generated/autoconf.h'), autoconf);
    const args = kbuildCppArgs(k);
    const cpp = execFileSync('gcc', [args[0], `-I${scratch}`, ...args.slice(1), entryOf(v)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
    return gas(cpp);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

export const COMPARED_SECTIONS = ['.text', '.entry.text', '.altinstructions', '.altinstr_replacement', '__ex_table'];

/** First difference of one section, as "offset: ours .. gas .." with the source line there, or undefined. */
export function sectionDiff(obj: ObjectImage, g: GasObject, name: string): string | undefined {
  const a = obj.sections.get(name)?.bytes ?? new Uint8Array(0);
  const b = g.sections.get(name) ?? new Uint8Array(0);
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  if (i === a.length && i === b.length) return undefined;
  const line = obj.lines.filter((l) => l.section === name && l.offset <= i).pop();
  const hex = (x: Uint8Array): string => Buffer.from(x.subarray(i, i + 12)).toString('hex');
  return `${name}+0x${i.toString(16)} (sizes ${a.length}/${b.length}) ours ${hex(a)} gas ${hex(b)} at ${line ? `${path.relative(REPO, line.loc.file)}:${line.loc.line} ${line.text}` : '?'}`;
}

/** Relocations of the compared sections, by section, offset, kind, symbol and addend. */
export function relocDiff(obj: ObjectImage, g: GasObject, sections = COMPARED_SECTIONS): string[] {
  const fmt = (r: { section: string; offset: number; kind: string; symbol: string; addend: bigint }): string => `${r.section}+0x${r.offset.toString(16)} ${r.kind} ${r.symbol}${r.addend >= 0n ? '+' : ''}${r.addend}`;
  const a = new Set(obj.relocations.filter((r) => sections.includes(r.section)).map(fmt));
  const b = new Set(g.relocs.filter((r) => sections.includes(r.section)).map(fmt));
  return [...[...a].filter((x) => !b.has(x)).map((x) => `only ours: ${x}`), ...[...b].filter((x) => !a.has(x)).map((x) => `only gas: ${x}`)];
}
