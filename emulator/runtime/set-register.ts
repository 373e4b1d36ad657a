/**
 * Debugger edits of registers (Variables pane setVariable, Debug Console): general-purpose
 * registers, RIP, RFLAGS and its bits by name (rflags.TF), control registers and MSRs.
 */
import type { Machine } from '../machine/machine';
import { MSR, MSR_TABLE, RFLAGS_DEFINED_MASK, RFLAGS_FIELDS, bitMask } from '../machine/facts';
import { GPR_NAMES } from '../machine/state';

const M64 = (1n << 64n) - 1n;

/** Undefined on success, else why not. */
export function setRegister(machine: Machine, name: string, value: bigint): string | undefined {
  const s = machine.state;
  const reg = name.trim().replace(/^[$%]/, '');
  const lower = reg.toLowerCase();
  const v = value & M64;
  const gpr = (GPR_NAMES as readonly string[]).indexOf(lower);
  if (gpr >= 0) { s.gpr[gpr] = v; return undefined; }
  if (lower === 'rip') { s.rip = v; return undefined; }
  if (lower === 'rflags' || lower === 'eflags') { s.rflags = (v & RFLAGS_DEFINED_MASK) | 2n; return undefined; }
  const bit = /^(?:rflags|eflags)\.(\w+)$/.exec(lower);
  if (bit) {
    const f = RFLAGS_FIELDS.find((x) => x.name.toLowerCase() === bit[1]);
    if (!f) return `RFLAGS has no bit "${bit[1]}" (bits: ${RFLAGS_FIELDS.map((x) => x.name).join(' ')})`;
    const width = BigInt(f.width ?? 1);
    if (v >= 1n << width) return `${f.name} is ${width} bit${width > 1n ? 's' : ''} wide: ${v} does not fit`;
    s.rflags = (s.rflags & ~bitMask(f)) | (v << BigInt(f.bit));
    return undefined;
  }
  if (/^cr[02348]$/.test(lower)) {
    s[lower as 'cr0' | 'cr2' | 'cr3' | 'cr4' | 'cr8'] = v;
    // The paging setup changed under the TLB's feet: a debugger edit is not an architectural CR write.
    if (lower !== 'cr2' && lower !== 'cr8') machine.tlb.flushAll(true);
    return undefined;
  }
  const msr = MSR_TABLE.find((m) => m.name.toLowerCase() === lower || m.linuxName.toLowerCase() === lower)?.number
    ?? (/^(msr:)?0x[0-9a-f]+$/.test(lower) ? Number(lower.replace(/^msr:/, '')) : undefined);
  if (msr !== undefined) {
    if (msr === MSR.GS_BASE) s.seg.gs.base = v;
    else if (msr === MSR.FS_BASE) s.seg.fs.base = v;
    else s.msrs.set(msr, v);
    return undefined;
  }
  return `cannot set "${name}": not a register, RFLAGS bit (rflags.TF), control register or MSR`;
}
