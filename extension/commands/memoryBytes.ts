/**
 * Turning what a user typed into the bytes DAP writeMemory sends. Pure, for unit tests.
 */

/** The number at the start of an evaluate result ("0xffff... <sym>  (why)"), or of a plain literal. */
export function leadingNumber(text: string): bigint | undefined {
  const m = /^\s*(-?)(0x[0-9a-f_]+|\d[\d_]*)\b/i.exec(text);
  if (!m) return undefined;
  const v = BigInt(m[2].replace(/_/g, ''));
  return m[1] ? -v : v;
}

/** `value` as `size` little-endian bytes (two's complement for negatives), or why it does not fit. */
export function littleEndian(value: bigint, size: number): Uint8Array | { error: string } {
  const bits = BigInt(size * 8);
  if (value >= 1n << bits || value < -(1n << (bits - 1n))) return { error: `${value} does not fit in ${size} byte${size > 1 ? 's' : ''}` };
  let v = BigInt.asUintN(Number(bits), value);
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}
