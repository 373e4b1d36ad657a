/**
 * Test helper: build kentry's kernel and user translation units with GNU cpp/as/ld, and read
 * the ELF results into kentry's ObjectImage / LinkedImage shapes. It lets the kernel side be
 * tested against the reference toolchain, independently of kentry's own assembler.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { LinkLayout, LinkedImage, ObjectImage, RelocationKind, Section, SymbolDef } from '../../../emulator/asm/types';
import type { FileAccess } from '../../../emulator/host';
import { GENERATED_DIR, generatedHeaders } from '../../../emulator/kernel/generated-headers';
import type { KernelConfig, KernelProfile } from '../../../emulator/kernel/profiles';
import type { TranslationUnit } from '../../../emulator/kernel/sources';
import type { Linker } from '../../../emulator/kernel/boot';

export const repoRoot = path.resolve(__dirname, '../../..');
export const samplesDir = path.join(repoRoot, 'samples');
export const seedFile = path.resolve(repoRoot, '../shared/seed/entry_SYSCALL_64.v5.8.13.annotated.S');
export const diskFiles: FileAccess = { readFile: (p) => (fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : undefined) };

const objectPaths = new WeakMap<ObjectImage, string>();

interface ElfSection { name: string; type: number; flags: bigint; addr: bigint; offset: number; size: number; link: number; info: number; align: number; entsize: number }

function readElf(file: string): { buf: Buffer; sections: ElfSection[] } {
  const buf = fs.readFileSync(file);
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const shentsize = buf.readUInt16LE(0x3a);
  const shnum = buf.readUInt16LE(0x3c);
  const shstrndx = buf.readUInt16LE(0x3e);
  const raw = [...Array(shnum).keys()].map((i) => {
    const o = shoff + i * shentsize;
    return {
      nameOff: buf.readUInt32LE(o), type: buf.readUInt32LE(o + 4), flags: buf.readBigUInt64LE(o + 8), addr: buf.readBigUInt64LE(o + 16),
      offset: Number(buf.readBigUInt64LE(o + 24)), size: Number(buf.readBigUInt64LE(o + 32)), link: buf.readUInt32LE(o + 40),
      info: buf.readUInt32LE(o + 44), align: Number(buf.readBigUInt64LE(o + 48)), entsize: Number(buf.readBigUInt64LE(o + 56)),
    };
  });
  const strtab = raw[shstrndx];
  const str = (base: number, off: number): string => buf.toString('latin1', base + off, buf.indexOf(0, base + off));
  return { buf, sections: raw.map((r) => ({ ...r, name: str(strtab.offset, r.nameOff) })) };
}

function flagsString(f: bigint): string {
  return `${f & 2n ? 'a' : ''}${f & 1n ? 'w' : ''}${f & 4n ? 'x' : ''}`;
}

interface ElfSymbol { name: string; shndx: number; value: bigint; global: boolean; type: number }

function symbols(buf: Buffer, sections: ElfSection[]): ElfSymbol[] {
  const symtab = sections.find((s) => s.type === 2);
  if (!symtab) return [];
  const strtab = sections[symtab.link];
  const out: ElfSymbol[] = [];
  for (let o = symtab.offset; o < symtab.offset + symtab.size; o += 24) {
    const nameOff = buf.readUInt32LE(o);
    const info = buf[o + 4];
    out.push({
      name: buf.toString('latin1', strtab.offset + nameOff, buf.indexOf(0, strtab.offset + nameOff)),
      shndx: buf.readUInt16LE(o + 6), value: buf.readBigUInt64LE(o + 8), global: info >> 4 !== 0, type: info & 0xf,
    });
  }
  return out;
}

const RELOC_KINDS: Record<number, RelocationKind> = {
  1: 'R_X86_64_64', 2: 'R_X86_64_PC32', 4: 'R_X86_64_PLT32', 10: 'R_X86_64_32', 11: 'R_X86_64_32S', 12: 'R_X86_64_16', 14: 'R_X86_64_8', 15: 'R_X86_64_PC8',
};

export function readObject(file: string): ObjectImage {
  const { buf, sections } = readElf(file);
  const syms = symbols(buf, sections);
  const obj: ObjectImage = { sections: new Map(), symbols: new Map(), relocations: [], lines: [], diagnostics: [], files: [] };
  for (const s of sections) {
    if (!(s.flags & 2n)) continue;
    const sec: Section = { name: s.name, flags: flagsString(s.flags), bytes: s.type === 8 ? new Uint8Array(s.size) : new Uint8Array(buf.subarray(s.offset, s.offset + s.size)), align: s.align };
    obj.sections.set(s.name, sec);
  }
  for (const y of syms) {
    if (!y.name || y.type === 3 || y.type === 4 || y.shndx === 0) continue;
    const def: SymbolDef = { name: y.name, section: y.shndx === 0xfff1 ? undefined : sections[y.shndx].name, value: y.value, global: y.global };
    obj.symbols.set(y.name, def);
  }
  for (const r of sections.filter((s) => s.type === 4)) {
    const target = sections[r.info].name;
    for (let o = r.offset; o < r.offset + r.size; o += 24) {
      const info = buf.readBigUInt64LE(o + 8);
      const y = syms[Number(info >> 32n)];
      obj.relocations.push({
        section: target, offset: Number(buf.readBigUInt64LE(o)), kind: RELOC_KINDS[Number(info & 0xffffffffn)],
        symbol: y.type === 3 ? sections[y.shndx].name : y.name, addend: buf.readBigInt64LE(o + 16),
      });
    }
  }
  return obj;
}

const madeDirs: string[] = [];
process.on('exit', () => {
  for (const d of madeDirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A scratch directory, removed when the test process exits. */
