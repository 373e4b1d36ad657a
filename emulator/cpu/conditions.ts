import { ConditionCode } from 'iced-x86';
import { RFLAGS } from '../machine/facts/rflags';

/** Evaluate a Jcc/SETcc/CMOVcc condition against RFLAGS. */
export function conditionHolds(cc: ConditionCode, f: bigint): boolean {
  const cf = (f & RFLAGS.CF) !== 0n;
  const zf = (f & RFLAGS.ZF) !== 0n;
  const sf = (f & RFLAGS.SF) !== 0n;
  const of = (f & RFLAGS.OF) !== 0n;
  const pf = (f & RFLAGS.PF) !== 0n;
  switch (cc) {
    case ConditionCode.o: return of;
    case ConditionCode.no: return !of;
    case ConditionCode.b: return cf;
    case ConditionCode.ae: return !cf;
    case ConditionCode.e: return zf;
    case ConditionCode.ne: return !zf;
    case ConditionCode.be: return cf || zf;
    case ConditionCode.a: return !cf && !zf;
    case ConditionCode.s: return sf;
    case ConditionCode.ns: return !sf;
    case ConditionCode.p: return pf;
    case ConditionCode.np: return !pf;
    case ConditionCode.l: return sf !== of;
    case ConditionCode.ge: return sf === of;
    case ConditionCode.le: return zf || sf !== of;
    case ConditionCode.g: return !zf && sf === of;
    default: return true;
  }
}
