/**
 * What a compiled C function does to the machine on return, for models: pop the return
 * address like `ret`, and clobber the SysV caller-saved registers.
 */
import { GPR_INDEX, type GprName } from '../../machine/state';
import type { Machine } from '../../machine/machine';

/**
 * Caller-saved registers a C function may leave changed (SysV x86-64 ABI), except %rax which
 * carries the model's own result. Models overwrite them with this recognisable value so a
 * dependence of the entry code on them would show; the value is fixed, so runs are repeatable.
 */
export const CLOBBERED_BY_C: readonly GprName[] = ['rcx', 'rdx', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11'];
export const CLOBBER_VALUE = 0x6b6b6b6b6b6b6b6bn; // the kernel's POISON_FREE byte, repeated

/** `ret` after a model: RIP = [RSP], RSP += 8. Returns an error text when the stack is unreadable. */
export function returnFromModel(machine: Machine, rax: bigint): string | undefined {
  const s = machine.state;
  const rsp = s.gpr[GPR_INDEX.rsp];
  const ret = machine.readU64Virtual(rsp);
  if (typeof ret !== 'bigint') return `cannot read the return address at 0x${rsp.toString(16)}: ${ret.message}`;
  for (const r of CLOBBERED_BY_C) s.gpr[GPR_INDEX[r]] = CLOBBER_VALUE;
  s.gpr[GPR_INDEX.rax] = BigInt.asUintN(64, rax);
  s.gpr[GPR_INDEX.rsp] = rsp + 8n;
  s.rip = ret;
  return undefined;
}
