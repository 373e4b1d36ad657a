/**
 * The emulated x86-64 machine: CPU state, physical memory, TLB and decode cache, and step(),
 * which executes exactly one instruction. Exceptions roll the instruction back (fault semantics)
 * and are reported to the caller, or delivered through the IDT when deliverExceptions is set.
 */
import { Register } from 'iced-x86';
import { CpuFault } from '../cpu/fault';
import { armedBreakpoints, hits, type ArmedBreakpoints } from '../cpu/debug-registers';
import { low32 } from '../cpu/low-bits';
import { type InterruptShadow, NO_SHADOW, SHADOW_MOV_SS } from '../cpu/interrupt-shadow';
import { DecodeCache } from '../cpu/decode-cache';
import type { DecodedInsn } from '../cpu/decoded';
import { formatInsn } from '../cpu/decoded';
import { handlerFor } from '../cpu/exec';
import type { CpuProfile } from '../cpu/profiles';
import { MASK, readGpr, writeGpr } from '../cpu/registers';
import { deliverException, type DeliveryResult } from '../cpu/interrupts';
import { DESCRIPTOR, SELECTOR } from './facts/segments';
import { FLAT_CODE64_ATTRS, FLAT_DATA_ATTRS, flatSegment } from '../cpu/descriptors';
import { RFLAGS } from './facts/rflags';
import { MSR } from './facts/msrs';
import { PhysicalMemory, readLE, writeLE } from './memory';
import { Tlb, cachedTranslation, translatePhys, walk, isCanonical, linearAddressBits, type PageAccess, type PageFault } from './paging';
import { VECTOR } from './facts/exceptions';
import { cloneCpuState, newCpuState, type CpuState, type SegmentRegister } from './state';
import { FastTier, type FastStops } from '../cpu/fast/tier';

export interface MachineSnapshot {
  state: CpuState;
  memory: Map<number, Uint8Array>;
  tlb: Tlb;
  instructionsRetired: number;
  tscOffset: bigint;
  halted: boolean;
  interruptShadow?: InterruptShadow;
  pendingInterrupt?: number;
  randomState?: bigint;
}

export type StepResult =
  | { kind: 'ok' }
  | { kind: 'exception'; vector: number; name: string; errorCode?: number; cr2?: bigint; rip: bigint; message: string }
  | { kind: 'halt' }
  | { kind: 'triple-fault'; chain: string[] };

const M64 = (1n << 64n) - 1n;
const KERNEL_HALF = 1n << 63n;
const RSP = 4;
/** Shared results for the common cases (step() runs millions of times). Treat as read-only. */
const OK: StepResult = Object.freeze({ kind: 'ok' });
/** Largest debugger read in one call (a memory view asks for pages, not gigabytes). */
const MAX_DEBUG_ACCESS = 1 << 24;
const HALT: StepResult = Object.freeze({ kind: 'halt' });

/** Preallocated access descriptors: [kind][user][stack]. */
function accessTable(): PageAccess[] {
  const out: PageAccess[] = [];
  for (const kind of ['read', 'write', 'exec'] as const) {
    for (const user of [false, true]) {
      for (const stack of [false, true]) out.push({ kind, user, stack });
    }
  }
  return out;
}
const ACCESS = accessTable();
const KIND_READ = 0;
const KIND_WRITE = 4;
const KIND_EXEC = 8;
const IMPLICIT_READ: PageAccess = { kind: 'read', user: false, implicit: true };
const IMPLICIT_WRITE: PageAccess = { kind: 'write', user: false, implicit: true };

