/**
 * System instructions: the entry code's vocabulary. SYSCALL/SYSRET, SWAPGS, IRETQ, MOV CRn,
 * RDMSR/WRMSR, segment loads, descriptor-table loads, TLB maintenance, CPUID/RDTSC, flag controls.
 * Every check happens before any state changes, so a fault leaves nothing half-done.
 */
import { Code, Mnemonic, OpKind, Register } from 'iced-x86';
import { CR3 } from '../../machine/facts/control-registers';
import { MSR, MSR_BY_NUMBER, EFER_FIELDS } from '../../machine/facts/msrs';
import { RFLAGS } from '../../machine/facts/rflags';
import { DESCRIPTOR } from '../../machine/facts/segments';
import type { Machine } from '../../machine/machine';
import { SHADOW_MOV_SS, SHADOW_STI } from '../interrupt-shadow';
import { currentPcid, isCanonical, linearAddressBits } from '../../machine/paging';
import type { SegmentRegister } from '../../machine/state';
import type { DecodedInsn, Handler } from '../decoded';
import { type Descriptor, descriptorAddress, FLAT_CODE32_ATTRS, FLAT_CODE64_ATTRS, FLAT_DATA_ATTRS, flatSegment, parseDescriptor, readDescriptor, segmentFrom } from '../descriptors';
import { CpuFault } from '../fault';
import { cpuid } from '../profiles';
import { MASK, writeGpr } from '../registers';

const M64 = MASK[8];
const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

const CR0_PE = 1n << 0n;
const CR0_NW = 1n << 29n;
const CR0_CD = 1n << 30n;
const CR0_PG = 1n << 31n;
const CR4_TSD = 1n << 2n;
const CR4_PSE = 1n << 4n;
const CR4_PAE = 1n << 5n;
const CR4_PGE = 1n << 7n;
const CR4_UMIP = 1n << 11n;
const CR4_LA57 = 1n << 12n;
const CR4_FSGSBASE = 1n << 16n;
const CR4_PCIDE = 1n << 17n;
const CR4_SMEP = 1n << 20n;
const CR4_SMAP = 1n << 21n;
const CR4_PKE = 1n << 22n;
/** CR4 bits this CPU model accepts at all (others are reserved: #GP). */
const CR4_KNOWN = 0x7f7fffn & ~(1n << 15n);
const EFER_SCE = 1n;
const EFER_LME = 1n << 8n;
const EFER_LMA = 1n << 10n;
const EFER_NXE = 1n << 11n;

function requireCpl0(m: Machine, what: string): void {
  if (m.state.cpl !== 0) throw new CpuFault(13, `#GP(0): ${what} at CPL ${m.state.cpl} (privileged)`, 0);
}

function efer(m: Machine): bigint {
  return m.state.msrs.get(MSR.EFER) ?? 0n;
}

function canonical(m: Machine, v: bigint): boolean {
  return isCanonical(v, linearAddressBits(m.state));
}

// ------------------------------------------------------------------ register classes

export function isControlRegister(r: Register): boolean {
  return r >= Register.CR0 && r <= Register.CR15;
}
export function isDebugRegister(r: Register): boolean {
  return r >= Register.DR0 && r <= Register.DR15;
}
export function isSegmentRegister(r: Register): boolean {
  return r >= Register.ES && r <= Register.GS;
}

const SEG_NAMES = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'] as const;

export function segmentSelectorOf(m: Machine, r: Register): number {
  return m.state.seg[SEG_NAMES[r - Register.ES]].selector;
}

// ------------------------------------------------------------------ control and debug registers

export function movFromControl(m: Machine, d: DecodedInsn): void {
  requireCpl0(m, 'mov from control register');
  const n = d.opRegs[1] - Register.CR0;
  const s = m.state;
  const v = n === 0 ? s.cr0 : n === 2 ? s.cr2 : n === 3 ? s.cr3 : n === 4 ? s.cr4 : n === 8 ? s.cr8 : undefined;
  if (v === undefined) throw new CpuFault(6, `#UD: CR${n} does not exist`);
  writeGpr(s, d.opRegs[0], v);
}

