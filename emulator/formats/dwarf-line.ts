/**
 * DWARF .debug_line (versions 2-5): decodes every line-number program into rows, so a debugger
 * can map an address to file:line and a source line to the addresses of its code. Pure: takes
 * the section bytes (and .debug_line_str / .debug_str for DWARF 5 string forms).
 * Reference: DWARF 5 standard, section 6.2.
 */
export interface LineRow {
  address: bigint;
  /** Index into LineTable.files. */
  file: number;
  line: number;
  isStmt: boolean;
  /** The first address after a sequence (not code of this line). */
  endSequence: boolean;
}

const UTF8 = new TextDecoder();

export class DwarfFormatError extends Error {}

class Reader {
  constructor(readonly b: Uint8Array, public pos = 0) {}
  private get dv(): DataView { return new DataView(this.b.buffer, this.b.byteOffset, this.b.byteLength); }
  u8(): number { return this.b[this.pos++]; }
  i8(): number { const v = this.b[this.pos++]; return v >= 0x80 ? v - 0x100 : v; }
  u16(): number { const v = this.dv.getUint16(this.pos, true); this.pos += 2; return v; }
  u32(): number { const v = this.dv.getUint32(this.pos, true); this.pos += 4; return v; }
  u64(): bigint { const v = this.dv.getBigUint64(this.pos, true); this.pos += 8; return v; }
  uleb(): number {
    let result = 0; let shift = 0;
    for (;;) {
      const byte = this.b[this.pos++];
      result += (byte & 0x7f) * 2 ** shift;
      shift += 7;
      if (!(byte & 0x80)) return result;
    }
  }
  sleb(): number {
    let result = 0; let shift = 0; let byte: number;
    do { byte = this.b[this.pos++]; result += (byte & 0x7f) * 2 ** shift; shift += 7; } while (byte & 0x80);
    if (byte & 0x40) result -= 2 ** shift;
    return result;
  }
  cstr(): string {
    const start = this.pos;
    while (this.b[this.pos] !== 0) this.pos++;
    const s = UTF8.decode(this.b.subarray(start, this.pos));
    this.pos++;
    return s;
  }
  offset(dwarf64: boolean): number { return dwarf64 ? Number(this.u64()) : this.u32(); }
}

function strAt(section: Uint8Array | undefined, offset: number): string {
  if (!section) return `<string at 0x${offset.toString(16)}>`;
  let end = offset;
  while (end < section.length && section[end] !== 0) end++;
  return UTF8.decode(section.subarray(offset, end));
}

function joinPath(dir: string, name: string): string {
  if (name.startsWith('/') || !dir) return name;
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

/** Collapse "a/b/../c" and "./" so paths from different CUs compare equal. */
export function normalizePath(p: string): string {
  const abs = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..' && out.length && out[out.length - 1] !== '..') out.pop();
    else out.push(part);
  }
  return (abs ? '/' : '') + out.join('/');
}

export interface DebugSections {
  debugLine: Uint8Array;
  debugLineStr?: Uint8Array;
  debugStr?: Uint8Array;
}

/** Every row of every line-number program, with one shared file list (full, normalized paths). */
export class LineTable {
  readonly files: string[] = [];
  /** Rows sorted by address. */
  readonly rows: LineRow[] = [];
  private readonly fileIndex = new Map<string, number>();

