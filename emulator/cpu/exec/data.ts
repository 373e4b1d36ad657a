/** Data movement: MOV (GPR, memory, immediates), MOVZX/MOVSX, LEA, XCHG, PUSH/POP, PUSHF/POPF, CMOVcc, SETcc, no-ops. */
import { Code, Mnemonic, OpKind, Register } from 'iced-x86';
import { RFLAGS } from '../../machine/facts/rflags';
import type { Machine } from '../../machine/machine';
import { conditionHolds } from '../conditions';
import type { DecodedInsn, Handler } from '../decoded';
import { CpuFault } from '../fault';
import { MASK, signExtend, writeGpr } from '../registers';
import { isControlRegister, isDebugRegister, isSegmentRegister, loadSegmentRegister, movFromControl, movFromDebug, movToControl, movToDebug, segmentSelectorOf } from './system';

const NOP: Handler = () => undefined;

function mov(m: Machine, d: DecodedInsn): void {
  const dst = d.opRegs[0];
  const src = d.opRegs[1];
  if (d.opKinds[0] === OpKind.Register) {
    if (isControlRegister(dst)) return movToControl(m, d);
    if (isDebugRegister(dst)) return movToDebug(m, d);
    if (isSegmentRegister(dst)) return loadSegmentRegister(m, dst, Number(m.readOp(d, 1) & 0xffffn), 'mov');
  }
  if (d.opKinds[1] === OpKind.Register) {
    if (isControlRegister(src)) return movFromControl(m, d);
    if (isDebugRegister(src)) return movFromDebug(m, d);
    if (isSegmentRegister(src)) {
      // MOV from a segment register: 16 bits to memory, zero-extended into a register.
      const sel = BigInt(segmentSelectorOf(m, src));
      if (d.opKinds[0] === OpKind.Memory) m.writeMem(d, sel, 2);
      else m.writeOp(d, 0, sel);
      return;
    }
  }
  const size = d.opSizes[0];
  m.writeOp(d, 0, m.readOp(d, 1) & MASK[size]);
}

function pushSize(d: DecodedInsn): number {
  switch (d.code) {
    case Code.Push_imm16: case Code.Pushw_imm8: case Code.Pushw_FS: case Code.Pushw_GS: return 2;
    default: break;
  }
  const k = d.opKinds[0];
  if (k === OpKind.Register) return isSegmentRegister(d.opRegs[0]) ? 8 : d.opSizes[0];
  if (k === OpKind.Memory) return d.memSize;
  return 8;
}

function push(m: Machine, d: DecodedInsn): void {
  const size = pushSize(d);
  const r = d.opRegs[0];
  const v = d.opKinds[0] === OpKind.Register && isSegmentRegister(r) ? BigInt(segmentSelectorOf(m, r)) : m.readOp(d, 0);
  m.push(v & MASK[size], size);
}

function pop(m: Machine, d: DecodedInsn): void {
  const r = d.opRegs[0];
  if (d.opKinds[0] === OpKind.Register && isSegmentRegister(r)) {
    const size = d.code === Code.Popw_FS || d.code === Code.Popw_GS ? 2 : 8;
    const sel = Number(m.pop(size) & 0xffffn);
    loadSegmentRegister(m, r, sel, 'pop');
    return;
  }
  const size = d.opKinds[0] === OpKind.Memory ? d.memSize : d.opSizes[0];
  const v = m.pop(size);
  // POP to memory computes the address after RSP was incremented (SDM POP).
  m.writeOp(d, 0, v);
}

function pushf(m: Machine, d: DecodedInsn): void {
  // RF and VM are not copied (SDM PUSHF).
  const size = d.code === Code.Pushfw ? 2 : 8;
  m.push(m.state.rflags & ~(RFLAGS.RF | RFLAGS.VM) & MASK[size], size);
}

function popf(m: Machine, d: DecodedInsn): void {
  const s = m.state;
  const size = d.code === Code.Popfw ? 2 : 8;
  const v = m.pop(size);
  const iopl = Number((s.rflags & RFLAGS.IOPL) >> 12n);
  let changeable = RFLAGS.CF | RFLAGS.PF | RFLAGS.AF | RFLAGS.ZF | RFLAGS.SF | RFLAGS.TF | RFLAGS.DF | RFLAGS.OF | RFLAGS.NT | RFLAGS.AC | RFLAGS.ID;
  if (s.cpl <= iopl) changeable |= RFLAGS.IF;
  if (s.cpl === 0) changeable |= RFLAGS.IOPL;
  if (size === 2) changeable &= 0xffffn;
  s.rflags = ((s.rflags & ~changeable) | (v & changeable) | RFLAGS.FIXED1) & ~RFLAGS.RF;
}

function movExtend(signed: boolean): Handler {
  return (m, d) => {
    const srcSize = d.opKinds[1] === OpKind.Memory ? d.memSize : d.opSizes[1];
    let v = m.readOp(d, 1) & MASK[srcSize];
    if (signed) v = signExtend(v, srcSize);
    m.writeOp(d, 0, v & MASK[d.opSizes[0]]);
  };
}

function xchg(m: Machine, d: DecodedInsn): void {
  const a = m.readOpRmw(d, 0);
  const b = m.readOpRmw(d, 1);
  m.writeOp(d, 0, b);
  m.writeOp(d, 1, a);
}