export class Machine {
  state: CpuState;
  readonly mem: PhysicalMemory;
  readonly tlb: Tlb;
  readonly profile: CpuProfile;
  readonly decodeCache: DecodeCache;
  /** Called after every architectural memory write (not debugger writes). */
  onMemoryWrite?: (linear: bigint, size: number, rip: bigint) => void;
  /** Call onMemoryWrite only for writes to the kernel half (bit 63 set): user stores then cost nothing extra. */
  onMemoryWriteKernelOnly = false;
  instructionsRetired = 0;
  /** Deliver exceptions through the IDT instead of reporting them. */
  deliverExceptions = false;
  /** Set by HLT; step() then reports 'halt' until cleared. */
  halted = false;
  /** Time-stamp counter: advances by one per retired instruction (deterministic). */
  tscOffset = 0n;
  /** RIP of the instruction being executed (for onMemoryWrite and trap-style exceptions). */
  currentRip = 0n;
  /** Set by string instructions: a fault keeps their register progress (REP is interruptible). */
  keepRegistersOnFault = false;
  /**
   * Set by SYSRET when it loads RFLAGS.TF: the single-step trap is taken right after SYSRET, before
   * any user instruction (unlike IRET/POPF, whose TF applies after the next instruction) - why
   * entry_SYSCALL_64 sends TF returns down the IRET path.
   */
  singleStepAfterThis = false;
  /**
   * Interrupt shadow left by the instruction just executed (SDM vol. 3, 6.8.3): after an STI that
   * set IF, maskable interrupts wait one more instruction; after MOV SS/POP SS, interrupts and
   * debug traps (single-step, data breakpoints) wait until after the next instruction, so the
   * `mov ss; mov rsp` pair can never be split by an interrupt on a half-switched stack.
   */
  interruptShadow: InterruptShadow = NO_SHADOW;
  /** Alignment checking for this instruction: CPL 3 with CR0.AM and RFLAGS.AC (SDM 6.15, #AC). */
  private alignmentCheck = false;
  /** DR0-DR3 breakpoints DR7 enables, refreshed each step while DR7 arms any (undefined: none). */
  private breakpoints: ArmedBreakpoints | undefined;
  /** DR6 B0-B3 bits of data breakpoints hit by the instruction running (reported after it). */
  private dataBreakpointHits = 0;
  /** Data breakpoint hits held back by a MOV SS shadow until after the next instruction. */
  private deferredDataHits = 0;
  /** A maskable external interrupt waiting for RFLAGS.IF and the end of any shadow (requestInterrupt). */
  pendingInterrupt: number | undefined = undefined;

  private readonly savedGpr: bigint[] = new Array<bigint>(16).fill(0n);
  private readonly savedSeg: SegmentRegister[] = [];

  constructor(profile: CpuProfile, mem?: PhysicalMemory) {
    this.profile = profile;
    this.mem = mem ?? new PhysicalMemory();
    this.tlb = new Tlb({ physAddrBits: profile.maxPhysAddr, gbPages: profile.features.has('GBPAGES') });
    this.decodeCache = new DecodeCache(this.mem, handlerFor);
    this.state = Machine.resetState();
  }

  /**
   * A CPU already in 64-bit mode at CPL 0 with flat kernel segments and EFER.LME/LMA, as a
   * loader would leave it. Paging is off (CR0.PG=0): linear = physical until the loader writes
   * CR3 and sets CR0.PG - a convenience, real long mode requires paging.
   */
  static resetState(): CpuState {
    const s = newCpuState();
    s.seg.cs = flatSegment(SELECTOR.__KERNEL_CS, FLAT_CODE64_ATTRS, 0);
    s.seg.ss = flatSegment(SELECTOR.__KERNEL_DS, FLAT_DATA_ATTRS, 0);
    s.cr0 = 0x80000033n & ~(1n << 31n); // PE MP ET NE (PG set by the loader)
    s.cr4 = 1n << 5n; // PAE
    s.msrs.set(MSR.EFER, (1n << 8n) | (1n << 10n)); // LME | LMA
    s.cpl = 0;
    return s;
  }

  get tsc(): bigint {
    return BigInt(this.instructionsRetired) + this.tscOffset;
  }

  // ---------------------------------------------------------------- stepping

