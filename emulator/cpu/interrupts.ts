/**
 * Exception delivery through 64-bit IDT gates (SDM vol. 3, 6.14): IST or TSS.RSP0 stack switch,
 * the SS/RSP/RFLAGS/CS/RIP(/error code) frame, CR2 for #PF, #DF when delivery itself faults with
 * a contributory fault or page fault, triple fault when #DF delivery faults.
 */
import { CONTRIBUTORY_VECTORS, EXCEPTION_BY_VECTOR, VECTOR } from '../machine/facts/exceptions';
import { RFLAGS } from '../machine/facts/rflags';
import { DESCRIPTOR } from '../machine/facts/segments';
import { TSS_ASM_OFFSETS } from '../machine/facts/tss';
import type { Machine } from '../machine/machine';
import type { DecodedInsn } from './decoded';
import { readDescriptor, segmentFrom } from './descriptors';
import { CpuFault } from './fault';
import { MASK } from './registers';

export type DeliveryResult =
  | { kind: 'delivered'; vector: number }
  | { kind: 'not-delivered'; reason: string }
  | { kind: 'triple-fault'; chain: string[] };

const M64 = MASK[8];
const IST1_OFFSET = 36;

function label(f: CpuFault): string {
  return f.errorCode !== undefined ? `${f.name}(0x${f.errorCode.toString(16)}): ${f.message}` : `${f.name}: ${f.message}`;
}

/** Push the frame for one vector and switch to its handler; throws CpuFault if delivery itself faults. */
function deliverOne(m: Machine, f: CpuFault, returnRip: bigint, software: boolean): void {
  const s = m.state;
  const v = f.vector;
  const ext = software ? 0 : 1; // EXT bit of error codes raised during delivery
  const gateErr = v * 8 + 2 + ext;
  if (v * 16 + 15 > s.idtr.limit) throw new CpuFault(13, `#GP: vector ${v} is beyond the IDT limit 0x${s.idtr.limit.toString(16)}`, gateErr);
  const gateAddr = (s.idtr.base + BigInt(v * 16)) & M64;
  const lo = m.readLinear(gateAddr, 8, false, true);
  const hi = m.readLinear((gateAddr + 8n) & M64, 8, false, true);
  const type = Number((lo >> 40n) & 0xfn);
  const dpl = Number((lo >> 45n) & 3n);
  const present = ((lo >> 47n) & 1n) === 1n;
  if (type !== 0xe && type !== 0xf) throw new CpuFault(13, `#GP: IDT entry ${v} is not a 64-bit interrupt/trap gate (type ${type})`, gateErr);
  if (software && dpl < s.cpl) throw new CpuFault(13, `#GP: int ${v} from CPL ${s.cpl} to a gate with DPL ${dpl}`, gateErr);
  if (!present) throw new CpuFault(11, `#NP: IDT entry ${v} is not present`, gateErr);
  const selector = Number((lo >> 16n) & 0xffffn);
  const target = (lo & 0xffffn) | (((lo >> 48n) & 0xffffn) << 16n) | ((hi & 0xffffffffn) << 32n);
  const ist = Number((lo >> 32n) & 7n);
  if ((selector & 0xfffc) === 0) throw new CpuFault(13, `#GP(0): IDT entry ${v} has a null code selector`, ext);
  const cs = readDescriptor(m, selector, `IDT entry ${v} CS`);
  if (!cs.codeOrData || !cs.code || !(cs.attrs & DESCRIPTOR.L) || cs.dpl > s.cpl) {
    throw new CpuFault(13, `#GP: IDT entry ${v} CS 0x${selector.toString(16)} is not a 64-bit code segment with DPL <= CPL`, (selector & 0xfffc) + ext);
  }
  if (!cs.present) throw new CpuFault(11, `#NP: IDT entry ${v} CS not present`, (selector & 0xfffc) + ext);
  const newCpl = cs.conforming ? s.cpl : cs.dpl;
  let rsp = s.gpr[4];
  if (ist !== 0) rsp = m.readLinear((s.tr.base + BigInt(IST1_OFFSET + 8 * (ist - 1))) & M64, 8, false, true);
  else if (newCpl < s.cpl) rsp = m.readLinear((s.tr.base + BigInt(TSS_ASM_OFFSETS.TSS_sp0)) & M64, 8, false, true);
  rsp &= ~0xfn; // the CPU aligns the new stack to 16 bytes in 64-bit mode
  const hasError = EXCEPTION_BY_VECTOR.get(v)?.errorCode === true && !software;
  const frame = [BigInt(s.seg.ss.selector), s.gpr[4], s.rflags, BigInt(s.seg.cs.selector), returnRip];
  if (hasError) frame.push(BigInt(f.errorCode ?? 0));
  const top = (rsp - BigInt(8 * frame.length)) & M64;
  // Probe the whole frame first so a fault here leaves no partial pushes.
  const savedCpl = s.cpl;
  s.cpl = newCpl;
  try {
    m.readLinear(top, 8, true, true);
    for (let i = 0; i < frame.length; i++) {
      m.writeLinear((rsp - BigInt(8 * (i + 1))) & M64, 8, frame[i], true, true);
    }
  } catch (e) {
    s.cpl = savedCpl;
    throw e;
  }
  if (v === VECTOR.PF && f.cr2 !== undefined) s.cr2 = f.cr2;
  s.gpr[4] = top;
  s.seg.cs = segmentFrom((selector & 0xfffc) | newCpl, cs); // CS.RPL becomes the new CPL
  if (newCpl < savedCpl) s.seg.ss = { selector: newCpl, base: 0n, limit: 0, attrs: 0 };
  s.rflags &= ~(RFLAGS.TF | RFLAGS.NT | RFLAGS.RF | RFLAGS.VM);
  if (type === 0xe) s.rflags &= ~RFLAGS.IF;
  s.rip = target;
}

