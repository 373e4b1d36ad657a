/**
 * The fast tier: runs straight-line blocks of compiled ops (compile.ts) on a Number register file,
 * chaining block to block through Jcc/JMP/CALL/RET, until an instruction only the exact BigInt
 * path (Machine.step) can run, a stop address, or the instruction limit. The result is exactly
 * what that many step() calls would leave: registers, RFLAGS, RIP, memory, A/D bits, the TLB,
 * instructionsRetired. Blocks are built from the decode cache and rebuilt when it changes (code
 * written, ALTERNATIVE patching); a block never crosses a page.
 */
import { OpKind, Mnemonic } from 'iced-x86';
import type { Machine } from '../../machine/machine';
import { isCanonical, linearAddressBits } from '../../machine/paging';
import { DESCRIPTOR } from '../../machine/facts/segments';
import type { DecodedInsn } from '../decoded';
import { compile, type FastOp, push64, pop64, popCommit, popped } from './compile';
import { conditionTest } from '../conditions';
import { FAST_STOP, FastMemory, ObserverError } from './memory';
import { FastRegisters, halves, joinHalves } from './registers';

const M64 = (1n << 64n) - 1n;
/** Longest block: bounds the work thrown away when a block is rebuilt. */
const MAX_BLOCK = 64;

const enum End { Fall, Jcc, Jmp, Call, Ret }
const enum Spin { Fell, Limit, Stopped }

/** Addresses a fast run must stop before (breakpoints, modelled functions); bump version on change. */
export interface FastStops {
  readonly addresses: ReadonlySet<bigint>;
  readonly version: number;
}

class Block {
  /** Ops before the terminator. */
  readonly ops: FastOp[] = [];
  /** Byte offset of each instruction (ops, then the terminator) from the block's start. */
  readonly offsets: number[] = [];
  /** Instructions, the terminator included. */
  count = 0;
  bytes = 0;
  end: End = End.Fall;
  test: (flags: number) => boolean = () => true;
  /** Terminator's branch displacement from the block's end. */
  rel = 0n;
  /** Linear placement, recomputed when the block runs at another address (aliases) or in another epoch. */
  rip = -1n;
  /** Linear-address width the placement's canonical check used (48 or 57). */
  placeBits = 0;
  /** Linear address of each instruction at this placement (made only when memory writes are observed). */
  insnRips: bigint[] | undefined;
  ripLo = 0;
  ripHi = 0;
  /** rip + bytes, and as halves (CALL's return address). */
  fallRip = 0n;
  fallLo = 0;
  fallHi = 0;
  takenRip = 0n;
  takenOk = false;
  /** Successors under linkEpoch. */
  linkEpoch = -1;
  fallBlock: Block | undefined;
  takenBlock: Block | undefined;
  /** The last RET target (halves) and its block. */
  retLo = 0;
  retHi = 0;
  retRip = -1n;
  retBlock: Block | undefined;
  /** First instruction index at a stop address, for stopVersion at stopRip (-1: none). */
  stopVersion = -1;
  stopRip = -1n;
  stopIndex = -1;
  constructor(readonly generation: number) {}
}

export class FastTier {
  readonly regs = new FastRegisters();
  readonly mem: FastMemory;
  private readonly blocks = new WeakMap<DecodedInsn, Block | null>();
  /** Bumped when anything a cached translation or a block link depends on changes. */
  private epoch = 0;
  private key = { cpl: -1, cr0: -1n, cr3: -1n, cr4: -1n, efer: -1n, flushes: -1, decodeGeneration: -1, codePages: -1, memVersion: -1, ac: -1, canonicalBits: 48 };
  /** Instructions run by the fast tier (for the benchmark and tests). */
  instructions = 0;

  constructor(private readonly m: Machine) {
    this.mem = new FastMemory(m);
  }

  /** Re-check what translations depend on; empty the caches when any of it changed. */
  private syncEpoch(): void {
    const s = this.m.state;
    const k = this.key;
    const efer = s.msrs.get(0xc0000080) ?? 0n;
    const ac = Number(s.rflags) & 0x40000;
    const dc = this.m.decodeCache;
    if (k.cpl === s.cpl && k.cr0 === s.cr0 && k.cr3 === s.cr3 && k.cr4 === s.cr4 && k.efer === efer && k.ac === ac
      && k.flushes === this.m.tlb.flushes && k.decodeGeneration === dc.generation && k.codePages === dc.codePages
      && k.memVersion === this.m.mem.version) return;
    k.cpl = s.cpl; k.cr0 = s.cr0; k.cr3 = s.cr3; k.cr4 = s.cr4; k.efer = efer; k.ac = ac;
    k.flushes = this.m.tlb.flushes; k.decodeGeneration = dc.generation; k.codePages = dc.codePages; k.memVersion = this.m.mem.version;
    k.canonicalBits = linearAddressBits(s);
    this.epoch++;
    this.mem.clear();
  }