export function movToControl(m: Machine, d: DecodedInsn): void {
  requireCpl0(m, 'mov to control register');
  const n = d.opRegs[0] - Register.CR0;
  const v = m.readOp(d, 1);
  const s = m.state;
  const p = m.profile;
  switch (n) {
    case 0: {
      if (v >> 32n) throw new CpuFault(13, `#GP(0): mov to CR0 sets reserved bits 63:32 (${hex(v)})`, 0);
      if (v & CR0_PG && !(v & CR0_PE)) throw new CpuFault(13, '#GP(0): CR0.PG=1 with CR0.PE=0', 0);
      if (v & CR0_NW && !(v & CR0_CD)) throw new CpuFault(13, '#GP(0): CR0.NW=1 with CR0.CD=0', 0);
      if (s.cr0 & CR0_PG && !(v & CR0_PG) && efer(m) & EFER_LMA) throw new CpuFault(13, '#GP(0): clearing CR0.PG in 64-bit mode', 0);
      if ((s.cr0 ^ v) & CR0_PG) m.tlb.flushAll(true);
      s.cr0 = v | 0x10n; // ET is hardwired to 1
      return;
    }
    case 2: s.cr2 = v; return;
    case 3: return movToCr3(m, v);
    case 4: {
      const bad = v & ~CR4_KNOWN;
      if (bad) throw new CpuFault(13, `#GP(0): mov to CR4 sets reserved bits ${hex(bad)}`, 0);
      const need: Array<[bigint, string]> = [[CR4_LA57, 'LA57'], [CR4_PCIDE, 'PCID'], [CR4_SMEP, 'SMEP'], [CR4_SMAP, 'SMAP'], [CR4_FSGSBASE, 'FSGSBASE'], [CR4_UMIP, 'UMIP'], [CR4_PKE, 'PKU']];
      for (const [bit, feat] of need) {
        if (v & bit && !p.features.has(feat)) throw new CpuFault(13, `#GP(0): CR4 bit ${feat} set but the ${p.name} CPU has no ${feat}`, 0);
      }
      const lma = (efer(m) & EFER_LMA) !== 0n;
      if (lma && (s.cr4 ^ v) & CR4_LA57) throw new CpuFault(13, '#GP(0): CR4.LA57 cannot change in 64-bit mode', 0);
      if (lma && !(v & CR4_PAE)) throw new CpuFault(13, '#GP(0): clearing CR4.PAE in 64-bit mode', 0);
      if (v & CR4_PCIDE && !(s.cr4 & CR4_PCIDE) && s.cr3 & CR3.PCID_MASK) {
        throw new CpuFault(13, `#GP(0): setting CR4.PCIDE while CR3[11:0] = ${hex(s.cr3 & CR3.PCID_MASK)} (must be 0)`, 0);
      }
      const changed = s.cr4 ^ v;
      // SDM 4.10.4.1: changing PGE, or clearing PCIDE, flushes everything including globals.
      if (changed & (CR4_PGE | CR4_PAE | CR4_PSE | CR4_LA57) || (changed & CR4_PCIDE && !(v & CR4_PCIDE))) m.tlb.flushAll(true);
      s.cr4 = v;
      return;
    }
    case 8:
      if (v > 15n) throw new CpuFault(13, `#GP(0): CR8 ${hex(v)} has reserved bits set`, 0);
      s.cr8 = v;
      return;
    default:
      throw new CpuFault(6, `#UD: CR${n} does not exist`);
  }
}

/**
 * MOV to CR3 (SDM 4.10.4.1): with CR4.PCIDE, bit 63 (NOFLUSH) keeps the new PCID's cached
 * translations and is not stored; without it the new PCID's non-global entries are flushed.
 * Without PCIDE bit 63 is an ordinary reserved bit (#GP, as KVM's kvm_set_cr3 models it) and
 * every non-global entry goes.
 */
function movToCr3(m: Machine, v: bigint): void {
  const s = m.state;
  const pcide = (s.cr4 & CR4_PCIDE) !== 0n;
  const noflush = pcide && (v & CR3.NOFLUSH) !== 0n;
  const value = pcide ? v & ~CR3.NOFLUSH : v;
  const reserved = value & ~((1n << BigInt(m.profile.maxPhysAddr)) - 1n);
  if (reserved) throw new CpuFault(13, `#GP(0): CR3 value ${hex(v)} sets reserved bits ${hex(reserved)} (MAXPHYADDR ${m.profile.maxPhysAddr}${pcide ? '' : ', and bit 63 needs CR4.PCIDE'})`, 0);
  s.cr3 = value;
  if (!pcide) m.tlb.flushAll(false);
  else if (!noflush) m.tlb.flushPcid(Number(value & CR3.PCID_MASK));
}

export function movFromDebug(m: Machine, d: DecodedInsn): void {
  requireCpl0(m, 'mov from debug register');
  const n = d.opRegs[1] - Register.DR0;
  if (n > 7) throw new CpuFault(6, `#UD: DR${n} does not exist`);
  writeGpr(m.state, d.opRegs[0], m.state.dr[n === 4 ? 6 : n === 5 ? 7 : n]);
}

export function movToDebug(m: Machine, d: DecodedInsn): void {
  requireCpl0(m, 'mov to debug register');
  const n = d.opRegs[0] - Register.DR0;
  if (n > 7) throw new CpuFault(6, `#UD: DR${n} does not exist`);
  m.state.dr[n === 4 ? 6 : n === 5 ? 7 : n] = m.readOp(d, 1);
}

// ------------------------------------------------------------------ segment loads

