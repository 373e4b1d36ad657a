/**
 * Exception breakpoints: which faults and which entry/exit events stop the run, and the one line
 * that says what happened. Faults stop before the faulting instruction (it was rolled back);
 * events stop after the instruction (SWAPGS, SYSRET, IRET, MOV to CR3, a change of CPL).
 */
import type { StepResult } from '../machine/machine';
import type { CpuState } from '../machine/state';
import { MSR } from '../machine/facts';
import type { StopEvent } from './runtime';

export type ExceptionFilter = 'gp' | 'pf' | 'ud' | 'db' | 'df' | 'triple-fault' | 'privilege-change' | 'cr3-write' | 'swapgs' | 'sysret' | 'iret';
/** Fault filters by vector. */
export const FAULT_FILTERS: Readonly<Record<number, ExceptionFilter>> = { 13: 'gp', 14: 'pf', 6: 'ud', 1: 'db', 8: 'df' };
/** Filters that need to know which instruction ran. */
export const EVENT_FILTERS: readonly ExceptionFilter[] = ['privilege-change', 'cr3-write', 'swapgs', 'sysret', 'iret'];

const h = (v: bigint): string => `0x${v.toString(16)}`;

/** The stop for a fault (or triple fault) the CPU reported. */
export function faultStop(
  result: Extract<StepResult, { kind: 'exception' | 'triple-fault' }>,
  filters: ReadonlySet<ExceptionFilter>,
  describeAddress: (a: bigint) => string,
): StopEvent {
  if (result.kind === 'triple-fault') {
    return { reason: 'exception', description: 'Triple fault: a real machine would reset here', text: result.chain.join(' -> ') };
  }
  const filter = FAULT_FILTERS[result.vector];
  const name = `${result.name}${result.errorCode !== undefined ? `(0x${result.errorCode.toString(16)})` : ''}`;
  if (filter && !filters.has(filter)) {
    // Not stopping at the fault means delivering it - through an IDT kentry's kernel does not have.
    const off = filters.has('triple-fault') ? '' : ' (the triple-fault breakpoint is off too, but nothing comes after a triple fault)';
    return {
      reason: 'exception',
      description: `Triple fault: ${name} at ${describeAddress(result.rip)} could not be delivered - kentry models only the SYSCALL entry, its IDT is empty, so delivery raises #GP, then #DF, then the CPU resets${off}`,
      text: `${result.message} -> #GP (IDT limit) -> #DF -> triple fault`,
    };
  }
  return { reason: 'exception', description: `${name} at ${describeAddress(result.rip)}`, text: result.message };
}

/** Whether the filter of this fault vector asks to stop at the faulting instruction. */
export function faultFilterOn(vector: number, filters: ReadonlySet<ExceptionFilter>): boolean {
  const filter = FAULT_FILTERS[vector];
  return filter !== undefined && filters.has(filter);
}

/**
 * After a fault went through the IDT (its own filter off): a #DF raised by a fault during
 * delivery stops under the #DF filter, at the #DF handler with the frame on the IST1 stack;
 * a fault delivered as itself runs on into its handler stub (a HLT says which one).
 */
export function deliveredStop(
  fault: { name: string; errorCode?: number; rip: bigint; message: string },
  deliveredVector: number,
  filters: ReadonlySet<ExceptionFilter>,
  s: CpuState,
  describeAddress: (a: bigint) => string,
): StopEvent | undefined {
  if (deliveredVector !== 8 || fault.name === '#DF' || !filters.has('df')) return undefined;
  const name = `${fault.name}${fault.errorCode !== undefined ? `(0x${fault.errorCode.toString(16)})` : ''}`;
  return {
    reason: 'exception',
    description: `#DF: delivering ${name} from ${describeAddress(fault.rip)} faulted, so the CPU raised a double fault; now at ${describeAddress(s.rip)} on the IST1 stack (RSP ${h(s.gpr[4])})`,
    text: fault.message,
  };
}

/** The stop for an entry/exit event the filters ask for, after the instruction `step.text` ran; undefined if none. */
export function eventStop(
  filters: ReadonlySet<ExceptionFilter>,
  s: CpuState,
  step: { text: string; at: string; cplBefore: number; cr3Before: bigint },
): StopEvent | undefined {
  const { text, at, cplBefore, cr3Before } = step;
  if (filters.has('swapgs') && /^swapgs/.test(text)) {
    return { reason: 'exception', description: `SWAPGS at ${at}: GS base is now ${h(s.seg.gs.base)}, KERNEL_GS_BASE ${h(s.msrs.get(MSR.KERNEL_GS_BASE) ?? 0n)}` };
  }
  if (filters.has('sysret') && /^sysret/.test(text)) {
    return { reason: 'exception', description: `SYSRET at ${at}: back to ring ${s.cpl} at ${h(s.rip)} (RCX), RFLAGS ${h(s.rflags)} (R11)` };
  }
  if (filters.has('iret') && /^iret/.test(text)) {
    return { reason: 'exception', description: `IRET at ${at}: to ring ${s.cpl} at ${h(s.rip)}, RSP ${h(s.gpr[4])}` };
  }
  if (filters.has('cr3-write') && /^mov\s+%\w+,\s*%cr3/.test(text)) {
    return { reason: 'exception', description: `CR3 write at ${at}: ${h(cr3Before)} -> ${h(s.cr3)}` };
  }
  if (filters.has('privilege-change') && s.cpl !== cplBefore) {
    return { reason: 'exception', description: `Privilege change: ring ${cplBefore} -> ring ${s.cpl} by ${text.split(/\s/)[0] || 'an instruction'} at ${at}` };
  }
  return undefined;
}
