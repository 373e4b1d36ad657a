/**
 * Guest physical memory, fetched from QEMU on demand. kentry's page walker and CPU read memory
 * synchronously; LazyGuestMemory throws NeedFrames for a frame it has not fetched yet, and
 * withFrames() fetches those frames over the gdb stub and runs the computation again.
 */
import { PhysicalMemory, PAGE_SIZE } from '../../../emulator/machine/memory';
import type { GdbRemote } from './gdb-remote';

export class NeedFrames extends Error {
  constructor(readonly pfns: number[]) {
    super(`guest physical frame(s) ${pfns.map((p) => '0x' + (p * PAGE_SIZE).toString(16)).join(', ')} not fetched from QEMU yet`);
  }
}

export class LazyGuestMemory extends PhysicalMemory {
  private readonly loaded = new Set<number>();
  readonly missing = new Set<number>();
  /** Frames fetched so far (a measure of how much of the guest a computation touched). */
  get fetchedFrames(): number {
    return this.loaded.size;
  }

  private check(phys: bigint, length: number): void {
    let added = false;
    const first = Number(phys >> 12n);
    const last = Number((phys + BigInt(Math.max(length, 1) - 1)) >> 12n);
    for (let pfn = first; pfn <= last; pfn++) {
      if (!this.loaded.has(pfn)) { this.missing.add(pfn); added = true; }
    }
    if (added) throw new NeedFrames([...this.missing]);
  }

  /** Page frame numbers fetched so far. */
  loadedFrames(): number[] {
    return [...this.loaded];
  }

  isLoaded(pfn: number): boolean {
    return this.loaded.has(pfn);
  }

  /** Put a frame fetched from the guest (not an architectural write: the frame is as QEMU has it). */
  load(pfn: number, bytes: Uint8Array): void {
    this.loaded.add(pfn);
    this.missing.delete(pfn);
    super.write(BigInt(pfn) * BigInt(PAGE_SIZE), bytes);
  }

  override read(phys: bigint, length: number): Uint8Array { this.check(phys, length); return super.read(phys, length); }
  override write(phys: bigint, data: Uint8Array): void { this.check(phys, data.length); super.write(phys, data); }
  override readUint(phys: bigint, size: number): bigint { this.check(phys, size); return super.readUint(phys, size); }
  override writeUint(phys: bigint, size: number, value: bigint): void { this.check(phys, size); super.writeUint(phys, size, value); }
}

/**
 * Physical reads through the gdb stub: QEMU's `Qqemu.PhyMemMode:1` makes `m` take physical
 * addresses; without it, the monitor's `xp` does the same (slower, text). Frames outside RAM
 * (holes, MMIO) read as zeros.
 */
export class PhysicalReader {
  private phyMemMode: boolean | undefined;
  constructor(private readonly gdb: GdbRemote) {}

  async readFrame(pfn: number): Promise<Uint8Array> {
    const address = BigInt(pfn) * BigInt(PAGE_SIZE);
    if (this.phyMemMode === undefined) {
      this.phyMemMode = (await this.gdb.request('Qqemu.PhyMemMode:1')) === 'OK';
      if (this.phyMemMode) await this.gdb.request('Qqemu.PhyMemMode:0');
    }
    if (this.phyMemMode) {
      await this.gdb.request('Qqemu.PhyMemMode:1');
      try {
        return await this.gdb.readMemory(address, PAGE_SIZE);
      } catch {
        return new Uint8Array(PAGE_SIZE);
      } finally {
        await this.gdb.request('Qqemu.PhyMemMode:0');
      }
    }
    const text = await this.gdb.monitor(`xp /512gx 0x${address.toString(16)}`);
    const out = new Uint8Array(PAGE_SIZE);
    const dv = new DataView(out.buffer);
    for (const m of text.matchAll(/^([0-9a-f]+):((?:\s+0x[0-9a-f]+)+)/gim)) {
      const at = Number(BigInt('0x' + m[1]) - address);
      m[2].trim().split(/\s+/).forEach((v, i) => {
        if (at + i * 8 + 8 <= PAGE_SIZE) dv.setBigUint64(at + i * 8, BigInt(v), true);
      });
    }
    return out;
  }

  async read(phys: bigint, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    for (let done = 0; done < length;) {
      const a = phys + BigInt(done);
      const off = Number(a & 0xfffn);
      const n = Math.min(length - done, PAGE_SIZE - off);
      out.set((await this.readFrame(Number(a >> 12n))).subarray(off, off + n), done);
      done += n;
    }
    return out;
  }
}

/** Run `fn` until it no longer needs frames this memory lacks, fetching them in between. */
export async function withFrames<T>(reader: PhysicalReader, mem: LazyGuestMemory, fn: () => T, maxRounds = 64): Promise<T> {
  for (let round = 0; ; round++) {
    try {
      return fn();
    } catch (e) {
      if (!(e instanceof NeedFrames) || round >= maxRounds) throw e;
      for (const pfn of [...mem.missing]) mem.load(pfn, await reader.readFrame(pfn));
    }
  }
}
