/** Control transfer: JMP, CALL, RET, Jcc, JrCXZ, LOOPcc, INT3/INT n, UD*, HLT. */
import { Code, Mnemonic } from 'iced-x86';
import type { Machine } from '../../machine/machine';
import { isCanonical, linearAddressBits } from '../../machine/paging';
import { conditionHolds } from '../conditions';
import type { DecodedInsn, Handler } from '../decoded';
import { CpuFault } from '../fault';
import { MASK } from '../registers';

const M64 = MASK[8];

function checkTarget(m: Machine, target: bigint, what: string): void {
  const bits = linearAddressBits(m.state);
  if (!isCanonical(target, bits)) {
    throw new CpuFault(13, `#GP(0): ${what} target 0x${target.toString(16)} is not canonical`, 0);
  }
}

function target(m: Machine, d: DecodedInsn): bigint {
  return d.opKinds[0] === 24 || d.opKinds[0] === 0 ? m.readOp(d, 0) : (m.state.rip + d.branchRel) & M64;
}

function jmp(m: Machine, d: DecodedInsn): void {
  if (d.code === Code.Jmp_m1664 || d.code === Code.Jmp_m1632 || d.code === Code.Jmp_m1616) {
    throw new CpuFault(6, 'far JMP is not implemented by kentry');
  }
  const t = target(m, d);
  checkTarget(m, t, 'jmp');
  m.state.rip = t;
}

function call(m: Machine, d: DecodedInsn): void {
  if (d.code === Code.Call_m1664 || d.code === Code.Call_m1632 || d.code === Code.Call_m1616) {
    throw new CpuFault(6, 'far CALL is not implemented by kentry');
  }
  const t = target(m, d);
  checkTarget(m, t, 'call');
  m.push(m.state.rip, 8);
  m.state.rip = t;
}

function ret(m: Machine, d: DecodedInsn): void {
  const t = m.pop(8);
  checkTarget(m, t, 'ret');
  if (d.opCount === 1) m.state.gpr[4] = (m.state.gpr[4] + (d.imm & 0xffffn)) & M64;
  m.state.rip = t;
}

function jcc(m: Machine, d: DecodedInsn): void {
  const s = m.state;
  if (!conditionHolds(d.cc, s.rflags)) return;
  // Loops take the same branch from the same address: reuse the target computed and checked then
  // (LA57 is fixed while CR4 is, and a CR4 write re-fetches through a new epoch anyway).
  if (s.rip === d.branchFrom && s.cr4 === m.branchCr4) { s.rip = d.branchTo; return; }
  const t = (s.rip + d.branchRel) & M64;
  checkTarget(m, t, 'jcc');
  d.branchFrom = s.rip;
  d.branchTo = t;
  m.branchCr4 = s.cr4;
  s.rip = t;
}

function counterJump(kind: 'jrcxz' | 'jecxz' | 'loop' | 'loope' | 'loopne'): Handler {
  return (m, d) => {
    const s = m.state;
    let take: boolean;
    if (kind === 'jrcxz') take = s.gpr[1] === 0n;
    else if (kind === 'jecxz') take = (s.gpr[1] & 0xffffffffn) === 0n;
    else {
      s.gpr[1] = (s.gpr[1] - 1n) & M64;
      const zf = (s.rflags & 0x40n) !== 0n;
      take = s.gpr[1] !== 0n && (kind === 'loop' || (kind === 'loope' ? zf : !zf));
    }
    if (take) {
      const t = (s.rip + d.branchRel) & M64;
      checkTarget(m, t, kind);
      s.rip = t;
    }
  };
}

const JCCS = [Mnemonic.Ja, Mnemonic.Jae, Mnemonic.Jb, Mnemonic.Jbe, Mnemonic.Je, Mnemonic.Jg, Mnemonic.Jge, Mnemonic.Jl, Mnemonic.Jle,
  Mnemonic.Jne, Mnemonic.Jno, Mnemonic.Jnp, Mnemonic.Jns, Mnemonic.Jo, Mnemonic.Jp, Mnemonic.Js];

export const CONTROL_HANDLERS: Array<[Mnemonic, Handler]> = [
  [Mnemonic.Jmp, jmp],
  [Mnemonic.Call, call],
  [Mnemonic.Ret, ret],
  ...JCCS.map((j): [Mnemonic, Handler] => [j, jcc]),
  [Mnemonic.Jrcxz, counterJump('jrcxz')],
  [Mnemonic.Jecxz, counterJump('jecxz')],
  [Mnemonic.Loop, counterJump('loop')],
  [Mnemonic.Loope, counterJump('loope')],
  [Mnemonic.Loopne, counterJump('loopne')],
  [Mnemonic.Int3, () => { throw new CpuFault(3, '#BP: int3 breakpoint instruction', undefined, undefined, true); }],
  [Mnemonic.Int, (_m, d) => { throw new CpuFault(Number(d.imm & 0xffn), `software interrupt int $0x${(d.imm & 0xffn).toString(16)}`, undefined, undefined, true); }],
  [Mnemonic.Ud2, () => { throw new CpuFault(6, '#UD: ud2 (deliberate invalid opcode)'); }],
  [Mnemonic.Ud0, () => { throw new CpuFault(6, '#UD: ud0'); }],
  [Mnemonic.Ud1, () => { throw new CpuFault(6, '#UD: ud1 (BUG()/WARN() marker)'); }],
  [Mnemonic.Hlt, (m) => {
    if (m.state.cpl !== 0) throw new CpuFault(13, `#GP(0): hlt at CPL ${m.state.cpl}`, 0);
    m.halted = true;
  }],
];
