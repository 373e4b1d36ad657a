/**
 * MachineStateView (the kentry views) for a real kernel under QEMU, computed from guest memory
 * and the kernel's own symbols: the per-CPU area at __per_cpu_offset[0], cpu_tss_rw in it,
 * the task stack top from cpu_current_top_of_stack, pt_regs just below it. Kernel memory is
 * read through the kernel half of the page tables (a software walk of guest physical memory),
 * so the views work the same while CR3 holds the user half under KPTI.
 */
import type {
  ControlRegisterView, Cr3View, FieldView, MachineStateView, MsrView, PtRegsFieldView, PtRegsView, SysretCheckView,
} from '../../protocol';
import {
  CR0_FIELDS, CR3, CR4_FIELDS, MSR, MSR_TABLE, PT_REGS, RFLAGS, SELECTOR, SIZEOF_PTREGS, X86_HW_TSS, decodeBits, decodeCr3,
} from '../../../emulator/machine/facts';
import { walk } from '../../../emulator/machine/paging';
import { readLE } from '../../../emulator/machine/memory';
import type { CpuState } from '../../../emulator/machine/state';
import { GPR_INDEX } from '../../../emulator/machine/state';
import type { KernelImage } from './kernel-image';
import { LazyGuestMemory, PhysicalReader, withFrames } from './guest-memory';
import { UNREADABLE_MSR_REASON } from './guest-state';

const hex64 = (v: bigint): string => `0x${BigInt.asUintN(64, v).toString(16).padStart(16, '0')}`;
const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

/** Kernel virtual memory of the stopped guest, read through the kernel page tables. */
export class KernelMemory {
  readonly mem = new LazyGuestMemory();
  constructor(private readonly reader: PhysicalReader, private readonly state: CpuState) {}

  /** The kernel half: with KPTI the user PGD is the kernel's + 4 KiB (bit 12), user PCID has bit 11. */
  private kernelState(): CpuState {
    return { ...this.state, cr3: this.state.cr3 & ~(CR3.PTI_USER_PGTABLE_MASK | CR3.PCID_MASK | CR3.NOFLUSH) };
  }

  async translate(virt: bigint, half: 'kernel' | 'user' = 'kernel'): Promise<ReturnType<typeof walk>> {
    const st = this.kernelState();
    if (half === 'user') st.cr3 |= CR3.PTI_USER_PGTABLE_MASK;
    return withFrames(this.reader, this.mem, () => walk(st, this.mem, virt));
  }

  async read(virt: bigint, length: number): Promise<Uint8Array | string> {
    const out = new Uint8Array(length);
    for (let done = 0; done < length;) {
      const a = virt + BigInt(done);
      const w = await this.translate(a);
      if (w.phys === undefined) return `0x${a.toString(16)} is not mapped in the kernel page tables (${w.problem ?? 'no translation'})`;
      const n = Math.min(length - done, 4096 - Number(a & 0xfffn));
      const phys = w.phys;
      out.set(await withFrames(this.reader, this.mem, () => this.mem.read(phys, n)), done);
      done += n;
    }
    return out;
  }

  async u64(virt: bigint): Promise<bigint | undefined> {
    const b = await this.read(virt, 8);
    return typeof b === 'string' ? undefined : readLE(b, 8);
  }
}

export interface GuestLayout {
  perCpuBase?: bigint;
  tss?: bigint;
  topOfStack?: bigint;
  currentTask?: bigint;
  /** Why a field above is missing. */
  problems: string[];
}

/** Where the kernel keeps what the entry code uses, found from its symbols and memory. */
export async function guestLayout(image: KernelImage, km: KernelMemory): Promise<GuestLayout> {
  const out: GuestLayout = { problems: [] };
  const perCpuOffset = image.symbol('__per_cpu_offset');
  if (perCpuOffset === undefined) { out.problems.push('no __per_cpu_offset symbol (a !SMP kernel?)'); return out; }
  out.perCpuBase = await km.u64(perCpuOffset);
  if (out.perCpuBase === undefined) { out.problems.push('__per_cpu_offset[0] unreadable'); return out; }
  // x86-64 per-CPU symbols are offsets from the start of the per-CPU section (zero-based).
  const pcpu = (name: string): bigint | undefined => {
    const off = image.symbol(name);
    return off === undefined ? undefined : (out.perCpuBase as bigint) + off;
  };
  out.tss = pcpu('cpu_tss_rw');
  const tos = pcpu('cpu_current_top_of_stack');
  const hot = pcpu('pcpu_hot'); // 6.2+: current_task at 0, top_of_stack at 0x18
  const topAddr = tos ?? (hot !== undefined ? hot + 0x18n : undefined);
  if (topAddr !== undefined) out.topOfStack = await km.u64(topAddr);
  else out.problems.push('no cpu_current_top_of_stack or pcpu_hot symbol');
  const cur = pcpu('current_task') ?? hot;
  if (cur !== undefined) out.currentTask = await km.u64(cur);
  return out;
}

