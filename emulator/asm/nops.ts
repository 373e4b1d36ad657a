import { RECOMMENDED_NOPS } from '../machine/facts/nops';

/**
 * The multi-byte NOP sequences GNU as 2.40 pads x86-64 code with (.p2align in code sections,
 * .nops): up to 11 bytes per instruction, longest first.
 */
// The SDM's recommended NOPs to 9 bytes, then gas 2.40's own 10- and 11-byte forms:
// 0x66 0x2e and 0x66 0x66 0x2e before the 8-byte NOP.
const PATTERNS: readonly (readonly number[])[] = [
  ...RECOMMENDED_NOPS,
  [0x66, 0x2e, ...RECOMMENDED_NOPS[8]],
  [0x66, 0x66, 0x2e, ...RECOMMENDED_NOPS[8]],
];

/** Fill `out[off, off+n)` with NOPs; `maxSingle` limits one NOP's length (.nops's second operand). */
export function fillNops(out: Uint8Array, off: number, n: number, maxSingle = 11): void {
  const lim = Math.max(1, Math.min(11, maxSingle));
  while (n > 0) {
    const k = n > lim ? lim : n;
    // gas emits the long NOPs first and the remainder (1..lim bytes) last.
    const take = n - k >= 0 && n > lim ? lim : k;
    out.set(PATTERNS[take], off);
    off += take;
    n -= take;
  }
}
