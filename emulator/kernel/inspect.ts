/**
 * The machine as the entry code sees it, decoded for the views: MSRs, the TSS slots Linux uses,
 * the per-CPU variables the entry code touches, CR3 under KPTI, pt_regs on the task stack (with
 * which instruction filled each slot), and the SYSRET conditions entry_SYSCALL_64 checks.
 */
import type {
  AlternativeView, ControlRegisterView, Cr3View, FieldView, MachineStateView, MsrView, PtRegsFieldView, SysretCheckView,
} from './machine-view';
import type { LinkedLine } from '../asm/types';
import {
  CR0_FIELDS, CR3, CR4_FIELDS, MSR, MSR_TABLE, PT_REGS, RFLAGS, RFLAGS_FIELDS, SELECTOR, SIZEOF_PTREGS, X86_HW_TSS,
  decodeBits, decodeCr3, decodeStar, type MsrInfo,
} from '../machine/facts';
import { readLE } from '../machine/memory';
import { GPR_INDEX } from '../machine/state';
import type { BootedSystem } from './boot';

export const hex64 = (v: bigint): string => `0x${BigInt.asUintN(64, v).toString(16).padStart(16, '0')}`;
const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

interface SymbolIndex {
  sorted: { name: string; address: bigint }[];
  lineAt: Map<bigint, LinkedLine>;
}
const indexes = new WeakMap<BootedSystem, SymbolIndex>();

function indexOf(system: BootedSystem): SymbolIndex {
  let ix = indexes.get(system);
  if (!ix) {
    const sorted: SymbolIndex['sorted'] = [];
    for (const image of [system.kernelImage, system.userImage]) {
      for (const [name, address] of image.symbols) if (!name.startsWith('.L') && !/^\d/.test(name)) sorted.push({ name, address });
    }
    for (const [address, m] of system.models) sorted.push({ name: m.symbol, address });
    sorted.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
    const lineAt = new Map<bigint, LinkedLine>();
    for (const l of [...system.kernelImage.lines, ...system.userImage.lines]) if (l.isInstruction && !lineAt.has(l.address)) lineAt.set(l.address, l);
    ix = { sorted, lineAt };
    indexes.set(system, ix);
  }
  return ix;
}

/** "entry_SYSCALL_64" or "entry_SYSCALL_64+0x1c", or undefined when no symbol is at or below within 64 KiB. */
export function symbolize(system: BootedSystem, address: bigint): string | undefined {
  const { sorted } = indexOf(system);
  let best: { name: string; address: bigint } | undefined;
  for (const s of sorted) {
    if (s.address > address) break;
    best = s;
  }
  if (!best || address - best.address > 0x10000n) return undefined;
  return address === best.address ? best.name : `${best.name}+${hex(address - best.address)}`;
}

/** What a GS base (or any kernel pointer) points at, in words. */
function describePointer(system: BootedSystem, v: bigint): string {
  const L = system.layout;
  if (v === L.perCpuBase) return 'per-CPU area of CPU 0';
  if (v < 0x0000800000000000n) return v === 0n ? 'user GS base (0: the program set none)' : 'user GS base';
  return symbolize(system, v) ?? describeAddress(system, v);
}

/** Which region an address falls in: stacks, per-CPU area, cpu_entry_area ... */
export function describeAddress(system: BootedSystem, a: bigint): string {
  const L = system.layout;
  const within = (lo: bigint, hi: bigint): boolean => a >= lo && a <= hi;
  if (within(L.taskStackBottom, L.taskStackTop)) return 'kernel task stack';
  if (within(L.entryStackBottom, L.entryStackTop)) return 'trampoline stack (cpu_entry_area)';
  if (within(L.userStackBottom, L.userStackTop)) return 'user stack';
  if (within(L.perCpuBase, L.perCpuBase + BigInt(system.profile.perCpuAreaSize))) return 'per-CPU area of CPU 0';
  if (within(L.cpuEntryArea, L.cpuEntryArea + 0x10000n)) return 'cpu_entry_area of CPU 0';
  if (a < 0x0000800000000000n) return 'user memory';
  return 'kernel memory';
}