/** MOV/POP to DS, ES, FS, GS or SS with the protected-mode checks (SDM MOV, "64-bit mode"). */
export function loadSegmentRegister(m: Machine, reg: Register, selector: number, what: string): void {
  const s = m.state;
  const name = SEG_NAMES[reg - Register.ES];
  if (name === 'cs') throw new CpuFault(6, `#UD: ${what} to CS`);
  const rpl = selector & 3;
  const isNull = (selector & 0xfffc) === 0;
  if (name === 'ss') {
    if (isNull) {
      if (s.cpl === 3 || rpl !== s.cpl) throw new CpuFault(13, `#GP(0): null SS at CPL ${s.cpl}`, 0);
      s.seg.ss = { selector, base: 0n, limit: 0, attrs: 0 };
      m.interruptShadow = SHADOW_MOV_SS;
      return;
    }
    const desc = readDescriptor(m, selector, `${what} ss`);
    if (rpl !== s.cpl || desc.dpl !== s.cpl || !desc.codeOrData || desc.code || !desc.rw) {
      throw new CpuFault(13, `#GP(${hex(selector & 0xfffc)}): ${hex(selector)} is not a writable data segment at CPL ${s.cpl}`, selector & 0xfffc);
    }
    if (!desc.present) throw new CpuFault(12, `#SS(${hex(selector & 0xfffc)}): stack segment not present`, selector & 0xfffc);
    s.seg.ss = segmentFrom(selector, desc);
    m.interruptShadow = SHADOW_MOV_SS;
    return;
  }
  const old = s.seg[name];
  if (isNull) {
    // Intel clears the hidden base on a null load; AMD keeps it (Linux's X86_BUG_NULL_SEG).
    const base = m.profile.vendor === 'amd' ? old.base : 0n;
    s.seg[name] = { selector, base, limit: 0, attrs: 0 };
    return;
  }
  const desc = readDescriptor(m, selector, `${what} ${name}`);
  if (!desc.codeOrData || (desc.code && !desc.rw)) {
    throw new CpuFault(13, `#GP(${hex(selector & 0xfffc)}): ${hex(selector)} is not a data or readable code segment`, selector & 0xfffc);
  }
  if ((!desc.code || !desc.conforming) && (rpl > desc.dpl || s.cpl > desc.dpl)) {
    throw new CpuFault(13, `#GP(${hex(selector & 0xfffc)}): DPL ${desc.dpl} < max(CPL ${s.cpl}, RPL ${rpl})`, selector & 0xfffc);
  }
  if (!desc.present) throw new CpuFault(11, `#NP(${hex(selector & 0xfffc)}): segment not present`, selector & 0xfffc);
  s.seg[name] = segmentFrom(selector, desc);
}

// ------------------------------------------------------------------ SYSCALL / SYSRET / SWAPGS

function syscall(m: Machine): void {
  const s = m.state;
  if (!(efer(m) & EFER_SCE)) throw new CpuFault(6, '#UD: syscall with EFER.SCE=0');
  if (!(efer(m) & EFER_LMA)) throw new CpuFault(6, '#UD: syscall outside long mode is not modelled');
  const star = s.msrs.get(MSR.STAR) ?? 0n;
  const lstar = s.msrs.get(MSR.LSTAR) ?? 0n;
  const fmask = s.msrs.get(MSR.SYSCALL_MASK) ?? 0n;
  const cs = Number((star >> 32n) & 0xfffcn);
  s.gpr[1] = s.rip; // RCX <- address of the next instruction
  s.gpr[11] = s.rflags & ~RFLAGS.RF;
  s.rflags = (s.rflags & ~fmask & ~RFLAGS.RF) | RFLAGS.FIXED1;
  s.seg.cs = flatSegment(cs, FLAT_CODE64_ATTRS, 0);
  s.seg.ss = flatSegment(cs + 8, FLAT_DATA_ATTRS, 0);
  s.cpl = 0;
  s.rip = lstar;
}

/**
 * SYSRET (SDM SYSRET; AMD APM vol. 3). The Intel #GP(0) for a non-canonical RCX is raised at
 * CPL 0, on the kernel stack with the user's RSP: the hole entry_SYSCALL_64 checks RCX against.
 * AMD returns to CPL 3 and faults on the fetch there instead. AMD also leaves SS's hidden
 * attributes as they were (only the selector changes).
 */
function sysret(m: Machine, d: DecodedInsn): void {
  const s = m.state;
  if (!(efer(m) & EFER_SCE)) throw new CpuFault(6, '#UD: sysret with EFER.SCE=0');
  if (!(s.seg.cs.attrs & DESCRIPTOR.L)) throw new CpuFault(6, '#UD: sysret outside 64-bit mode');
  if (s.cpl !== 0) throw new CpuFault(13, `#GP(0): sysret at CPL ${s.cpl}`, 0);
  const to64 = d.code === Code.Sysretq;
  const rcx = s.gpr[1];
  if (to64 && m.profile.vendor === 'intel' && !canonical(m, rcx)) {
    throw new CpuFault(13, `#GP(0): sysretq with non-canonical RCX ${hex(rcx)} (Intel raises it in ring 0, with the user's RSP)`, 0);
  }
  const star = s.msrs.get(MSR.STAR) ?? 0n;
  const base = Number((star >> 48n) & 0xffffn);
  const csSel = ((to64 ? base + 16 : base) & 0xffff) | 3;
  const ssSel = ((base + 8) & 0xfffc) | 3;
  s.rip = to64 ? rcx : rcx & 0xffffffffn;
  s.rflags = (s.gpr[11] & 0x3c7fd7n) | RFLAGS.FIXED1;
  s.seg.cs = flatSegment(csSel, to64 ? FLAT_CODE64_ATTRS : FLAT_CODE32_ATTRS, 3);
  s.seg.ss = m.profile.vendor === 'amd' ? { ...s.seg.ss, selector: ssSel } : flatSegment(ssSel, FLAT_DATA_ATTRS, 3);
  s.cpl = 3;
  if (s.rflags & RFLAGS.TF) m.singleStepAfterThis = true;
}

