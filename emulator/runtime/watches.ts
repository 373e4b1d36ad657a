/**
 * Data breakpoints: memory (any address; write, read or both) and registers, MSRs and control
 * registers (write = the value changed). Memory watches are physical ranges, resolved when set,
 * so writes from any path hit them: instructions, the do_syscall_64 model, the page walker.
 * Also answers, for reverse execution, whether an undone step wrote a watched location.
 */
import type { Machine } from '../machine/machine';
import { walk } from '../machine/paging';
import { CR3, MSR } from '../machine/facts';
import { GPR_NAMES } from '../machine/state';
import { BreakpointBehaviour } from './conditions';
import type { EvalResult } from './evaluate';
import { msrKey, registerKey, segmentKey, type StepRecord } from './history';
import { registerReads, type ReadSet } from './register-reads';

export interface WatchSpec {
  /** "mem:<address>:<size>", "reg:<name>", "msr:<number>", "cr:<cr0|cr3|cr4>" (see debug-adapter/engine.ts). */
  dataId: string;
  accessType: 'read' | 'write' | 'readWrite';
  condition?: string;
  hitCondition?: string;
}

interface Watch {
  label: string;
  behaviour: BreakpointBehaviour;
  access: WatchSpec['accessType'];
  /** Memory watches: physical start and size. */
  phys?: bigint;
  size: number;
  /** Register-like watches: current value, and the history key that records its changes. */
  value?: () => bigint;
  key?: number;
  before?: bigint;
  /** Read watches on a register, control register or MSR: how to find it in the instruction's reads. */
  reads?: (r: ReadSet) => boolean;
}

type Evaluate = (expression: string) => EvalResult;
const hex = (v: bigint): string => `0x${v.toString(16)}`;

export class Watches {
  private memory: Watch[] = [];
  private registers: Watch[] = [];
  private armed = false;
  private hits: { watch: Watch; kind: 'read' | 'write'; old?: bigint }[] = [];
  /** Registers/MSRs the instruction about to run reads (only computed when a read watch needs it). */
  private pendingReads: ReadSet | undefined;
  private readonly readHook = (phys: bigint, length: number): void => this.access(phys, length, 'read');

  private hooked = false;

  constructor(private readonly machine: Machine) {}

  /**
   * Hear every memory write, from the first memory watch on. Until then nothing is hooked, so
   * stores stay cheap (the CPU's fast tier skips the hook call when there is none).
   */
  private hookWrites(): void {
    if (this.hooked) return;
    this.hooked = true;
    const mem = this.machine.mem;
    const chained = mem.beforeWrite;
    mem.beforeWrite = (phys, length) => {
      chained?.(phys, length);
      if (this.armed && this.memory.length) this.access(phys, length, 'write');
    };
  }

  get any(): boolean {
    return this.memory.length + this.registers.length > 0;
  }

  /** Replace all watches. One result per spec. */
  set(specs: WatchSpec[], _evaluate: Evaluate): { line: number; verified: boolean; message?: string }[] {
    this.memory = [];
    this.registers = [];
    return specs.map((spec) => {
      let w: Watch | string;
      try {
        w = this.resolve(spec);
      } catch (e) {
        w = `bad data breakpoint id "${spec.dataId}": ${(e as Error).message}`;
      }
      if (typeof w === 'string') return { line: 0, verified: false, message: w };
      (w.value ? this.registers : this.memory).push(w);
      if (!w.value) this.hookWrites();
      return { line: 0, verified: true, message: w.label };
    });
  }

  private resolve(spec: WatchSpec): Watch | string {
    const behaviour = new BreakpointBehaviour({ condition: spec.condition, hitCondition: spec.hitCondition });
    const s = this.machine.state;
    const [kind, a, b] = spec.dataId.split(':');
    if (kind === 'mem') {
      const linear = BigInt.asUintN(64, BigInt(a));
      const size = Number(b ?? 8);
      if (![1, 2, 4, 8].includes(size)) return `a data breakpoint covers 1, 2, 4 or 8 bytes (not ${b})`;
      if (Number(linear & 0xfffn) + size > 4096) return `0x${linear.toString(16)}: ${size} bytes would cross a page boundary`;
      const phys = this.translate(linear);
      if (phys === undefined) return `0x${linear.toString(16)} is not mapped in the current page tables`;
      return { label: `${size} bytes at ${hex(linear)}`, behaviour, access: spec.accessType, phys, size };
    }
    const access = spec.accessType;
    const byName = (name: string) => (r: ReadSet): boolean => r.registers.has(name);
    if (kind === 'reg') {
      const gpr = (GPR_NAMES as readonly string[]).indexOf(a);
      if (gpr >= 0) return { label: a, behaviour, access, size: 8, value: () => s.gpr[gpr], key: gpr, reads: byName(a) };
      if (a === 'rflags') return { label: 'rflags', behaviour, access, size: 8, value: () => s.rflags, key: registerKey('rflags'), reads: byName('rflags') };
      if (a === 'rip') {
        if (access !== 'write') return 'rip is read by every instruction: watch it for writes (jumps) only';
        return { label: 'rip', behaviour, access: 'write', size: 8, value: () => s.rip };
      }
      return `unknown register ${a}`;
    }
    if (kind === 'cr') {
      const name = a as 'cr0' | 'cr3' | 'cr4';
      if (!['cr0', 'cr2', 'cr3', 'cr4', 'cr8'].includes(name)) return `unknown control register ${a}`;
      return { label: name.toUpperCase(), behaviour, access, size: 8, value: () => s[name], key: registerKey(name), reads: byName(name) };
    }
    if (kind === 'msr') {
      const n = Number(a);
      const reads = (r: ReadSet): boolean => r.msrs.has(n);
      if (n === MSR.GS_BASE) return { label: 'MSR GS_BASE', behaviour, access, size: 8, value: () => s.seg.gs.base, key: segmentKey('gs'), reads };
      if (n === MSR.FS_BASE) return { label: 'MSR FS_BASE', behaviour, access, size: 8, value: () => s.seg.fs.base, key: segmentKey('fs'), reads };
      return { label: `MSR 0x${n.toString(16)}`, behaviour, access, size: 8, value: () => s.msrs.get(n) ?? 0n, key: msrKey(n), reads };
    }
    return `unknown data breakpoint id ${spec.dataId}`;
  }