  /** Execute exactly one instruction. */
  step(): StepResult {
    if (this.pendingInterrupt !== undefined && this.interruptShadow === 0 && (Number(this.state.rflags) & 0x200) !== 0) {
      return this.takeInterrupt(this.pendingInterrupt);
    }
    if (this.halted) return HALT;
    const s = this.state;
    const rip = s.rip;
    this.currentRip = rip;
    this.dataBreakpointHits = 0;
    // DR7 bits 0-7 enable DR0-DR3; the common case (none) costs one allocation-free test.
    if ((low32(s.dr[7]) & 0xff) !== 0) {
      const bp = this.breakpoints = armedBreakpoints(s.dr);
      const b = bp.exec.length ? hits(bp.exec, rip, 1) : 0;
      if (b !== 0 && (Number(s.rflags) & 0x10000) === 0) return this.breakpointFault(b);
    } else this.breakpoints = undefined;
    // In 64-bit mode CPL is CS.RPL; re-deriving it keeps a hand-edited CS (debugger, loader) consistent.
    s.cpl = s.seg.cs.selector & 3;
    this.keepRegistersOnFault = false;
    const savedRflags = s.rflags;
    const savedCpl = s.cpl;
    const seg = s.seg;
    const sv = this.savedSeg;
    // RFLAGS fits in 22 bits: test its bits as a Number (BigInt masks allocate).
    const flagsBefore = Number(savedRflags);
    const singleStep = (flagsBefore & 0x100) !== 0;
    // Linux sets CR0.AM, so a user program that sets RFLAGS.AC gets #AC (SIGBUS) on misaligned data.
    this.alignmentCheck = (flagsBefore & 0x40000) !== 0 && s.cpl === 3 && (low32(s.cr0) & 0x40000) !== 0;
    this.singleStepAfterThis = false;
    const shadowBefore = this.interruptShadow;
    this.interruptShadow = 0;
    let d: DecodedInsn | undefined;
    let savedGprs = false;
    try {
      d = this.fetch(rip);
      const failure = this.stepFailure;
      if (failure !== undefined) {
        this.stepFailure = undefined;
        if (failure.rip === rip && failure.retired === this.instructionsRetired) throw failure.error;
      }
      // Instructions that cannot fault after changing state skip the rollback copies (rollback.ts).
      if (d.saveGprs) {
        const g = s.gpr;
        const sg = this.savedGpr;
        for (let i = 0; i < 16; i++) sg[i] = g[i];
        sv[0] = seg.es; sv[1] = seg.cs; sv[2] = seg.ss; sv[3] = seg.ds; sv[4] = seg.fs; sv[5] = seg.gs;
        savedGprs = true;
      }
      let next: bigint;
      if (rip === d.ripAt) next = d.ripNext;
      else {
        next = rip + d.lengthBig;
        if (next > M64) next &= M64;
        d.ripAt = rip;
        d.ripNext = next;
      }
      this.prevInsn = d;
      this.prevNext = next;
      s.rip = next;
      d.exec(this, d);
      // RF set before the instruction is cleared after it (IRET/POPF, which load RF, excepted).
      if (flagsBefore & 0x10000 && Number(s.rflags) & 0x10000 && !this.rfSurvives(d)) s.rflags &= ~RFLAGS.RF;
      this.instructionsRetired++;
      // MOV SS/POP SS hold back the single-step trap until after the next instruction (which is
      // itself single-stepped, so one trap follows both).
      if ((this.dataBreakpointHits | this.deferredDataHits) !== 0 || singleStep || this.singleStepAfterThis) {
        if ((this.interruptShadow as InterruptShadow) === SHADOW_MOV_SS) {
          this.deferredDataHits |= this.dataBreakpointHits;
        } else return this.debugTrap(singleStep || this.singleStepAfterThis);
      }
      if (this.halted) return HALT;
      return OK;
    } catch (caught) {
      // A bug in kentry must not take the debugger down: report it as a #UD at this instruction.
      const e = caught instanceof CpuFault ? caught
        : new CpuFault(6, `internal kentry error while executing${d ? ' ' + this.describe(d, rip) : ''} at 0x${rip.toString(16)}: ${caught instanceof Error ? caught.message : String(caught)}`);
      // Roll back to the state before the instruction (fault semantics).
      if (savedGprs && !this.keepRegistersOnFault) for (let i = 0; i < 16; i++) s.gpr[i] = this.savedGpr[i];
      s.rip = rip;
      s.rflags = savedRflags;
      s.cpl = savedCpl;
      if (savedGprs) { seg.es = sv[0]; seg.cs = sv[1]; seg.ss = sv[2]; seg.ds = sv[3]; seg.fs = sv[4]; seg.gs = sv[5]; }
      this.interruptShadow = shadowBefore;
      this.dataBreakpointHits = 0;
      if (this.deliverExceptions) return this.deliver(e, d);
      return { kind: 'exception', vector: e.vector, name: e.name, errorCode: e.errorCode, cr2: e.cr2, rip, message: e.message };
    }
  }

  /**
   * Raise a maskable external interrupt (a device, the local APIC timer): it is taken at the next
   * instruction boundary where RFLAGS.IF=1 and no STI/MOV SS shadow holds it back, through the
   * IDT (vector 32..255), and wakes a halted CPU.
   */
  requestInterrupt(vector: number): void {
    if (!Number.isInteger(vector) || vector < 32 || vector > 255) throw new RangeError(`external interrupt vector ${vector} is not 32..255`);
    this.pendingInterrupt = vector;
  }

  private takeInterrupt(vector: number): StepResult {
    this.pendingInterrupt = undefined;
    this.halted = false;
    this.currentRip = this.state.rip;
    this.state.cpl = this.state.seg.cs.selector & 3;
    const r = deliverException(this, new CpuFault(vector, `external interrupt ${vector}`), undefined);
    if (r.kind === 'triple-fault') return { kind: 'triple-fault', chain: r.chain };
    if (r.kind === 'not-delivered') {
      return { kind: 'exception', vector, name: `INT ${vector}`, rip: this.state.rip, message: `external interrupt ${vector} not delivered (${r.reason})` };
    }
    return OK;
  }