function swapgs(m: Machine): void {
  const s = m.state;
  if (s.cpl !== 0) throw new CpuFault(6, `#UD: swapgs at CPL ${s.cpl}`);
  const kernel = s.msrs.get(MSR.KERNEL_GS_BASE) ?? 0n;
  s.msrs.set(MSR.KERNEL_GS_BASE, s.seg.gs.base);
  s.seg.gs = { ...s.seg.gs, base: kernel };
}

// ------------------------------------------------------------------ IRET

/** CS checks shared by IRET and far RET (SDM IRET / RET, protected-mode return). */
function checkReturnCs(m: Machine, cs: number, what: string): Descriptor {
  const s = m.state;
  const csErr = cs & 0xfffc;
  if (csErr === 0) throw new CpuFault(13, `#GP(0): ${what} with a null CS selector`, 0);
  const rpl = cs & 3;
  const csDesc = readDescriptor(m, cs, `${what} cs`);
  if (!csDesc.codeOrData || !csDesc.code) throw new CpuFault(13, `#GP(${hex(csErr)}): ${what} CS ${hex(cs)} is not a code segment`, csErr);
  if (rpl < s.cpl) throw new CpuFault(13, `#GP(${hex(csErr)}): ${what} CS RPL ${rpl} < CPL ${s.cpl}`, csErr);
  if (csDesc.conforming ? csDesc.dpl > rpl : csDesc.dpl !== rpl) {
    throw new CpuFault(13, `#GP(${hex(csErr)}): ${what} CS ${hex(cs)} DPL ${csDesc.dpl} does not match RPL ${rpl}`, csErr);
  }
  if (!csDesc.present) throw new CpuFault(11, `#NP(${hex(csErr)}): ${what} CS not present`, csErr);
  return csDesc;
}

/** SS checks for a return that loads SS (IRET in 64-bit mode, far RET to an outer level). */
function checkReturnSs(m: Machine, ss: number, rpl: number, to64: boolean, what: string): SegmentRegister {
  const ssErr = ss & 0xfffc;
  if (ssErr === 0) {
    if (!to64 || rpl === 3) throw new CpuFault(13, `#GP(0): ${what} with a null SS to ${rpl === 3 ? 'CPL 3' : 'compatibility mode'}`, 0);
    return { selector: ss, base: 0n, limit: 0, attrs: 0 };
  }
  if ((ss & 3) !== rpl) throw new CpuFault(13, `#GP(${hex(ssErr)}): ${what} SS RPL ${ss & 3} differs from CS RPL ${rpl}`, ssErr);
  const ssDesc = readDescriptor(m, ss, `${what} ss`);
  if (!ssDesc.codeOrData || ssDesc.code || !ssDesc.rw) throw new CpuFault(13, `#GP(${hex(ssErr)}): ${what} SS ${hex(ss)} is not a writable data segment`, ssErr);
  if (ssDesc.dpl !== rpl) throw new CpuFault(13, `#GP(${hex(ssErr)}): ${what} SS DPL ${ssDesc.dpl} differs from CS RPL ${rpl}`, ssErr);
  if (!ssDesc.present) throw new CpuFault(12, `#SS(${hex(ssErr)}): ${what} SS not present`, ssErr);
  return segmentFrom(ss, ssDesc);
}

/** Data segments the new, outer CPL may not use become null (SDM IRET/RET, return to outer privilege level). */
function nullInaccessibleDataSegments(m: Machine, newCpl: number): void {
  const s = m.state;
  for (const n of ['es', 'ds', 'fs', 'gs'] as const) {
    const sr = s.seg[n];
    const dpl = (sr.attrs >> DESCRIPTOR.DPL_SHIFT) & 3;
    const conformingCode = (sr.attrs & DESCRIPTOR.CODE) !== 0 && (sr.attrs & DESCRIPTOR.DC) !== 0;
    if ((sr.selector & 0xfffc) !== 0 && dpl < newCpl && !conformingCode) s.seg[n] = { selector: 0, base: sr.base, limit: 0, attrs: 0 };
  }
}

