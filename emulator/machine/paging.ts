/**
 * IA-32e linear-to-physical translation (Intel SDM vol. 3, ch. 4): 4- and 5-level walks, access
 * rights (U/S, R/W, NX, SMEP, SMAP, CR0.WP), accessed/dirty updates, canonical checks, and a TLB
 * that keeps translations exactly as long as hardware may (PCID tags, global pages), so the
 * stale entries KPTI depends on (or trips over) show up in the emulator too.
 */
import { CR3 } from './facts/control-registers';
import { PTE, PF_ERR, PAGING_LEVEL_NAMES } from './facts/paging';
import { RFLAGS } from './facts/rflags';
import { VECTOR } from './facts/exceptions';
import type { CpuState } from './state';
import type { PhysicalMemory } from './memory';

export interface PageAccess {
  kind: 'read' | 'write' | 'exec';
  /** A user-mode access: CPL 3 and not an implicit supervisor access. */
  user: boolean;
  /** Implicit supervisor access (GDT, IDT, TSS reads, exception stack pushes): at CPL 3, SMAP applies whatever RFLAGS.AC says. */
  implicit?: boolean;
  /** The address is SS-relative: a non-canonical address raises #SS instead of #GP. */
  stack?: boolean;
}

/** A fault raised by translation: #PF, or #GP/#SS for a non-canonical address. */
export interface PageFault {
  vector: number;
  name: '#PF' | '#GP' | '#SS';
  errorCode: number;
  /** For #PF: the faulting linear address (what CR2 receives). */
  cr2?: bigint;
  linear: bigint;
  message: string;
}

export type Translation = { phys: bigint } | { fault: PageFault };

const CR0_PG = 1n << 31n;
const CR0_WP = 1n << 16n;
const CR4_PGE = 1n << 7n;
const CR4_LA57 = 1n << 12n;
const CR4_PCIDE = 1n << 17n;
const CR4_SMEP = 1n << 20n;
const CR4_SMAP = 1n << 21n;
const EFER_MSR = 0xc0000080;
const EFER_NXE = 1n << 11n;
const M64 = (1n << 64n) - 1n;

const PAGE_4K = 0x1000n;
const PAGE_2M = 0x200000n;
const PAGE_1G = 0x40000000n;

/** One cached translation. Large pages are cached per 4 KiB piece, each remembering its page's bounds. */
export interface TlbEntry {
  /** Linear base and size of the whole page this piece belongs to. */
  pageBase: bigint;
  pageSize: bigint;
  /** pageBase + pageSize (kept so a hit test is two comparisons, no BigInt arithmetic). */
  pageEnd: bigint;
  /** Physical address the page's base maps to. */
  physBase: bigint;
  pcid: number;
  global: boolean;
  user: boolean;
  writable: boolean;
  nx: boolean;
  dirty: boolean;
}

export interface TlbOptions {
  /** Physical address width (CPUID 0x80000008): entry bits above it are reserved. */
  physAddrBits: number;
  /** 1 GiB pages supported (X86_FEATURE_GBPAGES). */
  gbPages: boolean;
}

export class Tlb {
  /** Non-global entries keyed by (4 KiB page number << 12 | PCID). */
  private readonly local = new Map<bigint, TlbEntry>();
  /** Global entries (G=1 with CR4.PGE) keyed by 4 KiB page number: they match every PCID. */
  private readonly global = new Map<bigint, TlbEntry>();
  readonly options: TlbOptions;
  /**
   * The last few entries hit: code, stack and one data page usually, checked by range before the
   * maps (no BigInt arithmetic on a hit). Emptied whenever the TLB changes.
   */
  private readonly recent: TlbEntry[] = [];
  private recentNext = 0;

  constructor(options: TlbOptions = { physAddrBits: 46, gbPages: true }) {
    this.options = options;
  }

  lookup(linear: bigint, pcid: number): TlbEntry | undefined {
    const r = this.recent;
    for (let i = 0; i < r.length; i++) {
      const e = r[i];
      if (linear >= e.pageBase && linear < e.pageEnd && (e.global || e.pcid === pcid)) return e;
    }
    const vpn = linear >> 12n;
    const e = this.global.get(vpn) ?? this.local.get((vpn << 12n) | BigInt(pcid));
    if (e) {
      r[this.recentNext] = e;
      this.recentNext = (this.recentNext + 1) & 3;
    }
    return e;
  }

