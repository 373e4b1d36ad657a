/** A named bit field of a register: the shape every fact table below uses. */
export interface BitField {
  name: string;
  /** Lowest bit. */
  bit: number;
  /** Width in bits (1 for flags). */
  width?: number;
  /** One line: what it means, and why the entry code cares where it does. */
  doc: string;
}

/** Extract a field's value from a register value. */
export function fieldValue(value: bigint, f: BitField): bigint {
  const w = BigInt(f.width ?? 1);
  return (value >> BigInt(f.bit)) & ((1n << w) - 1n);
}

/** The set 1-bit flags' names, e.g. "SCE LME LMA NXE". Multi-bit fields as NAME=v. */
export function decodeBits(value: bigint, fields: readonly BitField[]): string {
  const parts: string[] = [];
  for (const f of fields) {
    const v = fieldValue(value, f);
    if ((f.width ?? 1) === 1) {
      if (v) parts.push(f.name);
    } else if (v) {
      parts.push(`${f.name}=${v.toString()}`);
    }
  }
  return parts.join(' ');
}

export function bitMask(f: BitField): bigint {
  return ((1n << BigInt(f.width ?? 1)) - 1n) << BigInt(f.bit);
}