  /** Physical address in the current page tables, or (with KPTI) the kernel's. */
  private translate(linear: bigint): bigint | undefined {
    const m = this.machine;
    const w = walk(m.state, m.mem, linear, m.tlb.options);
    if (w.phys !== undefined) return w.phys;
    const kernelCr3 = m.state.cr3 & ~(CR3.PTI_USER_PGTABLE_MASK | CR3.PTI_PCID_USER_MASK);
    return walk({ ...m.state, cr3: kernelCr3 }, m.mem, linear, m.tlb.options).phys;
  }

  private access(phys: bigint, length: number, kind: 'read' | 'write'): void {
    const end = phys + BigInt(length);
    for (const w of this.memory) {
      const p = w.phys as bigint;
      if (phys >= p + BigInt(w.size) || end <= p) continue;
      if (kind === 'read' ? w.access === 'write' : w.access === 'read') continue;
      if (this.hits.some((h) => h.watch === w && h.kind === kind)) continue;
      let old: bigint | undefined;
      if (kind === 'write') {
        const mem = this.machine.mem;
        const onRead = mem.onRead;
        mem.onRead = undefined;
        old = mem.readUint(p, w.size);
        mem.onRead = onRead;
      }
      this.hits.push({ watch: w, kind, old });
    }
  }

  /** Arm for one step. */
  beforeStep(): void {
    if (!this.any) return;
    this.armed = true;
    this.hits = [];
    for (const w of this.registers) w.before = (w.value as () => bigint)();
    this.pendingReads = this.registers.some((w) => w.access !== 'write') ? registerReads(this.machine) : undefined;
    if (this.memory.some((w) => w.access !== 'write')) this.machine.mem.onRead = this.readHook;
  }

  cancel(): void {
    this.armed = false;
    this.hits = [];
    this.machine.mem.onRead = undefined;
  }

  /** After a completed step: what was hit (one line), or undefined. */
  afterStep(evaluate: Evaluate): string | undefined {
    if (!this.armed) return undefined;
    this.armed = false;
    this.machine.mem.onRead = undefined;
    const lines: string[] = [];
    for (const h of this.hits) {
      if (h.kind === 'write') {
        const now = this.machine.mem.readUint(h.watch.phys as bigint, h.watch.size);
        if (this.fires(h.watch, evaluate)) lines.push(`${h.watch.label} written: ${hex(h.old ?? 0n)} -> ${hex(now)}`);
      } else if (this.fires(h.watch, evaluate)) lines.push(`${h.watch.label} read`);
    }
    this.hits = [];
    for (const w of this.registers) {
      const now = (w.value as () => bigint)();
      const read = w.access !== 'write' && this.pendingReads !== undefined && w.reads?.(this.pendingReads) === true;
      const changed = w.access !== 'read' && now !== w.before;
      if ((read || changed) && this.fires(w, evaluate)) {
        lines.push(changed ? `${w.label} changed: ${hex(w.before ?? 0n)} -> ${hex(now)}` : `${w.label} read (value ${hex(now)})`);
      }
    }
    this.pendingReads = undefined;
    return lines.length ? lines.join('; ') : undefined;
  }

  private fires(w: Watch, evaluate: Evaluate): boolean {
    const r = w.behaviour.reached(evaluate);
    return r.action !== 'skip';
  }

  /** Reverse execution: did this (just undone) step write a watched location? */
  reverseHit(rec: StepRecord): string | undefined {
    for (const w of this.memory) {
      if (w.access === 'read') continue;
      const p = w.phys as bigint;
      for (const [phys, len] of rec.writes()) {
        const a = BigInt(phys);
        if (a < p + BigInt(w.size) && a + BigInt(len) > p) return `${w.label} was written here`;
      }
    }
    for (const w of this.registers) if (w.access !== 'read' && w.key !== undefined && rec.changed(w.key)) return `${w.label} was changed here`;
    return undefined;
  }
}
