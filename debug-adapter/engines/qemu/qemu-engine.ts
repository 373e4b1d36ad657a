/**
 * The QEMU engine: a real kernel running in qemu-system-x86_64, driven through QEMU's gdb stub.
 * Symbols and the DWARF line table come from the user's vmlinux, so breakpoints on lines of
 * their own arch/x86/entry/entry_64.S resolve to the kernel's real addresses and stepping goes
 * by source line. The user's breakpoints are armed only once the kernel reaches `armAt`
 * (default kernel_execve, i.e. it is starting /init), so boot does not stop in them.
 */
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import { Decoder, DecoderOptions, FlowControl } from 'iced-x86';
import type { Diagnostic } from '../../../emulator/asm/types';
import { walk } from '../../../emulator/machine/paging';
import { CR3 } from '../../../emulator/machine/facts';
import { readLE } from '../../../emulator/machine/memory';
import { cloneCpuState, type CpuState } from '../../../emulator/machine/state';
import { evaluate, type EvalContext } from '../../../emulator/runtime/evaluate';
import type {
  BreakpointOptions, DebugEngine, EngineBreakpoint, EngineEvents, EngineFrame, EngineStop, EngineValue, Unavailable,
} from '../../engine';
import type { KentryLaunchArguments, MachineStateView, PageWalkArguments, PageWalkResult } from '../../protocol';
import { GdbRemote, type StopReply } from './gdb-remote';
import { KernelImage } from './kernel-image';
import { LazyGuestMemory, NeedFrames, PhysicalReader, withFrames } from './guest-memory';
import { readGuestState } from './guest-state';
import { KernelMemory, guestLayout, qemuMachineView } from './machine-view';
import { connectWhenReady, startQemu, type QemuLaunchOptions, type StartedQemu } from './qemu-process';

export type QemuLaunchArguments = KentryLaunchArguments & { qemu?: QemuLaunchOptions };

/** Instructions one source-line step may take before it stops anyway (a loop without lines). */
const STEP_LIMIT = 20000;

interface LineBreakpoints {
  file: string;
  lines: number[];
  addresses: Map<number, bigint[]>;
  /** Condition / log message per resolved line. */
  options: Map<number, BreakpointOptions>;
}

const hex = (v: bigint): string => `0x${v.toString(16)}`;

export class QemuEngine extends EventEmitter<EngineEvents> implements DebugEngine {
  readonly kind = 'qemu' as const;
  private readonly o: QemuLaunchOptions;
  gdb: GdbRemote | undefined;
  qemu: StartedQemu | undefined;
  image: KernelImage | undefined;
  private reader: PhysicalReader | undefined;
  private readonly breakpoints = new Map<string, LineBreakpoints>();
  /** Addresses with a Z0 breakpoint in the guest now. */
  private readonly inserted = new Set<bigint>();
  private armed = false;
  private armAddress: bigint | undefined;
  private stopOnEntry = false;
  private pausing = false;
  private terminating = false;
  private state: CpuState | undefined;
  private previousView: MachineStateView | undefined;
  /** Line-table file index -> the path the user's editor knows it by. */
  private readonly userPaths = new Map<number, string>();
  private kernelVersion = 'unknown';
  /** Serial console text (the kernel's printk and /init's writes). */
  console = '';

  constructor(args: QemuLaunchArguments) {
    super();
    this.o = args.qemu ?? {};
    if (args.kernelEntry) this.pendingEntryFile = args.kernelEntry;
  }
  private pendingEntryFile: string | undefined;

  private diagnostic(message: string, file = this.o.vmlinux ?? 'launch.json'): Diagnostic {
    return { severity: 'error', message, loc: { file, line: 1 }, stack: [] };
  }