  /**
   * The #DB single-step trap after an instruction that began with RFLAGS.TF=1 (SDM 17.3.1.4):
   * the instruction has completed, DR6.BS is set, and the trap reports the next RIP.
   */
  private debugTrap(singleStep: boolean): StepResult {
    const s = this.state;
    const data = this.dataBreakpointHits | this.deferredDataHits;
    this.dataBreakpointHits = 0;
    this.deferredDataHits = 0;
    if (singleStep) s.dr[6] |= 1n << 14n;
    if (data) s.dr[6] = (s.dr[6] & ~0xfn) | BigInt(data);
    const what = [
      ...(data ? [`data breakpoint ${[0, 1, 2, 3].filter((i) => data & (1 << i)).map((i) => `DR${i}`).join(', ')}`] : []),
      ...(singleStep ? ['single-step trap (RFLAGS.TF)'] : []),
    ].join(' and ');
    const message = `#DB: ${what} after the instruction at 0x${this.currentRip.toString(16)}`;
    if (this.deliverExceptions) {
      this.currentRip = s.rip;
      const r = deliverException(this, new CpuFault(1, message), undefined);
      if (r.kind === 'triple-fault') return { kind: 'triple-fault', chain: r.chain };
      if (r.kind === 'delivered') return { kind: 'ok' };
    }
    return { kind: 'exception', vector: 1, name: '#DB', rip: s.rip, message };
  }

  /** An instruction breakpoint: a fault before the instruction (DR6.Bn); RFLAGS.RF lets it run once. */
  private breakpointFault(bits: number): StepResult {
    const s = this.state;
    s.dr[6] = (s.dr[6] & ~0xfn) | BigInt(bits);
    const rip = s.rip;
    const message = `#DB: instruction breakpoint DR${Math.log2(bits & -bits)} at 0x${rip.toString(16)}`;
    if (this.deliverExceptions) return this.deliver(new CpuFault(1, message), undefined);
    return { kind: 'exception', vector: 1, name: '#DB', rip, message };
  }

  private rfSurvives(d: DecodedInsn): boolean {
    // IRET and POPF load RF; every other instruction clears it on completion (SDM 17.3.1.1).
    const m = d.mnemonic;
    return m === 1619 /* Iretq */ || m === 1618 /* Iretd */ || m === 296 /* Iret */ || m === 593 /* Popf */ || m === 1617 /* Popfq */ || m === 1616 /* Popfd */;
  }

  private deliver(e: CpuFault, d: DecodedInsn | undefined): StepResult {
    const r: DeliveryResult = deliverException(this, e, d);
    if (r.kind === 'triple-fault') return { kind: 'triple-fault', chain: r.chain };
    if (r.kind === 'not-delivered') {
      return { kind: 'exception', vector: e.vector, name: e.name, errorCode: e.errorCode, cr2: e.cr2, rip: this.currentRip, message: `${e.message} (${r.reason})` };
    }
    this.instructionsRetired++;
    return { kind: 'ok' };
  }

  /**
   * Run up to `limit` instructions through the fast tier (cpu/fast: Number registers, compiled
   * blocks); returns how many ran, leaving exactly the state that many step() calls would.
   * Returns 0 when the instruction at RIP is one only step() runs, and does not start at all while
   * anything needs attention between instructions: a pending interrupt with IF=1, an STI/MOV SS shadow,
   * RFLAGS.TF or RF, DR7 breakpoints, alignment checking, HLT, read watchpoints (memory.onRead).
   * Stops before any instruction whose address is in `stops`.
   */
  runFast(limit: number, stops?: FastStops): number {
    const s = this.state;
    limit = Math.floor(limit);
    const failure = this.stepFailure;
    if (failure !== undefined && failure.rip === s.rip && failure.retired === this.instructionsRetired) return 0; // step() reports it
    if (!(limit >= 1) || this.halted || this.interruptShadow !== 0 || this.deferredDataHits !== 0) return 0;
    const flags = Number(s.rflags);
    // A pending interrupt waits while IF=0, which nothing the fast tier runs can change.
    if (this.pendingInterrupt !== undefined && (flags & 0x200) !== 0) return 0;
    if ((flags & 0x10100) !== 0 /* TF, RF */ || (low32(s.dr[7]) & 0xff) !== 0 || this.mem.onRead !== undefined) return 0;
    s.cpl = s.seg.cs.selector & 3;
    if ((flags & 0x40000) !== 0 && s.cpl === 3 && (low32(s.cr0) & 0x40000) !== 0) return 0;
    this.fastTier ??= new FastTier(this);
    return this.fastTier.run(limit, stops);
  }

  /** An error the fast tier met at `rip` that step() must report there (see failNextStep). */
  private stepFailure: { rip: bigint; retired: number; error: unknown } | undefined;