  constructor(sections: DebugSections, options: { onlyFiles?: (path: string) => boolean } = {}) {
    const r = new Reader(sections.debugLine);
    while (r.pos < sections.debugLine.length) {
      const start = r.pos;
      let unitLength = r.u32();
      let dwarf64 = false;
      if (unitLength === 0xffffffff) { unitLength = Number(r.u64()); dwarf64 = true; }
      const end = r.pos + unitLength;
      try {
        this.decodeUnit(r, end, dwarf64, sections, options.onlyFiles);
      } catch (e) {
        throw new DwarfFormatError(`.debug_line unit at 0x${start.toString(16)}: ${e instanceof Error ? e.message : String(e)}`);
      }
      r.pos = end;
    }
    this.rows.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : (a.endSequence ? -1 : 0) - (b.endSequence ? -1 : 0)));
  }

  private intern(path: string): number {
    const p = normalizePath(path);
    let i = this.fileIndex.get(p);
    if (i === undefined) { i = this.files.length; this.files.push(p); this.fileIndex.set(p, i); }
    return i;
  }

  private decodeUnit(r: Reader, end: number, dwarf64: boolean, sections: DebugSections, onlyFiles?: (path: string) => boolean): void {
    const version = r.u16();
    if (version < 2 || version > 5) throw new DwarfFormatError(`unsupported .debug_line version ${version}`);
    if (version >= 5) { r.u8(); r.u8(); } // address_size, segment_selector_size
    const headerLength = r.offset(dwarf64);
    const programStart = r.pos + headerLength;
    const minInstLength = r.u8();
    if (version >= 4) r.u8(); // maximum_operations_per_instruction (VLIW only)
    const defaultIsStmt = r.u8() !== 0;
    const lineBase = r.i8();
    const lineRange = r.u8();
    const opcodeBase = r.u8();
    const stdLengths: number[] = [0];
    for (let i = 1; i < opcodeBase; i++) stdLengths.push(r.u8());

    // File table: unit-local index -> global index (DWARF 5 counts from 0, earlier versions from 1).
    const local: number[] = [];
    if (version >= 5) {
      const readEntries = (): Array<Record<number, string | number>> => {
        const formatCount = r.u8();
        const formats: Array<[number, number]> = [];
        for (let i = 0; i < formatCount; i++) formats.push([r.uleb(), r.uleb()]);
        const count = r.uleb();
        const out: Array<Record<number, string | number>> = [];
        for (let i = 0; i < count; i++) {
          const e: Record<number, string | number> = {};
          for (const [content, form] of formats) e[content] = this.readForm(r, form, dwarf64, sections);
          out.push(e);
        }
        return out;
      };
      const dirs = readEntries().map((e) => String(e[1] ?? ''));
      for (const f of readEntries()) {
        const dir = dirs[Number(f[2] ?? 0)] ?? '';
        local.push(this.intern(joinPath(dir, String(f[1] ?? ''))));
      }
    } else {
      const dirs = [''];
      for (let s = r.cstr(); s !== ''; s = r.cstr()) dirs.push(s);
      local.push(-1); // file 0 does not exist before DWARF 5
      for (let s = r.cstr(); s !== ''; s = r.cstr()) {
        const dir = r.uleb(); r.uleb(); r.uleb();
        local.push(this.intern(joinPath(dirs[dir] ?? '', s)));
      }
    }
    if (onlyFiles && !local.some((g) => g >= 0 && onlyFiles(this.files[g]))) return;

    r.pos = programStart;
    const fileDefault = version >= 5 ? 0 : 1;
    let address = 0n; let file = fileDefault; let line = 1; let isStmt = defaultIsStmt;
    const reset = (): void => { address = 0n; file = fileDefault; line = 1; isStmt = defaultIsStmt; };
    const emit = (endSequence: boolean): void => {
      this.rows.push({ address, file: local[file] ?? -1, line, isStmt, endSequence });
    };
    const minLen = BigInt(minInstLength);
    while (r.pos < end) {
      const op = r.u8();
      if (op >= opcodeBase) {
        const adj = op - opcodeBase;
        address += BigInt(Math.floor(adj / lineRange)) * minLen;
        line += lineBase + (adj % lineRange);
        emit(false);
      } else if (op === 0) {
        const len = r.uleb();
        const next = r.pos + len;
        const ext = r.u8();
        if (ext === 1) { emit(true); reset(); }
        else if (ext === 2) address = len - 1 === 8 ? r.u64() : BigInt(r.u32());
        else if (ext === 3) { const name = r.cstr(); const dir = r.uleb(); local.push(this.intern(joinPath(String(dir), name))); }
        r.pos = next;
      } else if (op === 1) emit(false);
      else if (op === 2) address += BigInt(r.uleb()) * minLen;
      else if (op === 3) line += r.sleb();
      else if (op === 4) file = r.uleb();
      else if (op === 5) r.uleb();
      else if (op === 6) isStmt = !isStmt;
      else if (op === 7 || op === 10 || op === 11) { /* basic_block, prologue_end, epilogue_begin */ }
      else if (op === 8) address += BigInt(Math.floor((255 - opcodeBase) / lineRange)) * minLen;
      else if (op === 9) address += BigInt(r.u16());
      else for (let i = 0; i < stdLengths[op]; i++) r.uleb(); // unknown standard opcode: skip its operands
    }
  }

  private readForm(r: Reader, form: number, dwarf64: boolean, s: DebugSections): string | number {
    switch (form) {
      case 0x08: return r.cstr(); // DW_FORM_string
      case 0x1f: return strAt(s.debugLineStr, r.offset(dwarf64)); // DW_FORM_line_strp
      case 0x0e: return strAt(s.debugStr, r.offset(dwarf64)); // DW_FORM_strp
      case 0x0f: return r.uleb(); // udata
      case 0x0b: return r.u8(); // data1
      case 0x05: return r.u16(); // data2
      case 0x06: return r.u32(); // data4
      case 0x07: return Number(r.u64()); // data8
      case 0x1e: r.pos += 16; return 0; // data16 (MD5)
      case 0x09: { const n = r.uleb(); r.pos += n; return 0; } // block
      default: throw new DwarfFormatError(`unsupported form 0x${form.toString(16)} in a file-name table`);
    }
  }

  /** The files whose path ends with `suffix` (path components compared whole). */
  filesEndingWith(suffix: string): number[] {
    const want = normalizePath(suffix).split('/');
    const out: number[] = [];
    this.files.forEach((f, i) => {
      const have = f.split('/');
      if (have.length < want.length) return;
      if (want.every((w, k) => have[have.length - want.length + k] === w)) out.push(i);
    });
    return out;
  }

  /** The row that covers `address` (the last row at or below it, within a sequence). */
  lineAt(address: bigint): { file: string; line: number; address: bigint } | undefined {
    let lo = 0; let hi = this.rows.length - 1; let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.rows[mid].address <= address) { best = mid; lo = mid + 1; } else hi = mid - 1;
    }
    // End-of-sequence rows sort before rows starting at the same address, so landing on one
    // means the address lies past the end of a sequence.
    if (best < 0) return undefined;
    const row = this.rows[best];
    if (row.endSequence || row.file < 0) return undefined;
    return { file: this.files[row.file], line: row.line, address: row.address };
  }

  /**
   * Addresses where code of `line` in one of `files` begins: the first is_stmt row of each run
   * of rows with that line (a macro used twice, or code moved by alternatives, gives several).
   */
  addressesOf(files: number[], line: number): bigint[] {
    const set = new Set(files);
    const out: bigint[] = [];
    let prevMatch = false;
    for (const row of this.rowsByFileOrder()) {
      const match = !row.endSequence && set.has(row.file) && row.line === line && row.isStmt;
      if (match && !prevMatch) out.push(row.address);
      prevMatch = match;
    }
    return out;
  }

  /** Lines of `files` that have code: for moving a breakpoint to the next line that does. */
  linesWithCode(files: number[]): number[] {
    const set = new Set(files);
    const lines = new Set<number>();
    for (const row of this.rows) if (!row.endSequence && row.isStmt && set.has(row.file)) lines.add(row.line);
    return [...lines].sort((a, b) => a - b);
  }

  private rowsByFileOrder(): LineRow[] {
    return this.rows;
  }
}