  async load(): Promise<Diagnostic[]> {
    const o = this.o;
    if (!o.vmlinux) return [this.diagnostic('qemu.vmlinux is required: the kernel with symbols and DWARF line tables (CONFIG_DEBUG_INFO)')];
    let bytes: Uint8Array;
    try { bytes = fs.readFileSync(o.vmlinux); } catch (e) { return [this.diagnostic(`cannot read qemu.vmlinux: ${(e as Error).message}`)]; }
    try { this.image = KernelImage.fromBytes(bytes); } catch (e) { return [this.diagnostic(`${o.vmlinux}: ${(e as Error).message}`)]; }
    this.kernelVersion = this.readBanner() ?? 'unknown';
    if (this.pendingEntryFile) this.mapUserFile(this.pendingEntryFile);

    try {
      if (o.attach) {
        const m = /^(.*):(\d+)$/.exec(o.attach);
        if (!m) return [this.diagnostic(`qemu.attach must be "host:port", not "${o.attach}"`)];
        this.gdb = await GdbRemote.connect(m[1] || '127.0.0.1', Number(m[2]));
      } else {
        if (!o.kernel) return [this.diagnostic('qemu.kernel (a bzImage) is required unless qemu.attach is given')];
        for (const [what, p] of [['kernel', o.kernel], ['initrd', o.initrd]] as const) {
          if (p && !fs.existsSync(p)) return [this.diagnostic(`qemu.${what}: no such file ${p}`, p)];
        }
        this.qemu = await startQemu(o, (text, stream) => {
          if (stream === 'stdout') this.console += text;
          this.emit('output', text, stream === 'stdout' ? 'stdout' : 'stderr');
        });
        const q = this.qemu;
        this.gdb = await connectWhenReady(q, () => GdbRemote.connect('127.0.0.1', q.port));
        void q.exited.then((code) => this.exit(typeof code === 'number' ? code : 1));
      }
    } catch (e) {
      return [this.diagnostic((e as Error).message)];
    }
    this.reader = new PhysicalReader(this.gdb);
    this.gdb.on('close', () => { if (!this.qemu) this.exit(0); });
    const armAt = o.armAt ?? (o.attach ? '' : 'kernel_execve');
    if (armAt) {
      this.armAddress = this.image.symbol(armAt);
      if (this.armAddress === undefined) return [this.diagnostic(`qemu.armAt: vmlinux has no symbol ${armAt}`)];
    } else {
      this.armed = true;
    }
    return [];
  }

  private readBanner(): string | undefined {
    const elf = this.image?.elf;
    const sym = this.image?.symbols.lookup('linux_banner');
    if (!elf || !sym) return undefined;
    const sec = elf.sections.find((s) => s.addr <= sym.value && sym.value < s.addr + BigInt(s.size) && s.type !== 8);
    if (!sec) return undefined;
    const off = sec.offset + Number(sym.value - sec.addr);
    const b = elf.bytes.subarray(off, off + 200);
    const end = b.indexOf(0);
    return new TextDecoder().decode(b.subarray(0, end < 0 ? b.length : end)).trim();
  }

  private mapUserFile(path: string): number[] {
    const files = this.image?.filesFor(path) ?? [];
    for (const f of files) this.userPaths.set(f, path);
    return files;
  }

  private get remote(): GdbRemote {
    if (!this.gdb) throw new Error('the QEMU engine is not connected');
    return this.gdb;
  }

  // ---------------------------------------------------------------- breakpoints

  async setBreakpoints(file: string, lines: number[], options?: BreakpointOptions[]): Promise<EngineBreakpoint[]> {
    const image = this.image;
    const entry: LineBreakpoints = { file, lines, addresses: new Map(), options: new Map() };
    const out: EngineBreakpoint[] = [];
    if (!image) return lines.map((line) => ({ line, verified: false, message: 'the kernel image is not loaded' }));
    const files = this.mapUserFile(file);
    for (const line of lines) {
      if (files.length === 0) { out.push({ line, verified: false, message: `${file} is not in vmlinux's line table` }); continue; }
      const r = image.resolveLine(file, line);
      if (!r || r.addresses.length === 0) { out.push({ line, verified: false, message: `no code for line ${line} in the running kernel` }); continue; }
      entry.addresses.set(r.line, r.addresses);
      const opt = options?.[lines.indexOf(line)];
      if (opt && (opt.condition || opt.logMessage)) entry.options.set(r.line, opt);
      out.push({ line: r.line, verified: true, message: r.line !== line ? `moved to line ${r.line}, the next with code` : undefined });
    }
    this.breakpoints.set(file, entry);
    if (this.armed && this.gdb && !this.gdb.running) await this.syncBreakpoints();
    return out;
  }