/** IRETQ in 64-bit mode (SDM IRET, "IA-32e mode"): pops RIP, CS, RFLAGS, RSP, SS and checks both selectors. */
function iret(m: Machine, d: DecodedInsn): void {
  const s = m.state;
  if (d.code !== Code.Iretq) throw new CpuFault(6, `#UD: ${d.code === Code.Iretd ? 'iretl' : 'iretw'} (non-64-bit IRET) is not implemented by kentry`);
  const rip = m.pop(8);
  const cs = Number(m.pop(8) & 0xffffn);
  const flags = m.pop(8);
  const rsp = m.pop(8);
  const ss = Number(m.pop(8) & 0xffffn);
  if (flags & RFLAGS.NT) throw new CpuFault(13, '#GP(0): iretq with RFLAGS.NT=1 (task return) in 64-bit mode', 0);
  if (flags & RFLAGS.VM) throw new CpuFault(13, '#GP(0): iretq to virtual-8086 mode from 64-bit mode', 0);
  const csDesc = checkReturnCs(m, cs, 'iretq');
  const rpl = cs & 3;
  const to64 = (csDesc.attrs & DESCRIPTOR.L) !== 0;
  const newSs = checkReturnSs(m, ss, rpl, to64, 'iretq');
  if (to64 && !canonical(m, rip)) throw new CpuFault(13, `#GP(0): iretq to non-canonical RIP ${hex(rip)}`, 0);
  // RFLAGS: IF only if CPL <= IOPL; IOPL, VIF, VIP only at CPL 0 (the CPL before the return).
  const iopl = Number((s.rflags & RFLAGS.IOPL) >> 12n);
  let changeable = RFLAGS.CF | RFLAGS.PF | RFLAGS.AF | RFLAGS.ZF | RFLAGS.SF | RFLAGS.TF | RFLAGS.DF | RFLAGS.OF | RFLAGS.NT | RFLAGS.RF | RFLAGS.AC | RFLAGS.ID;
  if (s.cpl <= iopl) changeable |= RFLAGS.IF;
  if (s.cpl === 0) changeable |= RFLAGS.IOPL | RFLAGS.VIF | RFLAGS.VIP;
  s.rflags = (s.rflags & ~changeable) | (flags & changeable) | RFLAGS.FIXED1;
  const outer = rpl > s.cpl;
  s.seg.cs = segmentFrom(cs, csDesc);
  s.seg.ss = newSs;
  s.gpr[4] = rsp;
  s.rip = to64 ? rip : rip & 0xffffffffn;
  s.cpl = rpl;
  if (outer) nullInaccessibleDataSegments(m, rpl);
}

/** Far RET (lretq/lretl/lretw): pops RIP and CS, and RSP and SS when returning to an outer level. */
function retf(m: Machine, d: DecodedInsn): void {
  const s = m.state;
  const size = d.code === Code.Retfq || d.code === Code.Retfq_imm16 ? 8 : d.code === Code.Retfd || d.code === Code.Retfd_imm16 ? 4 : 2;
  const imm = d.opCount === 1 ? d.imm & 0xffffn : 0n;
  const rip = m.pop(size);
  const cs = Number(m.pop(size) & 0xffffn);
  const csDesc = checkReturnCs(m, cs, 'lret');
  const rpl = cs & 3;
  const to64 = (csDesc.attrs & DESCRIPTOR.L) !== 0;
  if (to64 && !canonical(m, rip)) throw new CpuFault(13, `#GP(0): lret to non-canonical RIP ${hex(rip)}`, 0);
  s.gpr[4] = (s.gpr[4] + imm) & M64;
  if (rpl > s.cpl) {
    const rsp = m.pop(size);
    const ss = Number(m.pop(size) & 0xffffn);
    const newSs = checkReturnSs(m, ss, rpl, to64, 'lret');
    s.seg.ss = newSs;
    s.gpr[4] = (rsp + imm) & M64;
    s.seg.cs = segmentFrom(cs, csDesc);
    s.rip = to64 ? rip : rip & 0xffffffffn;
    s.cpl = rpl;
    nullInaccessibleDataSegments(m, rpl);
    return;
  }
  s.seg.cs = segmentFrom(cs, csDesc);
  s.rip = to64 ? rip : rip & 0xffffffffn;
}

// ------------------------------------------------------------------ MSRs, CPUID, TSC

const ADDRESS_MSRS = new Set<number>([MSR.LSTAR, MSR.CSTAR, MSR.FS_BASE, MSR.GS_BASE, MSR.KERNEL_GS_BASE, MSR.IA32_SYSENTER_ESP, MSR.IA32_SYSENTER_EIP]);
const EFER_WRITABLE = EFER_FIELDS.reduce((a, f) => a | (1n << BigInt(f.bit)), 0n);

function msrNumber(m: Machine): number {
  return Number(m.state.gpr[1] & 0xffffffffn);
}

function rdmsr(m: Machine): void {
  requireCpl0(m, 'rdmsr');
  const s = m.state;
  const n = msrNumber(m);
  const info = MSR_BY_NUMBER.get(n);
  if (!info || n === MSR.IA32_PRED_CMD) throw new CpuFault(13, `#GP(0): rdmsr of MSR ${hex(n)}${info ? ' (write-only)' : ' (not implemented by this CPU model)'}`, 0);
  let v: bigint;
  if (n === MSR.FS_BASE) v = s.seg.fs.base;
  else if (n === MSR.GS_BASE) v = s.seg.gs.base;
  else if (n === MSR.IA32_TSC) v = m.tsc;
  else v = s.msrs.get(n) ?? 0n;
  s.gpr[0] = v & 0xffffffffn;
  s.gpr[2] = (v >> 32n) & 0xffffffffn;
}