function msrValue(system: BootedSystem, m: MsrInfo): bigint {
  const s = system.machine.state;
  if (m.number === MSR.GS_BASE) return s.seg.gs.base;
  if (m.number === MSR.FS_BASE) return s.seg.fs.base;
  return s.msrs.get(m.number) ?? 0n;
}

function decodeMsr(system: BootedSystem, m: MsrInfo, v: bigint): string {
  switch (m.decoding) {
    case 'bits': return decodeBits(v, m.fields ?? []) || '(none)';
    case 'star': {
      const d = decodeStar(v);
      return `SYSCALL: CS=${hex(d.syscallCs)} SS=${hex(d.syscallSs)}; SYSRET: CS=${hex(d.sysretCs64)} SS=${hex(d.sysretSs)}`;
    }
    case 'mask-rflags': return `clears ${decodeBits(v, RFLAGS_FIELDS) || 'nothing'}`;
    case 'address':
      if (m.number === MSR.GS_BASE || m.number === MSR.KERNEL_GS_BASE) return describePointer(system, v);
      return v === 0n ? '(not set)' : symbolize(system, v) ?? describeAddress(system, v);
    default: return hex(v);
  }
}

type Prev = Map<string, string> | undefined;
const prevMap = <T extends { value: string }>(items: T[] | undefined, key: (t: T) => string): Prev =>
  items ? new Map(items.map((i) => [key(i), i.value])) : undefined;
const changedFrom = (prev: Prev, key: string, value: string): boolean => prev !== undefined && prev.has(key) && prev.get(key) !== value;

function physRead(system: BootedSystem, phys: bigint, size: number): bigint {
  return readLE(system.machine.mem.read(phys, size), size);
}

const TSS_LINUX_USE: Record<string, string> = {
  sp0: 'top of the trampoline (entry) stack in cpu_entry_area',
  sp1: 'cpu_current_top_of_stack: top of the current task\'s kernel stack',
  sp2: 'scratch: the user RSP parked by entry_SYSCALL_64',
};

function tssView(system: BootedSystem, prev: Prev): FieldView[] {
  const L = system.layout;
  const physBase = L.perCpuPhys + BigInt(system.profile.perCpu.cpu_tss_rw.offset);
  return X86_HW_TSS.map((f) => {
    const v = physRead(system, physBase + BigInt(f.offset), f.size);
    const value = f.size === 8 ? hex64(v) : hex(v);
    const name = `cpu_tss_rw.x86_tss.${f.field}`;
    // sp1 held the task stack top only up to 5.8; later kernels leave it unused.
    const use = f.field === 'sp1' && system.profile.topOfStack.symbol !== 'cpu_tss_rw'
      ? `unused in ${system.profile.release} (the task stack top is ${system.profile.topOfStack.name})`
      : TSS_LINUX_USE[f.field];
    return {
      name, address: hex64(L.tssAddress + BigInt(f.offset)), value,
      decoded: use ? `${use}${v ? ` -> ${describeAddress(system, v)}` : ' (empty)'}` : f.size === 8 && v ? describeAddress(system, v) : '',
      doc: f.doc, changed: changedFrom(prev, name, value),
    };
  });
}

