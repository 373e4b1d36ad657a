/**
 * The fast tier's register file: each 64-bit GPR as two 32-bit halves in Int32Arrays, RFLAGS as a
 * Number. BigInt arithmetic allocates on nearly every operation (step() on BigInts tops out near
 * 10 M instructions/s); halves do not. CpuState (BigInt) stays the architectural truth: a fast run loads it on entry and
 * stores what changed on exit, so everything outside the fast tier sees BigInts as before.
 */
import type { CpuState } from '../../machine/state';

const TWO32 = 4294967296;

export class FastRegisters {
  readonly lo = new Int32Array(16);
  readonly hi = new Int32Array(16);
  /** RFLAGS (it fits in 22 bits). */
  flags = 2;
  /** FS and GS bases as halves: the only segment bases in 64-bit mode (fixed during a fast run). */
  fsLo = 0;
  fsHi = 0;
  gsLo = 0;
  gsHi = 0;
  /** Linear address of the running block's first instruction, as halves (RIP-relative operands, CALL). */
  ripLo = 0;
  ripHi = 0;
  /** Target of the last RET, as halves. */
  targetLo = 0;
  targetHi = 0;
  /** Bit i set: GPR i was written during this run (only those are converted back to BigInt). */
  dirty = 0;

  /** The BigInt each register held when last loaded or stored: an unchanged one needs no conversion. */
  private readonly known: bigint[] = new Array<bigint>(16).fill(-1n);

  load(s: CpuState): void {
    const known = this.known;
    for (let i = 0; i < 16; i++) {
      const v = s.gpr[i];
      if (v === known[i]) continue;
      known[i] = v;
      this.lo[i] = Number(BigInt.asUintN(32, v)) | 0;
      this.hi[i] = Number(v >> 32n) | 0;
    }
    this.flags = Number(s.rflags);
    [this.fsLo, this.fsHi] = halves(s.seg.fs.base);
    [this.gsLo, this.gsHi] = halves(s.seg.gs.base);
    this.dirty = 0;
  }

  /** Forget which BigInts the halves hold (after a run that did not store them): the next load converts all. */
  forget(): void {
    this.known.fill(-1n);
    this.dirty = 0;
  }

  /** Write back the registers the run changed, and RFLAGS. */
  store(s: CpuState): void {
    const d = this.dirty;
    if (d !== 0) {
      for (let i = 0; i < 16; i++) if (d & (1 << i)) s.gpr[i] = this.known[i] = joinHalves(this.lo[i], this.hi[i]);
    }
    if (Number(s.rflags) !== this.flags) s.rflags = BigInt(this.flags);
    this.dirty = 0;
  }
}

/** A u64 as [low, high] Int32 halves. */
export function halves(v: bigint): [number, number] {
  return [Number(BigInt.asUintN(32, v)) | 0, Number(BigInt.asUintN(32, v >> 32n)) | 0];
}

/** Two Int32 halves as a u64 BigInt. */
export function joinHalves(lo: number, hi: number): bigint {
  return hi === 0 ? BigInt(lo >>> 0) : (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** Halves of (a + b) where b is given as halves and a as halves: [lo, hi]; used off the hot path. */
export function addHalves(alo: number, ahi: number, blo: number, bhi: number): [number, number] {
  const l = (alo >>> 0) + (blo >>> 0);
  return [l | 0, (ahi + bhi + (l >= TWO32 ? 1 : 0)) | 0];
}