  /**
   * Make the next step(), if it is at `rip` with nothing run in between, fail with `error` as an
   * internal error of that instruction (#UD, rolled back), without executing it: a memory
   * observer threw during the fast tier's run of it, which step() reports that way itself.
   */
  failNextStep(rip: bigint, error: unknown): void {
    this.stepFailure = { rip, retired: this.instructionsRetired, error };
  }

  /** The fast tier, once runFast has been used (its instruction count is reported by the benchmark). */
  fastTier: FastTier | undefined;

  /**
   * Fetch for the fast tier: the instruction at `rip` if fetching it has no side effects (the code
   * page's translation is in the TLB with execute rights, the instruction is within the page), else
   * undefined and nothing changed. Records none of step()'s successor links.
   */
  fetchBlockStart(rip: bigint): DecodedInsn | undefined {
    const s = this.state;
    if (!(s.seg.cs.attrs & DESCRIPTOR.L)) return undefined;
    this.prevInsn = undefined;
    const f = this.fetchCache;
    if (f.tlbGeneration === this.tlb.generation && f.decodeGeneration === this.decodeCache.generation
      && f.cpl === s.cpl && f.cr3 === s.cr3 && f.cr4 === s.cr4 && f.cr0 === s.cr0 && f.page && rip >= f.lo && rip < f.hi) {
      const hit = f.page.get(Number(rip - f.lo));
      if (hit) return hit;
    }
    const phys = cachedTranslation(s, this.tlb, rip, ACCESS[KIND_EXEC + (s.cpl === 3 ? 2 : 0)]);
    if (phys === undefined) return undefined;
    const d = this.decodeCache.get(phys, 64) ?? this.decodeCache.decodeAt(phys, 64);
    if (d === undefined) return undefined; // straddles into the next page
    this.rememberFetch(rip, phys);
    return d;
  }

  /** A data translation the TLB already allows (cachedTranslation): the fast tier's only kind. */
  cachedData(linear: bigint, write: boolean, stack: boolean): bigint | undefined {
    return cachedTranslation(this.state, this.tlb, linear, this.dataAccess(write ? KIND_WRITE : KIND_READ, stack));
  }

  /** The decoded instruction at `linear` in the page fetch() last translated (decoding it if needed), or undefined past the page. */
  decodedInPage(linear: bigint): DecodedInsn | undefined {
    const f = this.fetchCache;
    if (!f.page || linear < f.lo || linear >= f.hi) return undefined;
    const off = Number(linear - f.lo);
    return f.page.get(off) ?? this.decodeCache.decodeAt(f.phys + BigInt(off), 64);
  }

  /** Fetch and decode the instruction at `rip` (exec access through paging, decode cache). */
  fetch(rip: bigint): DecodedInsn {
    const s = this.state;
    if (!(s.seg.cs.attrs & DESCRIPTOR.L)) {
      throw new CpuFault(6, `compatibility-mode (32-bit) execution at 0x${rip.toString(16)} is not implemented by kentry`);
    }
    // Same code page as the last fetch, nothing changed since: skip translation and page lookup.
    const f = this.fetchCache;
    if (f.tlbGeneration === this.tlb.generation && f.decodeGeneration === this.decodeCache.generation
      && f.cpl === s.cpl && f.cr3 === s.cr3 && f.cr4 === s.cr4 && f.cr0 === s.cr0 && f.page) {
      // Straight-line code and loop back-edges: the successor this instruction had last time
      // (links are only made inside the remembered page, so no range check is needed).
      const prev = this.prevInsn;
      if (prev !== undefined && prev.linkEpoch === this.fetchEpoch) {
        if (rip === prev.fallRip) return prev.fallInsn as DecodedInsn;
        if (rip === prev.takenRip) return prev.takenInsn as DecodedInsn;
      }
      if (rip >= f.lo && rip < f.hi) {
        const hit = f.page.get(Number(rip - f.lo));
        if (hit) {
          if (prev !== undefined) this.link(prev, rip, hit);
          return hit;
        }
      }
    }
    const user = s.cpl === 3;
    const phys = this.translateOrThrow(rip, ACCESS[KIND_EXEC + (user ? 2 : 0)]);
    const cached = this.decodeCache.get(phys, 64);
    if (cached) {
      this.rememberFetch(rip, phys);
      return cached;
    }
    const d = this.decodeCache.decodeAt(phys, 64);
    if (d) {
      this.rememberFetch(rip, phys);
      return d;
    }
    this.prevInsn = undefined;
    // The instruction straddles a page boundary: the second page needs its own translation.
    const first = 4096 - Number(rip & 0xfffn);
    const phys2 = this.translateOrThrow((rip + BigInt(first)) & M64, ACCESS[KIND_EXEC + (user ? 2 : 0)]);
    const bytes = new Uint8Array(15);
    bytes.set(this.mem.read(phys, first), 0);
    bytes.set(this.mem.read(phys2, 15 - first), first);
    return this.decodeCache.decodeBytes(bytes, 64);
  }

