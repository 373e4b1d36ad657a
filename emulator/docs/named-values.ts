/**
 * Values of the names entry code uses (asm-offsets, selectors, MSR numbers, flag bits) as the
 * machine facts define them, with their meaning. Nothing here restates a number: every value
 * is read from machine/facts.
 */
import {
  CR3, CR0_FIELDS, CR4_FIELDS, EFER_FIELDS, MSR_TABLE, PT_REGS, RFLAGS_FIELDS, SELECTOR, SIZEOF_PTREGS,
  X86_HW_TSS, type BitField,
} from '../machine/facts';

export interface NamedValue {
  name: string;
  value: bigint;
  /** How to show the value: offsets in decimal, selectors and MSRs in hex. */
  radix: 10 | 16;
  meaning: string;
}

const table = new Map<string, NamedValue>();
const put = (name: string, value: bigint | number, radix: 10 | 16, meaning: string): void => {
  table.set(name, { name, value: BigInt(value), radix, meaning });
};

for (const f of PT_REGS) put(f.asmName, f.offset, 10, `Offset of pt_regs->${f.field}: ${f.doc}.`);
put('SIZEOF_PTREGS', SIZEOF_PTREGS, 10, 'sizeof(struct pt_regs).');
for (const f of X86_HW_TSS) if (f.asmName) put(f.asmName, f.offset, 10, `Offset of x86_hw_tss.${f.field} in cpu_tss_rw. ${f.doc}`);
for (const [name, sel] of Object.entries(SELECTOR)) {
  const rpl = sel & 3;
  put(name, sel, 16, `GDT selector: entry ${sel >> 3}, RPL ${rpl}${rpl === 3 ? ' (user)' : ' (kernel)'}.`);
}
for (const m of MSR_TABLE) put(m.linuxName, m.number, 16, `MSR ${m.name}: ${m.doc}`);

/** Linux names flag bits two ways: X86_EFLAGS_IF_BIT (bit number) and X86_EFLAGS_IF (mask). */
const bitNames = (fields: readonly BitField[], what: string, bitName: (f: string) => string, maskName: (f: string) => string): void => {
  for (const f of fields) {
    if ((f.width ?? 1) !== 1) continue;
    put(bitName(f.name), f.bit, 10, `Bit number of ${what}.${f.name}: ${f.doc}.`);
    put(maskName(f.name), 1n << BigInt(f.bit), 16, `${what}.${f.name} (bit ${f.bit}): ${f.doc}.`);
  }
};
bitNames(RFLAGS_FIELDS, 'RFLAGS', (n) => `X86_EFLAGS_${n}_BIT`, (n) => `X86_EFLAGS_${n}`);
bitNames(CR0_FIELDS, 'CR0', (n) => `X86_CR0_${n}_BIT`, (n) => `X86_CR0_${n}`);
bitNames(CR4_FIELDS, 'CR4', (n) => `X86_CR4_${n}_BIT`, (n) => `X86_CR4_${n}`);
bitNames(EFER_FIELDS, 'EFER', (n) => `_EFER_${n}`, (n) => `EFER_${n}`);

// CR3 with KPTI: the bits SWITCH_TO_KERNEL_CR3 / SWITCH_TO_USER_CR3 flip.
put('PTI_USER_PGTABLE_BIT', CR3.PTI_USER_PGTABLE_BIT, 10, 'CR3 bit that selects the user half of the KPTI page-table pair (the user PGD is the kernel PGD + 4 KiB).');
put('PTI_USER_PGTABLE_MASK', CR3.PTI_USER_PGTABLE_MASK, 16, 'CR3 mask of the KPTI user page-table bit.');
put('X86_CR3_PTI_PCID_USER_BIT', CR3.PTI_PCID_USER_BIT, 10, 'CR3 bit that turns a kernel PCID into its user twin, so both halves stay in the TLB.');
put('PTI_USER_PCID_BIT', CR3.PTI_PCID_USER_BIT, 10, 'Same as X86_CR3_PTI_PCID_USER_BIT.');
put('PTI_USER_PCID_MASK', CR3.PTI_PCID_USER_MASK, 16, 'CR3 mask of the user-PCID bit.');
put('PTI_USER_PGTABLE_AND_PCID_MASK', CR3.PTI_PCID_USER_MASK | CR3.PTI_USER_PGTABLE_MASK, 16, 'Both KPTI user bits of CR3: cleared on entry (user -> kernel), set on exit.');
put('X86_CR3_PCID_NOFLUSH_BIT', CR3.NOFLUSH.toString(2).length - 1, 10, 'Bit 63 of a value written to CR3: keep this PCID\'s TLB entries (never reads back as 1).');
put('X86_CR3_PCID_NOFLUSH', CR3.NOFLUSH, 16, 'CR3 write flag: keep this PCID\'s TLB entries.');

/** A name's value from the machine facts, e.g. TSS_sp2 -> 20, __USER_DS -> 0x2b. */
export function lookupNamedValue(name: string): NamedValue | undefined {
  return table.get(name);
}

export function formatValue(v: NamedValue): string {
  return v.radix === 16 ? `0x${v.value.toString(16)}` : v.value.toString(10);
}