function perCpuView(system: BootedSystem, prev: Prev): FieldView[] {
  const { profile, layout: L } = system;
  const pv = profile.perCpu;
  const rows: { name: string; offset: number; size: number; decode: (v: bigint) => string; doc: string }[] = [
    { name: 'cpu_tlbstate.user_pcid_flush_mask', offset: pv.cpu_tlbstate.offset + profile.asmOffsets.TLB_STATE_user_pcid_flush_mask, size: 2,
      decode: (v) => (v ? `flush pending for kernel PCID bit(s) ${[...Array(16).keys()].filter((b) => (v >> BigInt(b)) & 1n).join(', ')}` : 'no user PCID flush pending: SWITCH_TO_USER_CR3 sets NOFLUSH'),
      doc: 'SWITCH_TO_USER_CR3 tests and clears this ASID\'s bit: set means the user PCID\'s TLB entries are stale and must be flushed on the way out.' },
    { name: 'cpu_tlbstate.loaded_mm_asid', offset: pv.cpu_tlbstate.offset + profile.asmOffsets.TLB_STATE_loaded_mm_asid, size: 2,
      decode: (v) => `ASID ${v}: kernel PCID ${v + 1n}, user PCID ${hex(v + 1n + CR3.PTI_PCID_USER_MASK)}`,
      doc: 'The dynamic ASID of the loaded mm; kern_pcid(asid) = asid + 1.' },
    // 5.8: TSS sp1; 5.9-6.1: cpu_current_top_of_stack; 6.2+: pcpu_hot.top_of_stack.
    { name: profile.topOfStack.name, offset: (pv[profile.topOfStack.symbol]?.offset ?? 0) + profile.topOfStack.offset, size: 8,
      decode: (v) => describeAddress(system, v), doc: profile.topOfStack.doc },
    { name: 'fixed_percpu_data.stack_canary', offset: pv.fixed_percpu_data.offset + 40, size: 8, decode: () => '%gs:40, read by -fstack-protector code', doc: pv.fixed_percpu_data.doc },
    { name: 'cpu_number', offset: pv.cpu_number.offset, size: 4, decode: (v) => `CPU ${v}`, doc: pv.cpu_number.doc },
  ];
  return rows.map((r) => {
    const v = physRead(system, L.perCpuPhys + BigInt(r.offset), r.size);
    const value = r.size === 8 ? hex64(v) : hex(v);
    return { name: r.name, address: hex64(L.perCpuBase + BigInt(r.offset)), value, decoded: r.decode(v), doc: r.doc, changed: changedFrom(prev, r.name, value) };
  });
}

function cr3View(system: BootedSystem, previous: Cr3View | undefined): Cr3View {
  const s = system.machine.state;
  const pcidOn = (s.cr4 & (1n << 17n)) !== 0n;
  const d = decodeCr3(s.cr3, pcidOn);
  const L = system.layout;
  const half: 'user' | 'kernel' = system.pti && d.pgdAddress === L.userPgd ? 'user' : 'kernel';
  const value = hex64(s.cr3);
  const explanation = !system.pti
    ? `One page table for user and kernel (no KPTI)${pcidOn ? `, PCID ${d.pcid}` : ''}.`
    : half === 'user'
      ? `User page table (kernel PGD + 4 KiB): maps the program, .entry.text, cpu_entry_area and cpu_tss_rw only${pcidOn ? `; user PCID ${hex(d.pcid ?? 0)} (bit 11 set)` : ''}.`
      : `Kernel page table: all kernel memory, user memory non-executable${pcidOn ? `; kernel PCID ${d.pcid}` : ''}.`;
  return {
    value, pgd: hex64(d.pgdAddress), pcid: d.pcid, half, pti: system.pti, noflush: d.noflush, explanation,
    changed: previous !== undefined && previous.value !== value,
  };
}

function controlRegisters(system: BootedSystem, prev: ControlRegisterView[] | undefined): ControlRegisterView[] {
  const s = system.machine.state;
  const p = new Map(prev?.map((c) => [c.name, c.value]));
  const row = (name: ControlRegisterView['name'], v: bigint, decoded: string): ControlRegisterView => ({
    name, value: hex64(v), decoded, changed: prev !== undefined && p.get(name) !== hex64(v),
  });
  return [
    row('CR0', s.cr0, decodeBits(s.cr0, CR0_FIELDS)),
    row('CR2', s.cr2, s.cr2 ? 'last page-fault address' : ''),
    row('CR3', s.cr3, cr3View(system, undefined).explanation),
    row('CR4', s.cr4, decodeBits(s.cr4, CR4_FIELDS)),
  ];
}