  private forgetRecent(): void {
    this.recent.length = 0;
    this.recentNext = 0;
    this.generation++;
  }

  /**
   * Bumped when entries are removed, replaced or stop matching (flushes, INVLPG, a re-walk,
   * EFER.NXE, restores), not when new ones are added: a cache of translations stays valid while
   * this is unchanged.
   */
  flushes = 0;

  private forgetEntries(): void {
    this.forgetRecent();
    this.flushes++;
  }

  /** Bumped on every change to the TLB: callers caching a translation compare it. */
  generation = 0;

  /** Something translations depend on changed without a TLB change (EFER.NXE): drop cached shortcuts. */
  touch(): void {
    this.forgetEntries();
  }

  insert(linear: bigint, e: TlbEntry): void {
    this.forgetRecent();
    const vpn = linear >> 12n;
    const localKey = (vpn << 12n) | BigInt(e.pcid);
    // Replacing an entry (a re-walk after the page tables changed) changes a cached translation.
    if (this.global.has(vpn) || this.local.has(localKey)) this.flushes++;
    if (e.global) this.global.set(vpn, e);
    else this.local.set(localKey, e);
  }

  /** Drop the piece(s) covering `linear` (used after a fault on a cached entry, and by INVLPG). */
  private dropPage(linear: bigint, pcid: number | 'any', globals: boolean): void {
    this.forgetEntries();
    const hit = (e: TlbEntry): boolean => linear >= e.pageBase && linear < e.pageBase + e.pageSize;
    for (const [k, e] of this.local) if ((pcid === 'any' || e.pcid === pcid) && hit(e)) this.local.delete(k);
    if (globals) for (const [k, e] of this.global) if (hit(e)) this.global.delete(k);
  }

  /** INVLPG: the page's entries for the current PCID, and global entries for it. */
  invlpg(linear: bigint, currentPcid: number): void {
    this.dropPage(linear, currentPcid, true);
  }

  /** INVPCID type 0: one address, one PCID, globals kept. */
  invalidateAddress(linear: bigint, pcid: number): void {
    this.dropPage(linear, pcid, false);
  }

  /** MOV to CR3 (without NOFLUSH) / INVPCID type 1: every non-global entry of one PCID. */
  flushPcid(pcid: number): void {
    this.forgetEntries();
    for (const [k, e] of this.local) if (e.pcid === pcid) this.local.delete(k);
  }

  /** INVPCID type 2 (includeGlobal) / 3, CR4 writes that change paging modes. */
  flushAll(includeGlobal: boolean): void {
    this.forgetEntries();
    this.local.clear();
    if (includeGlobal) this.global.clear();
  }

  /** Snapshot for a TLB view: one row per cached 4 KiB piece. */
  entries(): Array<TlbEntry & { linear: bigint }> {
    const out: Array<TlbEntry & { linear: bigint }> = [];
    for (const [k, e] of this.local) out.push({ ...e, linear: (k >> 12n) << 12n });
    for (const [k, e] of this.global) out.push({ ...e, linear: k << 12n });
    return out;
  }

  get size(): number {
    return this.local.size + this.global.size;
  }

  /** An independent copy (machine snapshots for reverse stepping keep stale entries too). */
  clone(): Tlb {
    const t = new Tlb(this.options);
    for (const [k, e] of this.local) t.local.set(k, { ...e });
    for (const [k, e] of this.global) t.global.set(k, { ...e });
    return t;
  }

  /** Replace this TLB's contents with another's (restoring a snapshot). */
  copyFrom(other: Tlb): void {
    this.forgetEntries();
    this.local.clear();
    this.global.clear();
    for (const [k, e] of other.local) this.local.set(k, { ...e });
    for (const [k, e] of other.global) this.global.set(k, { ...e });
  }
}

/** The active PCID: CR3[11:0] when CR4.PCIDE, else 0. */
let pcidCr3 = -1n;
let pcidCr4 = -1n;
let pcidValue = 0;
export function currentPcid(state: CpuState): number {
  // Memoized on (CR3, CR4): BigInt compares are free, BigInt masks allocate.
  if (state.cr3 === pcidCr3 && state.cr4 === pcidCr4) return pcidValue;
  pcidCr3 = state.cr3;
  pcidCr4 = state.cr4;
  pcidValue = state.cr4 & CR4_PCIDE ? Number(state.cr3 & CR3.PCID_MASK) : 0;
  return pcidValue;
}

