/**
 * A minimal ELF64 little-endian reader: section headers, the symbol table and section contents,
 * which is what the QEMU engine needs from a vmlinux (symbols, DWARF line tables) and what the
 * tests need from /init. Pure: takes the file's bytes, no I/O.
 */
export interface ElfSection {
  name: string;
  type: number;
  flags: bigint;
  addr: bigint;
  offset: number;
  size: number;
}

export interface ElfSymbol {
  name: string;
  value: bigint;
  size: number;
  /** STT_*: 0 notype, 1 object, 2 func, 3 section, 4 file. */
  type: number;
  /** STB_*: 0 local, 1 global, 2 weak. */
  bind: number;
  sectionIndex: number;
}

const UTF8 = new TextDecoder();

export class ElfFormatError extends Error {}

export class ElfFile {
  readonly sections: ElfSection[] = [];
  readonly entry: bigint;
  private symbolsCache: ElfSymbol[] | undefined;
  private readonly view: DataView;

  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < 64 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
      throw new ElfFormatError('not an ELF file (no \\x7fELF magic)');
    }
    if (bytes[4] !== 2 || bytes[5] !== 1) throw new ElfFormatError('only 64-bit little-endian ELF files are supported');
    this.entry = this.view.getBigUint64(24, true);
    const shoff = Number(this.view.getBigUint64(40, true));
    const shentsize = this.view.getUint16(58, true);
    const shnum = this.view.getUint16(60, true);
    const shstrndx = this.view.getUint16(62, true);
    const raw: Array<Omit<ElfSection, 'name'> & { nameOff: number }> = [];
    for (let i = 0; i < shnum; i++) {
      const o = shoff + i * shentsize;
      raw.push({
        nameOff: this.view.getUint32(o, true),
        type: this.view.getUint32(o + 4, true),
        flags: this.view.getBigUint64(o + 8, true),
        addr: this.view.getBigUint64(o + 16, true),
        offset: Number(this.view.getBigUint64(o + 24, true)),
        size: Number(this.view.getBigUint64(o + 32, true)),
      });
    }
    const names = raw[shstrndx];
    for (const s of raw) {
      const { nameOff, ...rest } = s;
      this.sections.push({ name: names ? cString(bytes, names.offset + nameOff) : '', ...rest });
    }
  }

  section(name: string): ElfSection | undefined {
    return this.sections.find((s) => s.name === name);
  }

  /** A section's bytes (a view, not a copy); undefined for a missing or NOBITS section. */
  sectionData(name: string): Uint8Array | undefined {
    const s = this.section(name);
    if (!s || s.type === 8 /* SHT_NOBITS */) return undefined;
    return this.bytes.subarray(s.offset, s.offset + s.size);
  }

  /** Every symbol of .symtab (kernel symbols live there; vmlinux has no .dynsym). */
  symbols(): ElfSymbol[] {
    if (this.symbolsCache) return this.symbolsCache;
    const out: ElfSymbol[] = [];
    const symtabIndex = this.sections.findIndex((s) => s.type === 2 /* SHT_SYMTAB */);
    if (symtabIndex >= 0) {
      const symtab = this.sections[symtabIndex];
      const strtab = this.sections[this.view.getUint32(this.sectionHeaderOffset(symtabIndex) + 40, true)];
      for (let o = symtab.offset; o + 24 <= symtab.offset + symtab.size; o += 24) {
        const info = this.bytes[o + 4];
        out.push({
          name: cString(this.bytes, strtab.offset + this.view.getUint32(o, true)),
          type: info & 0xf,
          bind: info >> 4,
          sectionIndex: this.view.getUint16(o + 6, true),
          value: this.view.getBigUint64(o + 8, true),
          size: Number(this.view.getBigUint64(o + 16, true)),
        });
      }
    }
    this.symbolsCache = out;
    return out;
  }

  private sectionHeaderOffset(i: number): number {
    return Number(this.view.getBigUint64(40, true)) + i * this.view.getUint16(58, true);
  }
}

export function cString(bytes: Uint8Array, offset: number): string {
  let end = offset;
  while (end < bytes.length && bytes[end] !== 0) end++;
  return UTF8.decode(bytes.subarray(offset, end));
}

/**
 * Address <-> symbol lookups over an ELF symbol table: exact names, and the nearest preceding
 * function/object/notype symbol for an address ("entry_SYSCALL_64+0x12").
 */
export class SymbolTable {
  private readonly byName = new Map<string, ElfSymbol>();
  private readonly sorted: ElfSymbol[];

  constructor(symbols: ElfSymbol[]) {
    for (const s of symbols) {
      if (!s.name || s.type === 3 || s.type === 4) continue;
      // Prefer a global over a local of the same name.
      const prev = this.byName.get(s.name);
      if (!prev || (prev.bind === 0 && s.bind !== 0)) this.byName.set(s.name, s);
    }
    // Absolute symbols (SHN_ABS, e.g. constants) are not addresses of anything.
    this.sorted = symbols.filter((s) => s.name && s.sectionIndex !== 0 && s.sectionIndex !== 0xfff1 && (s.type === 0 || s.type === 1 || s.type === 2) && !s.name.startsWith('.L') && !s.name.startsWith('__pfx_'))
      .sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
  }

  lookup(name: string): ElfSymbol | undefined {
    return this.byName.get(name);
  }

  address(name: string): bigint | undefined {
    return this.byName.get(name)?.value;
  }

  /** The symbol containing (or nearest below) an address, and the offset into it. */
  at(address: bigint): { symbol: ElfSymbol; offset: bigint } | undefined {
    let lo = 0;
    let hi = this.sorted.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.sorted[mid].value <= address) { best = mid; lo = mid + 1; } else hi = mid - 1;
    }
    if (best < 0) return undefined;
    // Among symbols at the same address, prefer a function, then a global.
    let pick = this.sorted[best];
    for (let i = best; i >= 0 && this.sorted[i].value === pick.value; i--) {
      const s = this.sorted[i];
      if ((s.type === 2 && pick.type !== 2) || (s.type === pick.type && s.bind > pick.bind)) pick = s;
    }
    const offset = address - pick.value;
    if (pick.size > 0 && offset >= BigInt(pick.size) && offset > 0x10000n) return undefined;
    return { symbol: pick, offset };
  }

  describe(address: bigint): string | undefined {
    const r = this.at(address);
    if (!r) return undefined;
    return r.offset === 0n ? r.symbol.name : `${r.symbol.name}+0x${r.offset.toString(16)}`;
  }
}
