import { ConditionCode } from 'iced-x86';

/** Evaluate a Jcc/SETcc/CMOVcc condition against RFLAGS. */
export function conditionHolds(cc: ConditionCode, f: bigint): boolean {
  // RFLAGS fits in 22 bits: test it as a Number (each BigInt mask would allocate).
  const n = Number(f);
  const cf = (n & 0x1) !== 0;
  const zf = (n & 0x40) !== 0;
  const sf = (n & 0x80) !== 0;
  const of = (n & 0x800) !== 0;
  const pf = (n & 0x4) !== 0;
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