export function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'kentry-kernel-'));
  madeDirs.push(d);
  return d;
}

/** gcc -E + as for one translation unit, the generated headers written to disk. */
export function gnuAssemble(tu: TranslationUnit, profile: KernelProfile, config: KernelConfig, dir = tempDir()): ObjectImage {
  const gen = path.join(dir, 'gen');
  for (const [p, text] of generatedHeaders(profile, config)) {
    const out = path.join(gen, path.relative(GENERATED_DIR, p));
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, text);
  }
  const mapDir = (d: string): string => (d === GENERATED_DIR ? gen : d.startsWith(`${GENERATED_DIR}/`) ? path.join(gen, d.slice(GENERATED_DIR.length + 1)) : d);
  const base = path.join(dir, `${path.basename(tu.file)}-${Math.random().toString(36).slice(2)}`);
  const args = ['-E', '-P', '-nostdinc', '-x', 'assembler-with-cpp',
    ...(tu.includeDirs ?? []).map((d) => `-I${mapDir(d)}`),
    ...Object.entries(tu.defines ?? {}).map(([k, v]) => `-D${k}=${v}`),
    ...(tu.preIncludes ?? []).flatMap((p) => ['-include', p.startsWith(GENERATED_DIR) ? path.join(gen, p.slice(GENERATED_DIR.length + 1)) : p]),
    tu.file, '-o', `${base}.s`];
  execFileSync('gcc', args);
  execFileSync('as', ['--64', `${base}.s`, '-o', `${base}.o`]);
  const obj = readObject(`${base}.o`);
  objectPaths.set(obj, `${base}.o`);
  return obj;
}

/** A Linker built on GNU ld: a linker script from the layout, externs as --defsym. */
export const gnuLink: Linker = (objects, layout: LinkLayout): LinkedImage => {
  const dir = tempDir();
  const files = objects.map((o) => {
    const p = objectPaths.get(o);
    if (!p) throw new Error('gnuLink only links objects made by gnuAssemble');
    return p;
  });
  const placed = Object.entries(layout.sectionBases)
    .filter(([name]) => objects.some((o) => o.sections.has(name)))
    .map(([name, addr]) => `  ${name} 0x${addr.toString(16)} : { *(${name}) }`);
  fs.writeFileSync(path.join(dir, 'link.ld'), `SECTIONS {\n${placed.join('\n')}\n  /DISCARD/ : { *(.note.*) *(.comment) }\n}\n`);
  const out = path.join(dir, 'linked');
  execFileSync('ld', ['-m', 'elf_x86_64', '-static', '-nostdlib', '--no-warn-rwx-segments', '-e', '0', '-T', path.join(dir, 'link.ld'),
    ...[...layout.externs].map(([n, v]) => `--defsym=${n}=0x${v.toString(16)}`), ...files, '-o', out]);
  const { buf, sections } = readElf(out);
  const image: LinkedImage = { segments: [], symbols: new Map(), lines: [], diagnostics: [] };
  for (const s of sections) {
    if (!(s.flags & 2n) || s.size === 0) continue;
    image.segments.push({ name: s.name, address: s.addr, flags: flagsString(s.flags), bytes: s.type === 8 ? new Uint8Array(s.size) : new Uint8Array(buf.subarray(s.offset, s.offset + s.size)) });
  }
  for (const y of symbols(buf, sections)) if (y.name && y.type !== 3 && y.type !== 4) image.symbols.set(y.name, y.value);
  return image;
};
