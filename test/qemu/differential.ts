/**
 * Differential fidelity: kentry's emulator against QEMU on the real entry code of Linux 6.1.
 * At the swapgs stop in entry_SYSCALL_64, QEMU's architectural state (registers, segment
 * caches, GDTR/IDTR/TR, CR0/2/3/4, EFER, the GS bases) is copied into an emulator Machine whose
 * physical memory is fetched lazily from QEMU (page tables, the entry text as this boot patched
 * it, stacks, the per-CPU area). Both then execute one instruction at a time until the return
 * to user mode, and the architectural state is compared after every instruction. Calls into C
 * (do_syscall_64 and anything in a .c file) run on QEMU only; the emulator is then re-synced
 * from QEMU's state with fresh memory.
 */
import { Decoder, DecoderOptions, FlowControl, Formatter, FormatterSyntax } from 'iced-x86';
import { Machine } from '../../emulator/machine/machine';
import { CPU_PROFILES, type CpuProfile } from '../../emulator/cpu/profiles';
import { MSR, RFLAGS } from '../../emulator/machine/facts';
import { readLE } from '../../emulator/machine/memory';
import { GPR_NAMES, cloneCpuState, type CpuState } from '../../emulator/machine/state';
import type { GdbRemote } from '../../debug-adapter/engines/qemu/gdb-remote';
import { LazyGuestMemory, PhysicalReader } from '../../debug-adapter/engines/qemu/guest-memory';
import { readGuestState } from '../../debug-adapter/engines/qemu/guest-state';
import type { KernelImage } from '../../debug-adapter/engines/qemu/kernel-image';

export interface Divergence {
  /** The instruction after which the states differ. */
  address: bigint;
  instruction: string;
  differences: string[];
  emulator: string;
  qemu: string;
}

export interface DifferentialReport {
  compared: number;
  steppedOver: string[];
  trace: string[];
  divergence?: Divergence;
  framesFetched: number;
  /** Single steps QEMU reported without executing the instruction (retried). */
  spuriousQemuSteps: number;
  /** Times every fetched frame was compared with QEMU's copy (before each C call, at the end). */
  memoryChecks: number;
  /** Why the run ended: "returned to user mode", or a limit. */
  end: string;
}

const hex = (v: bigint): string => `0x${v.toString(16)}`;

/**
 * The MSRs QEMU's stub cannot read, set to what Linux's syscall_init() writes: SYSRET needs
 * STAR; SYSCALL already happened, so LSTAR and SYSCALL_MASK only matter for the record.
 */
export function linuxSyscallMsrs(image: KernelImage): Map<number, bigint> {
  return new Map<number, bigint>([
    [MSR.STAR, (0x23n << 48n) | (0x10n << 32n)],
    [MSR.LSTAR, image.symbol('entry_SYSCALL_64') ?? 0n],
    [MSR.SYSCALL_MASK, RFLAGS.TF | RFLAGS.DF | RFLAGS.IF | (3n << 12n) | RFLAGS.AC | RFLAGS.NT],
  ]);
}

/** Differences a user would notice between two architectural states. */
export function compareStates(emu: CpuState, q: CpuState): string[] {
  const out: string[] = [];
  const cmp = (name: string, a: bigint | number, b: bigint | number): void => {
    if (BigInt(a) !== BigInt(b)) out.push(`${name}: emulator ${hex(BigInt(a))}, QEMU ${hex(BigInt(b))}`);
  };
  GPR_NAMES.forEach((n, i) => cmp(n, emu.gpr[i], q.gpr[i]));
  cmp('rip', emu.rip, q.rip);
  cmp('rflags', emu.rflags, q.rflags);
  for (const s of ['cs', 'ss', 'ds', 'es', 'fs', 'gs'] as const) cmp(`${s}.selector`, emu.seg[s].selector, q.seg[s].selector);
  cmp('fs.base', emu.seg.fs.base, q.seg.fs.base);
  cmp('gs.base', emu.seg.gs.base, q.seg.gs.base);
  // Type, S, DPL, P, L, D/B, G of the code and stack segments (the accessed bit is QEMU's to set).
  for (const s of ['cs', 'ss'] as const) if (q.seg[s].attrs !== 0) cmp(`${s}.attrs`, emu.seg[s].attrs & 0xf0fe, q.seg[s].attrs & 0xf0fe);
  cmp('cr0', emu.cr0, q.cr0);
  cmp('cr2', emu.cr2, q.cr2);
  cmp('cr3', emu.cr3, q.cr3);
  cmp('cr4', emu.cr4, q.cr4);
  cmp('EFER', emu.msrs.get(MSR.EFER) ?? 0n, q.msrs.get(MSR.EFER) ?? 0n);
  cmp('KERNEL_GS_BASE', emu.msrs.get(MSR.KERNEL_GS_BASE) ?? 0n, q.msrs.get(MSR.KERNEL_GS_BASE) ?? 0n);
  return out;
}

