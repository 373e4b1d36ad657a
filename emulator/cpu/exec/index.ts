/**
 * Mnemonic -> handler, bound to each instruction at decode time. Anything without a handler
 * decodes to one that raises #UD with a message naming the instruction: never a silent wrong result.
 */
import { Code, Mnemonic } from 'iced-x86';
import type { DecodedInsn, Handler } from '../decoded';
import { CpuFault } from '../fault';
import { ALU_HANDLERS } from './alu';
import { CONTROL_HANDLERS } from './control';
import { DATA_HANDLERS } from './data';
import { DESCRIPTOR_QUERY_HANDLERS } from './descriptor-queries';
import { WIDE_HANDLERS } from './wide';
import { STRING_CODES_SHARING_SSE_MNEMONICS, STRING_HANDLERS } from './string';
import { SYSTEM_HANDLERS } from './system';

const TABLE = new Map<Mnemonic, Handler>([...ALU_HANDLERS, ...DATA_HANDLERS, ...CONTROL_HANDLERS, ...SYSTEM_HANDLERS, ...STRING_HANDLERS, ...DESCRIPTOR_QUERY_HANDLERS, ...WIDE_HANDLERS]);

const notImplemented: Handler = (m, d: DecodedInsn) => {
  const rip = m.currentRip;
  throw new CpuFault(6, `instruction ${m.describe(d, rip)} at 0x${rip.toString(16)} is not implemented by kentry`);
};

const invalid: Handler = (m, d: DecodedInsn) => {
  const rip = m.currentRip;
  const bytes = Array.from(d.bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new CpuFault(6, `#UD: invalid opcode (${bytes}) at 0x${rip.toString(16)}`);
};

const lockNotAllowed: Handler = (m, d: DecodedInsn) => {
  throw new CpuFault(6, `#UD: lock prefix on ${m.describe(d, m.currentRip)}`);
};

/** Locked forms are only legal on read-modify-write memory destinations (SDM LOCK). */
const LOCKABLE = new Set<Mnemonic>([Mnemonic.Add, Mnemonic.Adc, Mnemonic.And, Mnemonic.Btc, Mnemonic.Btr, Mnemonic.Bts, Mnemonic.Cmpxchg, Mnemonic.Cmpxchg8b, Mnemonic.Cmpxchg16b,
  Mnemonic.Dec, Mnemonic.Inc, Mnemonic.Neg, Mnemonic.Not, Mnemonic.Or, Mnemonic.Sbb, Mnemonic.Sub, Mnemonic.Xor, Mnemonic.Xadd, Mnemonic.Xchg]);

export function handlerFor(code: Code, mnemonic: Mnemonic, lock = false): Handler {
  if (code === Code.INVALID) return invalid;
  if ((mnemonic === Mnemonic.Movsd || mnemonic === Mnemonic.Cmpsd) && !STRING_CODES_SHARING_SSE_MNEMONICS.has(code)) return notImplemented;
  const h = TABLE.get(mnemonic);
  if (!h) return notImplemented;
  if (lock && !LOCKABLE.has(mnemonic)) return lockNotAllowed;
  return h;
}

/** Whether kentry executes this instruction (rather than raising its "not implemented" #UD). */
export function isImplemented(code: Code, mnemonic: Mnemonic): boolean {
  const h = handlerFor(code, mnemonic, false);
  return h !== notImplemented && h !== invalid;
}
