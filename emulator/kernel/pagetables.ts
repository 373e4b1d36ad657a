/**
 * Builds x86-64 4-level (or, with LA57, 5-level) page tables in physical memory, the way the kernel's own mapping
 * code leaves them: intermediate entries present+writable (+user in the user half), leaf
 * flags chosen per mapping, accessed/dirty preset as Linux's PAGE_KERNEL does.
 */
import { PTE } from '../machine/facts/paging';
import type { PhysicalMemory } from '../machine/memory';

export const PAGE = 0x1000n;
const INDEX_MASK = 0x1ffn;

/** Hands out zeroed physical frames from a fixed region (boot-time memblock, in miniature). */
export class FrameAllocator {
  constructor(private next: bigint, private readonly end: bigint) {}

  /** `count` contiguous frames aligned to `align` bytes. */
  alloc(count = 1, align = PAGE): bigint {
    const base = (this.next + align - 1n) & ~(align - 1n);
    const after = base + BigInt(count) * PAGE;
    if (after > this.end) throw new Error('kentry boot: out of physical memory for page tables');
    this.next = after;
    return base;
  }
}

export interface LeafFlags {
  writable: boolean;
  user: boolean;
  executable: boolean;
  global?: boolean;
}

/** Page-table depth: 4 (PML4 at the top) or 5 (PML5, CR4.LA57). */
export type PagingLevels = 4 | 5;

/** Shifts of the table levels above the PTE, top first. */
function shiftsAbovePte(levels: PagingLevels): bigint[] {
  return levels === 5 ? [48n, 39n, 30n, 21n] : [39n, 30n, 21n];
}

/** Index of va's entry in the top-level table (PGD: PML4, or PML5 with 5 levels). */
export function pgdIndex(va: bigint, levels: PagingLevels = 4): number {
  return Number((va >> (levels === 5 ? 48n : 39n)) & INDEX_MASK);
}

/** The lower half of the canonical address space (bit 63 clear) is user space, with 4 or 5 levels. */
export function isUserHalf(va: bigint): boolean {
  return va >= 0n && va < 0x8000000000000000n;
}

export class PageTableBuilder {
  constructor(
    private readonly mem: PhysicalMemory,
    private readonly frames: FrameAllocator,
    /** Whether the NX bit may be used (EFER.NXE will be set). */
    private readonly nx: boolean,
    readonly levels: PagingLevels = 4,
  ) {}

  leafEntry(pa: bigint, f: LeafFlags): bigint {
    let e = (pa & PTE.ADDR_MASK) | PTE.P | PTE.A;
    if (f.writable) e |= PTE.RW | PTE.D;
    if (f.user) e |= PTE.US;
    if (f.global) e |= PTE.G;
    if (!f.executable && this.nx) e |= PTE.NX;
    return e;
  }

  /** Map one 4 KiB page under the top-level table at `root`. Later mappings of the same page win. */
  map4k(root: bigint, va: bigint, pa: bigint, f: LeafFlags): void {
    const user = isUserHalf(va);
    let table = root;
    for (const shift of shiftsAbovePte(this.levels)) table = this.nextTable(table, va, shift, user);
    this.mem.writeU64(table + ((va >> 12n) & INDEX_MASK) * 8n, this.leafEntry(pa, f));
  }

  /** The table the entry for va at `shift` points to, allocating it (present, writable) if absent. */
  private nextTable(table: bigint, va: bigint, shift: bigint, user: boolean): bigint {
    const slot = table + ((va >> shift) & INDEX_MASK) * 8n;
    let e = this.mem.readU64(slot);
    if (!(e & PTE.P)) {
      e = this.frames.alloc() | PTE.P | PTE.RW | PTE.A | (user ? PTE.US : 0n);
      this.mem.writeU64(slot, e);
    }
    return e & PTE.ADDR_MASK;
  }

  /**
   * Share the 512 GiB region around va (one P4D entry) of `from` with `to`, as pti_clone_p4d()
   * does for the cpu_entry_area: with 4 levels that is the PGD entry itself; with 5 levels the
   * PGD entry covers 256 TiB (kernel text included), so `to` gets its own P4D table holding a
   * copy of that one entry.
   */
  shareP4dEntry(from: bigint, to: bigint, va: bigint): void {
    if (this.levels === 4) return this.copyPgdEntry(from, to, pgdIndex(va));
    const fromTop = this.mem.readU64(from + BigInt(pgdIndex(va, 5)) * 8n);
    if (!(fromTop & PTE.P)) return;
    const toP4d = this.nextTable(to, va, 48n, false);
    const i = ((va >> 39n) & INDEX_MASK) * 8n;
    this.mem.writeU64(toP4d + i, this.mem.readU64((fromTop & PTE.ADDR_MASK) + i));
  }

  /** Map [va, va+size) to [pa, pa+size), page by page. */
  mapRange(root: bigint, va: bigint, pa: bigint, size: number, f: LeafFlags): void {
    for (let off = 0n; off < BigInt(size); off += PAGE) this.map4k(root, va + off, pa + off, f);
  }

  /** Copy a top-level entry (sharing everything below it), optionally adding bits. */
  copyPgdEntry(from: bigint, to: bigint, index: number, orBits = 0n): void {
    const e = this.mem.readU64(from + BigInt(index) * 8n);
    if (e & PTE.P) this.mem.writeU64(to + BigInt(index) * 8n, e | orBits);
  }

  /** Present top-level entries of the user half (indices 0..255). */
  userHalfEntries(root: bigint): number[] {
    const out: number[] = [];
    for (let i = 0; i < 256; i++) if (this.mem.readU64(root + BigInt(i) * 8n) & PTE.P) out.push(i);
    return out;
  }
}

/** Walks our own tables (no CPU needed): the leaf entry for va, or undefined. */
export function lookupLeaf(mem: PhysicalMemory, root: bigint, va: bigint, levels: PagingLevels = 4): bigint | undefined {
  let table = root;
  for (const shift of [...shiftsAbovePte(levels), 12n]) {
    const e = mem.readU64(table + ((va >> shift) & INDEX_MASK) * 8n);
    if (!(e & PTE.P)) return undefined;
    if (shift === 12n) return e;
    table = e & PTE.ADDR_MASK;
  }
  return undefined;
}