function ptRegsView(system: BootedSystem, writes: ReadonlyMap<bigint, { rip: bigint }>, prev: MachineStateView['ptRegs'] | undefined): MachineStateView['ptRegs'] {
  const m = system.machine;
  const L = system.layout;
  const base = L.taskStackTop - BigInt(SIZEOF_PTREGS);
  const stackPhys = L.taskStackPhys + (base - L.taskStackBottom);
  const { lineAt } = indexOf(system);
  const pv = new Map(prev?.fields.map((f) => [f.field, f.value]));
  const fields: PtRegsFieldView[] = PT_REGS.map((f) => {
    const address = base + BigInt(f.offset);
    const v = physRead(system, stackPhys + BigInt(f.offset), 8);
    const w = writes.get(address);
    const line = w ? lineAt.get(w.rip) : undefined;
    const userLine = line ? (line.stack[0]?.loc ?? line.loc) : undefined;
    const value = hex64(v);
    return {
      field: f.field, asmName: f.asmName, offset: f.offset, address: hex64(address), value,
      filled: w !== undefined,
      // The line of the debugged file (a macro use counts as its line); `text` is the exact instruction.
      writtenBy: w ? { address: hex64(w.rip), file: userLine?.file ?? '', line: userLine?.line ?? 0, text: line?.text ?? symbolize(system, w.rip) ?? '' } : undefined,
      doc: f.doc,
      changed: prev !== undefined && pv.get(f.field) !== value,
    };
  });
  const rsp = m.state.gpr[GPR_INDEX.rsp];
  return {
    base: fields.some((f) => f.filled) ? hex64(base) : undefined,
    rsp: hex64(rsp),
    rspOn: describeAddress(system, rsp),
    fields,
  };
}

/** The opportunistic-SYSRET conditions: in entry_SYSCALL_64 up to 6.6, in do_syscall_64's C from 6.7; evaluated on pt_regs. */
function sysretChecks(system: BootedSystem, regs: MachineStateView['ptRegs']): SysretCheckView[] {
  const get = (asm: string): { v: bigint; filled: boolean } => {
    const f = regs.fields.find((x) => x.asmName === asm);
    return { v: f ? BigInt(f.value) : 0n, filled: f?.filled ?? false };
  };
  const rcx = get('RCX'), rip = get('RIP'), cs = get('CS'), r11 = get('R11'), flags = get('EFLAGS'), ss = get('SS');
  const known = (...xs: { filled: boolean }[]): boolean => xs.every((x) => x.filled);
  const shift = BigInt(64 - (system.profile.layout.virtualMaskShift + 1));
  const canon = BigInt.asUintN(64, BigInt.asIntN(64, BigInt.asUintN(64, rcx.v << shift)) >> shift);
  const rfTf = r11.v & (RFLAGS.RF | RFLAGS.TF);
  const check = (condition: string, operands: string, ok: boolean, deps: { filled: boolean }[]): SysretCheckView => ({
    condition, operands, pass: known(...deps) ? ok : undefined,
  });
  if (system.profile.doSyscall64.returnsBool) {
    // 6.7+: do_syscall_64() decides in C (arch/x86/entry/common.c) and returns the verdict in %al.
    const c = (condition: string, operands: string, ok: boolean, deps: { filled: boolean }[]): SysretCheckView =>
      check(`${condition} (in C: do_syscall_64)`, operands, ok, deps);
    return [
      c('regs->cx == regs->ip && regs->r11 == regs->flags', `cx=${hex(rcx.v)} ip=${hex(rip.v)} r11=${hex(r11.v)} flags=${hex(flags.v)}`, rcx.v === rip.v && r11.v === flags.v, [rcx, rip, r11, flags]),
      c('regs->cs == __USER_CS && regs->ss == __USER_DS', `cs=${hex(cs.v)} ss=${hex(ss.v)}`, cs.v === BigInt(SELECTOR.__USER_CS) && ss.v === BigInt(SELECTOR.__USER_DS), [cs, ss]),
      c('regs->ip < TASK_SIZE_MAX', `${hex(rip.v)} < ${hex(system.profile.layout.taskSizeMax)}`, rip.v < system.profile.layout.taskSizeMax, [rip]),
      c('!(regs->flags & (X86_EFLAGS_RF | X86_EFLAGS_TF))', `${hex(flags.v)} & (RF|TF) = ${hex(flags.v & (RFLAGS.RF | RFLAGS.TF))}`, (flags.v & (RFLAGS.RF | RFLAGS.TF)) === 0n, [flags]),
    ];
  }
  return [
    check('RCX == RIP', `pt_regs->cx=${hex(rcx.v)} pt_regs->ip=${hex(rip.v)}`, rcx.v === rip.v, [rcx, rip]),
    check(`RCX canonical (sign-extended from bit ${system.profile.layout.virtualMaskShift})`, `${hex(rcx.v)} -> ${hex(canon)}`, canon === rcx.v, [rcx]),
    check('CS == __USER_CS', `pt_regs->cs=${hex(cs.v)} __USER_CS=${hex(SELECTOR.__USER_CS)}`, cs.v === BigInt(SELECTOR.__USER_CS), [cs]),
    check('R11 == RFLAGS', `pt_regs->r11=${hex(r11.v)} pt_regs->flags=${hex(flags.v)}`, r11.v === flags.v, [r11, flags]),
    check('RF and TF clear in R11', `${hex(r11.v)} & (RF|TF) = ${hex(rfTf)}`, rfTf === 0n, [r11]),
    check('SS == __USER_DS', `pt_regs->ss=${hex(ss.v)} __USER_DS=${hex(SELECTOR.__USER_DS)}`, ss.v === BigInt(SELECTOR.__USER_DS), [ss]),
  ];
}

