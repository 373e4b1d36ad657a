/**
 * One decoded instruction as plain JS data: every iced-x86 field the executor needs is copied
 * out once at decode time (each iced getter is a WebAssembly call), and the handler is bound then.
 * Addresses are stored relative to the next instruction so one decoded copy of a physical page
 * serves every linear alias of it.
 */
import { Code, ConditionCode, Decoder, DecoderOptions, Formatter, FormatterSyntax, Instruction, MemorySizeExt, Mnemonic, OpKind, Register, RegisterExt } from 'iced-x86';
import type { Machine } from '../machine/machine';
import { needsGprSave } from './rollback';
import { fastPath } from './exec/fast-paths';

export type Handler = (m: Machine, d: DecodedInsn) => void;

export interface DecodedInsn {
  code: Code;
  mnemonic: Mnemonic;
  length: number;
  /** length as a BigInt (RIP arithmetic without a conversion per step). */
  lengthBig: bigint;
  bitness: 64 | 32;
  bytes: Uint8Array;
  opCount: number;
  opKinds: OpKind[];
  opRegs: Register[];
  /** Size in bytes of each operand (register size, memory size, or immediate size as encoded). */
  opSizes: number[];
  /** The immediate operand, sign- or zero-extended as iced defines for its OpKind, as a u64. */
  imm: bigint;
  /** Second immediate (ENTER's nesting level). */
  imm2: number;
  memBase: Register;
  memIndex: Register;
  memScale: number;
  /** Displacement as u64; for RIP-relative operands relative to the next instruction. */
  memDisp: bigint;
  ripRel: boolean;
  memSeg: Register;
  memSize: number;
  /** Address size of the memory operand: 8 (64-bit) or 4 (a 0x67 prefix / 32-bit registers). */
  addrSize: number;
  /** Near branch target minus the next instruction's address (u64, wraps). */
  branchRel: bigint;
  cc: ConditionCode;
  rep: 0 | 1 | 2;
  lock: boolean;
  exec: Handler;
  /** Machine.step saves the GPRs for a rollback only when this is set (see rollback.ts). */
  saveGprs: boolean;
  /**
   * Successor links for Machine.fetch's fast path: the decoded instruction that ran after this one
   * at fallRip (straight-line) or takenRip (a branch), valid while Machine's fetch epoch is linkEpoch.
   */
  linkEpoch: number;
  /** The last linear address this ran at and the one after it (RIP + length without a BigInt add per step). */
  ripAt: bigint;
  ripNext: bigint;
  /** Jcc's last taken branch: from this RIP (the next instruction's address) to this checked target. */
  branchFrom: bigint;
  branchTo: bigint;
  fallRip: bigint;
  fallInsn: DecodedInsn | undefined;
  takenRip: bigint;
  takenInsn: DecodedInsn | undefined;
}

let formatter: Formatter | undefined;

/** AT&T text of a decoded instruction at `rip`, for messages and the disassembly view. */
export function formatInsn(d: DecodedInsn, rip: bigint): string {
  const dec = new Decoder(d.bitness, d.bytes, DecoderOptions.None);
  dec.ip = rip;
  const ins = dec.decode();
  formatter ??= new Formatter(FormatterSyntax.Gas);
  const text = formatter.format(ins);
  ins.free();
  dec.free();
  return text;
}

function isImmediate(k: OpKind): boolean {
  return k >= OpKind.Immediate8 && k <= OpKind.Immediate32to64;
}

function immSize(k: OpKind): number {
  switch (k) {
    case OpKind.Immediate8: return 1;
    case OpKind.Immediate16: case OpKind.Immediate8to16: return 2;
    case OpKind.Immediate32: case OpKind.Immediate8to32: return 4;
    default: return 8;
  }
}

const M64 = (1n << 64n) - 1n;

/** Copy an iced Instruction into a DecodedInsn (the Instruction is not kept). */
export function fromIced(ins: Instruction, bytes: Uint8Array, bitness: 64 | 32, lookup: (code: Code, mnemonic: Mnemonic, lock: boolean) => Handler): DecodedInsn {
  const opCount = ins.opCount;
  const opKinds: OpKind[] = [];
  const opRegs: Register[] = [];
  const opSizes: number[] = [];
  let imm = 0n;
  let imm2 = 0;
  let branchRel = 0n;
  let hasMem = false;
  const memSize = MemorySizeExt.size(ins.memorySize);
  for (let i = 0; i < opCount; i++) {
    const k = ins.opKind(i);
    opKinds.push(k);
    let reg = Register.None;
    let size: number;
    if (k === OpKind.Register) {
      reg = ins.opRegister(i);
      size = RegisterExt.size(reg);
    } else if (isImmediate(k)) {
      if (k === OpKind.Immediate8_2nd) imm2 = ins.immediate8_2nd;
      else imm = BigInt.asUintN(64, ins.immediate(i));
      size = immSize(k);
    } else if (k === OpKind.NearBranch16 || k === OpKind.NearBranch32 || k === OpKind.NearBranch64) {
      branchRel = (ins.nearBranchTarget - ins.nextIP) & M64;
      size = bitness === 64 ? 8 : 4;
    } else {
      hasMem = true;
      size = memSize;
    }
    opRegs.push(reg);
    opSizes.push(size);
  }
  const ripRel = hasMem && ins.isIpRelMemoryOperand;
  const memBase = ins.memoryBase;
  const memIndex = ins.memoryIndex;
  const addr32 = (memBase !== Register.None && RegisterExt.size(memBase) === 4) || (memIndex !== Register.None && RegisterExt.size(memIndex) === 4)
    || (bitness === 32 && memBase === Register.None && memIndex === Register.None) || memBase === Register.EIP;
  let memDisp = BigInt.asUintN(64, ins.memoryDisplacementU64);
  if (ripRel) memDisp = (ins.memoryDisplacementU64 - ins.nextIP) & M64;
  const code = ins.code;
  const mnemonic = ins.mnemonic;
  const d: DecodedInsn = {
    code, mnemonic, length: ins.length, lengthBig: BigInt(ins.length), bitness, bytes: bytes.slice(0, ins.length),
    opCount, opKinds, opRegs, opSizes, imm, imm2,
    memBase: ripRel ? Register.None : memBase, memIndex, memScale: ins.memoryIndexScale, memDisp, ripRel,
    memSeg: hasMem ? ins.memorySegment : Register.None, memSize, addrSize: addr32 ? 4 : 8,
    branchRel, cc: ins.conditionCode,
    rep: ins.hasRepnePrefix ? 2 : ins.hasRepePrefix || ins.hasRepPrefix ? 1 : 0,
    lock: ins.hasLockPrefix,
    exec: lookup(code, mnemonic, ins.hasLockPrefix),
    saveGprs: needsGprSave(mnemonic, hasMem),
    ripAt: -1n, ripNext: 0n,
    branchFrom: -1n, branchTo: 0n,
    linkEpoch: -1, fallRip: -1n, fallInsn: undefined, takenRip: -1n, takenInsn: undefined,
  };
  // Common register-only shapes get a specialised handler (fast-paths.ts; never locked forms).
  if (!hasMem) {
    const fast = fastPath(d);
    if (fast) d.exec = fast;
  }
  return d;
}