  private readonly fetchCache = {
    lo: 1n, hi: 0n, phys: 0n, tlbGeneration: -1, decodeGeneration: -1, cpl: -1, cr3: 0n, cr4: 0n, cr0: 0n,
    page: undefined as Map<number, DecodedInsn> | undefined,
  };

  /** RDRAND/RDSEED generator state: deterministic, so sessions replay alike (saved in snapshots). */
  randomState = 0x853c49e6748fea9bn;
  /** CR4 when a Jcc cached its checked target (canonical checks depend on CR4.LA57). */
  branchCr4 = -1n;
  /** Bumped whenever fetchCache changes: successor links made under another epoch are not used. */
  private fetchEpoch = 0;
  /** The instruction step() ran last and the address after it (for successor links). */
  private prevInsn: DecodedInsn | undefined;
  private prevNext = -1n;

  private link(prev: DecodedInsn, rip: bigint, hit: DecodedInsn): void {
    if (prev.linkEpoch !== this.fetchEpoch) {
      prev.linkEpoch = this.fetchEpoch;
      prev.fallRip = -1n; prev.fallInsn = undefined;
      prev.takenRip = -1n; prev.takenInsn = undefined;
    }
    if (rip === this.prevNext) { prev.fallRip = rip; prev.fallInsn = hit; }
    else { prev.takenRip = rip; prev.takenInsn = hit; }
  }

  private rememberFetch(rip: bigint, phys: bigint): void {
    this.fetchEpoch++;
    this.prevInsn = undefined;
    const f = this.fetchCache;
    const s = this.state;
    const off = rip & 0xfffn;
    f.lo = rip - off;
    f.hi = f.lo + 4096n;
    f.phys = phys - off;
    f.page = this.decodeCache.pageOf(phys);
    f.tlbGeneration = this.tlb.generation;
    f.decodeGeneration = this.decodeCache.generation;
    f.cpl = s.cpl;
    f.cr3 = s.cr3;
    f.cr4 = s.cr4;
    f.cr0 = s.cr0;
  }