let bitsCr4 = -1n;
let bitsValue = 48;
export function linearAddressBits(state: CpuState): number {
  if (state.cr4 !== bitsCr4) {
    bitsCr4 = state.cr4;
    bitsValue = state.cr4 & CR4_LA57 ? 57 : 48;
  }
  return bitsValue;
}

const LOW_END_48 = 1n << 47n;
const HIGH_START_48 = (1n << 64n) - (1n << 47n);
const LOW_END_57 = 1n << 56n;
const HIGH_START_57 = (1n << 64n) - (1n << 56n);

/** Bits 63..(bits-1) all equal: below 2^(bits-1), or in the top 2^(bits-1) of the 64-bit space. */
export function isCanonical(addr: bigint, bits: number): boolean {
  const a = addr < 0n || addr > M64 ? BigInt.asUintN(64, addr) : addr;
  if (bits === 48) return a < LOW_END_48 || a >= HIGH_START_48;
  if (bits === 57) return a < LOW_END_57 || a >= HIGH_START_57;
  const low = 1n << BigInt(bits - 1);
  return a < low || a >= (1n << 64n) - low;
}

export interface WalkLevel {
  /** 'PML5E' | 'PML4E' | 'PDPTE' | 'PDE' | 'PTE'. */
  name: string;
  /** Index into the table (9 bits of the linear address). */
  index: number;
  /** Physical address of the table and of the entry read. */
  tableAddress: bigint;
  entryAddress: bigint;
  value: bigint;
}

export interface WalkResult {
  linear: bigint;
  levels: WalkLevel[];
  /** Set when the walk reached a present leaf. */
  phys?: bigint;
  pageSize?: bigint;
  /** Effective rights over all levels (only when a leaf was reached). */
  user?: boolean;
  writable?: boolean;
  nx?: boolean;
  global?: boolean;
  /** Why no translation: 'non-canonical', 'not present at PDE', 'reserved bit set in PTE', ... */
  problem?: string;
  /** True when the problem is a reserved bit (sets #PF error code bit RSVD). */
  reserved?: boolean;
}

function reservedMask(physAddrBits: number): bigint {
  // Bits from MAXPHYADDR to 51 are reserved in every entry.
  return ((1n << 52n) - 1n) & ~((1n << BigInt(physAddrBits)) - 1n);
}

/**
 * Walk the page tables for `linear` without side effects (no A/D updates, no TLB use):
 * what the page-walk view shows, and what translate() builds on.
 */
export function walk(state: CpuState, mem: PhysicalMemory, linear: bigint, opts: TlbOptions = { physAddrBits: 52, gbPages: true }): WalkResult {
  linear = BigInt.asUintN(64, linear);
  const levels: WalkLevel[] = [];
  const bits = linearAddressBits(state);
  if (!isCanonical(linear, bits)) return { linear, levels, problem: `non-canonical for ${bits}-bit linear addresses` };
  if (!(state.cr0 & CR0_PG)) return { linear, levels, phys: linear, pageSize: PAGE_4K, user: true, writable: true, nx: false, global: false };
  const nxe = ((state.msrs.get(EFER_MSR) ?? 0n) & EFER_NXE) !== 0n;
  const rsvd = reservedMask(opts.physAddrBits) | (nxe ? 0n : PTE.NX);
  let table = state.cr3 & CR3.ADDR_MASK;
  let user = true;
  let writable = true;
  let nx = false;
  const first = bits === 57 ? 0 : 1;
  for (let li = first; li < 5; li++) {
    const name = PAGING_LEVEL_NAMES[li];
    const shift = BigInt(12 + 9 * (4 - li));
    const index = Number((linear >> shift) & 0x1ffn);
    const entryAddress = table + BigInt(index * 8);
    const value = mem.readU64(entryAddress);
    levels.push({ name, index, tableAddress: table, entryAddress, value });
    if (!(value & PTE.P)) return { linear, levels, problem: `not present at ${name}` };
    user &&= (value & PTE.US) !== 0n;
    writable &&= (value & PTE.RW) !== 0n;
    nx ||= (value & PTE.NX) !== 0n;
    if (value & rsvd) return { linear, levels, problem: `reserved bit set in ${name}`, reserved: true };
    const isLeaf = li === 4 || ((value & PTE.PS) !== 0n && (li === 2 || li === 3));
    if ((value & PTE.PS) && li < 2) return { linear, levels, problem: `PS set in ${name}`, reserved: true };
    if (li === 2 && (value & PTE.PS) && !opts.gbPages) return { linear, levels, problem: '1 GiB page without GBPAGES', reserved: true };
    if (isLeaf) {
      const pageSize = li === 4 ? PAGE_4K : li === 3 ? PAGE_2M : PAGE_1G;
      const addrMask = li === 4 ? PTE.ADDR_MASK : li === 3 ? PTE.ADDR_MASK_2M : PTE.ADDR_MASK_1G;
      // A large page's frame must be aligned: bits 12 .. size-1 are reserved (bit 12 is PAT).
      if (li < 4 && (value & (pageSize - 1n) & ~0x1fffn & PTE.ADDR_MASK)) return { linear, levels, problem: `misaligned large page in ${name}`, reserved: true };
      const physBase = value & addrMask;
      return {
        linear, levels, phys: physBase + (linear & (pageSize - 1n)), pageSize,
        user, writable, nx, global: (value & PTE.G) !== 0n,
      };
    }
    table = value & PTE.ADDR_MASK;
  }
  return { linear, levels, problem: 'walk did not end' };
}

