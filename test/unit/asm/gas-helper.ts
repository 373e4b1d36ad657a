/**
 * Test helper: assemble a source with the real GNU as (`as --64`) and read its ELF object
 * (section bytes, RELA relocations) so our assembler's output can be compared byte for byte.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { assemble } from '../../../emulator/asm';
import type { ObjectImage } from '../../../emulator/asm/types';
import { memoryFiles } from '../../../emulator/host';

export interface GasReloc {
  section: string;
  offset: number;
  kind: string;
  symbol: string;
  addend: bigint;
}

export interface GasObject {
  sections: Map<string, Uint8Array>;
  relocs: GasReloc[];
}

const RELOC_NAMES: Record<number, string> = {
  1: 'R_X86_64_64', 2: 'R_X86_64_PC32', 4: 'R_X86_64_PLT32', 10: 'R_X86_64_32', 11: 'R_X86_64_32S', 12: 'R_X86_64_16', 14: 'R_X86_64_8', 15: 'R_X86_64_PC8',
};

/** Parse the parts of an ELF64 relocatable object we compare. */
export function readElf(buf: Buffer): GasObject {
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const shentsize = buf.readUInt16LE(0x3a);
  const shnum = buf.readUInt16LE(0x3c);
  const shstrndx = buf.readUInt16LE(0x3e);
  const sh = Array.from({ length: shnum }, (_, i) => {
    const o = shoff + i * shentsize;
    return {
      name: buf.readUInt32LE(o), type: buf.readUInt32LE(o + 4), offset: Number(buf.readBigUInt64LE(o + 0x18)), size: Number(buf.readBigUInt64LE(o + 0x20)),
      link: buf.readUInt32LE(o + 0x28), info: buf.readUInt32LE(o + 0x2c), entsize: Number(buf.readBigUInt64LE(o + 0x38)),
    };
  });
  const str = (tab: number, off: number): string => {
    const start = sh[tab].offset + off;
    return buf.toString('latin1', start, buf.indexOf(0, start));
  };
  const names = sh.map((s) => str(shstrndx, s.name));
  const sections = new Map<string, Uint8Array>();
  sh.forEach((s, i) => {
    if (s.type === 1) sections.set(names[i], new Uint8Array(buf.subarray(s.offset, s.offset + s.size)));
    if (s.type === 8) sections.set(names[i], new Uint8Array(s.size));
  });
  const relocs: GasReloc[] = [];
  sh.forEach((s) => {
    if (s.type !== 4) return;
    const symtab = sh[s.link];
    for (let o = s.offset; o < s.offset + s.size; o += 24) {
      const info = buf.readBigUInt64LE(o + 8);
      const symIdx = Number(info >> 32n);
      const type = Number(info & 0xffffffffn);
      const so = symtab.offset + symIdx * 24;
      const stName = buf.readUInt32LE(so);
      const stInfo = buf[so + 4];
      const shndx = buf.readUInt16LE(so + 6);
      const symbol = (stInfo & 0xf) === 3 ? names[shndx] : str(symtab.link, stName);
      relocs.push({ section: names[s.info], offset: Number(buf.readBigUInt64LE(o)), kind: RELOC_NAMES[type] ?? `type${type}`, symbol, addend: buf.readBigInt64LE(o + 16) });
    }
  });
  return { sections, relocs };
}

let tmp: string | undefined;
export function tmpDir(): string {
  tmp ??= fs.mkdtempSync(path.join(os.tmpdir(), 'kentry-asm-'));
  return tmp;
}

/** Run GNU as on the source text; throws with as's message when it fails. */
export function gas(source: string): GasObject {
  const dir = tmpDir();
  const s = path.join(dir, 'gas.s');
  const o = path.join(dir, 'gas.o');
  fs.writeFileSync(s, source);
  execFileSync('as', ['--64', '-o', o, s], { stdio: 'pipe' });
  return readElf(fs.readFileSync(o));
}

/** gcc -E -P of a .S file (with -D__ASSEMBLY__ and include dirs). */
export function gccPreprocess(file: string, includeDirs: string[] = [], extra: string[] = []): string {
  return execFileSync('gcc', ['-E', '-P', '-x', 'assembler-with-cpp', '-D__ASSEMBLY__', ...includeDirs.map((d) => `-I${d}`), ...extra, file], { encoding: 'utf8' });
}

/** Our assembler on in-memory files; the main file is /src/main.S. */
export function ours(source: string, files: Record<string, string> = {}, opts: { includeDirs?: string[]; defines?: Record<string, string>; preIncludes?: string[] } = {}): ObjectImage {
  const all: Record<string, string> = { '/src/main.S': source };
  for (const [k, v] of Object.entries(files)) all[k] = v;
  return assemble({ file: '/src/main.S', fs: memoryFiles(all), ...opts });
}

export const hex = (b: Uint8Array | undefined): string => (b ? Buffer.from(b).toString('hex') : '<none>');

/** Compare our object with gas's: every section's bytes and every relocation. Returns mismatch text. */
export function compareWithGas(obj: ObjectImage, g: GasObject): string[] {
  const diffs: string[] = [];
  for (const [name, s] of obj.sections) {
    if (s.bytes.length === 0 && !g.sections.has(name)) continue;
    const gb = g.sections.get(name);
    if (hex(s.bytes) !== hex(gb)) diffs.push(`${name}: ours ${hex(s.bytes)}\n${' '.repeat(name.length)}   gas  ${hex(gb)}`);
  }
  for (const [name, b] of g.sections) {
    if (b.length && !obj.sections.has(name) && !/^\.(note|eh_frame|comment)/.test(name)) diffs.push(`${name}: missing (gas has ${hex(b)})`);
  }
  const fmt = (r: { section: string; offset: number; kind: string; symbol: string; addend: bigint }): string => `${r.section}+0x${r.offset.toString(16)} ${r.kind} ${r.symbol}${r.addend >= 0n ? '+' : ''}${r.addend}`;
  const a = obj.relocations.map(fmt).sort();
  const b = g.relocs.filter((r) => !/^\.(eh_frame|note)/.test(r.section)).map(fmt).sort();
  if (a.join('\n') !== b.join('\n')) diffs.push(`relocations:\n  ours ${a.join('\n       ')}\n  gas  ${b.join('\n       ')}`);
  return diffs;
}
