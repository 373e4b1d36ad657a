/**
 * The low 32 bits of a BigInt as a Number without allocating: the value goes through a
 * BigUint64Array and is read back through a Uint32Array view of the same bytes. `Number(v & m)`
 * allocates a BigInt for `v & m` - on the flag paths that runs for nearly every instruction.
 */
const big = new BigUint64Array(1);
const words = new Uint32Array(big.buffer);
/** Index of the low word in `words` (the host's byte order). */
const LOW = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 0 : 1;

export function low32(v: bigint): number {
  big[0] = v;
  return words[LOW];
}