  /**
   * Run up to `limit` instructions; returns how many ran. The caller has checked that nothing
   * needs per-instruction attention (Machine.runFast: TF, RF, DR7, shadows, interrupts, #AC).
   */
  run(limit: number, stops: FastStops | undefined): number {
    try {
      return this.runBlocks(limit, stops);
    } catch (e) {
      // Only a bug gets here (ops' errors are caught where they run): the halves may hold
      // values CpuState does not, so none of them may be trusted by the next run.
      this.regs.forget();
      throw e;
    }
  }

  private runBlocks(limit: number, stops: FastStops | undefined): number {
    const m = this.m;
    const s = m.state;
    if (!(s.seg.cs.attrs & DESCRIPTOR.L)) return 0;
    this.syncEpoch();
    let block = this.blockAt(s.rip, stops);
    if (block === undefined) return 0;
    const r = this.regs;
    r.load(s);
    const mem = this.mem;
    // Who hears about stores: user-half stores, and kernel-half ones (a kernel-only hook at CPL 3
    // is left out: such a store would fault; if one does not, store() hands it to step()).
    mem.observedUser = m.mem.beforeWrite !== undefined || m.mem.onWrite !== undefined || (m.onMemoryWrite !== undefined && !m.onMemoryWriteKernelOnly);
    mem.kernelHook = m.onMemoryWrite !== undefined;
    mem.observed = mem.observedUser || (mem.kernelHook && s.cpl !== 3);
    let rip = s.rip;
    let n = 0;
    while (block !== undefined && n < limit) {
      if (block.rip !== rip || block.placeBits !== this.key.canonicalBits) this.place(block, rip);
      r.ripLo = block.ripLo;
      r.ripHi = block.ripHi;
      let end = block.count;
      if (stops !== undefined) {
        if (block.stopVersion !== stops.version || block.stopRip !== rip) this.findStop(block, rip, stops);
        if (block.stopIndex >= 0) end = block.stopIndex;
      }
      if (end > limit - n) end = limit - n;
      const ops = block.ops;
      const body = end < ops.length ? end : ops.length;
      let i = 0;
      try {
        if (mem.observed) {
          const rips = block.insnRips ??= block.offsets.map((o) => (rip + BigInt(o)) & M64);
          for (; i < body; i++) { mem.currentRip = rips[i]; ops[i](r); }
        } else {
          for (; i < body; i++) ops[i](r);
        }
      } catch (e) {
        n += i;
        rip = i === 0 ? rip : (rip + BigInt(block.offsets[i])) & M64;
        if (e !== FAST_STOP) this.unexpected(e, rip);
        break;
      }
      n += body;
      if (end < block.count) {
        // Stopped before the instruction at index `end` (a stop address or the limit).
        if (end > 0) rip = (rip + BigInt(block.offsets[end])) & M64;
        break;
      }
      // The terminator.
      let next: Block | undefined;
      const linked = block.linkEpoch === this.epoch;
      switch (block.end) {
        case End.Fall:
          rip = block.fallRip;
          next = this.successor(block, false, linked, n < limit, stops);
          break;
        case End.Jcc:
        case End.Jmp:
        case End.Call: {
          const taken = block.end !== End.Jcc || block.test(r.flags);
          if (taken && !block.takenOk) { rip = this.terminatorRip(block); next = undefined; break; } // #GP: step() raises it
          if (block.end === End.Call) {
            if (mem.observed) mem.currentRip = this.terminatorRip(block);
            try { push64(r, mem, block.fallLo, block.fallHi); } catch (e) {
              rip = this.terminatorRip(block);
              if (e !== FAST_STOP) this.unexpected(e, rip);
              next = undefined;
              break;
            }
          }
          n++;
          rip = taken ? block.takenRip : block.fallRip;
          next = this.successor(block, taken, linked, n < limit, stops);
          if (taken && next === block && rip === block.rip && block.end === End.Jcc && (stops === undefined || block.stopIndex < 0)) {
            // A loop whose body is this one block, the commonest hot loop: whole iterations back to back.
            n += this.spin(block, limit - n, mem.observed);
            if (this.spinExit === Spin.Fell) {
              rip = block.fallRip;
              next = this.successor(block, false, block.linkEpoch === this.epoch, n < limit, stops);
            } else if (this.spinExit === Spin.Stopped) {
              rip = (block.rip + BigInt(block.offsets[this.spinIndex])) & M64;
              next = undefined;
            }
          }
          break;
        }
        case End.Ret: {
          try { pop64(r, mem, false); } catch (e) {
            rip = this.terminatorRip(block);
            if (e !== FAST_STOP) this.unexpected(e, rip);
            next = undefined; break;
          }
          const [lo, hi] = popped();
          if (!this.canonicalHalves(hi)) { rip = this.terminatorRip(block); next = undefined; break; } // #GP: step() raises it
          popCommit(r);
          n++;
          if (linked && block.retBlock !== undefined && lo === block.retLo && hi === block.retHi) {
            rip = block.retRip;
            next = block.retBlock;
          } else {
            rip = joinHalves(lo, hi);
            next = n < limit ? this.blockAt(rip, stops) : undefined;
            if (next) {
              if (!linked) this.link(block, false, undefined);
              block.retLo = lo; block.retHi = hi; block.retRip = rip; block.retBlock = next;
            }
          }
          break;
        }
      }
      block = next;
    }
    r.store(s);
    s.rip = rip;
    m.instructionsRetired += n;
    this.instructions += n;
    const failure = this.observerFailure;
    if (failure !== undefined) {
      this.observerFailure = undefined;
      m.failNextStep(failure.rip, failure.error);
    }
    return n;
  }