  private wantedAddresses(): Set<bigint> {
    const want = new Set<bigint>();
    if (!this.armed) return want;
    for (const b of this.breakpoints.values()) for (const list of b.addresses.values()) for (const a of list) want.add(a);
    return want;
  }

  /** Make the guest's Z0 breakpoints equal the wanted set. */
  private async syncBreakpoints(): Promise<void> {
    const want = this.wantedAddresses();
    for (const a of [...this.inserted]) if (!want.has(a)) { await this.remote.removeBreakpoint(a); this.inserted.delete(a); }
    for (const a of want) if (!this.inserted.has(a)) { await this.remote.insertBreakpoint(a); this.inserted.add(a); }
  }

  private isUserBreakpoint(rip: bigint): boolean {
    return this.armed && this.wantedAddresses().has(rip);
  }

  private optionsAt(rip: bigint): BreakpointOptions | undefined {
    for (const b of this.breakpoints.values()) {
      for (const [line, list] of b.addresses) if (list.includes(rip)) return b.options.get(line);
    }
    return undefined;
  }

  /**
   * Whether a hit at `rip` stops: a condition (kentry expression) must be non-zero; a log
   * message is printed (with {expression} interpolated) and never stops.
   */
  private async shouldStop(rip: bigint): Promise<boolean> {
    const o = this.optionsAt(rip);
    if (!o) return true;
    this.state = undefined;
    if (o.condition) {
      const r = await this.evaluate(o.condition);
      if ('error' in r) {
        this.emit('output', `[qemu] breakpoint condition "${o.condition}": ${r.error}; stopping\n`, 'stderr');
        return true;
      }
      if (r.value === 0n) return false;
    }
    if (o.logMessage) {
      let text = o.logMessage;
      for (const m of o.logMessage.matchAll(/\{([^}]+)\}/g)) {
        const r = await this.evaluate(m[1]);
        text = text.replace(m[0], 'error' in r ? `<${r.error}>` : `0x${r.value.toString(16)}`);
      }
      this.emit('output', text + '\n', 'console');
      return false;
    }
    return true;
  }

  // ---------------------------------------------------------------- execution

  async start(stopOnEntry: boolean): Promise<void> {
    this.stopOnEntry = stopOnEntry;
    if (this.armed) {
      await this.syncBreakpoints();
      if (stopOnEntry) { await this.stopped({ reason: 'entry', description: 'attached to the running kernel' }); return; }
    } else {
      await this.remote.insertBreakpoint(this.armAddress as bigint, true);
    }
    void this.runUntilStop();
  }

  async continue(): Promise<void> {
    this.state = undefined;
    void this.runUntilStop();
  }

  /** Resume; step off a breakpoint under RIP first (QEMU would stop on it again at once). */
  private async runUntilStop(): Promise<void> {
    try {
      for (;;) {
        const rip = await this.remote.readRegister('rip');
        if (this.inserted.has(rip)) {
          const r = await this.singleStep(rip);
          if (r.kind !== 'signal') return this.exitedWith(r);
        }
        const stop = await this.remote.continue();
        if (stop.kind !== 'signal') return this.exitedWith(stop);
        const at = await this.remote.readRegister('rip');
        if (this.pausing) { this.pausing = false; return this.stopped({ reason: 'pause', description: `paused at ${this.symbolAt(at) ?? hex(at)}` }); }
        if (!this.armed && at === this.armAddress) {
          await this.remote.removeBreakpoint(at, true);
          this.armed = true;
          await this.syncBreakpoints();
          this.emit('output', `[qemu] the kernel reached ${this.symbolAt(at)}: breakpoints armed\n`, 'console');
          if (this.stopOnEntry) return this.stopped({ reason: 'entry', description: `the kernel reached ${this.symbolAt(at)} (starting /init)` });
          continue;
        }
        if (this.isUserBreakpoint(at)) {
          if (!(await this.shouldStop(at))) continue;
          return this.stopped({ reason: 'breakpoint', description: `breakpoint at ${this.symbolAt(at) ?? hex(at)}` });
        }
        return this.stopped({ reason: 'exception', description: `the guest stopped with signal ${stop.signal} at ${this.symbolAt(at) ?? hex(at)}` });
      }
    } catch (e) {
      if (!this.terminating) this.emit('output', `[qemu] ${(e as Error).message}\n`, 'stderr');
    }
  }

  private exitedWith(r: StopReply): void {
    this.exit(r.kind === 'exited' ? r.code : 1);
  }

  /** Once per session, whichever notices first: the stub's W packet, QEMU's exit, the socket closing. */
  private exit(code: number): void {
    if (this.terminating || this.hasExited) return;
    this.hasExited = true;
    this.emit('exited', code);
  }
  private hasExited = false;

  private async stopped(stop: EngineStop): Promise<void> {
    this.state = undefined;
    this.emit('stopped', stop);
  }

  async pause(): Promise<void> {
    if (this.gdb?.running) { this.pausing = true; this.gdb.interrupt(); }
  }

  async stepInstruction(): Promise<void> {
    await this.singleStep();
    await this.stopped({ reason: 'step', description: 'one instruction' });
  }

  /** One instruction; a breakpoint of ours under RIP is lifted for it (QEMU would report it instead of moving). */
  private async singleStep(rip?: bigint): Promise<StopReply> {
    const gdb = this.remote;
    const at = rip ?? await gdb.readRegister('rip');
    this.state = undefined;
    if (!this.inserted.has(at)) return (await gdb.stepExecuted()).reply;
    await gdb.removeBreakpoint(at);
    try {
      return (await gdb.stepExecuted()).reply;
    } finally {
      await gdb.insertBreakpoint(at);
    }
  }

  /** The instruction at `rip` (for telling calls and returns apart while stepping). */
  private async decodeAt(rip: bigint): Promise<{ length: number; flow: FlowControl } | undefined> {
    let bytes: Uint8Array;
    try { bytes = await this.remote.readMemory(rip, 16); } catch { return undefined; }
    const dec = new Decoder(64, bytes, DecoderOptions.None);
    dec.ip = rip;
    const insn = dec.decode();
    const r = { length: insn.length, flow: insn.flowControl };
    insn.free?.();
    dec.free?.();
    return r;
  }

  private lineAt(rip: bigint): { file: number; line: number; address: bigint } | undefined {
    const l = this.image?.lines.lineAt(rip);
    if (!l) return undefined;
    return { file: this.image?.lines.files.indexOf(l.file) ?? -1, line: l.line, address: l.address };
  }

  /** Step until the start of a different source line (or into user mode); `over` steps over calls. */
  async stepLine(over: boolean): Promise<void> {
    const gdb = this.remote;
    let rip = await gdb.readRegister('rip');
    const start = this.lineAt(rip);
    const startCpl = Number(await gdb.readRegister('cs')) & 3;
    for (let n = 0; n < STEP_LIMIT; n++) {
      const insn = over ? await this.decodeAt(rip) : undefined;
      if (insn && (insn.flow === FlowControl.Call || insn.flow === FlowControl.IndirectCall)) {
        const ret = rip + BigInt(insn.length);
        const had = this.inserted.has(ret);
        if (!had) await gdb.insertBreakpoint(ret);
        await this.singleStep(rip);
        const r = await gdb.continue();
        if (!had) await gdb.removeBreakpoint(ret);
        if (r.kind !== 'signal') return this.exitedWith(r);
        const landed = await gdb.readRegister('rip');
        if (landed !== ret) return this.stopped({ reason: 'breakpoint', description: `breakpoint at ${this.symbolAt(landed) ?? hex(landed)} inside the call` });
      } else {
        const r = await this.singleStep(rip);
        if (r.kind !== 'signal') return this.exitedWith(r);
      }
      rip = await gdb.readRegister('rip');
      const cpl = Number(await gdb.readRegister('cs')) & 3;
      if (cpl !== startCpl) break;
      const here = this.lineAt(rip);
      if (here && here.address === rip && (!start || here.file !== start.file || here.line !== start.line)) break;
      if (!start && !here) break;
    }
    await this.stopped({ reason: 'step', description: 'next line' });
  }

  async next(): Promise<void> {
    await this.stepLine(true);
  }

  async stepIn(): Promise<void> {
    await this.stepLine(false);
  }

  /** Run until the current function returns (a ret at call depth 0), then stop after it. */
  async stepOut(): Promise<void> {
    const gdb = this.remote;
    let depth = 0;
    for (let n = 0; n < STEP_LIMIT; n++) {
      const rip = await gdb.readRegister('rip');
      const insn = await this.decodeAt(rip);
      const r = await this.singleStep(rip);
      if (r.kind !== 'signal') return this.exitedWith(r);
      if (!insn) break;
      if (insn.flow === FlowControl.Call || insn.flow === FlowControl.IndirectCall) depth++;
      else if (insn.flow === FlowControl.Return) { if (depth === 0) break; depth--; }
    }
    await this.stopped({ reason: 'step', description: 'stepped out' });
  }

  async terminate(): Promise<void> {
    this.terminating = true;
    const gdb = this.gdb;
    if (this.qemu) {
      if (gdb?.running) gdb.interrupt();
      gdb?.kill();
      const q = this.qemu;
      const timer = setTimeout(() => q.process.kill('SIGKILL'), 2000);
      q.process.kill('SIGTERM');
      await q.exited;
      clearTimeout(timer);
    } else if (gdb) {
      if (gdb.running) gdb.interrupt();
      if (gdb.running) await new Promise((r) => setTimeout(r, 100)); // the interrupt's stop reply
      for (const a of this.inserted) await gdb.removeBreakpoint(a).catch(() => undefined);
      if (!this.armed && this.armAddress !== undefined) await gdb.removeBreakpoint(this.armAddress, true).catch(() => undefined);
      // Leave the kernel running, as gdb's detach would on real hardware.
      await gdb.resumeAndClose();
    }
  }

  // ---------------------------------------------------------------- inspection

  async cpuState(): Promise<CpuState> {
    if (!this.state) this.state = await readGuestState(this.remote);
    return cloneCpuState(this.state);
  }

  private kernelMemory(state: CpuState): KernelMemory {
    if (!this.reader) throw new Error('the QEMU engine is not connected');
    return new KernelMemory(this.reader, state);
  }

  async machineState(): Promise<MachineStateView> {
    const state = await this.cpuState();
    const view = await qemuMachineView({
      image: this.image as KernelImage, state, km: this.kernelMemory(state),
      pti: this.o.pti ?? this.image?.symbol('pti_init') !== undefined,
      cpuModel: this.o.cpu ?? 'max', kernelVersion: this.kernelVersion,
      describe: (a) => this.describeAddress(a), previous: this.previousView,
    });
    this.previousView = view;
    return view;
  }

  async pageWalk(args: PageWalkArguments): Promise<PageWalkResult[]> {
    const state = await this.cpuState();
    const km = this.kernelMemory(state);
    const address = BigInt(args.address);
    const halves: ('user' | 'kernel')[] = args.half === 'user' ? ['user'] : args.half === 'kernel' ? ['kernel'] : ['kernel', 'user'];
    const bits: [bigint, string][] = [[1n, 'P'], [2n, 'RW'], [4n, 'US'], [0x20n, 'A'], [0x40n, 'D'], [0x80n, 'PS'], [0x100n, 'G'], [1n << 63n, 'NX']];
    const out: PageWalkResult[] = [];
    for (const half of halves) {
      const r = await km.translate(address, half);
      out.push({
        half,
        levels: r.levels.map((l) => ({
          level: `${l.name}[${l.index}]`, entryAddress: hex(l.entryAddress), entry: hex(l.value),
          decoded: bits.filter(([m]) => l.value & m).map(([, n]) => n).join(' ') + ` -> ${hex(l.value & 0x000ffffffffff000n)}`,
        })),
        physical: r.phys !== undefined ? hex(r.phys) : undefined,
        fault: r.problem,
      });
    }
    return out;
  }

  async evaluate(expression: string): Promise<EngineValue | { error: string }> {
    const state = await this.cpuState();
    if (!this.reader || !this.image) return { error: 'not connected' };
    const mem = new LazyGuestMemory();
    const image = this.image;
    const km = this.kernelMemory(state);
    const layout = await guestLayout(image, km);
    const ctx: EvalContext = {
      state,
      read: (address, size) => {
        const w = walk(state, mem, address);
        if (w.phys === undefined) return `0x${address.toString(16)}: ${w.problem ?? 'not mapped'}`;
        return readLE(mem.read(w.phys, size), size);
      },
      symbol: (name) => image.symbol(name),
      perCpu: (name) => {
        const off = image.symbol(name);
        const size = image.symbols.lookup(name)?.size ?? 8;
        return off !== undefined && layout.perCpuBase !== undefined ? { address: layout.perCpuBase + off, size: size || 8 } : undefined;
      },
      ptRegsBase: () => (layout.topOfStack !== undefined ? layout.topOfStack - 168n : undefined),
    };
    for (let round = 0; round < 32; round++) {
      const r = evaluate(ctx, expression);
      if ('error' in r && mem.missing.size > 0) {
        for (const pfn of [...mem.missing]) mem.load(pfn, await this.reader.readFrame(pfn));
        continue;
      }
      if (!('error' in r)) return { ...r, symbol: image.symbols.at(r.value)?.offset === 0n ? image.symbols.at(r.value)?.symbol.name : undefined };
      return r;
    }
    return { error: 'expression needs too much guest memory' };
  }

  async readMemory(address: bigint, length: number): Promise<Uint8Array | Unavailable> {
    try {
      return await this.remote.readMemory(address, length);
    } catch (e) {
      return { unavailable: (e as Error).message };
    }
  }

  async writeMemory(address: bigint, data: Uint8Array): Promise<string | undefined> {
    try { await this.remote.writeMemory(address, data); this.state = undefined; return undefined; } catch (e) { return (e as Error).message; }
  }

  async setRegister(name: string, value: bigint): Promise<string | undefined> {
    try { await this.remote.writeRegister(name.toLowerCase() === 'rflags' ? 'eflags' : name.toLowerCase(), value); this.state = undefined; return undefined; } catch (e) { return (e as Error).message; }
  }

  async stackTrace(): Promise<EngineFrame[]> {
    const s = await this.cpuState();
    const l = this.image?.lines.lineAt(s.rip);
    let loc: EngineFrame['loc'];
    if (l) {
      const idx = this.image?.lines.files.indexOf(l.file) ?? -1;
      loc = { file: this.userPaths.get(idx) ?? l.file, line: l.line };
    }
    return [{ name: this.symbolAt(s.rip) ?? hex(s.rip), loc, address: s.rip, kind: s.cpl === 3 ? 'user' : 'code' }];
  }

  symbolAt(address: bigint): string | undefined {
    return this.image?.symbols.describe(address);
  }

  sourceText(file: string): string | undefined {
    try { return fs.readFileSync(file, 'utf8'); } catch { return undefined; }
  }

  describeAddress(a: bigint): string {
    const sym = this.symbolAt(a);
    if (a < 0x0000800000000000n) return 'user memory';
    if (sym && a >= 0xffffffff80000000n) return sym;
    if (a >= 0xfffffe0000000000n && a < 0xfffffe8000000000n) return 'cpu_entry_area';
    if (a >= 0xffff888000000000n && a < 0xffffc88000000000n) return 'direct map of physical memory';
    if (a >= 0xffffc90000000000n && a < 0xffffe90000000000n) return 'vmalloc area (task stacks with VMAP_STACK)';
    return 'kernel memory';
  }
}

export { NeedFrames, withFrames, CR3 };