type Prev = Map<string, string> | undefined;
const changedFrom = (prev: Prev, key: string, value: string): boolean => prev !== undefined && prev.has(key) && prev.get(key) !== value;

export interface ViewContext {
  image: KernelImage;
  state: CpuState;
  km: KernelMemory;
  pti: boolean;
  cpuModel: string;
  kernelVersion: string;
  describe: (address: bigint) => string;
  previous?: MachineStateView;
}

export async function qemuMachineView(c: ViewContext): Promise<MachineStateView> {
  const { state: s, image, km, previous } = c;
  const layout = await guestLayout(image, km);
  const prevMsrs = previous ? new Map(previous.msrs.map((m) => [m.name, m.value])) : undefined;
  const msrs: MsrView[] = MSR_TABLE.map((m) => {
    let v: bigint | undefined;
    if (m.number === MSR.FS_BASE) v = s.seg.fs.base;
    else if (m.number === MSR.GS_BASE) v = s.seg.gs.base;
    else v = s.msrs.get(m.number);
    if (v === undefined) {
      const hint = m.number === MSR.LSTAR ? `; the kernel's syscall_init writes entry_SYSCALL_64 = ${hex64(image.symbol('entry_SYSCALL_64') ?? 0n)}` : '';
      return { name: m.name, number: hex(m.number), value: 'unavailable', decoded: `${UNREADABLE_MSR_REASON}${hint}`, doc: m.doc, changed: false };
    }
    const value = hex64(v);
    const decoded = m.decoding === 'bits' ? decodeBits(v, m.fields ?? []) : m.decoding === 'address' ? c.describe(v) : hex(v);
    return { name: m.name, number: hex(m.number), value, decoded, doc: m.doc, changed: changedFrom(prevMsrs, m.name, value) };
  });

  const tss: FieldView[] = [];
  if (layout.tss !== undefined) {
    const bytes = await km.read(layout.tss, 0x68);
    const prev = previous ? new Map(previous.tss.map((f) => [f.name, f.value])) : undefined;
    for (const f of X86_HW_TSS) {
      const name = `cpu_tss_rw.x86_tss.${f.field}`;
      const value = typeof bytes === 'string' ? 'unavailable' : f.size === 8 ? hex64(readLE(bytes, f.size, f.offset)) : hex(readLE(bytes, f.size, f.offset));
      const v = value.startsWith('0x') ? BigInt(value) : 0n;
      tss.push({ name, address: hex64(layout.tss + BigInt(f.offset)), value, decoded: typeof bytes === 'string' ? bytes : f.size === 8 && v ? c.describe(v) : '', doc: f.doc, changed: changedFrom(prev, name, value) });
    }
  }

  const perCpu: FieldView[] = [];
  const prevPc = previous ? new Map(previous.perCpu.map((f) => [f.name, f.value])) : undefined;
  const pcRow = (name: string, address: bigint | undefined, v: bigint | undefined, decoded: string, doc: string): void => {
    if (address === undefined) return;
    const value = v === undefined ? 'unavailable' : hex64(v);
    perCpu.push({ name, address: hex64(address), value, decoded, doc, changed: changedFrom(prevPc, name, value) });
  };
  if (layout.perCpuBase !== undefined) {
    pcRow('__per_cpu_offset[0]', image.symbol('__per_cpu_offset'), layout.perCpuBase, 'per-CPU area of CPU 0 (the kernel GS base)', 'Base the kernel adds to per-CPU symbols; GS_BASE holds it in the kernel.');
    const tosSym = image.symbol('cpu_current_top_of_stack');
    pcRow('cpu_current_top_of_stack', tosSym !== undefined ? layout.perCpuBase + tosSym : undefined, layout.topOfStack, 'top of the current task\'s kernel stack', 'entry_SYSCALL_64 loads RSP from it (PER_CPU_VAR(cpu_current_top_of_stack)).');
    const curSym = image.symbol('current_task');
    pcRow('current_task', curSym !== undefined ? layout.perCpuBase + curSym : undefined, layout.currentTask, 'the running task_struct', 'current');
  }
  for (const p of layout.problems) perCpu.push({ name: 'unavailable', address: '', value: 'unavailable', decoded: p, doc: '', changed: false });

  const pcidOn = (s.cr4 & (1n << 17n)) !== 0n;
  const d = decodeCr3(s.cr3, pcidOn);
  const half: 'user' | 'kernel' = c.pti && (s.cr3 & CR3.PTI_USER_PGTABLE_MASK) ? 'user' : 'kernel';
  const cr3: Cr3View = {
    value: hex64(s.cr3), pgd: hex64(d.pgdAddress), pcid: d.pcid, half, pti: c.pti, noflush: d.noflush,
    explanation: !c.pti ? `One page table for user and kernel (no KPTI)${pcidOn ? `, PCID ${d.pcid}` : ''}.`
      : half === 'user' ? `User page table (kernel PGD + 4 KiB)${pcidOn ? `, user PCID ${hex(d.pcid ?? 0)}` : ''}.`
        : `Kernel page table${pcidOn ? `, kernel PCID ${d.pcid}` : ''}.`,
    changed: previous !== undefined && previous.cr3.value !== hex64(s.cr3),
  };
  const prevCr = new Map(previous?.controlRegisters.map((x) => [x.name, x.value]));
  const cr = (name: ControlRegisterView['name'], v: bigint, decoded: string): ControlRegisterView => ({ name, value: hex64(v), decoded, changed: previous !== undefined && prevCr.get(name) !== hex64(v) });
  const controlRegisters = [cr('CR0', s.cr0, decodeBits(s.cr0, CR0_FIELDS)), cr('CR2', s.cr2, s.cr2 ? 'last page-fault address' : ''), cr('CR3', s.cr3, cr3.explanation), cr('CR4', s.cr4, decodeBits(s.cr4, CR4_FIELDS))];

  const ptRegs = await ptRegsView(c, layout);
  return {
    stopCount: (previous?.stopCount ?? 0) + 1,
    cpl: s.cpl,
    rip: hex64(s.rip),
    where: s.cpl === 3 ? 'user program' : `kernel (${c.describe(s.rip)})`,
    msrs, tss, perCpu, cr3, controlRegisters, ptRegs,
    sysretChecks: sysretChecks(ptRegs),
    kernel: { version: c.kernelVersion, cpu: `${c.cpuModel} (QEMU)`, config: { PAGE_TABLE_ISOLATION: c.pti } },
  };
}

