/**
 * How fast the hot loop's ALU work can possibly run with BigInt registers, against the same work
 * on 32-bit Number halves: `add %rcx,%rax` (all six flags), `dec %rcx` (five), and the `jnz`
 * test, with no fetch, decode or dispatch. The ratio is why the executor tops out near 10 M
 * instructions/s and why 50 M/s needs a Number register file (for `npm run bench`).
 */
const M64 = (1n << 64n) - 1n;
const SIGN = 1n << 63n;

function bigintLoop(n: number): bigint {
  const g = [0n, BigInt(n)];
  let fl = 2n;
  for (;;) {
    const a = g[0], b = g[1];
    const full = a + b;
    const r = full & M64;
    let f = 0n;
    if (r === 0n) f |= 0x40n;
    if (r & SIGN) f |= 0x80n;
    if (full > M64) f |= 1n;
    if ((a ^ r) & (b ^ r) & SIGN) f |= 0x800n;
    if ((a ^ b ^ r) & 0x10n) f |= 0x10n;
    fl = (fl & ~0x8d5n) | f;
    g[0] = r;
    const r2 = (g[1] - 1n) & M64;
    let f2 = 0n;
    if (r2 === 0n) f2 |= 0x40n;
    if (r2 & SIGN) f2 |= 0x80n;
    fl = (fl & ~0x8d4n) | f2;
    g[1] = r2;
    if (fl & 0x40n) return g[0];
  }
}

function numberPairLoop(n: number): bigint {
  const lo = new Int32Array(16), hi = new Int32Array(16);
  lo[1] = n;
  let fl = 2;
  for (;;) {
    const alo = lo[0] >>> 0, blo = lo[1] >>> 0, ahi = hi[0] >>> 0, bhi = hi[1] >>> 0;
    const sl = alo + blo;
    const sh = ahi + bhi + (sl > 0xffffffff ? 1 : 0);
    const rlo = sl >>> 0, rhi = sh >>> 0;
    let f = 0;
    if ((rlo | rhi) === 0) f |= 0x40;
    if (rhi & 0x80000000) f |= 0x80;
    if (sh > 0xffffffff) f |= 1;
    if ((ahi ^ rhi) & (bhi ^ rhi) & 0x80000000) f |= 0x800;
    if ((alo ^ blo ^ rlo) & 0x10) f |= 0x10;
    fl = (fl & ~0x8d5) | f;
    lo[0] = rlo; hi[0] = rhi;
    const clo = lo[1] >>> 0;
    const dlo = (clo - 1) >>> 0;
    const dhi = clo === 0 ? (hi[1] - 1) | 0 : hi[1];
    lo[1] = dlo; hi[1] = dhi;
    let f2 = 0;
    if ((dlo | dhi) === 0) f2 |= 0x40;
    if (dhi & 0x80000000) f2 |= 0x80;
    fl = (fl & ~0x8d4) | f2;
    if (fl & 0x40) return (BigInt(hi[0] >>> 0) << 32n) | BigInt(lo[0] >>> 0);
  }
}

/** Guest instructions per second of each representation (3 per iteration), best of `rounds`. */
export function bigintWall(iterations = 2_000_000, rounds = 3): { bigint: number; numberPairs: number } {
  const rate = (fn: (n: number) => bigint): number => {
    let best = 0;
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      const r = fn(iterations);
      const s = (performance.now() - t0) / 1000;
      if (r !== BigInt(iterations) * BigInt(iterations + 1) / 2n) throw new Error('bigintWall: wrong sum');
      best = Math.max(best, (3 * iterations) / s);
    }
    return best;
  };
  return { bigint: rate(bigintLoop), numberPairs: rate(numberPairLoop) };
}