function wrmsr(m: Machine): void {
  requireCpl0(m, 'wrmsr');
  const s = m.state;
  const n = msrNumber(m);
  const info = MSR_BY_NUMBER.get(n);
  if (!info) throw new CpuFault(13, `#GP(0): wrmsr to MSR ${hex(n)} (not implemented by this CPU model)`, 0);
  const v = ((s.gpr[2] & 0xffffffffn) << 32n) | (s.gpr[0] & 0xffffffffn);
  if (ADDRESS_MSRS.has(n) && !canonical(m, v)) throw new CpuFault(13, `#GP(0): wrmsr ${info.name} with non-canonical ${hex(v)}`, 0);
  switch (n) {
    case MSR.FS_BASE: s.seg.fs = { ...s.seg.fs, base: v }; return;
    case MSR.GS_BASE: s.seg.gs = { ...s.seg.gs, base: v }; return;
    case MSR.IA32_TSC: m.tscOffset = v - BigInt(m.instructionsRetired); return;
    case MSR.EFER: {
      const bad = v & ~EFER_WRITABLE;
      if (bad) throw new CpuFault(13, `#GP(0): wrmsr EFER sets reserved bits ${hex(bad)}`, 0);
      if (v & EFER_NXE && !m.profile.features.has('NX')) throw new CpuFault(13, '#GP(0): EFER.NXE without NX support', 0);
      const old = efer(m);
      if ((old ^ v) & EFER_LME && s.cr0 & CR0_PG) throw new CpuFault(13, '#GP(0): changing EFER.LME with paging enabled', 0);
      s.msrs.set(n, (v & ~EFER_LMA) | (old & EFER_LMA)); // LMA is read-only
      m.tlb.touch(); // NXE changes what a cached translation allows
      return;
    }
    case MSR.IA32_PRED_CMD: return; // IBPB: a barrier, nothing to store
    default:
      s.msrs.set(n, v);
  }
}

function cpuidInsn(m: Machine): void {
  const s = m.state;
  const [a, b, c, d] = cpuid(m.profile, Number(s.gpr[0] & 0xffffffffn), Number(s.gpr[1] & 0xffffffffn));
  s.gpr[0] = BigInt(a >>> 0);
  s.gpr[3] = BigInt(b >>> 0);
  s.gpr[1] = BigInt(c >>> 0);
  s.gpr[2] = BigInt(d >>> 0);
}

function rdtsc(m: Machine, withAux: boolean): void {
  const s = m.state;
  if (s.cr4 & CR4_TSD && s.cpl !== 0) throw new CpuFault(13, '#GP(0): rdtsc at CPL>0 with CR4.TSD', 0);
  const t = m.tsc;
  s.gpr[0] = t & 0xffffffffn;
  s.gpr[2] = (t >> 32n) & 0xffffffffn;
  if (withAux) s.gpr[1] = (s.msrs.get(MSR.TSC_AUX) ?? 0n) & 0xffffffffn;
}

// ------------------------------------------------------------------ flags

function iopl(m: Machine): number {
  return Number((m.state.rflags & RFLAGS.IOPL) >> 12n);
}

function setIf(m: Machine, on: boolean): void {
  if (m.state.cpl > iopl(m)) throw new CpuFault(13, `#GP(0): ${on ? 'sti' : 'cli'} at CPL ${m.state.cpl} > IOPL ${iopl(m)}`, 0);
  // STI that sets IF delays maskable interrupts by one instruction (`sti; hlt` cannot miss a wakeup).
  if (on && !(m.state.rflags & RFLAGS.IF)) m.interruptShadow = SHADOW_STI;
  m.state.rflags = on ? m.state.rflags | RFLAGS.IF : m.state.rflags & ~RFLAGS.IF;
}

function setAc(m: Machine, on: boolean): void {
  if (!m.profile.features.has('SMAP')) throw new CpuFault(6, `#UD: ${on ? 'stac' : 'clac'} on a CPU without SMAP`);
  if (m.state.cpl !== 0) throw new CpuFault(6, `#UD: ${on ? 'stac' : 'clac'} at CPL ${m.state.cpl}`);
  m.state.rflags = on ? m.state.rflags | RFLAGS.AC : m.state.rflags & ~RFLAGS.AC;
}

// ------------------------------------------------------------------ descriptor tables, TLB

function loadTableRegister(m: Machine, d: DecodedInsn, which: 'gdtr' | 'idtr'): void {
  requireCpl0(m, which === 'gdtr' ? 'lgdt' : 'lidt');
  const lin = m.memoryLinear(d);
  const stack = d.memSeg === Register.SS;
  const limit = Number(m.readLinear(lin, 2, stack));
  const base = m.readLinear((lin + 2n) & M64, 8, stack);
  if (!canonical(m, base)) throw new CpuFault(13, `#GP(0): ${which} base ${hex(base)} is not canonical`, 0);
  m.state[which] = { base, limit };
}

function storeTableRegister(m: Machine, d: DecodedInsn, which: 'gdtr' | 'idtr'): void {
  if (m.state.cr4 & CR4_UMIP && m.state.cpl > 0) throw new CpuFault(13, `#GP(0): ${which === 'gdtr' ? 'sgdt' : 'sidt'} at CPL>0 with CR4.UMIP`, 0);
  const lin = m.memoryLinear(d);
  const stack = d.memSeg === Register.SS;
  m.probeWrite(lin, 10, stack);
  m.writeLinear(lin, 2, BigInt(m.state[which].limit), stack);
  m.writeLinear((lin + 2n) & M64, 8, m.state[which].base, stack);
}