export function summarize(s: CpuState): string {
  const regs = GPR_NAMES.map((n, i) => `${n}=${hex(s.gpr[i])}`).join(' ');
  return `rip=${hex(s.rip)} rflags=${hex(s.rflags)} cs=${hex(BigInt(s.seg.cs.selector))} ss=${hex(BigInt(s.seg.ss.selector))} ` +
    `gs.base=${hex(s.seg.gs.base)} kgs=${hex(s.msrs.get(MSR.KERNEL_GS_BASE) ?? 0n)} cr3=${hex(s.cr3)} cr4=${hex(s.cr4)} ${regs}`;
}

function decode(bytes: Uint8Array, rip: bigint): { length: number; flow: FlowControl; target: bigint | undefined; text: string } {
  const dec = new Decoder(64, bytes, DecoderOptions.None);
  dec.ip = rip;
  const insn = dec.decode();
  const fmt = new Formatter(FormatterSyntax.Gas);
  const isNear = insn.flowControl === FlowControl.Call || insn.flowControl === FlowControl.UnconditionalBranch;
  const r = { length: insn.length, flow: insn.flowControl, target: isNear && insn.opCount === 1 && insn.op0Kind !== 0 ? insn.nearBranchTarget : undefined, text: fmt.format(insn) };
  return r;
}

class EmulatorSide {
  mem = new LazyGuestMemory();
  machine: Machine;
  constructor(private readonly profile: CpuProfile, private readonly reader: PhysicalReader, state: CpuState, private readonly msrs: Map<number, bigint>) {
    this.machine = this.fresh(state);
  }

  /** A new machine on QEMU's state, with memory fetched anew (after C code changed it). */
  fresh(state: CpuState): Machine {
    this.mem = new LazyGuestMemory();
    const m = new Machine(this.profile, this.mem);
    const s = cloneCpuState(state);
    for (const [k, v] of this.msrs) if (!s.msrs.has(k)) s.msrs.set(k, v);
    m.state = s;
    this.machine = m;
    return m;
  }

  /** One instruction; frames the instruction touches are fetched from QEMU and it is retried. */
  async step(): Promise<ReturnType<Machine['step']>> {
    for (let round = 0; ; round++) {
      const r = this.machine.step();
      if (r.kind === 'exception' && this.mem.missing.size > 0 && round < 32) {
        for (const pfn of [...this.mem.missing]) this.mem.load(pfn, await this.reader.readFrame(pfn));
        continue;
      }
      return r;
    }
  }
}

