/** Jcc/SETcc/CMOVcc conditions: one table, on RFLAGS as a Number (it fits in 22 bits) or as the BigInt in CpuState. */
import { ConditionCode } from 'iced-x86';

const CF = 0x1, PF = 0x4, ZF = 0x40, SF = 0x80, OF = 0x800;

/** The test for a condition code, on RFLAGS as a Number (the fast tier's form). */
export function conditionTest(cc: ConditionCode): (flags: number) => boolean {
  switch (cc) {
    case ConditionCode.o: return (f) => (f & OF) !== 0;
    case ConditionCode.no: return (f) => (f & OF) === 0;
    case ConditionCode.b: return (f) => (f & CF) !== 0;
    case ConditionCode.ae: return (f) => (f & CF) === 0;
    case ConditionCode.e: return (f) => (f & ZF) !== 0;
    case ConditionCode.ne: return (f) => (f & ZF) === 0;
    case ConditionCode.be: return (f) => (f & (CF | ZF)) !== 0;
    case ConditionCode.a: return (f) => (f & (CF | ZF)) === 0;
    case ConditionCode.s: return (f) => (f & SF) !== 0;
    case ConditionCode.ns: return (f) => (f & SF) === 0;
    case ConditionCode.p: return (f) => (f & PF) !== 0;
    case ConditionCode.np: return (f) => (f & PF) === 0;
    case ConditionCode.l: return (f) => ((f & SF) !== 0) !== ((f & OF) !== 0);
    case ConditionCode.ge: return (f) => ((f & SF) !== 0) === ((f & OF) !== 0);
    case ConditionCode.le: return (f) => (f & ZF) !== 0 || ((f & SF) !== 0) !== ((f & OF) !== 0);
    case ConditionCode.g: return (f) => (f & ZF) === 0 && ((f & SF) !== 0) === ((f & OF) !== 0);
    default: return () => true;
  }
}

/** Every condition code's test, by ConditionCode (None = always). */
const TESTS = Array.from({ length: ConditionCode.g + 1 } /* g is the last code */, (_, cc) => conditionTest(cc as ConditionCode));

/** Evaluate a condition against RFLAGS as held in CpuState. */
export function conditionHolds(cc: ConditionCode, f: bigint): boolean {
  // Number(f): each BigInt mask would allocate.
  return TESTS[cc](Number(f));
}
