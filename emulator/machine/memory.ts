/**
 * Physical memory: sparse 4 KiB frames allocated on first write. Reads of never-written
 * memory return zeros (like RAM after boot cleared it). Addresses are bigint physical addresses.
 */
export const PAGE_SIZE = 4096;

export class PhysicalMemory {
  private readonly frames = new Map<number, Uint8Array>();
  /** Called after every write with the physical range. */
  onWrite: ((phys: bigint, length: number) => void) | undefined;
  /** More write listeners (the CPU's decode cache is one), so no one replaces another's onWrite. */
  private readonly writeListeners: Array<(phys: bigint, length: number) => void> = [];
  /**
   * Called before every write, while the old bytes are still there (the reverse-execution
   * journal saves them; data breakpoints compare them). Undefined when nobody listens.
   */
  beforeWrite: ((phys: bigint, length: number) => void) | undefined;
  /** Called on every read (read watchpoints); left undefined unless one is set, to keep reads cheap. */
  onRead: ((phys: bigint, length: number) => void) | undefined;

  /**
   * Bumped when frames are replaced or dropped (restore, discardFrame): holders of a frame's
   * bytes (the CPU's fast tier) compare it.
   */
  version = 0;

  /** The bytes of an allocated frame (live: writes through it bypass listeners), or undefined. */
  existingFrame(pfn: number): Uint8Array | undefined {
    return this.frames.get(pfn);
  }

  addWriteListener(fn: (phys: bigint, length: number) => void): void {
    this.writeListeners.push(fn);
  }

  private notify(phys: bigint, length: number): void {
    this.onWrite?.(phys, length);
    for (const l of this.writeListeners) l(phys, length);
  }

  private frame(pfn: number, create: boolean): Uint8Array | undefined {
    let f = this.frames.get(pfn);
    if (!f && create) {
      f = new Uint8Array(PAGE_SIZE);
      this.frames.set(pfn, f);
    }
    return f;
  }

  read(phys: bigint, length: number): Uint8Array {
    this.onRead?.(phys, length);
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
    this.beforeWrite?.(phys, data.length);
    let done = 0;
    while (done < data.length) {
      const a = phys + BigInt(done);
      const pfn = Number(a >> 12n);
      const off = Number(a & 0xfffn);
      const n = Math.min(data.length - done, PAGE_SIZE - off);
      (this.frame(pfn, true) as Uint8Array).set(data.subarray(done, done + n), off);
      done += n;
    }
    this.notify(phys, data.length);
  }

  /**
   * An unsigned little-endian value of 1, 2, 4 or 8 bytes: the CPU's fast path (no temporary
   * arrays when the value lies within one frame).
   */
  readUint(phys: bigint, size: number): bigint {
    const off = Number(phys & 0xfffn);
    if (off + size > PAGE_SIZE) return readLE(this.read(phys, size), size);
    this.onRead?.(phys, size);
    const f = this.frame(Number(phys >> 12n), false);
    if (!f) return 0n;
    if (size === 1) return BigInt(f[off]);
    if (size === 2) return BigInt(f[off] | (f[off + 1] << 8));
    const lo = (f[off] | (f[off + 1] << 8) | (f[off + 2] << 16) | (f[off + 3] << 24)) >>> 0;
    if (size === 4) return BigInt(lo);
    const hi = (f[off + 4] | (f[off + 5] << 8) | (f[off + 6] << 16) | (f[off + 7] << 24)) >>> 0;
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** Write an unsigned little-endian value of `size` bytes (notifies onWrite like write()). */
  writeUint(phys: bigint, size: number, value: bigint): void {
    const off = Number(phys & 0xfffn);
    if (off + size > PAGE_SIZE) { this.write(phys, writeLE(value, size)); return; }
    this.beforeWrite?.(phys, size);
    const f = this.frame(Number(phys >> 12n), true) as Uint8Array;
    let lo = Number(BigInt.asUintN(32, value));
    for (let i = 0; i < Math.min(size, 4); i++) { f[off + i] = lo & 0xff; lo >>>= 8; }
    if (size === 8) {
      let hi = Number(BigInt.asUintN(32, value >> 32n));
      for (let i = 4; i < 8; i++) { f[off + i] = hi & 0xff; hi >>>= 8; }
    }
    this.notify(phys, size);
  }

  readU64(phys: bigint): bigint {
    return readLE(this.read(phys, 8), 8);
  }

  writeU64(phys: bigint, value: bigint): void {
    this.write(phys, writeLE(value, 8));
  }

  /** Whether a frame has been allocated (written) yet. */
  hasFrame(pfn: number): boolean {
    return this.frames.has(pfn);
  }

  /** Forget a frame, so it reads as zeros and is "never written" again (undoing its first write). */
  discardFrame(pfn: number): void {
    if (this.frames.delete(pfn)) {
      this.version++;
      this.notify(BigInt(pfn) << 12n, PAGE_SIZE);
    }
  }

  /** A copy of every allocated frame (for snapshots / reverse execution). */
  snapshot(): Map<number, Uint8Array> {
    return new Map([...this.frames].map(([k, v]) => [k, v.slice()]));
  }

  /** Put back a snapshot(); listeners hear about every frame that existed before or after. */
  restore(snapshot: Map<number, Uint8Array>): void {
    const touched = new Set<number>([...this.frames.keys(), ...snapshot.keys()]);
    this.version++;
    this.frames.clear();
    for (const [k, v] of snapshot) this.frames.set(k, v.slice());
    for (const pfn of touched) this.notify(BigInt(pfn) << 12n, PAGE_SIZE);
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
