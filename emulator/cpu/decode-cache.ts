/**
 * Decode once per physical address. Instructions are decoded in runs (up to the end of the page)
 * and kept per physical page; any write into a page (PhysicalMemory.onWrite) drops the decoded
 * instructions it overlaps, so patched code (ALTERNATIVE, static calls) runs as patched.
 */
import { Decoder, DecoderError, DecoderOptions, Instruction } from 'iced-x86';
import type { PhysicalMemory } from '../machine/memory';
import { fromIced, type DecodedInsn, type Handler } from './decoded';
import type { Code as CodeT, Mnemonic } from 'iced-x86';

const PAGE = 4096;
const MAX_INSN = 15;
/** How many bytes to decode ahead in one go. */
const RUN_BYTES = 256;

export type HandlerLookup = (code: CodeT, mnemonic: Mnemonic, lock: boolean) => Handler;

export class DecodeCache {
  /** pfn -> (offset | bitness flag) -> decoded instruction. */
  private readonly pages = new Map<number, Map<number, DecodedInsn>>();
  private readonly scratch = new Instruction();
  hits = 0;
  misses = 0;
  /** Bumped whenever cached decodes are dropped: callers holding a DecodedInsn compare it. */
  generation = 0;
  /** The page of the previous lookup (code runs in straight lines). */
  private lastPfn = -1;
  private lastPage: Map<number, DecodedInsn> | undefined;
  private lastBase = -1n;
  private lastEnd = -1n;

  constructor(private readonly mem: PhysicalMemory, private readonly lookup: HandlerLookup) {
    mem.addWriteListener((phys, length) => this.invalidate(phys, length));
  }

  private static key(offset: number, bitness: 64 | 32): number {
    return bitness === 64 ? offset : offset | 0x10000;
  }

  /** The cached instruction at `phys`, if any. */
  get(phys: bigint, bitness: 64 | 32): DecodedInsn | undefined {
    let page: Map<number, DecodedInsn> | undefined;
    let offset: number;
    if (this.lastPage && phys >= this.lastBase && phys < this.lastEnd) {
      page = this.lastPage;
      offset = Number(phys - this.lastBase);
    } else {
      const pfn = Number(phys >> 12n);
      page = this.pages.get(pfn);
      offset = Number(phys & 0xfffn);
      this.lastPfn = pfn;
      this.lastPage = page;
      this.lastBase = BigInt(pfn) << 12n;
      this.lastEnd = this.lastBase + 4096n;
    }
    const d = page?.get(DecodeCache.key(offset, bitness));
    if (d) this.hits++;
    return d;
  }

  /** Bumped whenever a page gets its first decoded instruction (the fast tier only stores fast into code-free pages). */
  codePages = 0;

  /** Whether any decoded instruction is cached for this physical page. */
  hasCode(pfn: number): boolean {
    return this.pages.has(pfn);
  }

  /** The decoded instructions of 64-bit code in phys's page, keyed by page offset (for the fetch fast path). */
  pageOf(phys: bigint): Map<number, DecodedInsn> | undefined {
    return this.pages.get(Number(phys >> 12n));
  }

  /**
   * Decode at `phys` from memory, caching it and the instructions after it in the same page.
   * Returns undefined when the instruction runs past the end of the page: the caller must
   * translate the next page and call decodeBytes (such instructions are not cached).
   */
  decodeAt(phys: bigint, bitness: 64 | 32): DecodedInsn | undefined {
    this.misses++;
    const offset = Number(phys & 0xfffn);
    const n = Math.min(PAGE - offset, RUN_BYTES);
    const bytes = this.mem.read(phys, n);
    const dec = new Decoder(bitness, bytes, DecoderOptions.None);
    const pfn = Number(phys >> 12n);
    let page = this.pages.get(pfn);
    if (!page) { page = new Map(); this.pages.set(pfn, page); this.codePages++; }
    this.lastPfn = -1;
    this.lastPage = undefined;
    let first: DecodedInsn | undefined;
    let pos = 0;
    try {
      while (pos < n) {
        dec.decodeOut(this.scratch);
        const err = dec.lastError;
        if (err === DecoderError.NoMoreBytes) break; // runs into the next page or past the run
        const len = this.scratch.length;
        const d = fromIced(this.scratch, bytes.subarray(pos, pos + len), bitness, this.lookup);
        const k = DecodeCache.key(offset + pos, bitness);
        if (!page.has(k)) page.set(k, d);
        first ??= d;
        pos += len;
      }
    } finally {
      dec.free();
    }
    return first;
  }

  /** Decode without caching (an instruction that straddles two pages). */
  decodeBytes(bytes: Uint8Array, bitness: 64 | 32): DecodedInsn {
    const dec = new Decoder(bitness, bytes, DecoderOptions.None);
    try {
      dec.decodeOut(this.scratch);
      return fromIced(this.scratch, bytes, bitness, this.lookup);
    } finally {
      dec.free();
    }
  }

  /** Drop decoded instructions overlapping [phys, phys+length). */
  invalidate(phys: bigint, length: number): void {
    if (this.pages.size === 0) return;
    // Common case: a data write to a page with no decoded code (nor code just before it).
    if (length <= 4096) {
      const pfn = Number(phys >> 12n);
      if (!this.pages.has(pfn) && !this.pages.has(pfn - 1) && !this.pages.has(pfn + 1)) return;
    }
    const start = phys - BigInt(MAX_INSN - 1);
    const end = phys + BigInt(length);
    const firstPfn = Number((start < 0n ? 0n : start) >> 12n);
    const lastPfn = Number((end - 1n) >> 12n);
    for (let pfn = firstPfn; pfn <= lastPfn; pfn++) {
      const page = this.pages.get(pfn);
      if (!page) continue;
      if (pfn === this.lastPfn) { this.lastPfn = -1; this.lastPage = undefined; }
      this.generation++;
      const base = BigInt(pfn) << 12n;
      const lo = start > base ? Number(start - base) : 0;
      const hi = end < base + 4096n ? Number(end - base) : PAGE;
      if (lo === 0 && hi === PAGE) { this.pages.delete(pfn); continue; }
      for (const k of page.keys()) {
        const off = k & 0xffff;
        if (off >= lo && off < hi) page.delete(k);
      }
    }
  }

  clear(): void {
    this.generation++;
    this.pages.clear();
    this.lastPfn = -1;
    this.lastPage = undefined;
  }
}