function whereIs(system: BootedSystem): string {
  const s = system.machine.state;
  const model = system.models.get(s.rip);
  if (model) return `model: ${model.symbol}`;
  const stub = system.stubs?.get(s.rip);
  if (stub) return `stub: ${stub.doc}`;
  if (s.cpl === 3) return 'user program';
  const sym = symbolize(system, s.rip);
  return `kernel entry code${sym ? ` (${sym})` : ''}`;
}

export function inspectMachine(
  system: BootedSystem,
  writes: ReadonlyMap<bigint, { rip: bigint }>,
  previous?: MachineStateView,
): MachineStateView {
  const s = system.machine.state;
  const prevMsrs = prevMap(previous?.msrs, (m) => m.name);
  const msrs: MsrView[] = MSR_TABLE.map((m) => {
    const v = msrValue(system, m);
    const value = hex64(v);
    return { name: m.name, number: hex(m.number), value, decoded: decodeMsr(system, m, v), doc: m.doc, changed: changedFrom(prevMsrs, m.name, value) };
  });
  const ptRegs = ptRegsView(system, writes, previous?.ptRegs);
  return {
    stopCount: (previous?.stopCount ?? 0) + 1,
    cpl: s.cpl,
    rip: hex64(s.rip),
    where: whereIs(system),
    msrs,
    tss: tssView(system, prevMap(previous?.tss, (f) => f.name)),
    perCpu: perCpuView(system, prevMap(previous?.perCpu, (f) => f.name)),
    cr3: cr3View(system, previous?.cr3),
    controlRegisters: controlRegisters(system, previous?.controlRegisters),
    ptRegs,
    sysretChecks: sysretChecks(system, ptRegs),
    kernel: { version: system.profile.release, cpu: system.cpu.name, config: { ...system.config }, factSources: { ...system.profile.factSources } },
    alternatives: alternativesView(system),
  };
}

/** Each ALTERNATIVE site of the booted kernel: which code is live there and why (feature decision). */
export function alternativesView(system: BootedSystem): AlternativeView[] {
  const hexBytes = (b: Uint8Array): string => Buffer.from(b).toString('hex');
  return system.alternatives.map((a) => ({
    address: hex64(a.instrAddress),
    site: a.loc ? `${a.loc.file}:${a.loc.line}` : symbolize(system, a.instrAddress) ?? hex64(a.instrAddress),
    alternativeAt: a.alternativeAt ? `${a.alternativeAt.file}:${a.alternativeAt.line}` : undefined,
    feature: `${a.inverted ? '!' : ''}X86_FEATURE_${a.feature}`,
    live: a.applied ? 'replacement' : 'original',
    reason: a.reason,
    bytes: hexBytes(a.after),
  }));
}
