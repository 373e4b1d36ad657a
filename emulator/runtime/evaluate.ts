/**
 * A small expression evaluator for watch, hover and the Debug Console: registers ($rax or rax),
 * pt_regs fields (regs->ip), MSRs (LSTAR, MSR_LSTAR), symbols, numbers, and +/- between them.
 * Errors come back as { error }, never thrown.
 */
import { GPR_INDEX, type GprName } from '../machine/state';
import { MSR_TABLE, PT_REGS } from '../machine/facts';
import type { KentryRuntime } from './runtime';

export type EvalResult = { value: bigint; description?: string } | { error: string };

export function evaluate(rt: KentryRuntime, expression: string): EvalResult {
  const terms = expression.trim().split(/\s*([+-])\s*/);
  let total = 0n;
  let sign = 1n;
  let description: string | undefined;
  for (const t of terms) {
    if (t === '+') { sign = 1n; continue; }
    if (t === '-') { sign = -1n; continue; }
    if (t === '') continue;
    const r = term(rt, t);
    if ('error' in r) return r;
    total += sign * r.value;
    description ??= r.description;
  }
  return { value: BigInt.asUintN(64, total), description: terms.length === 1 ? description : undefined };
}

function term(rt: KentryRuntime, t: string): EvalResult {
  const s = rt.system.machine.state;
  if (/^(0x[0-9a-f]+|\d+)$/i.test(t)) return { value: BigInt(t) };
  const reg = t.replace(/^[$%]/, '').toLowerCase();
  if (reg in GPR_INDEX) return { value: s.gpr[GPR_INDEX[reg as GprName]] };
  if (reg === 'rip') return { value: s.rip };
  if (reg === 'rflags' || reg === 'eflags') return { value: s.rflags };
  if (/^cr[0234]$/.test(reg)) return { value: s[reg as 'cr0' | 'cr2' | 'cr3' | 'cr4'] };
  const regsField = /^regs->(\w+)$/.exec(t);
  if (regsField) {
    const f = PT_REGS.find((p) => p.field === regsField[1]);
    if (!f) return { error: `struct pt_regs has no field "${regsField[1]}"` };
    const view = rt.machineState();
    const slot = view.ptRegs.fields.find((p) => p.field === f.field);
    return slot ? { value: BigInt(slot.value), description: f.doc } : { error: 'no pt_regs frame yet' };
  }
  const msr = MSR_TABLE.find((m) => m.name === t || m.linuxName === t);
  if (msr) {
    const view = rt.machineState().msrs.find((m) => m.name === msr.name);
    if (view) return { value: BigInt(view.value), description: msr.doc };
  }
  const sym = rt.symbolAddress(t);
  if (sym !== undefined) return { value: sym };
  return { error: `cannot evaluate "${t}"` };
}