function canonicalFault(linear: bigint, access: PageAccess, bits: number): PageFault {
  const ss = access.stack === true;
  return {
    vector: ss ? VECTOR.SS : VECTOR.GP, name: ss ? '#SS' : '#GP', errorCode: 0, linear,
    message: `${ss ? '#SS' : '#GP'}(0): address 0x${linear.toString(16)} is not canonical for ${bits}-bit linear addresses`,
  };
}

function pageFault(linear: bigint, access: PageAccess, present: boolean, reserved: boolean, why: string, state: CpuState): PageFault {
  let err = 0;
  if (present) err |= PF_ERR.P;
  if (access.kind === 'write') err |= PF_ERR.W;
  if (access.user) err |= PF_ERR.U;
  if (reserved) err |= PF_ERR.RSVD | PF_ERR.P;
  const nxe = ((state.msrs.get(EFER_MSR) ?? 0n) & EFER_NXE) !== 0n;
  if (access.kind === 'exec' && (nxe || (state.cr4 & CR4_SMEP) !== 0n)) err |= PF_ERR.I;
  return {
    vector: VECTOR.PF, name: '#PF', errorCode: err, cr2: linear, linear,
    message: `#PF(0x${err.toString(16)}): ${access.user ? 'user' : 'supervisor'} ${access.kind} of 0x${linear.toString(16)}: ${why}`,
  };
}

/** Access rights check against effective rights; returns why it is refused, or undefined. */
function rightsProblem(state: CpuState, access: PageAccess, user: boolean, writable: boolean, nx: boolean): string | undefined {
  const nxe = ((state.msrs.get(EFER_MSR) ?? 0n) & EFER_NXE) !== 0n;
  if (access.user) {
    if (!user) return 'supervisor-only page';
    if (access.kind === 'write' && !writable) return 'read-only page';
    if (access.kind === 'exec' && nx && nxe) return 'no-execute page';
    return undefined;
  }
  if (access.kind === 'exec') {
    if (nx && nxe) return 'no-execute page';
    if (user && state.cr4 & CR4_SMEP) return 'SMEP: supervisor fetch from a user page';
    return undefined;
  }
  // SMAP (SDM 4.6.1): RFLAGS.AC lifts it for CPL < 3; implicit supervisor accesses made while
  // CPL = 3 (e.g. descriptor-table reads for user code) are checked regardless of AC.
  if (user && state.cr4 & CR4_SMAP && ((access.implicit && state.cpl === 3) || !(state.rflags & RFLAGS.AC))) {
    return access.implicit ? 'SMAP: implicit supervisor access to a user page' : 'SMAP: supervisor access to a user page with RFLAGS.AC=0';
  }
  if (access.kind === 'write' && !writable && state.cr0 & CR0_WP) return 'read-only page (CR0.WP=1)';
  return undefined;
}

