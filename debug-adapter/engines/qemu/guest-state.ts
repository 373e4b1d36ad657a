/**
 * The guest CPU's architectural state as kentry's CpuState, from two sources QEMU offers:
 * the gdb stub's registers (GPRs, RIP, RFLAGS, selectors, FS/GS/KERNEL_GS bases, CR0-4, CR8,
 * EFER per QEMU's target description) and the monitor's `info registers` (the hidden segment
 * caches, LDTR, TR, GDTR, IDTR, DR0-7), which the stub does not expose.
 * MSRs beyond EFER and the three bases (STAR, LSTAR, SYSCALL_MASK, ...) are readable through
 * neither: QEMU's gdb stub has no MSR registers and its monitor no rdmsr command.
 */
import { MSR } from '../../../emulator/machine/facts';
import { GPR_NAMES, newCpuState, type CpuState, type SegmentRegister } from '../../../emulator/machine/state';
import type { GdbRemote } from './gdb-remote';

/** MSRs QEMU cannot show, and why (the views print this instead of a value). */
export const UNREADABLE_MSR_REASON = 'QEMU\'s gdb stub exposes no MSRs besides EFER, FS_BASE, GS_BASE and KERNEL_GS_BASE, and its monitor has no rdmsr';

export interface MonitorRegisters {
  seg: Partial<Record<'es' | 'cs' | 'ss' | 'ds' | 'fs' | 'gs' | 'ldt' | 'tr', SegmentRegister>>;
  gdtr?: { base: bigint; limit: number };
  idtr?: { base: bigint; limit: number };
  dr: Map<number, bigint>;
  efer?: bigint;
  cpl?: number;
}

/**
 * QEMU's segment cache flags word (descriptor bits 32-63 masked to 8-23) to kentry's attrs
 * layout: access byte in bits 0-7, flags nibble (AVL, L, D/B, G) in bits 12-15.
 */
export function qemuFlagsToAttrs(flags: number): number {
  return ((flags >>> 8) & 0xff) | (((flags >>> 20) & 0xf) << 12);
}

/** Parse the x86 `info registers` text of QEMU's monitor. */
export function parseInfoRegisters(text: string): MonitorRegisters {
  const out: MonitorRegisters = { seg: {}, dr: new Map() };
  const segRe = /^(ES|CS|SS|DS|FS|GS|LDT|TR)\s*=([0-9a-f]{4}) ([0-9a-f]{8,16}) ([0-9a-f]{8}) ([0-9a-f]{8})/gim;
  for (const m of text.matchAll(segRe)) {
    const name = m[1].toLowerCase() as keyof MonitorRegisters['seg'];
    out.seg[name] = { selector: parseInt(m[2], 16), base: BigInt('0x' + m[3]), limit: parseInt(m[4], 16) >>> 0, attrs: qemuFlagsToAttrs(parseInt(m[5], 16)) };
  }
  const table = (name: string): { base: bigint; limit: number } | undefined => {
    const m = new RegExp(`^${name}=\\s*([0-9a-f]+) ([0-9a-f]+)`, 'im').exec(text);
    return m ? { base: BigInt('0x' + m[1]), limit: parseInt(m[2], 16) } : undefined;
  };
  out.gdtr = table('GDT');
  out.idtr = table('IDT');
  for (const m of text.matchAll(/\bDR([0-7])=([0-9a-f]+)/gi)) out.dr.set(Number(m[1]), BigInt('0x' + m[2]));
  const efer = /\bEFER=([0-9a-f]+)/i.exec(text);
  if (efer) out.efer = BigInt('0x' + efer[1]);
  const cpl = /\bCPL=(\d)/.exec(text);
  if (cpl) out.cpl = Number(cpl[1]);
  return out;
}

/** Register names in QEMU's x86-64 target description (i386-64bit.xml). */
const GDB_SEGMENTS = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'] as const;

/** Build a CpuState from the stub's registers and the monitor's text. */
export function cpuStateFrom(regs: Map<string, bigint>, monitor: MonitorRegisters): CpuState {
  const s = newCpuState();
  GPR_NAMES.forEach((n, i) => { s.gpr[i] = regs.get(n) ?? 0n; });
  s.rip = regs.get('rip') ?? 0n;
  s.rflags = regs.get('eflags') ?? 2n;
  for (const n of GDB_SEGMENTS) {
    const cached = monitor.seg[n];
    s.seg[n] = cached ? { ...cached } : { selector: Number(regs.get(n) ?? 0n), base: 0n, limit: 0, attrs: 0 };
    // The stub's selector is authoritative (the monitor text and the stub read the same CPU).
    if (regs.has(n)) s.seg[n].selector = Number(regs.get(n));
  }
  if (regs.has('fs_base')) s.seg.fs.base = regs.get('fs_base') as bigint;
  if (regs.has('gs_base')) s.seg.gs.base = regs.get('gs_base') as bigint;
  if (monitor.seg.tr) s.tr = { ...monitor.seg.tr };
  if (monitor.seg.ldt) s.ldtr = { ...monitor.seg.ldt };
  if (monitor.gdtr) s.gdtr = monitor.gdtr;
  if (monitor.idtr) s.idtr = monitor.idtr;
  s.cr0 = regs.get('cr0') ?? 0n;
  s.cr2 = regs.get('cr2') ?? 0n;
  s.cr3 = regs.get('cr3') ?? 0n;
  s.cr4 = regs.get('cr4') ?? 0n;
  s.cr8 = regs.get('cr8') ?? 0n;
  for (const [i, v] of monitor.dr) s.dr[i] = v;
  const efer = regs.get('efer') ?? monitor.efer;
  if (efer !== undefined) s.msrs.set(MSR.EFER, efer);
  if (regs.has('k_gs_base')) s.msrs.set(MSR.KERNEL_GS_BASE, regs.get('k_gs_base') as bigint);
  s.cpl = s.seg.cs.selector & 3;
  return s;
}

/** Read the whole architectural state of the stopped guest. */
export async function readGuestState(gdb: GdbRemote): Promise<CpuState> {
  const regs = await gdb.readRegisters();
  // Registers the `g` packet did not carry (QEMU sends only the core set there): ask with p.
  for (const name of ['fs_base', 'gs_base', 'k_gs_base', 'cr0', 'cr2', 'cr3', 'cr4', 'cr8', 'efer']) {
    if (!regs.has(name) && gdb.register(name)) {
      try { regs.set(name, await gdb.readRegister(name)); } catch { /* left out: the view says unavailable */ }
    }
  }
  let monitor: MonitorRegisters = { seg: {}, dr: new Map() };
  try { monitor = parseInfoRegisters(await gdb.monitor('info registers')); } catch { /* no monitor: selectors only */ }
  return cpuStateFrom(regs, monitor);
}
