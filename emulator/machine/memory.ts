/**
 * Physical memory: sparse 4 KiB frames allocated on first write. Reads of never-written
 * memory return zeros (like RAM after boot cleared it). Addresses are bigint physical addresses.
 */
export const PAGE_SIZE = 4096;

export class PhysicalMemory {
  private readonly frames = new Map<number, Uint8Array>();
  /** Called after every write with the physical range; the CPU's decode cache listens. */
  onWrite: ((phys: bigint, length: number) => void) | undefined;

  private frame(pfn: number, create: boolean): Uint8Array | undefined {
    let f = this.frames.get(pfn);
    if (!f && create) {
      f = new Uint8Array(PAGE_SIZE);
      this.frames.set(pfn, f);
    }
    return f;
  }

  read(phys: bigint, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const a = phys + BigInt(done);
      const pfn = Number(a >> 12n);
      const off = Number(a & 0xfffn);
      const n = Math.min(length - done, PAGE_SIZE - off);
      const f = this.frame(pfn, false);
      if (f) out.set(f.subarray(off, off + n), done);
      done += n;
    }
    return out;
  }

  write(phys: bigint, data: Uint8Array): void {
    let done = 0;
    while (done < data.length) {
      const a = phys + BigInt(done);
      const pfn = Number(a >> 12n);
      const off = Number(a & 0xfffn);
      const n = Math.min(data.length - done, PAGE_SIZE - off);
      (this.frame(pfn, true) as Uint8Array).set(data.subarray(done, done + n), off);
      done += n;
    }
    this.onWrite?.(phys, data.length);
  }

  readU64(phys: bigint): bigint {
    return readLE(this.read(phys, 8), 8);
  }

  writeU64(phys: bigint, value: bigint): void {
    this.write(phys, writeLE(value, 8));
  }

  /** A copy of every allocated frame (for snapshots / reverse execution). */
  snapshot(): Map<number, Uint8Array> {
    return new Map([...this.frames].map(([k, v]) => [k, v.slice()]));
  }
}

/** Little-endian bytes to an unsigned bigint. */
export function readLE(bytes: Uint8Array, size: number, offset = 0): bigint {
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[offset + i]);
  return v;
}

/** An unsigned (or two's complement) bigint to `size` little-endian bytes. */
export function writeLE(value: bigint, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let v = BigInt.asUintN(size * 8, value);
  for (let i = 0; i < size; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}