function cmov(m: Machine, d: DecodedInsn): void {
  const v = m.readOp(d, 1);
  // The source is read (and may fault) either way; a 32-bit CMOV zero-extends even when false.
  if (conditionHolds(d.cc, m.state.rflags)) m.writeOp(d, 0, v);
  else if (d.opSizes[0] === 4) writeGpr(m.state, d.opRegs[0], m.readOp(d, 0));
}

function setcc(m: Machine, d: DecodedInsn): void {
  m.writeOp(d, 0, conditionHolds(d.cc, m.state.rflags) ? 1n : 0n);
}

function leave(m: Machine): void {
  const s = m.state;
  const saved = s.gpr[4];
  s.gpr[4] = s.gpr[5];
  try {
    s.gpr[5] = m.pop(8);
  } catch (e) {
    s.gpr[4] = saved;
    throw e;
  }
}

/** ENTER size, level (SDM ENTER, 64-bit operand size): push RBP, copy level-1 frame pointers, allocate. */
function enter(m: Machine, d: DecodedInsn): void {
  const s = m.state;
  const size = d.imm & 0xffffn;
  const level = d.imm2 & 31;
  const M64 = MASK[8];
  m.push(s.gpr[5], 8);
  const frameTemp = s.gpr[4];
  for (let i = 1; i < level; i++) {
    const rbp = (s.gpr[5] - BigInt(8 * i)) & M64;
    m.push(m.readLinear(rbp, 8, true), 8);
  }
  if (level > 0) m.push(frameTemp, 8);
  const newRsp = (s.gpr[4] - size) & M64;
  if (size > 0n) m.probeWrite(newRsp, 1, true); // the new stack top must be writable (SDM: #SS/#PF)
  s.gpr[5] = frameTemp;
  s.gpr[4] = newRsp;
}

/** XLATB: AL = [seg:RBX + AL]. */
function xlat(m: Machine, d: DecodedInsn): void {
  const s = m.state;
  const base = d.addrSize === 4 ? s.gpr[3] & 0xffffffffn : s.gpr[3];
  const off = (base + (s.gpr[0] & 0xffn)) & (d.addrSize === 4 ? 0xffffffffn : MASK[8]);
  const seg = d.memSeg === Register.None ? Register.DS : d.memSeg;
  const v = m.readLinear((m.segBase(seg) + off) & MASK[8], 1);
  s.gpr[0] = (s.gpr[0] & ~0xffn) | v;
}

const CMOVS = [Mnemonic.Cmova, Mnemonic.Cmovae, Mnemonic.Cmovb, Mnemonic.Cmovbe, Mnemonic.Cmove, Mnemonic.Cmovg, Mnemonic.Cmovge, Mnemonic.Cmovl,
  Mnemonic.Cmovle, Mnemonic.Cmovne, Mnemonic.Cmovno, Mnemonic.Cmovnp, Mnemonic.Cmovns, Mnemonic.Cmovo, Mnemonic.Cmovp, Mnemonic.Cmovs];
const SETS = [Mnemonic.Seta, Mnemonic.Setae, Mnemonic.Setb, Mnemonic.Setbe, Mnemonic.Sete, Mnemonic.Setg, Mnemonic.Setge, Mnemonic.Setl,
  Mnemonic.Setle, Mnemonic.Setne, Mnemonic.Setno, Mnemonic.Setnp, Mnemonic.Setns, Mnemonic.Seto, Mnemonic.Setp, Mnemonic.Sets];

export const DATA_HANDLERS: Array<[Mnemonic, Handler]> = [
  [Mnemonic.Mov, mov],
  [Mnemonic.Movzx, movExtend(false)],
  [Mnemonic.Movsx, movExtend(true)],
  [Mnemonic.Movsxd, movExtend(true)],
  [Mnemonic.Lea, (m, d) => m.writeOp(d, 0, m.effectiveAddress(d) & MASK[d.opSizes[0]])],
  [Mnemonic.Xchg, xchg],
  [Mnemonic.Push, push],
  [Mnemonic.Pop, pop],
  [Mnemonic.Pushf, pushf], [Mnemonic.Pushfq, pushf],
  [Mnemonic.Popf, popf], [Mnemonic.Popfq, popf],
  [Mnemonic.Leave, leave],
  [Mnemonic.Enter, enter],
  [Mnemonic.Xlatb, xlat],
  // WAIT/FWAIT: #NM when CR0.MP and CR0.TS are both set; there is no x87 state to wait for otherwise.
  [Mnemonic.Wait, (m) => { if ((m.state.cr0 & 0xan) === 0xan) throw new CpuFault(7, '#NM: fwait with CR0.TS and CR0.MP set'); }],
  ...CMOVS.map((c): [Mnemonic, Handler] => [c, cmov]),
  ...SETS.map((c): [Mnemonic, Handler] => [c, setcc]),
  [Mnemonic.Nop, NOP], [Mnemonic.Endbr64, NOP], [Mnemonic.Endbr32, NOP], [Mnemonic.Pause, NOP],
  [Mnemonic.Lfence, NOP], [Mnemonic.Mfence, NOP], [Mnemonic.Sfence, NOP],
  [Mnemonic.Prefetch, NOP], [Mnemonic.Prefetchw, NOP], [Mnemonic.Prefetchnta, NOP], [Mnemonic.Prefetcht0, NOP],
  [Mnemonic.Prefetcht1, NOP], [Mnemonic.Prefetcht2, NOP],
  // CLFLUSH checks that the line is mapped (it faults like a read), then has nothing to model.
  [Mnemonic.Clflush, (m, d) => { m.readMem(d, 1); }],
  [Mnemonic.Clflushopt, (m, d) => { m.readMem(d, 1); }],
];

