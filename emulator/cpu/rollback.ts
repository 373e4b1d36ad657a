/**
 * Which instructions need Machine.step to save the general-purpose registers for a rollback.
 * Saving 16 BigInt references per instruction is a measurable share of the hot loop (each store
 * is an old-to-young pointer write for the GC), and most instructions cannot fault after writing
 * a register: register-only ALU, move and branch instructions check everything first (#DE before
 * DIV writes, #GP before a branch changes RIP) and only then write. Anything with a memory
 * operand, a stack, string, system or unlisted instruction keeps the save.
 */
import { Mnemonic } from 'iced-x86';

const REGISTER_ONLY_SAFE = new Set<Mnemonic>([
  Mnemonic.Add, Mnemonic.Adc, Mnemonic.Sub, Mnemonic.Sbb, Mnemonic.Cmp, Mnemonic.And, Mnemonic.Or, Mnemonic.Xor, Mnemonic.Test,
  Mnemonic.Neg, Mnemonic.Not, Mnemonic.Inc, Mnemonic.Dec, Mnemonic.Shl, Mnemonic.Shr, Mnemonic.Sar, Mnemonic.Sal,
  Mnemonic.Rol, Mnemonic.Ror, Mnemonic.Rcl, Mnemonic.Rcr, Mnemonic.Shld, Mnemonic.Shrd,
  Mnemonic.Bt, Mnemonic.Bts, Mnemonic.Btr, Mnemonic.Btc, Mnemonic.Bsf, Mnemonic.Bsr, Mnemonic.Lzcnt, Mnemonic.Tzcnt, Mnemonic.Popcnt,
  Mnemonic.Mul, Mnemonic.Imul, Mnemonic.Div, Mnemonic.Idiv, Mnemonic.Bswap, Mnemonic.Xadd, Mnemonic.Xchg, Mnemonic.Cmpxchg,
  Mnemonic.Movzx, Mnemonic.Movsx, Mnemonic.Movsxd, Mnemonic.Lea, Mnemonic.Nop, Mnemonic.Endbr64, Mnemonic.Pause,
  Mnemonic.Cbw, Mnemonic.Cwde, Mnemonic.Cdqe, Mnemonic.Cwd, Mnemonic.Cdq, Mnemonic.Cqo, Mnemonic.Clc, Mnemonic.Stc, Mnemonic.Cmc,
  Mnemonic.Lahf, Mnemonic.Sahf,
  Mnemonic.Ja, Mnemonic.Jae, Mnemonic.Jb, Mnemonic.Jbe, Mnemonic.Je, Mnemonic.Jg, Mnemonic.Jge, Mnemonic.Jl, Mnemonic.Jle,
  Mnemonic.Jne, Mnemonic.Jno, Mnemonic.Jnp, Mnemonic.Jns, Mnemonic.Jo, Mnemonic.Jp, Mnemonic.Js,
  Mnemonic.Cmova, Mnemonic.Cmovae, Mnemonic.Cmovb, Mnemonic.Cmovbe, Mnemonic.Cmove, Mnemonic.Cmovg, Mnemonic.Cmovge, Mnemonic.Cmovl,
  Mnemonic.Cmovle, Mnemonic.Cmovne, Mnemonic.Cmovno, Mnemonic.Cmovnp, Mnemonic.Cmovns, Mnemonic.Cmovo, Mnemonic.Cmovp, Mnemonic.Cmovs,
  Mnemonic.Seta, Mnemonic.Setae, Mnemonic.Setb, Mnemonic.Setbe, Mnemonic.Sete, Mnemonic.Setg, Mnemonic.Setge, Mnemonic.Setl,
  Mnemonic.Setle, Mnemonic.Setne, Mnemonic.Setno, Mnemonic.Setnp, Mnemonic.Setns, Mnemonic.Seto, Mnemonic.Setp, Mnemonic.Sets,
]);

/**
 * Whether step() must save GPRs before running this instruction. MOV is excluded: it covers
 * control, debug and segment register moves, which may fault late.
 */
export function needsGprSave(mnemonic: Mnemonic, hasMemoryOperand: boolean): boolean {
  return hasMemoryOperand || !REGISTER_ONLY_SAFE.has(mnemonic);
}