function isDoubleFault(first: number, second: number): boolean {
  const c1 = CONTRIBUTORY_VECTORS.has(first);
  const c2 = CONTRIBUTORY_VECTORS.has(second);
  return (c1 && c2) || (first === VECTOR.PF && (c2 || second === VECTOR.PF));
}

export function deliverException(m: Machine, f: CpuFault, d: DecodedInsn | undefined): DeliveryResult {
  const s = m.state;
  if (s.idtr.limit === 0) return { kind: 'not-delivered', reason: 'no IDT loaded' };
  const software = f.trap;
  const returnRip = software && d ? (m.currentRip + BigInt(d.length)) & M64 : m.currentRip;
  const chain = [label(f)];
  try {
    deliverOne(m, f, returnRip, software);
    return { kind: 'delivered', vector: f.vector };
  } catch (e) {
    if (!(e instanceof CpuFault)) throw e;
    chain.push(label(e));
    const next = f.vector === VECTOR.DF ? undefined : isDoubleFault(f.vector, e.vector) ? new CpuFault(VECTOR.DF, `#DF: ${chain.join(' -> ')}`, 0) : e;
    if (!next) return { kind: 'triple-fault', chain };
    try {
      deliverOne(m, next, m.currentRip, false);
      return { kind: 'delivered', vector: next.vector };
    } catch (e2) {
      if (!(e2 instanceof CpuFault)) throw e2;
      chain.push(label(e2));
      if (next.vector === VECTOR.DF || isDoubleFault(next.vector, e2.vector)) {
        if (next.vector !== VECTOR.DF) {
          try {
            deliverOne(m, new CpuFault(VECTOR.DF, '#DF', 0), m.currentRip, false);
            return { kind: 'delivered', vector: VECTOR.DF };
          } catch (e3) {
            if (!(e3 instanceof CpuFault)) throw e3;
            chain.push(label(e3));
          }
        }
        return { kind: 'triple-fault', chain };
      }
      return { kind: 'triple-fault', chain };
    }
  }
}