async function ptRegsView(c: ViewContext, layout: GuestLayout): Promise<PtRegsView> {
  const rsp = c.state.gpr[GPR_INDEX.rsp];
  const base = layout.topOfStack !== undefined ? layout.topOfStack - BigInt(SIZEOF_PTREGS) : undefined;
  const bytes = base !== undefined ? await c.km.read(base, SIZEOF_PTREGS) : 'task stack unknown';
  const prev = new Map(c.previous?.ptRegs.fields.map((f) => [f.field, f.value]));
  const fields: PtRegsFieldView[] = PT_REGS.map((f) => {
    const value = typeof bytes === 'string' ? 'unavailable' : hex64(readLE(bytes, 8, f.offset));
    return {
      field: f.field, asmName: f.asmName, offset: f.offset, address: base !== undefined ? hex64(base + BigInt(f.offset)) : '', value,
      // QEMU does not tell which instruction wrote a slot: every slot shows what memory holds.
      filled: typeof bytes !== 'string', doc: f.doc,
      changed: c.previous !== undefined && prev.get(f.field) !== value,
    };
  });
  const inStack = base !== undefined && layout.topOfStack !== undefined && rsp <= layout.topOfStack && rsp >= layout.topOfStack - 0x4000n;
  return { base: base !== undefined ? hex64(base) : undefined, rsp: hex64(rsp), rspOn: c.state.cpl === 3 ? 'user' : inStack ? 'kernel task stack' : c.describe(rsp), fields };
}

function sysretChecks(regs: PtRegsView): SysretCheckView[] {
  const get = (asm: string): bigint | undefined => {
    const f = regs.fields.find((x) => x.asmName === asm);
    return f && f.value.startsWith('0x') ? BigInt(f.value) : undefined;
  };
  const rcx = get('RCX'), rip = get('RIP'), cs = get('CS'), r11 = get('R11'), flags = get('EFLAGS'), ss = get('SS');
  const check = (condition: string, operands: string, ok: () => boolean, ...deps: (bigint | undefined)[]): SysretCheckView => ({
    condition, operands, pass: deps.every((x) => x !== undefined) ? ok() : undefined,
  });
  const canon = rcx === undefined ? 0n : BigInt.asUintN(64, BigInt.asIntN(48, rcx));
  return [
    check('RCX == RIP', `cx=${hex(rcx ?? 0n)} ip=${hex(rip ?? 0n)}`, () => rcx === rip, rcx, rip),
    check('RCX canonical (47-bit user half)', `${hex(rcx ?? 0n)} -> ${hex(canon)}`, () => canon === rcx, rcx),
    check('CS == __USER_CS', `cs=${hex(cs ?? 0n)}`, () => cs === BigInt(SELECTOR.__USER_CS), cs),
    check('R11 == RFLAGS', `r11=${hex(r11 ?? 0n)} flags=${hex(flags ?? 0n)}`, () => r11 === flags, r11, flags),
    check('RF and TF clear in R11', `${hex((r11 ?? 0n) & (RFLAGS.RF | RFLAGS.TF))}`, () => ((r11 ?? 0n) & (RFLAGS.RF | RFLAGS.TF)) === 0n, r11),
    check('SS == __USER_DS', `ss=${hex(ss ?? 0n)}`, () => ss === BigInt(SELECTOR.__USER_DS), ss),
  ];
}
