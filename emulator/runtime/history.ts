/**
 * The recorded past of a run, for reverse execution: one undo record per executed step (an
 * instruction, or a whole modelled C call). A record keeps only what the step changed:
 *  - the registers whose value changed, with their old value (compared against a shadow copy),
 *  - the old bytes of every physical memory write (the journal), and frames the step created,
 *  - the TLB as it was, only when the step changed it,
 *  - runtime bookkeeping the views use (undo closures, rare).
 * Undoing a record puts all of it back, so a step back restores the exact prior machine state.
 */
import type { Machine } from '../machine/machine';
import type { PhysicalMemory } from '../machine/memory';
import type { Tlb } from '../machine/paging';
import type { CpuState, DescriptorTableRegister, SegmentRegister } from '../machine/state';
import { SEGMENT_REGISTERS } from '../machine/facts/segments';

/** Register keys in a record's `regs` list: 0-15 GPRs, then these; MSRs are MSR_KEY + number. */
const K = { rflags: 16, cr0: 17, cr2: 18, cr3: 19, cr4: 20, cr8: 21, cpl: 22, dr: 23 /* ..30 */, seg: 31 /* ..36 */, tr: 37, ldtr: 38, gdtr: 39, idtr: 40, tsc: 42, halted: 43 } as const;
const MSR_KEY = 0x1_0000_0000;
/** Deltas below this fit V8's small integers (31 bits), stored without a heap object. */
const SMALL = 1n << 29n;
const CR_NAMES = ['cr0', 'cr2', 'cr3', 'cr4', 'cr8'] as const;

/** The rarely present parts of a record, in one object so a plain step pays for one field, not four. */
interface RareParts {
  /** All changes, when more than two registers changed. */
  regs?: unknown[];
  /** Frames (page numbers) this step allocated by writing to them first. */
  newFrames?: number[];
  /** The TLB before the step, when the step changed it. */
  tlb?: Tlb;
  /** Runtime bookkeeping to undo (pt_regs writers, syscall site), newest last. */
  undo?: (() => void)[];
}

/**
 * One step's undo record. Node runs V8 without pointer compression: every field is 8 bytes,
 * so the record keeps few of them (8: 88 bytes with the header).
 */
export class StepRecord {
  /**
   * RIP before the step: as a small number, how far it is from RIP after the step (the common
   * case: minus the instruction's length); a BigInt when it is far (jumps, SYSCALL, SYSRET).
   */
  ripBack: number | bigint;
  /** CPL the instruction ran at (bits 0-1) and instructions it retired (the rest: 1, or 0 for a model call or a fault). */
  private bits: number;
  /**
   * Up to two changed registers: key and old value. For GPRs and RFLAGS a number is the old
   * value minus the new one (small deltas fit in a small integer; no BigInt to allocate).
   */
  k0 = -1;
  v0: unknown = undefined;
  k1 = -1;
  v1: unknown = undefined;
  /** [phys (number), old bytes (number for <= 4 bytes, bigint for 8, else Uint8Array), length, ...] in write order. */
  mem: unknown[] | undefined = undefined;
  private extra: RareParts | undefined = undefined;

  /** `rip`: address of the executed instruction; `cpl`: the CPL it ran at. */
  constructor(rip: bigint, cpl: number) {
    this.ripBack = rip;
    this.bits = cpl & 3;
  }

  get cpl(): number {
    return this.bits & 3;
  }

  get retired(): number {
    return this.bits >> 2;
  }

  set retired(n: number) {
    this.bits = (this.bits & 3) | (n << 2);
  }

  /** [key, old value, ...] when more than two registers changed. */
  get regs(): unknown[] | undefined {
    return this.extra?.regs;
  }

  get newFrames(): number[] | undefined {
    return this.extra?.newFrames;
  }

  set newFrames(v: number[] | undefined) {
    (this.extra ??= {}).newFrames = v;
  }

  get tlb(): Tlb | undefined {
    return this.extra?.tlb;
  }

  set tlb(v: Tlb | undefined) {
    (this.extra ??= {}).tlb = v;
  }

  get undo(): (() => void)[] | undefined {
    return this.extra?.undo;
  }

  set undo(v: (() => void)[] | undefined) {
    (this.extra ??= {}).undo = v;
  }

