/** String instructions MOVS/STOS/LODS/CMPS/SCAS with REP/REPE/REPNE (SDM vol. 1, 7.3.9). */
import { Code, Mnemonic, OpKind, Register } from 'iced-x86';
import { RFLAGS } from '../../machine/facts/rflags';
import type { Machine } from '../../machine/machine';
import type { DecodedInsn, Handler } from '../decoded';
import { sub } from '../flags';
import { MASK, writeGpr } from '../registers';
import { checkIoPermission } from './system';

type Kind = 'movs' | 'stos' | 'lods' | 'cmps' | 'scas' | 'ins' | 'outs';

/**
 * Iterations executed in one step before the instruction is "interrupted" (RIP stays on it and the
 * next step resumes): REP is architecturally interruptible, and a debugger must not hang on a huge RCX.
 */
const MAX_ITERATIONS_PER_STEP = 1 << 20;

const ACC = [0, Register.AL, Register.AX, 0, Register.EAX, 0, 0, 0, Register.RAX];

function addr32(d: DecodedInsn): boolean {
  for (const k of d.opKinds) {
    if (k === OpKind.MemorySegESI || k === OpKind.MemoryESEDI || k === OpKind.MemorySegEDI) return true;
  }
  return false;
}

function stringOp(kind: Kind, size: number): Handler {
  return (m: Machine, d: DecodedInsn) => {
    const s = m.state;
    const a32 = addr32(d);
    const amask = a32 ? 0xffffffffn : MASK[8];
    const delta = s.rflags & RFLAGS.DF ? BigInt(-size) : BigInt(size);
    const srcBase = m.segBase(d.memSeg === Register.None ? Register.DS : d.memSeg);
    const conditional = kind === 'cmps' || kind === 'scas';
    m.keepRegistersOnFault = true; // progress so far stays architecturally visible
    const one = (): void => {
      const rsi = s.gpr[6] & amask;
      const rdi = s.gpr[7] & amask;
      switch (kind) {
        case 'movs': m.writeLinear(rdi, size, m.readLinear((srcBase + rsi) & MASK[8], size)); break;
        case 'stos': m.writeLinear(rdi, size, s.gpr[0] & MASK[size]); break;
        case 'lods': writeGpr(s, ACC[size], m.readLinear((srcBase + rsi) & MASK[8], size)); break;
        case 'cmps': sub(s, m.readLinear((srcBase + rsi) & MASK[8], size), m.readLinear(rdi, size), 0n, size); break;
        case 'scas': sub(s, s.gpr[0] & MASK[size], m.readLinear(rdi, size), 0n, size); break;
        // No devices: INS stores all ones, OUTS reads the source (it may fault) and drops it.
        case 'ins': checkIoPermission(m, Number(s.gpr[2] & 0xffffn), size); m.writeLinear(rdi, size, MASK[size]); break;
        case 'outs': checkIoPermission(m, Number(s.gpr[2] & 0xffffn), size); m.readLinear((srcBase + rsi) & MASK[8], size); break;
      }
      const upd = (i: number): void => {
        const v = (s.gpr[i] + delta) & amask;
        s.gpr[i] = a32 ? v : v & MASK[8];
      };
      if (kind === 'movs' || kind === 'lods' || kind === 'cmps' || kind === 'outs') upd(6);
      if (kind !== 'lods' && kind !== 'outs') upd(7);
    };
    if (d.rep === 0) { one(); return; }
    for (let n = 0; n < MAX_ITERATIONS_PER_STEP; n++) {
      if ((s.gpr[1] & amask) === 0n) return;
      one();
      s.gpr[1] = a32 ? (s.gpr[1] - 1n) & 0xffffffffn : (s.gpr[1] - 1n) & MASK[8];
      if (conditional) {
        const zf = (s.rflags & RFLAGS.ZF) !== 0n;
        if (d.rep === 1 ? !zf : zf) return;
      }
    }
    if ((s.gpr[1] & amask) !== 0n) s.rip = m.currentRip; // resume on the next step
  };
}

function sized(kind: Kind, b: Mnemonic, w: Mnemonic, dd: Mnemonic, q: Mnemonic): Array<[Mnemonic, Handler]> {
  return [[b, stringOp(kind, 1)], [w, stringOp(kind, 2)], [dd, stringOp(kind, 4)], [q, stringOp(kind, 8)]];
}

export const STRING_HANDLERS: Array<[Mnemonic, Handler]> = [
  ...sized('movs', Mnemonic.Movsb, Mnemonic.Movsw, Mnemonic.Movsd, Mnemonic.Movsq),
  ...sized('stos', Mnemonic.Stosb, Mnemonic.Stosw, Mnemonic.Stosd, Mnemonic.Stosq),
  ...sized('lods', Mnemonic.Lodsb, Mnemonic.Lodsw, Mnemonic.Lodsd, Mnemonic.Lodsq),
  ...sized('cmps', Mnemonic.Cmpsb, Mnemonic.Cmpsw, Mnemonic.Cmpsd, Mnemonic.Cmpsq),
  ...sized('scas', Mnemonic.Scasb, Mnemonic.Scasw, Mnemonic.Scasd, Mnemonic.Scasq),
  [Mnemonic.Insb, stringOp('ins', 1)], [Mnemonic.Insw, stringOp('ins', 2)], [Mnemonic.Insd, stringOp('ins', 4)],
  [Mnemonic.Outsb, stringOp('outs', 1)], [Mnemonic.Outsw, stringOp('outs', 2)], [Mnemonic.Outsd, stringOp('outs', 4)],
];

/** MOVSD and CMPSD are also SSE mnemonics: only these codes are the string forms. */
export const STRING_CODES_SHARING_SSE_MNEMONICS: ReadonlySet<Code> = new Set([Code.Movsd_m32_m32, Code.Cmpsd_m32_m32]);
