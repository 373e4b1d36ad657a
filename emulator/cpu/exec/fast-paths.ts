/**
 * Ready-to-run handlers for the commonest instruction shapes, chosen once at decode time: 32/64-bit
 * ALU operations between registers or with an immediate, INC/DEC and MOV of a register. The
 * operands' register-file slots are resolved here, so the handler is a few array accesses and one
 * flag helper instead of the generic operand-kind dispatch. Anything else keeps its general handler.
 */
import { Mnemonic, OpKind } from 'iced-x86';
import type { DecodedInsn, Handler } from '../decoded';
import { add, incDec, logic, sub } from '../flags';
import { GPR_HIGH8, GPR_SIZE, GPR_SLOT, MASK } from '../registers';

type Alu = (s: DecodedInsnState, a: bigint, b: bigint, size: number) => bigint;
type DecodedInsnState = Parameters<typeof add>[0];

const ALU: Partial<Record<Mnemonic, { op: Alu; writes: boolean }>> = {
  [Mnemonic.Add]: { op: (s, a, b, n) => add(s, a, b, 0n, n), writes: true },
  [Mnemonic.Sub]: { op: (s, a, b, n) => sub(s, a, b, 0n, n), writes: true },
  [Mnemonic.Cmp]: { op: (s, a, b, n) => sub(s, a, b, 0n, n), writes: false },
  [Mnemonic.And]: { op: (s, a, b, n) => logic(s, a & b, n), writes: true },
  [Mnemonic.Or]: { op: (s, a, b, n) => logic(s, a | b, n), writes: true },
  [Mnemonic.Xor]: { op: (s, a, b, n) => logic(s, a ^ b, n), writes: true },
  [Mnemonic.Test]: { op: (s, a, b, n) => logic(s, a & b, n), writes: false },
};

/** A 32- or 64-bit GPR operand's slot, or -1. */
function wideSlot(d: DecodedInsn, i: number): number {
  if (d.opKinds[i] !== OpKind.Register) return -1;
  const r = d.opRegs[i];
  const size = GPR_SIZE[r];
  return GPR_SLOT[r] >= 0 && !GPR_HIGH8[r] && (size === 8 || size === 4) ? GPR_SLOT[r] : -1;
}

function isImmediate(k: OpKind): boolean {
  return k >= OpKind.Immediate8 && k <= OpKind.Immediate32to64;
}

/** A faster equivalent of d's handler, or undefined. Never used for locked or memory forms. */
export function fastPath(d: DecodedInsn): Handler | undefined {
  if (d.lock || d.opCount === 0) return undefined;
  const dst = wideSlot(d, 0);
  if (dst < 0) return undefined;
  const size = d.opSizes[0];
  const mask = MASK[size];
  const alu = ALU[d.mnemonic];
  if (alu && d.opCount === 2) {
    const { op, writes } = alu;
    const src = wideSlot(d, 1);
    if (src >= 0 && d.opSizes[1] === size) {
      return writes
        ? (m) => { const s = m.state; const g = s.gpr; g[dst] = op(s, size === 8 ? g[dst] : g[dst] & mask, size === 8 ? g[src] : g[src] & mask, size); }
        : (m) => { const s = m.state; const g = s.gpr; op(s, size === 8 ? g[dst] : g[dst] & mask, size === 8 ? g[src] : g[src] & mask, size); };
    }
    if (isImmediate(d.opKinds[1])) {
      const imm = d.imm & mask;
      return writes
        ? (m) => { const s = m.state; const g = s.gpr; g[dst] = op(s, size === 8 ? g[dst] : g[dst] & mask, imm, size); }
        : (m) => { const s = m.state; op(s, size === 8 ? s.gpr[dst] : s.gpr[dst] & mask, imm, size); };
    }
    return undefined;
  }
  if ((d.mnemonic === Mnemonic.Inc || d.mnemonic === Mnemonic.Dec) && d.opCount === 1) {
    const dec = d.mnemonic === Mnemonic.Dec;
    return (m) => { const s = m.state; const g = s.gpr; g[dst] = incDec(s, size === 8 ? g[dst] : g[dst] & mask, dec, size); };
  }
  if (d.mnemonic === Mnemonic.Mov && d.opCount === 2) {
    const src = wideSlot(d, 1);
    if (src >= 0 && d.opSizes[1] === size) return (m) => { const g = m.state.gpr; g[dst] = size === 8 ? g[src] : g[src] & mask; };
    if (isImmediate(d.opKinds[1])) { const imm = d.imm & mask; return (m) => { m.state.gpr[dst] = imm; }; }
  }
  return undefined;
}