  setChanges(list: unknown[], n: number): void {
    if (n > 4) (this.extra ??= {}).regs = list.slice(0, n);
    else {
      if (n >= 2) { this.k0 = list[0] as number; this.v0 = list[1]; }
      if (n === 4) { this.k1 = list[2] as number; this.v1 = list[3]; }
    }
  }

  /** Number of changed registers. */
  get changeCount(): number {
    const regs = this.regs;
    return regs ? regs.length / 2 : this.k1 >= 0 ? 2 : this.k0 >= 0 ? 1 : 0;
  }

  keyAt(i: number): number {
    const regs = this.regs;
    return regs ? regs[2 * i] as number : i === 0 ? this.k0 : this.k1;
  }

  valueAt(i: number): unknown {
    const regs = this.regs;
    return regs ? regs[2 * i + 1] : i === 0 ? this.v0 : this.v1;
  }

  setValueAt(i: number, v: unknown): void {
    const regs = this.regs;
    if (regs) regs[2 * i + 1] = v;
    else if (i === 0) this.v0 = v;
    else this.v1 = v;
  }

  /** The instruction's address, given RIP after this step. */
  ripBefore(ripAfter: bigint): bigint {
    return typeof this.ripBack === 'bigint' ? this.ripBack : BigInt.asUintN(64, ripAfter + BigInt(this.ripBack));
  }

  /** True when a key (register, MSR_KEY+n) changed in this step. */
  changed(key: number): boolean {
    for (let i = 0, n = this.changeCount; i < n; i++) if (this.keyAt(i) === key) return true;
    return false;
  }

  /** Physical ranges written by this step. */
  *writes(): Generator<[number, number]> {
    const m = this.mem;
    if (!m) return;
    for (let i = 0; i < m.length; i += 3) yield [m[i] as number, m[i + 2] as number];
  }

  /** Approximate heap bytes (64-bit V8 without pointer compression), for estimatedBytes(). */
  approximateBytes(): number {
    const big = (v: unknown): number => (typeof v === 'bigint' ? 16 + 8 * Math.max(1, Math.ceil(v.toString(16).length / 16)) : 0);
    let total = 24 + 8 * 8 + big(this.ripBack) + big(this.v0) + big(this.v1);
    const x = this.extra;
    if (x) {
      total += 24 + 4 * 8;
      if (x.regs) { total += 32 + 8 * x.regs.length; for (const v of x.regs) total += big(v) + (typeof v === 'object' && v ? 64 : 0); }
      if (x.newFrames) total += 32 + 8 * x.newFrames.length;
      if (x.tlb) total += 96 + 160 * x.tlb.size;
      if (x.undo) total += 32 + 96 * x.undo.length;
    }
    for (const v of [this.v0, this.v1]) if (typeof v === 'object' && v) total += 64;
    if (this.mem) { total += 32 + 8 * this.mem.length; for (const v of this.mem) total += big(v) + (v instanceof Uint8Array ? 128 + v.length : 0); }
    return total;
  }
}

export function registerKey(name: string): number | undefined {
  const gpr = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'].indexOf(name);
  if (gpr >= 0) return gpr;
  if (name === 'rflags') return K.rflags;
  if ((CR_NAMES as readonly string[]).includes(name)) return K[name as (typeof CR_NAMES)[number]];
  return undefined;
}
export const msrKey = (n: number): number => MSR_KEY + n;
export const segmentKey = (name: (typeof SEGMENT_REGISTERS)[number]): number => K.seg + SEGMENT_REGISTERS.indexOf(name);

export interface HistoryEvents {
  /** The oldest records were dropped to stay within the limit (said once per session). */
  dropped(limit: number): void;
}

/**
 * Scratch lists reused for every step; a record gets an exact-size copy (an array grown by push
 * keeps spare capacity, which would double the bytes per instruction).
 */
const scratchRegs: unknown[] = [];
const scratchMem: unknown[] = [];

/** Instructions a record stands for, towards the limit. */
function weightOf(rec: StepRecord): number {
  return rec.retired > 1 ? rec.retired : 1;
}

export class History {
  private records: StepRecord[] = [];
  private head = 0;
  private current: StepRecord | undefined;
  private readonly shadow: CpuState;
  private shadowRetired: number;
  private shadowTsc: bigint;
  private shadowHalted: boolean;
  private tlbBefore: Tlb;
  private tlbGeneration: number;
  private undoing = false;
  private msrMap: VersionedMap<number, bigint> | undefined;
  private msrVersion = -1;
  private droppedOnce = false;
  /** Instructions the records hold (a fast-tier span holds many; a model call or fault counts as one): what `limit` bounds. */
  private weight = 0;