function ltr(m: Machine, d: DecodedInsn): void {
  requireCpl0(m, 'ltr');
  const sel = Number(m.readOp(d, 0) & 0xffffn);
  const err = sel & 0xfffc;
  if (err === 0) throw new CpuFault(13, '#GP(0): ltr with a null selector', 0);
  const addr = descriptorAddress(m, sel, 'ltr');
  if ((sel & 0xfff8) + 15 > m.state.gdtr.limit) throw new CpuFault(13, `#GP(${hex(err)}): 16-byte TSS descriptor crosses the GDT limit`, err);
  const lo = m.readLinear(addr, 8, false, true);
  const hi = m.readLinear(addr + 8n, 8, false, true);
  const desc = parseDescriptor(lo);
  if (desc.codeOrData || desc.type !== 9) {
    throw new CpuFault(13, `#GP(${hex(err)}): ltr selector ${hex(sel)} is not an available 64-bit TSS (type ${desc.type}${desc.type === 11 ? ', busy' : ''})`, err);
  }
  if (!desc.present) throw new CpuFault(11, `#NP(${hex(err)}): TSS descriptor not present`, err);
  const base = desc.base | ((hi & 0xffffffffn) << 32n);
  // LTR marks the descriptor busy in the GDT (type 9 -> 11).
  m.writeLinear(addr, 8, lo | (2n << 40n), false, true);
  m.state.tr = { selector: sel, base, limit: desc.limit, attrs: desc.attrs | 2 };
}

function invlpg(m: Machine, d: DecodedInsn): void {
  requireCpl0(m, 'invlpg');
  m.tlb.invlpg(m.memoryLinear(d), currentPcid(m.state));
}

/** INVPCID types 0-3 (SDM INVPCID). The descriptor is 16 bytes: PCID in bits 11:0, then a linear address. */
function invpcid(m: Machine, d: DecodedInsn): void {
  if (!m.profile.features.has('INVPCID')) throw new CpuFault(6, `#UD: invpcid on a CPU without INVPCID (${m.profile.name})`);
  requireCpl0(m, 'invpcid');
  const type = m.readOp(d, 0);
  const lin = m.memoryLinear(d);
  const stack = d.memSeg === Register.SS;
  const lo = m.readLinear(lin, 8, stack);
  const addr = m.readLinear((lin + 8n) & M64, 8, stack);
  if (type > 3n) throw new CpuFault(13, `#GP(0): invpcid type ${type} (only 0-3 exist)`, 0);
  if (lo >> 12n) throw new CpuFault(13, `#GP(0): invpcid descriptor bits 63:12 must be zero (${hex(lo)})`, 0);
  const pcid = Number(lo & 0xfffn);
  const pcide = (m.state.cr4 & CR4_PCIDE) !== 0n;
  if ((type === 0n || type === 1n) && !pcide && pcid !== 0) throw new CpuFault(13, `#GP(0): invpcid type ${type} with PCID ${pcid} while CR4.PCIDE=0`, 0);
  switch (type) {
    case 0n:
      if (!canonical(m, addr)) throw new CpuFault(13, `#GP(0): invpcid type 0 with non-canonical address ${hex(addr)}`, 0);
      m.tlb.invalidateAddress(addr, pcid);
      return;
    case 1n: m.tlb.flushPcid(pcid); return;
    case 2n: m.tlb.flushAll(true); return;
    default: m.tlb.flushAll(false);
  }
}

/** VERW: ZF=1 if the selector names a segment writable at the current CPL. Linux uses it to flush CPU buffers (MDS). */
function verw(m: Machine, d: DecodedInsn): void {
  const sel = Number((d.opKinds[0] === OpKind.Memory ? m.readMem(d, 2) : m.readOp(d, 0)) & 0xffffn);
  let ok = false;
  if ((sel & 0xfffc) !== 0 && !(sel & 4) && (sel & 0xfff8) + 7 <= m.state.gdtr.limit) {
    const desc = readDescriptor(m, sel, 'verw');
    ok = desc.codeOrData && !desc.code && desc.rw && desc.dpl >= Math.max(m.state.cpl, sel & 3);
  }
  m.state.rflags = ok ? m.state.rflags | RFLAGS.ZF : m.state.rflags & ~RFLAGS.ZF;
}

function fsgsbase(which: 'fs' | 'gs', write: boolean): Handler {
  return (m, d) => {
    if (!(m.state.cr4 & CR4_FSGSBASE)) throw new CpuFault(6, `#UD: ${write ? 'wr' : 'rd'}${which}base with CR4.FSGSBASE=0`);
    const s = m.state;
    if (!write) { m.writeOp(d, 0, s.seg[which].base & MASK[d.opSizes[0]]); return; }
    const v = m.readOp(d, 0);
    if (!canonical(m, v)) throw new CpuFault(13, `#GP(0): wr${which}base with non-canonical ${hex(v)}`, 0);
    s.seg[which] = { ...s.seg[which], base: v };
  };
}

