/**
 * The booted kernel's IDT, as Linux 5.8's idt_setup_traps()/idt_setup_ist_traps() leave it for
 * the exception vectors 0-31: interrupt gates to __KERNEL_CS, #BP and #OF callable from ring 3
 * (system gates), #DF, NMI, #DB and #MC on their IST stacks in the cpu_entry_area. The CPU reads
 * the IDT through the read-only alias at CPU_ENTRY_AREA_RO_IDT (the first cea page, also mapped
 * in the user page table with PTI), like load_idt(&idt_descr) after idt_map_in_cea().
 *
 * kentry runs no C exception handler: every gate points at a small stub of its own (`hlt` in a
 * loop, named kentry_exc_<handler>), so a delivered exception stops at a HLT whose symbol says
 * which vector arrived, with the CPU's exception frame on the (IST or kernel) stack.
 */
import { CpuFault } from '../cpu/fault';
import { deliverException, type DeliveryResult } from '../cpu/interrupts';
import { SELECTOR } from '../machine/facts';
import type { Machine } from '../machine/machine';

/** IST slots (TSS ist[n-1] = ISTn) as Linux 5.8 assigns them (IST_INDEX_* + 1). */
export const IST = { DF: 1, NMI: 2, DB: 3, MCE: 4 } as const;

/** EXCEPTION_STKSZ without KASAN: one page per IST stack, each below a guard page. */
export const EXCEPTION_STACK_SIZE = 0x1000;

export interface ExceptionGate {
  vector: number;
  /** The Linux 5.8 handler this gate stands for (asm_exc_<handler>). */
  handler: string;
  /** IST slot (0: the current or TSS.sp0 stack). */
  ist: number;
  /** Gate DPL: 3 for the system gates INT3 and INTO may use from user mode. */
  dpl: number;
}

/** Vectors 0-31. 20-31 are reserved by Intel; Linux leaves most unset, kentry gives them a stub so any vector shows up by name. */
export const EXCEPTION_GATES: readonly ExceptionGate[] = [
  'divide_error', 'debug', 'nmi', 'int3', 'overflow', 'bounds', 'invalid_op', 'device_not_available',
  'double_fault', 'coproc_segment_overrun', 'invalid_tss', 'segment_not_present', 'stack_segment', 'general_protection', 'page_fault', 'spurious_interrupt_bug',
  'coprocessor_error', 'alignment_check', 'machine_check', 'simd_coprocessor_error', 'virtualization_exception',
].concat(Array.from({ length: 11 }, (_, i) => `reserved_${21 + i}`)).map((handler, vector) => ({
  vector,
  handler,
  ist: vector === 8 ? IST.DF : vector === 2 ? IST.NMI : vector === 1 ? IST.DB : vector === 18 ? IST.MCE : 0,
  dpl: vector === 3 || vector === 4 ? 3 : 0,
}));

/** IDT_ENTRIES * 16 - 1: Linux loads the full 256-entry table's limit. */
export const IDT_LIMIT = 256 * 16 - 1;

/** Bytes of one stub: `1: hlt; jmp 1b`. */
export const STUB_BYTES = new Uint8Array([0xf4, 0xeb, 0xfd]);
export const STUB_STRIDE = 0x10n;

export function stubName(g: ExceptionGate): string {
  return `kentry_exc_${g.handler}`;
}

/** One 16-byte 64-bit gate: present, type 0xE (interrupt gate: IF cleared), as pack_gate() builds it. */
export function gateDescriptor(target: bigint, ist: number, dpl: number, selector = SELECTOR.__KERNEL_CS): [bigint, bigint] {
  const lo = (target & 0xffffn)
    | (BigInt(selector) << 16n)
    | (BigInt(ist & 7) << 32n)
    | (0xen << 40n)
    | (BigInt(dpl & 3) << 45n)
    | (1n << 47n)
    | (((target >> 16n) & 0xffffn) << 48n);
  return [lo, (target >> 32n) & 0xffffffffn];
}

/** The IDT page (4 KiB, gates for vectors 0-31, the rest not present) with each gate at stubBase + vector * STUB_STRIDE. */
export function buildIdt(stubBase: bigint): Uint8Array {
  const idt = new Uint8Array(IDT_LIMIT + 1);
  const view = new DataView(idt.buffer);
  for (const g of EXCEPTION_GATES) {
    const [lo, hi] = gateDescriptor(stubBase + BigInt(g.vector) * STUB_STRIDE, g.ist, g.dpl);
    view.setBigUint64(g.vector * 16, lo, true);
    view.setBigUint64(g.vector * 16 + 8, hi, true);
  }
  return idt;
}

/**
 * Deliver a fault the machine reported (Machine.deliverExceptions is off, so the debugger sees
 * every fault at its instruction first) through the IDT, as the CPU would have: the handler
 * stub, or #DF if delivery itself faults, or a triple fault if #DF delivery faults too.
 */
export function deliverReportedFault(
  machine: Machine,
  fault: { vector: number; message: string; errorCode?: number; cr2?: bigint; rip: bigint },
): DeliveryResult {
  machine.currentRip = fault.rip;
  return deliverException(machine, new CpuFault(fault.vector, fault.message, fault.errorCode, fault.cr2), undefined);
}