  constructor(private readonly machine: Machine, public limit: number, private readonly events: HistoryEvents) {
    this.shadow = cloneState(machine.state);
    this.shadowRetired = machine.instructionsRetired;
    this.shadowTsc = machine.tscOffset;
    this.shadowHalted = machine.halted;
    this.tlbBefore = machine.tlb.clone();
    this.tlbGeneration = machine.tlb.generation;
    this.watchMsrs();
    const mem = machine.mem;
    const chained = mem.beforeWrite;
    mem.beforeWrite = (phys, length) => {
      chained?.(phys, length);
      if (this.current && !this.undoing) this.journal(mem, phys, length);
    };
  }

  get length(): number {
    return this.records.length - this.head;
  }

  /** The newest record (the step that led to the current state). */
  peek(): StepRecord | undefined {
    return this.length ? this.records[this.records.length - 1] : undefined;
  }

  /** The newest record's instruction address and CPL (where an undo would go). */
  peekLocation(): { rip: bigint; cpl: number } | undefined {
    const rec = this.peek();
    return rec ? { rip: rec.ripBefore(this.machine.state.rip), cpl: rec.cpl } : undefined;
  }

  /** Start recording a step about to execute at the current RIP. */
  begin(): StepRecord {
    this.current = new StepRecord(this.machine.state.rip, this.machine.state.cpl);
    if (scratchMem.length) scratchMem.length = 0; // left over only if a step threw
    return this.current;
  }

  /** Finish the step: diff the registers against the shadow, keep the record. */
  end(): StepRecord {
    const rec = this.current as StepRecord;
    this.current = undefined;
    this.diffRegisters(rec);
    if (scratchMem.length) {
      rec.mem = scratchMem.slice();
      scratchMem.length = 0;
    }
    const tlb = this.machine.tlb;
    if (tlb.generation !== this.tlbGeneration) {
      rec.tlb = this.tlbBefore;
      this.tlbBefore = tlb.clone();
      this.tlbGeneration = tlb.generation;
    }
    if (this.limit > 0) {
      this.records.push(rec);
      this.weight += weightOf(rec);
      while (this.weight > this.limit && this.length > 1) this.dropOldest();
    }
    return rec;
  }

  /**
   * End a step during which nothing ran (the fast tier declined at once): forget it, unless the
   * attempt left a trace (A/D bits of a translation, a TLB fill), which is undone as abort() does.
   */
  discard(): void {
    if (!scratchMem.length && this.machine.tlb.generation === this.tlbGeneration && this.machine.instructionsRetired === this.shadowRetired) {
      this.current = undefined;
      return;
    }
    this.abort();
  }

  /** Attach an undo action for runtime bookkeeping to the step being recorded. */
  onUndo(fn: () => void): void {
    if (!this.current || this.limit <= 0) return;
    (this.current.undo ??= []).push(fn);
  }

  /** Undo the step being recorded right away (a faulting attempt leaves no trace, e.g. A/D bits). */
  abort(): void {
    const rec = this.end();
    if (this.limit > 0 && this.records[this.records.length - 1] === rec) {
      this.records.pop();
      this.weight -= weightOf(rec);
    }
    this.apply(rec);
  }

  /** Undo the newest step; returns the address of the instruction undone. Undefined when the history is empty. */
  undo(): { rec: StepRecord; rip: bigint } | undefined {
    if (!this.length) return undefined;
    const rec = this.records.pop() as StepRecord;
    this.weight -= weightOf(rec);
    return { rec, rip: this.apply(rec) };
  }

  /**
   * Approximate heap bytes the records hold (V8 sizes: object headers, array slots, BigInts,
   * typed arrays), for the bench's bytes-per-instruction figure and tests.
   */
  estimatedBytes(): number {
    let total = 0;
    for (let i = this.head; i < this.records.length; i++) total += 8 /* slot in the list */ + this.records[i].approximateBytes();
    return total;
  }

  clear(): void {
    this.records = [];
    this.head = 0;
    this.weight = 0;
  }

