/** Integer arithmetic and logic: ADD..CMP, TEST, NEG/NOT, INC/DEC, shifts, BT*, MUL/DIV, sign extension. */
import { Mnemonic, OpKind, Register } from 'iced-x86';
import { RFLAGS } from '../../machine/facts/rflags';
import type { Machine } from '../../machine/machine';
import type { DecodedInsn, Handler } from '../decoded';
import { CpuFault } from '../fault';
import { add, incDec, logic, setFlag, shift, sub, szp } from '../flags';
import { BITS, MASK, SIGN, readGpr, signExtend, toSigned, writeGpr } from '../registers';

const M64 = MASK[8];

function cf(m: Machine): bigint {
  return (m.state.rflags & RFLAGS.CF) !== 0n ? 1n : 0n;
}

/** Two-operand ALU op: dst op= src (src immediates are masked to the destination size). */
function binary(op: (m: Machine, a: bigint, b: bigint, size: number) => bigint, writes: boolean): Handler {
  return (m, d) => {
    const size = d.opSizes[0];
    const a = writes ? m.readOpRmw(d, 0) : m.readOp(d, 0);
    // A register source is already its size; immediates are stored sign-extended to 64 bits.
    const b = d.opKinds[1] === OpKind.Register ? m.readOp(d, 1) : m.readOp(d, 1) & MASK[size];
    const r = op(m, a, b, size);
    if (writes) m.writeOp(d, 0, r);
  };
}