  /** Address of a block's last instruction (its terminator). */
  private terminatorRip(b: Block): bigint {
    return b.insnRips !== undefined ? b.insnRips[b.count - 1] : (b.rip + BigInt(b.offsets[b.count - 1])) & M64;
  }

  /**
   * The block after `b` on its taken or fall-through side: the link made in this epoch, or a
   * lookup (linked for next time); none once the limit is reached (no fetch step() has not done).
   */
  private successor(b: Block, taken: boolean, linked: boolean, more: boolean, stops: FastStops | undefined): Block | undefined {
    const cached = linked ? (taken ? b.takenBlock : b.fallBlock) : undefined;
    if (cached !== undefined || !more) return cached;
    const next = this.blockAt(taken ? b.takenRip : b.fallRip, stops);
    if (next) this.link(b, taken, next);
    return next;
  }

  private spinExit = Spin.Limit;
  private spinIndex = 0;

  /**
   * Run `block`, which branches back to itself, for as many whole iterations as `budget` allows
   * or until its Jcc falls through (spinExit Fell) or an op stops (Stopped, at spinIndex, after
   * the ops before it ran). Returns the instructions run.
   */
  private spin(block: Block, budget: number, observed: boolean): number {
    const r = this.regs;
    const ops = block.ops;
    const nops = ops.length;
    const per = block.count;
    const test = block.test;
    const rips = block.insnRips;
    let n = 0;
    let i = 0;
    try {
      if (observed && rips !== undefined) {
        const mem = this.mem;
        while (n + per <= budget) {
          for (i = 0; i < nops; i++) { mem.currentRip = rips[i]; ops[i](r); }
          n += per;
          if (!test(r.flags)) { this.spinExit = Spin.Fell; return n; }
        }
      } else {
        while (n + per <= budget) {
          for (i = 0; i < nops; i++) ops[i](r);
          n += per;
          if (!test(r.flags)) { this.spinExit = Spin.Fell; return n; }
        }
      }
    } catch (e) {
      if (e !== FAST_STOP) this.unexpected(e, (block.rip + BigInt(block.offsets[i])) & M64);
      this.spinExit = Spin.Stopped;
      this.spinIndex = i;
      return n + i;
    }
    this.spinExit = Spin.Limit;
    return n;
  }

  /** Errors the fast tier caught (a bug in it or in a memory observer), newest last; kept for tests. */
  readonly internalErrors: unknown[] = [];

  /**
   * An error that is not FAST_STOP, in an op or a terminator: the op had written no register (ops
   * write them last) and the run stops before it. A memory observer's error is handed to step(),
   * which reports it at this instruction as it would have (Machine.failNextStep); any other error
   * is a fast-tier bug, and step() simply runs the instruction.
   */
  private unexpected(e: unknown, at: bigint): void {
    if (this.internalErrors.length >= 16) this.internalErrors.shift();
    this.internalErrors.push(e);
    if (e instanceof ObserverError) this.observerFailure = { rip: at, error: e.error };
  }

  /** A memory observer's error met in this run, handed to step() once the run's count is in. */
  private observerFailure: { rip: bigint; error: unknown } | undefined;

  /** Whether a 64-bit address with this high half is canonical for the current paging mode. */
  private canonicalHalves(hi: number): boolean {
    const top = hi >> (this.key.canonicalBits - 33); // bits 63..(bits-1) must all be equal
    return top === 0 || top === -1;
  }