  /** Debugger edits (setVariable, writeMemory) are not steps: the shadow follows them, and the past before them stays. */
  resync(): void {
    // The newest record's deltas are relative to the state after it, which the edit changed: make them absolute.
    const last = this.peek();
    if (last) {
      if (typeof last.ripBack === 'number') last.ripBack = last.ripBefore(this.shadow.rip);
      for (let i = 0; i < last.changeCount; i++) {
        const key = last.keyAt(i);
        const v = last.valueAt(i);
        if (typeof v === 'number' && key <= K.rflags) last.setValueAt(i, BigInt.asUintN(64, this.shadowValue(key) + BigInt(v)));
      }
    }
    Object.assign(this.shadow, cloneState(this.machine.state));
    this.shadowRetired = this.machine.instructionsRetired;
    this.shadowTsc = this.machine.tscOffset;
    this.shadowHalted = this.machine.halted;
  }

  private dropOldest(): void {
    this.weight -= weightOf(this.records[this.head]);
    this.records[this.head] = undefined as unknown as StepRecord;
    this.head++;
    if (this.head >= 4096 && this.head * 2 >= this.records.length) {
      this.records = this.records.slice(this.head);
      this.head = 0;
    }
    if (!this.droppedOnce) {
      this.droppedOnce = true;
      this.events.dropped(this.limit);
    }
  }

  private journal(mem: PhysicalMemory, phys: bigint, length: number): void {
    const rec = this.current as StepRecord;
    const first = Number(phys >> 12n);
    const last = Number((phys + BigInt(length - 1)) >> 12n);
    for (let pfn = first; pfn <= last; pfn++) if (!mem.hasFrame(pfn)) (rec.newFrames ??= []).push(pfn);
    const onRead = mem.onRead;
    mem.onRead = undefined; // the journal's own reads are not the program's
    // Up to 4 bytes fit a small integer; 8 need a BigInt; more (rare) keep the bytes.
    const old = length <= 4 ? Number(mem.readUint(phys, length)) : length <= 8 ? mem.readUint(phys, length) : mem.read(phys, length);
    mem.onRead = onRead;
    scratchMem.push(Number(phys), old, length);
  }

  private shadowValue(key: number): bigint {
    return key < 16 ? this.shadow.gpr[key] : this.shadow.rflags;
  }

  /** Undo a record; returns the instruction's address (the RIP it restores). */
  private apply(rec: StepRecord): bigint {
    const m = this.machine;
    const s = m.state;
    const rip = rec.ripBefore(s.rip);
    this.undoing = true;
    try {
      if (rec.undo) for (let i = rec.undo.length - 1; i >= 0; i--) rec.undo[i]();
      const mem = rec.mem;
      if (mem) {
        for (let i = mem.length - 3; i >= 0; i -= 3) {
          const phys = BigInt(mem[i] as number);
          const old = mem[i + 1];
          if (typeof old === 'number') m.mem.writeUint(phys, mem[i + 2] as number, BigInt(old));
          else if (typeof old === 'bigint') m.mem.writeUint(phys, mem[i + 2] as number, old);
          else m.mem.write(phys, old as Uint8Array);
        }
      }
      if (rec.newFrames) for (const pfn of rec.newFrames) m.mem.discardFrame(pfn);
      for (let i = rec.changeCount - 1; i >= 0; i--) this.put(rec.keyAt(i), rec.valueAt(i));
      s.rip = rip;
      this.shadow.rip = rip;
      m.instructionsRetired -= rec.retired;
      this.shadowRetired = m.instructionsRetired;
      if (rec.tlb) {
        m.tlb.copyFrom(rec.tlb);
        this.tlbBefore = rec.tlb;
        this.tlbGeneration = m.tlb.generation;
      }
    } finally {
      this.undoing = false;
    }
    return rip;
  }