export const ALU_HANDLERS: Array<[Mnemonic, Handler]> = [
  [Mnemonic.Add, binary((m, a, b, s) => add(m.state, a, b, 0n, s), true)],
  [Mnemonic.Adc, binary((m, a, b, s) => add(m.state, a, b, cf(m), s), true)],
  [Mnemonic.Sub, binary((m, a, b, s) => sub(m.state, a, b, 0n, s), true)],
  [Mnemonic.Sbb, binary((m, a, b, s) => sub(m.state, a, b, cf(m), s), true)],
  [Mnemonic.Cmp, binary((m, a, b, s) => sub(m.state, a, b, 0n, s), false)],
  [Mnemonic.And, binary((m, a, b, s) => logic(m.state, a & b, s), true)],
  [Mnemonic.Or, binary((m, a, b, s) => logic(m.state, a | b, s), true)],
  [Mnemonic.Xor, binary((m, a, b, s) => logic(m.state, a ^ b, s), true)],
  [Mnemonic.Test, binary((m, a, b, s) => logic(m.state, a & b, s), false)],
  [Mnemonic.Neg, (m, d) => { const s = d.opSizes[0]; m.writeOp(d, 0, sub(m.state, 0n, m.readOpRmw(d, 0), 0n, s)); }],
  [Mnemonic.Not, (m, d) => { const s = d.opSizes[0]; m.writeOp(d, 0, ~m.readOpRmw(d, 0) & MASK[s]); }],
  [Mnemonic.Inc, (m, d) => { m.writeOp(d, 0, incDec(m.state, m.readOpRmw(d, 0), false, d.opSizes[0])); }],
  [Mnemonic.Dec, (m, d) => { m.writeOp(d, 0, incDec(m.state, m.readOpRmw(d, 0), true, d.opSizes[0])); }],
  ...(['shl', 'shr', 'sar', 'rol', 'ror', 'rcl', 'rcr'] as const).map((op): [Mnemonic, Handler] => [
    { shl: Mnemonic.Shl, shr: Mnemonic.Shr, sar: Mnemonic.Sar, rol: Mnemonic.Rol, ror: Mnemonic.Ror, rcl: Mnemonic.Rcl, rcr: Mnemonic.Rcr }[op],
    (m, d) => {
      const size = d.opSizes[0];
      const count = Number(m.readOp(d, 1) & (size === 8 ? 0x3fn : 0x1fn));
      const a = m.readOpRmw(d, 0);
      m.writeOp(d, 0, shift(m.state, op, a, count, size));
    },
  ]),
  [Mnemonic.Sal, (m, d) => {
    const size = d.opSizes[0];
    const count = Number(m.readOp(d, 1) & (size === 8 ? 0x3fn : 0x1fn));
    m.writeOp(d, 0, shift(m.state, 'shl', m.readOpRmw(d, 0), count, size));
  }],
  [Mnemonic.Shld, shiftDouble(true)],
  [Mnemonic.Shrd, shiftDouble(false)],
  [Mnemonic.Bt, bitTest('bt')],
  [Mnemonic.Bts, bitTest('bts')],
  [Mnemonic.Btr, bitTest('btr')],
  [Mnemonic.Btc, bitTest('btc')],
  [Mnemonic.Mul, mulDiv('mul')],
  [Mnemonic.Imul, (m, d) => (d.opCount === 1 ? mulDiv('imul')(m, d) : imulMulti(m, d))],
  [Mnemonic.Div, mulDiv('div')],
  [Mnemonic.Idiv, mulDiv('idiv')],
  [Mnemonic.Cbw, (m) => { const s = m.state; s.gpr[0] = (s.gpr[0] & ~0xffffn) | (signExtend(s.gpr[0] & 0xffn, 1) & 0xffffn); }],
  [Mnemonic.Cwde, (m) => { const s = m.state; s.gpr[0] = signExtend(s.gpr[0] & 0xffffn, 2) & 0xffffffffn; }],
  [Mnemonic.Cdqe, (m) => { const s = m.state; s.gpr[0] = signExtend(s.gpr[0] & 0xffffffffn, 4); }],
  [Mnemonic.Cwd, (m) => { const s = m.state; writeGpr(s, Register.DX, s.gpr[0] & 0x8000n ? 0xffffn : 0n); }],
  [Mnemonic.Cdq, (m) => { const s = m.state; writeGpr(s, Register.EDX, s.gpr[0] & 0x80000000n ? 0xffffffffn : 0n); }],
  [Mnemonic.Cqo, (m) => { const s = m.state; s.gpr[2] = s.gpr[0] & SIGN[8] ? M64 : 0n; }],
  [Mnemonic.Clc, (m) => setFlag(m.state, RFLAGS.CF, false)],
  [Mnemonic.Stc, (m) => setFlag(m.state, RFLAGS.CF, true)],
  [Mnemonic.Cmc, (m) => { m.state.rflags ^= RFLAGS.CF; }],
  [Mnemonic.Lahf, (m) => { const s = m.state; writeGpr(s, Register.AH, (s.rflags & 0xd5n) | 2n); }],
  [Mnemonic.Sahf, (m) => { const s = m.state; s.rflags = (s.rflags & ~0xd5n) | (readGpr(s, Register.AH) & 0xd5n); }],
  [Mnemonic.Xadd, (m, d) => {
    const size = d.opSizes[0];
    const a = m.readOpRmw(d, 0);
    const b = m.readOp(d, 1);
    const r = add(m.state, a, b, 0n, size);
    m.writeOp(d, 1, a);
    m.writeOp(d, 0, r);
  }],
  [Mnemonic.Cmpxchg, (m, d) => {
    const size = d.opSizes[0];
    const s = m.state;
    const dst = m.readOpRmw(d, 0);
    const acc = s.gpr[0] & MASK[size];
    sub(s, acc, dst, 0n, size);
    if (acc === dst) m.writeOp(d, 0, m.readOp(d, 1));
    else {
      // The destination is written back unchanged (a locked RMW always writes), then the accumulator loads it.
      if (d.opKinds[0] === OpKind.Memory) m.writeOp(d, 0, dst);
      writeGpr(s, [0, Register.AL, Register.AX, 0, Register.EAX, 0, 0, 0, Register.RAX][size], dst);
    }
  }],
  [Mnemonic.Bswap, (m, d) => {
    const size = d.opSizes[0];
    let v = m.readOp(d, 0);
    let r = 0n;
    for (let i = 0; i < size; i++) { r = (r << 8n) | (v & 0xffn); v >>= 8n; }
    m.writeOp(d, 0, r);
  }],
  [Mnemonic.Bsf, bitScan('bsf')],
  [Mnemonic.Bsr, bitScan('bsr')],
  [Mnemonic.Tzcnt, bitScan('tzcnt')],
  [Mnemonic.Lzcnt, bitScan('lzcnt')],
  [Mnemonic.Popcnt, (m, d) => {
    const size = d.opSizes[0];
    let v = m.readOp(d, 1);
    let n = 0n;
    while (v) { n += v & 1n; v >>= 1n; }
    m.state.rflags = (m.state.rflags & ~(RFLAGS.CF | RFLAGS.PF | RFLAGS.AF | RFLAGS.ZF | RFLAGS.SF | RFLAGS.OF)) | (n === 0n ? RFLAGS.ZF : 0n);
    m.writeOp(d, 0, n & MASK[size]);
  }],
];