// ------------------------------------------------------------------ port I/O

/**
 * I/O permission (SDM vol. 1, 19.5): CPL <= IOPL, or every port's bit clear in the TSS I/O bitmap.
 * Linux points io_bitmap_base past the TSS limit unless a task used ioperm(), so user I/O is #GP(0).
 */
export function checkIoPermission(m: Machine, port: number, size: number): void {
  const s = m.state;
  if (s.cpl <= iopl(m)) return;
  const ioBase = Number(m.readLinear((s.tr.base + 102n) & M64, 2, false, true));
  const last = ioBase + ((port + size - 1) >> 3);
  if (last > s.tr.limit) throw new CpuFault(13, `#GP(0): port 0x${port.toString(16)} access at CPL ${s.cpl} > IOPL ${iopl(m)}, outside the TSS I/O bitmap`, 0);
  for (let p = port; p < port + size; p++) {
    const byte = Number(m.readLinear((s.tr.base + BigInt(ioBase + (p >> 3))) & M64, 1, false, true));
    if (byte & (1 << (p & 7))) throw new CpuFault(13, `#GP(0): port 0x${p.toString(16)} is denied by the TSS I/O bitmap`, 0);
  }
}

/** IN/OUT: there are no devices; reads float high (all ones), writes go nowhere. */
function portIo(out: boolean): Handler {
  return (m, d) => {
    const portOp = out ? 0 : 1;
    const dataOp = out ? 1 : 0;
    const port = Number(m.readOp(d, portOp) & 0xffffn);
    const size = d.opSizes[dataOp];
    checkIoPermission(m, port, size);
    if (!out) m.writeOp(d, dataOp, MASK[size]);
  };
}

export const SYSTEM_HANDLERS: Array<[Mnemonic, Handler]> = [
  [Mnemonic.In, portIo(false)],
  [Mnemonic.Out, portIo(true)],
  [Mnemonic.Int1, () => { throw new CpuFault(1, '#DB: int1 (icebp)', undefined, undefined, true); }],
  [Mnemonic.Syscall, syscall],
  [Mnemonic.Sysret, sysret],
  [Mnemonic.Sysretq, sysret],
  [Mnemonic.Swapgs, swapgs],
  [Mnemonic.Iretq, iret], [Mnemonic.Iretd, iret], [Mnemonic.Iret, iret],
  [Mnemonic.Retf, retf],
  [Mnemonic.Rdmsr, rdmsr],
  [Mnemonic.Wrmsr, wrmsr],
  [Mnemonic.Cpuid, cpuidInsn],
  [Mnemonic.Rdtsc, (m) => rdtsc(m, false)],
  [Mnemonic.Rdtscp, (m) => rdtsc(m, true)],
  [Mnemonic.Rdpid, (m, d) => {
    if (!m.profile.features.has('RDPID')) throw new CpuFault(6, `#UD: rdpid on a CPU without RDPID (${m.profile.name}); Linux uses lsl on __CPUNODE_SEG there`);
    m.writeOp(d, 0, (m.state.msrs.get(MSR.TSC_AUX) ?? 0n) & 0xffffffffn);
  }],
  [Mnemonic.Cli, (m) => setIf(m, false)],
  [Mnemonic.Sti, (m) => setIf(m, true)],
  [Mnemonic.Cld, (m) => { m.state.rflags &= ~RFLAGS.DF; }],
  [Mnemonic.Std, (m) => { m.state.rflags |= RFLAGS.DF; }],
  [Mnemonic.Clac, (m) => setAc(m, false)],
  [Mnemonic.Stac, (m) => setAc(m, true)],
  [Mnemonic.Lgdt, (m, d) => loadTableRegister(m, d, 'gdtr')],
  [Mnemonic.Lidt, (m, d) => loadTableRegister(m, d, 'idtr')],
  [Mnemonic.Sgdt, (m, d) => storeTableRegister(m, d, 'gdtr')],
  [Mnemonic.Sidt, (m, d) => storeTableRegister(m, d, 'idtr')],
  [Mnemonic.Ltr, ltr],
  [Mnemonic.Str, (m, d) => {
    if (m.state.cr4 & CR4_UMIP && m.state.cpl > 0) throw new CpuFault(13, '#GP(0): str at CPL>0 with CR4.UMIP', 0);
    if (d.opKinds[0] === OpKind.Memory) m.writeMem(d, BigInt(m.state.tr.selector), 2);
    else m.writeOp(d, 0, BigInt(m.state.tr.selector));
  }],
  [Mnemonic.Invlpg, invlpg],
  [Mnemonic.Invpcid, invpcid],
  [Mnemonic.Verw, verw],
  [Mnemonic.Wbinvd, (m) => requireCpl0(m, 'wbinvd')],
  [Mnemonic.Invd, (m) => requireCpl0(m, 'invd')],
  [Mnemonic.Rdfsbase, fsgsbase('fs', false)],
  [Mnemonic.Rdgsbase, fsgsbase('gs', false)],
  [Mnemonic.Wrfsbase, fsgsbase('fs', true)],
  [Mnemonic.Wrgsbase, fsgsbase('gs', true)],
];