  /** Put an old value back into the machine and the shadow. */
  private put(key: number, value: unknown): void {
    const m = this.machine;
    const s = m.state;
    const sh = this.shadow;
    if (key < 16) {
      const v = typeof value === 'number' ? BigInt.asUintN(64, s.gpr[key] + BigInt(value)) : value as bigint;
      s.gpr[key] = sh.gpr[key] = v;
      return;
    }
    if (key >= MSR_KEY) {
      const n = key - MSR_KEY;
      if (value === undefined) { s.msrs.delete(n); sh.msrs.delete(n); } else { s.msrs.set(n, value as bigint); sh.msrs.set(n, value as bigint); }
      return;
    }
    switch (key) {
      case K.rflags: s.rflags = sh.rflags = typeof value === 'number' ? s.rflags + BigInt(value) : value as bigint; return;
      case K.cpl: s.cpl = sh.cpl = value as number; return;
      case K.tr: s.tr = { ...(value as SegmentRegister) }; sh.tr = { ...s.tr }; return;
      case K.ldtr: s.ldtr = { ...(value as SegmentRegister) }; sh.ldtr = { ...s.ldtr }; return;
      case K.gdtr: s.gdtr = { ...(value as DescriptorTableRegister) }; sh.gdtr = { ...s.gdtr }; return;
      case K.idtr: s.idtr = { ...(value as DescriptorTableRegister) }; sh.idtr = { ...s.idtr }; return;
      case K.tsc: m.tscOffset = this.shadowTsc = value as bigint; return;
      case K.halted: m.halted = this.shadowHalted = value as boolean; return;
    }
    if (key >= K.cr0 && key <= K.cr8) {
      const name = CR_NAMES[key - K.cr0];
      s[name] = sh[name] = value as bigint;
    } else if (key >= K.dr && key < K.dr + 8) {
      s.dr[key - K.dr] = sh.dr[key - K.dr] = value as bigint;
    } else if (key >= K.seg && key < K.seg + 6) {
      const name = SEGMENT_REGISTERS[key - K.seg];
      s.seg[name] = { ...(value as SegmentRegister) };
      sh.seg[name] = { ...(value as SegmentRegister) };
    }
  }

  /** Record every register that differs from the shadow (old value), and update the shadow. */
  private diffRegisters(rec: StepRecord): void {
    const m = this.machine;
    const s = m.state;
    const sh = this.shadow;
    const out = scratchRegs;
    out.length = 0; // (cheap when already empty: it is emptied after every use)
    // Runs once per instruction: no closures, and the rarely-changing state is checked cheaply.
    const gpr = s.gpr;
    const shGpr = sh.gpr;
    for (let i = 0; i < 16; i++) {
      const now = gpr[i];
      const old = shGpr[i];
      if (now !== old) {
        out.push(i, smallDelta(old, now));
        shGpr[i] = now;
      }
    }
    if (s.rflags !== sh.rflags) { out.push(K.rflags, smallDelta(sh.rflags, s.rflags)); sh.rflags = s.rflags; }
    this.diffRare(s, sh, out);
    rec.retired = m.instructionsRetired - this.shadowRetired;
    this.shadowRetired = m.instructionsRetired;
    const back = (rec.ripBack as bigint) - s.rip;
    if (back > -SMALL && back < SMALL) rec.ripBack = Number(back);
    sh.rip = s.rip;
    if (out.length) {
      rec.setChanges(out, out.length);
      out.length = 0;
    }
  }