/**
 * The translation of `linear` if the TLB already holds one that allows `access` (for a write: an
 * entry already marked dirty), else undefined. Nothing changes: no walk, no A/D bits, no fill, no
 * invalidation. The CPU's fast tier uses only such translations and leaves every other access to
 * translatePhys (via Machine.step), so its attempts leave no trace.
 */
export function cachedTranslation(state: CpuState, tlb: Tlb, linear: bigint, access: PageAccess): bigint | undefined {
  if (state.cr0 < CR0_PG) return isCanonical(linear, linearAddressBits(state)) ? linear : undefined;
  const e = tlb.lookup(linear, currentPcid(state));
  if (!e || (access.kind === 'write' && !e.dirty)) return undefined;
  if (rightsProblem(state, access, e.user, e.writable, e.nx)) return undefined;
  return e.physBase + (linear - e.pageBase);
}

/**
 * Translate a linear address for an architectural access: uses and fills the TLB, sets A/D bits
 * like hardware. Faults do not modify anything except dropping the TLB entry that caused them.
 */
export function translate(state: CpuState, mem: PhysicalMemory, tlb: Tlb, linear: bigint, access: PageAccess): Translation {
  const r = translatePhys(state, mem, tlb, linear, access);
  return typeof r === 'bigint' ? { phys: r } : { fault: r };
}

/** translate() without the result wrapper: the physical address, or the fault (the CPU's hot path). */
export function translatePhys(state: CpuState, mem: PhysicalMemory, tlb: Tlb, linear: bigint, access: PageAccess): bigint | PageFault {
  if (linear < 0n || linear > M64) linear = BigInt.asUintN(64, linear);
  // CR0 bits 63:32 are reserved (MOV to CR0 refuses them), so PG set <=> CR0 >= 2^31: no BigInt mask.
  const paging = state.cr0 >= CR0_PG;
  const pcid = paging ? currentPcid(state) : 0;
  // Only canonical addresses enter the TLB, so a hit needs no canonical check.
  const cached = paging ? tlb.lookup(linear, pcid) : undefined;
  if (cached && !(access.kind === 'write' && !cached.dirty)) {
    // Fast path: a user access to a user page or a supervisor access to a supervisor page
    // that neither writes read-only memory nor fetches from an NX page is always allowed.
    const kind = access.kind;
    if (access.user === cached.user && !access.implicit && (kind === 'read' || (kind === 'write' ? cached.writable : !cached.nx))) {
      return cached.physBase + (linear - cached.pageBase);
    }
    const why = rightsProblem(state, access, cached.user, cached.writable, cached.nx);
    if (why) {
      // A fault invalidates the TLB entries for the address (SDM 4.10.4.1): a retry re-walks.
      tlb.invlpg(linear, pcid);
      return pageFault(linear, access, true, false, why + ' (cached translation)', state);
    }
    return cached.physBase + (linear - cached.pageBase);
  }
  const bits = linearAddressBits(state);
  if (!isCanonical(linear, bits)) return canonicalFault(linear, access, bits);
  if (!paging) return linear;
  const w = walk(state, mem, linear, tlb.options);
  if (w.phys === undefined) {
    return pageFault(linear, access, w.reserved === true, w.reserved === true, w.problem ?? 'no translation', state);
  }
  const why = rightsProblem(state, access, w.user as boolean, w.writable as boolean, w.nx as boolean);
  if (why) return pageFault(linear, access, true, false, why, state);
  // Hardware sets A in every entry it used, and D in the leaf on a write.
  const last = w.levels.length - 1;
  for (let i = 0; i <= last; i++) {
    const l = w.levels[i];
    let v = l.value | PTE.A;
    if (i === last && access.kind === 'write') v |= PTE.D;
    if (v !== l.value) mem.writeU64(l.entryAddress, v);
  }
  const leaf = w.levels[last].value;
  const pageSize = w.pageSize as bigint;
  const pageBase = linear & ~(pageSize - 1n) & M64;
  tlb.insert(linear, {
    pageBase, pageSize, pageEnd: pageBase + pageSize, physBase: w.phys - (linear - pageBase), pcid,
    global: (leaf & PTE.G) !== 0n && (state.cr4 & CR4_PGE) !== 0n,
    user: w.user as boolean, writable: w.writable as boolean, nx: w.nx as boolean,
    dirty: access.kind === 'write' || (leaf & PTE.D) !== 0n,
  });
  return w.phys;
}