  /** Text of the instruction at the current RIP (for messages). */
  describe(d: DecodedInsn, rip: bigint): string {
    try {
      return formatInsn(d, rip);
    } catch {
      return Array.from(d.bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
    }
  }

  // ---------------------------------------------------------------- memory (architectural)

  translateOrThrow(linear: bigint, access: PageAccess): bigint {
    const t = translatePhys(this.state, this.mem, this.tlb, linear, access);
    if (typeof t !== 'bigint') throw new CpuFault(t.vector, t.message, t.errorCode, t.cr2);
    return t;
  }

  private dataAccess(kind: number, stack: boolean): PageAccess {
    return ACCESS[kind + (this.state.cpl === 3 ? 2 : 0) + (stack ? 1 : 0)];
  }

  /** Read `size` bytes at a linear address with the current privilege's access checks. */
  readLinear(linear: bigint, size: number, stack = false, implicit = false): bigint {
    if (this.alignmentCheck && !implicit) this.checkAlignment(linear, size);
    if (this.breakpoints !== undefined && this.breakpoints.readWrite.length) this.dataBreakpointHits |= hits(this.breakpoints.readWrite, linear, size);
    const access = implicit ? IMPLICIT_READ : this.dataAccess(KIND_READ, stack);
    const off = Number(linear & 0xfffn);
    if (off + size <= 4096) return this.mem.readUint(this.translateOrThrow(linear, access), size);
    const n1 = 4096 - off;
    const p1 = this.translateOrThrow(linear, access);
    const p2 = this.translateOrThrow((linear + BigInt(n1)) & M64, access);
    const bytes = new Uint8Array(size);
    bytes.set(this.mem.read(p1, n1), 0);
    bytes.set(this.mem.read(p2, size - n1), n1);
    return readLE(bytes, size);
  }

  /** #AC(0) for a data access not aligned to its size (2, 4, 8 bytes; larger operands to 8). */
  private checkAlignment(linear: bigint, size: number): void {
    const align = size >= 8 ? 8 : size;
    if (align > 1 && (low32(linear) & (align - 1)) !== 0) {
      throw new CpuFault(17, `#AC(0): ${size}-byte access at 0x${linear.toString(16)} is not ${align}-byte aligned (CR0.AM and RFLAGS.AC at CPL 3)`, 0);
    }
  }

  /** Translate for a write without writing (read-modify-write operands check write rights first). */
  probeWrite(linear: bigint, size: number, stack = false): void {
    const access = this.dataAccess(KIND_WRITE, stack);
    this.translateOrThrow(linear, access);
    const off = Number(linear & 0xfffn);
    if (off + size > 4096) this.translateOrThrow((linear + BigInt(4096 - off)) & M64, access);
  }

  /** Write `size` bytes at a linear address; every page is translated before any byte is written. */
  writeLinear(linear: bigint, size: number, value: bigint, stack = false, implicit = false): void {
    if (this.alignmentCheck && !implicit) this.checkAlignment(linear, size);
    const bp = this.breakpoints;
    if (bp !== undefined) this.dataBreakpointHits |= hits(bp.write, linear, size) | hits(bp.readWrite, linear, size);
    const access = implicit ? IMPLICIT_WRITE : this.dataAccess(KIND_WRITE, stack);
    const off = Number(linear & 0xfffn);
    if (off + size <= 4096) {
      this.mem.writeUint(this.translateOrThrow(linear, access), size, value);
    } else {
      const n1 = 4096 - off;
      const p1 = this.translateOrThrow(linear, access);
      const p2 = this.translateOrThrow((linear + BigInt(n1)) & M64, access);
      const bytes = writeLE(value, size);
      this.mem.write(p1, bytes.subarray(0, n1));
      this.mem.write(p2, bytes.subarray(n1));
    }
    if (this.onMemoryWrite && (!this.onMemoryWriteKernelOnly || linear >= KERNEL_HALF)) this.onMemoryWrite(linear, size, this.currentRip);
  }

  /** Base of a segment register for address computation: only FS and GS have one in 64-bit mode. */
  segBase(seg: Register): bigint {
    if (seg === Register.FS) return this.state.seg.fs.base;
    if (seg === Register.GS) return this.state.seg.gs.base;
    return 0n;
  }

  /** Offset of a memory operand (base + index*scale + disp), before the segment base. */
  effectiveAddress(d: DecodedInsn): bigint {
    let a = d.memDisp;
    if (d.ripRel) a += this.state.rip;
    else {
      if (d.memBase !== Register.None) a += readGpr(this.state, d.memBase);
      if (d.memIndex !== Register.None) a += readGpr(this.state, d.memIndex) * BigInt(d.memScale);
    }
    return d.addrSize === 4 ? a & 0xffffffffn : a & M64;
  }

  /** Linear address of the instruction's memory operand. */
  memoryLinear(d: DecodedInsn): bigint {
    return (this.segBase(d.memSeg) + this.effectiveAddress(d)) & M64;
  }

  readMem(d: DecodedInsn, size = d.memSize): bigint {
    return this.readLinear(this.memoryLinear(d), size, d.memSeg === Register.SS);
  }

  writeMem(d: DecodedInsn, value: bigint, size = d.memSize): void {
    this.writeLinear(this.memoryLinear(d), size, value, d.memSeg === Register.SS);
  }

  /** Operand i's value: a GPR, the memory operand, or the immediate (masked to the operand's size). */
  readOp(d: DecodedInsn, i: number): bigint {
    const k = d.opKinds[i];
    if (k === 0 /* Register */) return readGpr(this.state, d.opRegs[i]);
    if (k === 24 /* Memory */) return this.readMem(d);
    return d.imm;
  }

  /** Like readOp, but a memory operand is first checked for write access (read-modify-write). */
  readOpRmw(d: DecodedInsn, i: number): bigint {
    if (d.opKinds[i] === 24) {
      const lin = this.memoryLinear(d);
      this.probeWrite(lin, d.memSize, d.memSeg === Register.SS);
      return this.readLinear(lin, d.memSize, d.memSeg === Register.SS);
    }
    return this.readOp(d, i);
  }

  writeOp(d: DecodedInsn, i: number, value: bigint): void {
    const k = d.opKinds[i];
    if (k === 0) writeGpr(this.state, d.opRegs[i], value);
    else this.writeMem(d, value & MASK[d.memSize]);
  }

  push(value: bigint, size = 8): void {
    const rsp = (this.state.gpr[RSP] - BigInt(size)) & M64;
    this.writeLinear(rsp, size, value & MASK[size], true);
    this.state.gpr[RSP] = rsp;
  }

  pop(size = 8): bigint {
    const rsp = this.state.gpr[RSP];
    const v = this.readLinear(rsp, size, true);
    this.state.gpr[RSP] = (rsp + BigInt(size)) & M64;
    return v;
  }

  // ---------------------------------------------------------------- debugger access

  private debugAccess(kind: 'read' | 'write', user: boolean): PageAccess {
    return { kind, user };
  }

  /**
   * Read memory as the debugger: translation by a side-effect-free walk (no A/D bits, no TLB
   * fill; a cached TLB translation is not used either, so this shows what the tables say).
   */
  readVirtual(linear: bigint, length: number, opts?: { user?: boolean }): Uint8Array | PageFault {
    if (!Number.isInteger(length) || length < 0 || length > MAX_DEBUG_ACCESS) {
      return { vector: VECTOR.GP, name: '#GP', errorCode: 0, linear, message: `cannot read ${length} bytes (0..${MAX_DEBUG_ACCESS})` };
    }
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const a = (linear + BigInt(done)) & M64;
      const p = this.debugTranslate(a, this.debugAccess('read', opts?.user ?? false));
      if (typeof p !== 'bigint') return p;
      const n = Math.min(length - done, 4096 - Number(a & 0xfffn));
      out.set(this.mem.read(p, n), done);
      done += n;
    }
    return out;
  }

