/**
 * The fast tier's data accesses: a small direct-mapped cache from linear page number to the
 * physical frame's bytes, filled only from translations the TLB already holds and allows
 * (paging.ts cachedTranslation: no walk, no A/D bits, no fault; the first access to a page is
 * step()'s) and emptied whenever anything a translation depends on changes (FastTier.syncEpoch). Writes only get cached for frames holding no decoded
 * code, so a store can never leave a stale decoded instruction behind (the slow path handles
 * stores into code pages, and decoding a new code page empties the write cache).
 */
import type { Machine } from '../../machine/machine';
import { joinHalves } from './registers';

/**
 * A memory observer (a watch, the history journal, the runtime's writer record) threw during a
 * fast-tier store. step() reports such an error as an internal error at the instruction; the
 * fast tier hands it to step() to report the same way, without calling the observer again.
 */
export class ObserverError {
  constructor(readonly error: unknown) {}
}

/** Thrown by an op that the fast tier must leave to Machine.step() (fault, page crossing, ...). */
export const FAST_STOP = Object.freeze({ fastStop: true });

const WAYS = 256;
const TWO20 = 1048576;

export class FastMemory {
  private readonly readTags = new Float64Array(WAYS).fill(-1);
  private readonly readFrames: Uint8Array[] = new Array<Uint8Array>(WAYS);
  private readonly writeTags = new Float64Array(WAYS).fill(-1);
  private readonly writeFrames: Uint8Array[] = new Array<Uint8Array>(WAYS);
  private readonly writePfns = new Float64Array(WAYS);
  /** Linear address of the instruction running (for Machine.onMemoryWrite), set by the run loop when needed. */
  currentRip = 0n;

  constructor(private readonly m: Machine) {}

  clear(): void {
    this.readTags.fill(-1);
    this.writeTags.fill(-1);
  }

  /** The frame holding linear (lo, hi) for a read of `size` bytes, or FAST_STOP. */
  readFrame(lo: number, hi: number, size: number, stack: boolean): Uint8Array {
    if ((lo & 0xfff) + size > 4096) throw FAST_STOP;
    const vpn = vpnOf(lo, hi);
    const way = vpn & (WAYS - 1);
    if (this.readTags[way] === vpn) return this.readFrames[way];
    const phys = this.translate(lo, hi, stack, false);
    const frame = this.m.mem.existingFrame(Number(phys >> 12n));
    // A never-written frame reads as zeros: leave it uncached so a later first write is seen.
    if (!frame) throw FAST_STOP;
    this.readTags[way] = vpn;
    this.readFrames[way] = frame;
    return frame;
  }

  /** The frame holding linear (lo, hi) for a write of `size` bytes, or FAST_STOP. */
  writeFrame(lo: number, hi: number, size: number, stack: boolean): Uint8Array {
    if ((lo & 0xfff) + size > 4096) throw FAST_STOP;
    const vpn = vpnOf(lo, hi);
    const way = vpn & (WAYS - 1);
    if (this.writeTags[way] === vpn) return this.writeFrames[way];
    const phys = this.translate(lo, hi, stack, true);
    const pfn = Number(phys >> 12n);
    // Stores into a page holding decoded code go through the slow path,
    // which drops the decoded instructions they overwrite.
    if (this.m.decodeCache.hasCode(pfn)) throw FAST_STOP;
    const frame = this.m.mem.existingFrame(pfn);
    if (!frame) throw FAST_STOP;
    this.writeTags[way] = vpn;
    this.writeFrames[way] = frame;
    this.writePfns[way] = pfn;
    // A frame that is writable is also readable by the same privilege: cache the read side too.
    this.readTags[way] = vpn;
    this.readFrames[way] = frame;
    return frame;
  }

  /**
   * Whether anyone observes writes (the reverse-execution journal, data breakpoints, the runtime's
   * record of who wrote each stack slot): then every fast store reports itself like a slow one.
   */
  observed = false;
  /** Whether user-half stores are observed (observed covers kernel-half ones too). */
  observedUser = false;
  /** Whether Machine.onMemoryWrite is set at all. */
  kernelHook = false;

  /** Before a store: the old bytes are still there (PhysicalMemory.beforeWrite). */
  beforeStore(lo: number, hi: number, size: number): void {
    const before = this.m.mem.beforeWrite;
    try {
      if (before) before(this.physOf(lo, hi), size);
    } catch (e) {
      throw new ObserverError(e);
    }
  }

  /** After a store: PhysicalMemory.onWrite and Machine.onMemoryWrite, as writeLinear would. */
  afterStore(lo: number, hi: number, size: number): void {
    const m = this.m;
    try {
      if (m.mem.onWrite) m.mem.onWrite(this.physOf(lo, hi), size);
      if (m.onMemoryWrite && (hi < 0 || !m.onMemoryWriteKernelOnly)) m.onMemoryWrite(joinHalves(lo, hi), size, this.currentRip);
    } catch (e) {
      throw new ObserverError(e);
    }
  }

  private physOf(lo: number, hi: number): bigint {
    const vpn = vpnOf(lo, hi);
    return (BigInt(this.writePfns[vpn & (WAYS - 1)]) << 12n) | BigInt(lo & 0xfff);
  }

  /** A translation the TLB already allows; anything else (a walk, A/D bits, a fault) is step()'s. */
  private translate(lo: number, hi: number, stack: boolean, write: boolean): bigint {
    const phys = this.m.cachedData(joinHalves(lo, hi), write, stack);
    if (phys === undefined) throw FAST_STOP;
    return phys;
  }
}

/** Linear page number of the address (lo, hi): 52 bits, exact in a Number. */
function vpnOf(lo: number, hi: number): number {
  return (hi >>> 0) * TWO20 + (lo >>> 12);
}

export function readU(f: Uint8Array, o: number, size: number): number {
  if (size === 1) return f[o];
  if (size === 2) return f[o] | (f[o + 1] << 8);
  return (f[o] | (f[o + 1] << 8) | (f[o + 2] << 16) | (f[o + 3] << 24)) >>> 0;
}

export function writeU(f: Uint8Array, o: number, size: number, v: number): void {
  f[o] = v;
  if (size === 1) return;
  f[o + 1] = v >>> 8;
  if (size === 2) return;
  f[o + 2] = v >>> 16;
  f[o + 3] = v >>> 24;
}