  private link(from: Block, taken: boolean, to: Block | undefined): void {
    if (from.linkEpoch !== this.epoch) {
      from.linkEpoch = this.epoch;
      from.fallBlock = undefined;
      from.takenBlock = undefined;
      from.retRip = -1n;
      from.retBlock = undefined;
    }
    if (to === undefined) return;
    if (taken) from.takenBlock = to;
    else from.fallBlock = to;
  }

  /** Set a block's linear placement: its halves, fall-through and branch target, and whether the target is canonical. */
  private place(b: Block, rip: bigint): void {
    b.rip = rip;
    b.placeBits = this.key.canonicalBits;
    b.insnRips = undefined;
    [b.ripLo, b.ripHi] = halves(rip);
    b.fallRip = (rip + BigInt(b.bytes)) & M64;
    [b.fallLo, b.fallHi] = halves(b.fallRip);
    b.takenRip = (b.fallRip + b.rel) & M64;
    b.takenOk = b.end === End.Fall || b.end === End.Ret || isCanonical(b.takenRip, this.key.canonicalBits);
    b.linkEpoch = -1;
    b.stopVersion = -1;
  }

  private findStop(b: Block, rip: bigint, stops: FastStops): void {
    b.stopVersion = stops.version;
    b.stopRip = rip;
    b.stopIndex = -1;
    if (stops.addresses.size === 0) return;
    for (let i = 0; i < b.count; i++) {
      if (stops.addresses.has((rip + BigInt(b.offsets[i])) & M64)) { b.stopIndex = i; return; }
    }
  }

  /** The block starting at `rip`, building it if needed; undefined when its first instruction is not for the fast tier. */
  private blockAt(rip: bigint, stops: FastStops | undefined): Block | undefined {
    // A stop address is not fetched: a model runs there without any fetch, and what happens at a
    // breakpoint is the caller's business (a fetch would add a TLB entry step() never makes).
    if (stops !== undefined && stops.addresses.has(rip)) return undefined;
    const d = this.m.fetchBlockStart(rip);
    if (d === undefined) return undefined; // a fetch only step() may do (a walk, a fault, a page-straddling instruction)
    const dc = this.m.decodeCache;
    const cached = this.blocks.get(d);
    if (cached !== undefined && (cached === null || cached.generation === dc.generation)) return cached ?? undefined;
    const codePages = dc.codePages;
    let b: Block | undefined;
    try {
      b = this.build(d, rip);
    } catch (e) {
      this.unexpected(e, rip); // a compile bug: this code stays with step()
      b = undefined;
    }
    this.blocks.set(d, b ?? null);
    // Decoding may have found a new code page: stores there must now go through the slow path.
    if (dc.codePages !== codePages) this.syncEpoch();
    return b;
  }

  private build(first: DecodedInsn, rip: bigint): Block | undefined {
    const dc = this.m.decodeCache;
    const b = new Block(dc.generation);
    const pageOffset = Number(rip & 0xfffn);
    let d: DecodedInsn | undefined = first;
    let off = 0;
    while (d !== undefined && b.count < MAX_BLOCK) {
      const endOff = off + d.length;
      const term = terminator(d);
      if (term !== undefined) {
        b.offsets.push(off);
        b.count++;
        b.end = term;
        b.rel = d.branchRel;
        if (term === End.Jcc) b.test = conditionTest(d.cc);
        off = endOff;
        break;
      }
      const op = compile(d, endOff, this.mem);
      if (op === undefined) break;
      b.ops.push(op);
      b.offsets.push(off);
      b.count++;
      off = endOff;
      if (pageOffset + off >= 4096) break;
      d = this.m.decodedInPage((rip + BigInt(off)) & M64);
    }
    if (b.count === 0) return undefined;
    b.bytes = off;
    return b;
  }
}

/** How an instruction ends a block, or undefined for one that does not. */
function terminator(d: DecodedInsn): End | undefined {
  if (d.bitness !== 64 || d.opCount !== 1 && d.mnemonic !== Mnemonic.Ret) return undefined;
  const k = d.opKinds[0];
  if (d.mnemonic === Mnemonic.Ret) return d.opCount === 0 ? End.Ret : undefined;
  if (k !== OpKind.NearBranch64) return undefined;
  if (d.mnemonic === Mnemonic.Jmp) return End.Jmp;
  if (d.mnemonic === Mnemonic.Call) return End.Call;
  if (d.cc !== 0 && d.mnemonic >= Mnemonic.Ja && d.mnemonic <= Mnemonic.Js) return End.Jcc;
  return undefined;
}