function shiftDouble(left: boolean): Handler {
  return (m, d) => {
    const size = d.opSizes[0];
    const bits = Number(BITS[size]);
    const count = Number(m.readOp(d, 2) & (size === 8 ? 0x3fn : 0x1fn));
    const a = m.readOpRmw(d, 0);
    const b = m.readOp(d, 1);
    // Count 0 changes no flags but still writes the destination (a 32-bit register is zero-extended,
    // as the differential test shows). Counts above the width leave result and flags undefined.
    if (count === 0 || count > bits) { m.writeOp(d, 0, a); return; }
    const c = BigInt(count);
    const wide = left ? (a << BigInt(bits)) | b : (b << BigInt(bits)) | a;
    let r: bigint;
    let carry: boolean;
    if (left) {
      r = ((wide << c) >> BigInt(bits)) & MASK[size];
      carry = ((a >> BigInt(bits - count)) & 1n) === 1n;
    } else {
      r = (wide >> c) & MASK[size];
      carry = ((a >> (c - 1n)) & 1n) === 1n;
    }
    const of = ((r ^ a) & SIGN[size]) !== 0n;
    m.state.rflags = (m.state.rflags & ~(RFLAGS.CF | RFLAGS.PF | RFLAGS.AF | RFLAGS.ZF | RFLAGS.SF | RFLAGS.OF))
      | szp(r, size) | (carry ? RFLAGS.CF : 0n) | (of ? RFLAGS.OF : 0n);
    m.writeOp(d, 0, r);
  };
}

function bitTest(op: 'bt' | 'bts' | 'btr' | 'btc'): Handler {
  return (m, d) => {
    const size = d.opSizes[0];
    const bits = BITS[size];
    const off = m.readOp(d, 1);
    let value: bigint;
    let bit: bigint;
    let linear = 0n;
    const memDst = d.opKinds[0] === OpKind.Memory;
    if (memDst && d.opKinds[1] === OpKind.Register) {
      // Register bit offset with a memory operand: a signed bit string offset (SDM BT).
      const sOff = toSigned(off & MASK[size], size);
      const bytes = (sOff >> 3n) & ~BigInt(size - 1);
      linear = (m.memoryLinear(d) + bytes) & M64;
      bit = BigInt.asUintN(64, sOff) & (bits - 1n);
    } else {
      bit = off & (bits - 1n);
      if (memDst) linear = m.memoryLinear(d);
    }
    if (memDst) {
      if (op !== 'bt') m.probeWrite(linear, size, d.memSeg === Register.SS);
      value = m.readLinear(linear, size, d.memSeg === Register.SS);
    } else {
      value = m.readOp(d, 0);
    }
    const was = (value >> bit) & 1n;
    setFlag(m.state, RFLAGS.CF, was === 1n);
    if (op === 'bt') return;
    const mask = 1n << bit;
    const r = op === 'bts' ? value | mask : op === 'btr' ? value & ~mask : value ^ mask;
    if (memDst) m.writeLinear(linear, size, r, d.memSeg === Register.SS);
    else m.writeOp(d, 0, r);
  };
}