  /** Write memory as the debugger (no onMemoryWrite, no A/D, no TLB); undefined on success. */
  writeVirtual(linear: bigint, data: Uint8Array, opts?: { user?: boolean }): PageFault | undefined {
    const phys: Array<[bigint, number, number]> = [];
    let done = 0;
    while (done < data.length) {
      const a = (linear + BigInt(done)) & M64;
      const p = this.debugTranslate(a, this.debugAccess('write', opts?.user ?? false));
      if (typeof p !== 'bigint') return p;
      const n = Math.min(data.length - done, 4096 - Number(a & 0xfffn));
      phys.push([p, done, n]);
      done += n;
    }
    for (const [p, off, n] of phys) this.mem.write(p, data.subarray(off, off + n));
    return undefined;
  }

  readU64Virtual(linear: bigint, opts?: { user?: boolean }): bigint | PageFault {
    const b = this.readVirtual(linear, 8, opts);
    return b instanceof Uint8Array ? readLE(b, 8) : b;
  }

  /**
   * Side-effect-free translation for the debugger: the walk and the U/S and present checks,
   * but writes ignore R/W (a debugger may patch read-only code) and SMAP does not apply.
   */
  private debugTranslate(linear: bigint, access: PageAccess): bigint | PageFault {
    return debugWalk(this.state, this.mem, this.tlb, linear, access);
  }

  /**
   * Everything needed to come back to this point (reverse stepping): CPU state, memory, the TLB
   * (stale entries are machine state too), counters.
   */
  snapshot(): MachineSnapshot {
    return {
      state: cloneCpuState(this.state), memory: this.mem.snapshot(), tlb: this.tlb.clone(),
      instructionsRetired: this.instructionsRetired, tscOffset: this.tscOffset, halted: this.halted,
      interruptShadow: this.interruptShadow, pendingInterrupt: this.pendingInterrupt, randomState: this.randomState,
    };
  }

  restore(snap: MachineSnapshot): void {
    // Copy into the existing object: views and the runtime may hold a reference to it.
    Object.assign(this.state, cloneCpuState(snap.state));
    this.mem.restore(snap.memory);
    this.tlb.copyFrom(snap.tlb);
    this.instructionsRetired = snap.instructionsRetired;
    this.tscOffset = snap.tscOffset;
    this.halted = snap.halted;
    this.interruptShadow = snap.interruptShadow ?? 0;
    this.pendingInterrupt = snap.pendingInterrupt;
    if (snap.randomState !== undefined) this.randomState = snap.randomState;
  }

  /** Write a general-purpose register by iced Register number (used by tests and the loader). */
  setRegister(reg: Register, value: bigint): void {
    writeGpr(this.state, reg, value);
  }
}


function debugWalk(state: CpuState, mem: PhysicalMemory, tlb: Tlb, linear: bigint, access: PageAccess): bigint | PageFault {
  const bits = linearAddressBits(state);
  if (!isCanonical(linear, bits)) {
    return { vector: VECTOR.GP, name: '#GP', errorCode: 0, linear, message: `0x${linear.toString(16)} is not canonical` };
  }
  const w = walk(state, mem, linear, tlb.options);
  if (w.phys === undefined) {
    return { vector: VECTOR.PF, name: '#PF', errorCode: access.user ? 4 : 0, cr2: linear, linear, message: `0x${linear.toString(16)}: ${w.problem ?? 'no translation'}` };
  }
  if (access.user && !w.user) {
    return { vector: VECTOR.PF, name: '#PF', errorCode: 5, cr2: linear, linear, message: `0x${linear.toString(16)}: supervisor-only page` };
  }
  return w.phys;
}