  /** Everything but GPRs and RFLAGS: CPL, control and debug registers, segments, tables, MSRs, counters. */
  private diffRare(s: CpuState, sh: CpuState, out: unknown[]): void {
    const m = this.machine;
    if (s.cpl !== sh.cpl) { out.push(K.cpl, sh.cpl); sh.cpl = s.cpl; }
    if (s.cr0 !== sh.cr0) { out.push(K.cr0, sh.cr0); sh.cr0 = s.cr0; }
    if (s.cr2 !== sh.cr2) { out.push(K.cr2, sh.cr2); sh.cr2 = s.cr2; }
    if (s.cr3 !== sh.cr3) { out.push(K.cr3, sh.cr3); sh.cr3 = s.cr3; }
    if (s.cr4 !== sh.cr4) { out.push(K.cr4, sh.cr4); sh.cr4 = s.cr4; }
    if (s.cr8 !== sh.cr8) { out.push(K.cr8, sh.cr8); sh.cr8 = s.cr8; }
    for (let i = 0; i < 8; i++) if (s.dr[i] !== sh.dr[i]) { out.push(K.dr + i, sh.dr[i]); sh.dr[i] = s.dr[i]; }
    const sg = s.seg;
    const shs = sh.seg;
    if (!sameSeg(sg.es, shs.es)) { out.push(K.seg, shs.es); shs.es = { ...sg.es }; }
    if (!sameSeg(sg.cs, shs.cs)) { out.push(K.seg + 1, shs.cs); shs.cs = { ...sg.cs }; }
    if (!sameSeg(sg.ss, shs.ss)) { out.push(K.seg + 2, shs.ss); shs.ss = { ...sg.ss }; }
    if (!sameSeg(sg.ds, shs.ds)) { out.push(K.seg + 3, shs.ds); shs.ds = { ...sg.ds }; }
    if (!sameSeg(sg.fs, shs.fs)) { out.push(K.seg + 4, shs.fs); shs.fs = { ...sg.fs }; }
    if (!sameSeg(sg.gs, shs.gs)) { out.push(K.seg + 5, shs.gs); shs.gs = { ...sg.gs }; }
    if (!sameSeg(s.tr, sh.tr)) { out.push(K.tr, sh.tr); sh.tr = { ...s.tr }; }
    if (!sameSeg(s.ldtr, sh.ldtr)) { out.push(K.ldtr, sh.ldtr); sh.ldtr = { ...s.ldtr }; }
    if (s.gdtr.base !== sh.gdtr.base || s.gdtr.limit !== sh.gdtr.limit) { out.push(K.gdtr, sh.gdtr); sh.gdtr = { ...s.gdtr }; }
    if (s.idtr.base !== sh.idtr.base || s.idtr.limit !== sh.idtr.limit) { out.push(K.idtr, sh.idtr); sh.idtr = { ...s.idtr }; }
    // MSRs: the versioned map says whether anything was written; compare only then.
    const msrs = s.msrs;
    const unchanged = msrs instanceof VersionedMap && msrs === this.msrMap && msrs.version === this.msrVersion;
    if (!unchanged) {
      if (msrs.size !== sh.msrs.size || !sameMsrs(msrs, sh.msrs)) {
        for (const [n, v] of msrs) if (sh.msrs.get(n) !== v) out.push(MSR_KEY + n, sh.msrs.get(n));
        for (const n of sh.msrs.keys()) if (!msrs.has(n)) out.push(MSR_KEY + n, sh.msrs.get(n));
        sh.msrs = new Map(msrs);
      }
      this.watchMsrs();
    }
    if (m.tscOffset !== this.shadowTsc) { out.push(K.tsc, this.shadowTsc); this.shadowTsc = m.tscOffset; }
    if (m.halted !== this.shadowHalted) { out.push(K.halted, this.shadowHalted); this.shadowHalted = m.halted; }
  }

  /** Make the machine's MSR map a versioned one (again, if someone replaced it), and remember its version. */
  private watchMsrs(): void {
    const s = this.machine.state;
    if (!(s.msrs instanceof VersionedMap)) s.msrs = new VersionedMap(s.msrs);
    this.msrMap = s.msrs as VersionedMap<number, bigint>;
    this.msrVersion = this.msrMap.version;
  }
}

/** Old minus new as a small integer when it fits (most register changes are small steps), else the old value. */
function smallDelta(old: bigint, now: bigint): number | bigint {
  const d = old - now;
  return d > -SMALL && d < SMALL ? Number(d) : old;
}

/** A Map that counts writes, so the history sees "no MSR changed" without comparing them all. */
class VersionedMap<K, V> extends Map<K, V> {
  version = 0;
  override set(k: K, v: V): this {
    this.version = (this.version | 0) + 1;
    return super.set(k, v);
  }
  override delete(k: K): boolean {
    this.version = (this.version | 0) + 1;
    return super.delete(k);
  }
  override clear(): void {
    this.version = (this.version | 0) + 1;
    super.clear();
  }
}

function sameSeg(a: SegmentRegister, b: SegmentRegister): boolean {
  return a.selector === b.selector && a.base === b.base && a.limit === b.limit && a.attrs === b.attrs;
}

function sameMsrs(a: Map<number, bigint>, b: Map<number, bigint>): boolean {
  for (const [n, v] of a) if (b.get(n) !== v) return false;
  return true;
}

function cloneState(s: CpuState): CpuState {
  return {
    ...s, gpr: s.gpr.slice(), dr: s.dr.slice(), msrs: new Map(s.msrs),
    seg: Object.fromEntries(SEGMENT_REGISTERS.map((n) => [n, { ...s.seg[n] }])) as CpuState['seg'],
    tr: { ...s.tr }, ldtr: { ...s.ldtr }, gdtr: { ...s.gdtr }, idtr: { ...s.idtr },
  };
}