/** Run the comparison from the current stop of `gdb` (at swapgs in entry_SYSCALL_64). */
export async function runDifferential(
  gdb: GdbRemote, image: KernelImage,
  opts: { profile?: CpuProfile; limit?: number; msrs?: Map<number, bigint> } = {},
): Promise<DifferentialReport> {
  const limit = opts.limit ?? 5000;
  const reader = new PhysicalReader(gdb);
  let q = await readGuestState(gdb);
  const emu = new EmulatorSide(opts.profile ?? CPU_PROFILES.intel, reader, q, opts.msrs ?? linuxSyscallMsrs(image));
  const report: DifferentialReport = { compared: 0, steppedOver: [], trace: [], framesFetched: 0, memoryChecks: 0, spuriousQemuSteps: 0, end: `instruction limit ${limit}` };
  let fetched = 0;
  for (let i = 0; i < limit; i++) {
    const rip = q.rip;
    const bytes = await gdb.readMemory(rip, 16);
    const insn = decode(bytes, rip);
    const where = image.symbols.describe(rip) ?? hex(rip);
    report.trace.push(`${where}: ${insn.text}`);
    const targetFile = insn.target !== undefined ? image.lines.lineAt(insn.target)?.file : undefined;
    if (insn.flow === FlowControl.Call && targetFile?.endsWith('.c')) {
      const memDiff = await compareMemory(emu, reader);
      report.memoryChecks++;
      if (memDiff.length > 0) {
        report.divergence = { address: rip, instruction: `memory before ${where}: ${insn.text}`, differences: memDiff, emulator: summarize(emu.machine.state), qemu: summarize(q) };
        report.end = 'divergence';
        break;
      }
      // C code: QEMU runs it; the emulator picks up QEMU's state after the call returns.
      const ret = rip + BigInt(insn.length);
      await gdb.insertBreakpoint(ret);
      const r = await gdb.continue();
      await gdb.removeBreakpoint(ret);
      if (r.kind !== 'signal') { report.end = `QEMU ended inside ${image.symbols.describe(insn.target as bigint)}`; break; }
      report.steppedOver.push(image.symbols.describe(insn.target as bigint) ?? hex(insn.target as bigint));
      q = await readGuestState(gdb);
      fetched += emu.mem.fetchedFrames;
      emu.fresh(q);
      continue;
    }
    const r = await emu.step();
    report.spuriousQemuSteps += (await gdb.stepExecuted()).spurious;
    q = await readGuestState(gdb);
    report.compared++;
    const e = emu.machine.state;
    const differences = r.kind === 'ok' ? compareStates(e, q)
      : [`the emulator reported ${r.kind}${'message' in r ? `: ${r.message}` : ''}; QEMU executed it`];
    if (differences.length > 0) {
      report.divergence = { address: rip, instruction: `${where}: ${insn.text}`, differences, emulator: summarize(e), qemu: summarize(q) };
      report.end = 'divergence';
      break;
    }
    if (q.cpl === 3) {
      report.end = `returned to user mode at ${hex(q.rip)}`;
      const memDiff = await compareMemory(emu, reader);
      report.memoryChecks++;
      if (memDiff.length > 0) {
        report.divergence = { address: rip, instruction: `memory after ${where}: ${insn.text}`, differences: memDiff, emulator: summarize(e), qemu: summarize(q) };
        report.end = 'divergence';
      }
      break;
    }
  }
  report.framesFetched = fetched + emu.mem.fetchedFrames;
  return report;
}

/**
 * Every guest frame the emulator fetched, as the emulator has it now, against QEMU's copy: the
 * stores of the compared instructions (pt_regs, TSS sp2, the trampoline stack) must agree.
 */
async function compareMemory(emu: EmulatorSide, reader: PhysicalReader): Promise<string[]> {
  const out: string[] = [];
  for (const pfn of emu.mem.loadedFrames().sort((a, b) => a - b)) {
    const base = BigInt(pfn) << 12n;
    const mine = emu.mem.read(base, 4096);
    const theirs = await reader.readFrame(pfn);
    for (let i = 0; i < 4096; i += 8) {
      const a = readLE(mine, 8, i);
      const b = readLE(theirs, 8, i);
      if (a !== b) { out.push(`memory at physical ${hex(base + BigInt(i))}: emulator ${hex(a)}, QEMU ${hex(b)}`); break; }
    }
  }
  return out;
}

export function formatDivergence(d: Divergence): string {
  return `first divergence after ${d.instruction} (${hex(d.address)}):\n  ${d.differences.join('\n  ')}\n  emulator: ${d.emulator}\n  QEMU:     ${d.qemu}`;
}