function bitScan(requested: 'bsf' | 'bsr' | 'tzcnt' | 'lzcnt'): Handler {
  return (m, d) => {
    // Without ABM (LZCNT) or BMI1 (TZCNT) the F3 prefix is ignored: the CPU runs BSR/BSF.
    const op = requested === 'lzcnt' && !m.profile.features.has('ABM') ? 'bsr'
      : requested === 'tzcnt' && !m.profile.features.has('BMI1') ? 'bsf' : requested;
    const size = d.opSizes[0];
    const bits = Number(BITS[size]);
    const v = m.readOp(d, 1) & MASK[size];
    const s = m.state;
    let idx = -1;
    if (op === 'bsf' || op === 'tzcnt') { for (let i = 0; i < bits; i++) if ((v >> BigInt(i)) & 1n) { idx = i; break; } }
    else for (let i = bits - 1; i >= 0; i--) if ((v >> BigInt(i)) & 1n) { idx = i; break; }
    if (op === 'bsf' || op === 'bsr') {
      // Source 0: ZF=1 and the destination is left unchanged (what Intel and AMD do).
      setFlag(s, RFLAGS.ZF, v === 0n);
      if (v !== 0n) m.writeOp(d, 0, BigInt(idx));
      return;
    }
    const count = v === 0n ? bits : op === 'tzcnt' ? idx : bits - 1 - idx;
    setFlag(s, RFLAGS.CF, v === 0n);
    setFlag(s, RFLAGS.ZF, count === 0);
    m.writeOp(d, 0, BigInt(count));
  };
}

const ACC = [0, Register.AL, Register.AX, 0, Register.EAX, 0, 0, 0, Register.RAX];
const DAT = [0, Register.AH, Register.DX, 0, Register.EDX, 0, 0, 0, Register.RDX];

function setCfOf(m: Machine, on: boolean): void {
  const f = RFLAGS.CF | RFLAGS.OF;
  m.state.rflags = on ? m.state.rflags | f : m.state.rflags & ~f;
}

/** One-operand MUL/IMUL/DIV/IDIV on rDX:rAX (AH:AL for bytes). SF/ZF/AF/PF are undefined: left unchanged. */
function mulDiv(op: 'mul' | 'imul' | 'div' | 'idiv'): Handler {
  return (m, d) => {
    const size = d.opSizes[0];
    const bits = BITS[size];
    const s = m.state;
    const src = m.readOp(d, 0) & MASK[size];
    const acc = readGpr(s, ACC[size]);
    if (op === 'mul' || op === 'imul') {
      const full = op === 'mul' ? acc * src : toSigned(acc, size) * toSigned(src, size);
      const lo = BigInt.asUintN(Number(bits), full);
      const hi = BigInt.asUintN(Number(bits), full >> bits);
      if (size === 1) writeGpr(s, Register.AX, (hi << 8n) | lo);
      else { writeGpr(s, ACC[size], lo); writeGpr(s, DAT[size], hi); }
      setCfOf(m, op === 'mul' ? hi !== 0n : full !== toSigned(lo, size));
      return;
    }
    const high = size === 1 ? readGpr(s, Register.AH) : readGpr(s, DAT[size]);
    const low = size === 1 ? readGpr(s, Register.AL) : acc;
    if (src === 0n) throw new CpuFault(0, `#DE: division by zero`);
    let q: bigint;
    let r: bigint;
    if (op === 'div') {
      const dividend = (high << bits) | low;
      q = dividend / src;
      r = dividend % src;
      if (q > MASK[size]) throw new CpuFault(0, `#DE: quotient 0x${q.toString(16)} does not fit in ${bits} bits`);
    } else {
      const dividend = BigInt.asIntN(Number(bits) * 2, (high << bits) | low);
      const divisor = toSigned(src, size);
      q = dividend / divisor;
      r = dividend % divisor;
      if (q > SIGN[size] - 1n || q < -SIGN[size]) throw new CpuFault(0, `#DE: quotient ${q} does not fit in signed ${bits} bits`);
      q = BigInt.asUintN(Number(bits), q);
      r = BigInt.asUintN(Number(bits), r);
    }
    if (size === 1) writeGpr(s, Register.AX, (r << 8n) | q);
    else { writeGpr(s, ACC[size], q); writeGpr(s, DAT[size], r); }
  };
}

/** IMUL r, r/m and IMUL r, r/m, imm: truncated product; CF=OF when it does not fit. */
function imulMulti(m: Machine, d: DecodedInsn): void {
  const size = d.opSizes[0];
  const a = d.opCount === 3 ? m.readOp(d, 1) : m.readOp(d, 0);
  const b = d.opCount === 3 ? m.readOp(d, 2) & MASK[size] : m.readOp(d, 1);
  const full = toSigned(a & MASK[size], size) * toSigned(b & MASK[size], size);
  const lo = BigInt.asUintN(size * 8, full);
  setCfOf(m, full !== toSigned(lo, size));
  m.writeOp(d, 0, lo);
}
