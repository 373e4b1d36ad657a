/**
 * Which registers, control registers and MSRs the instruction at RIP is about to read: what
 * read (and read/write) data breakpoints on them need. Register operands come from iced-x86's
 * instruction info; MSR reads come from what the instruction does by definition (RDMSR reads
 * MSR[ECX], SWAPGS both GS bases, SYSCALL STAR/LSTAR/SYSCALL_MASK, an %fs:/%gs: operand the base).
 */
import { Decoder, DecoderOptions, InstructionInfoFactory, Mnemonic, OpAccess, Register } from 'iced-x86';
import type { Machine } from '../machine/machine';
import { MSR } from '../machine/facts';
import { GPR_NAMES } from '../machine/state';

export interface ReadSet {
  /** Lower-case 64-bit GPR names ('rax'...), 'rflags', and control registers ('cr3'...). */
  registers: Set<string>;
  msrs: Set<number>;
}

const READS = new Set([OpAccess.Read, OpAccess.CondRead, OpAccess.ReadWrite, OpAccess.ReadCondWrite]);
let factory: InstructionInfoFactory | undefined;

/** The 64-bit GPR a (sub)register belongs to, e.g. Register.R11D -> 'r11', AH -> 'rax'. */
function gprOf(reg: Register): string | undefined {
  const name = Register[reg]?.toLowerCase();
  if (!name) return undefined;
  if ((GPR_NAMES as readonly string[]).includes(name)) return name;
  const legacy: Record<string, string> = { ah: 'rax', bh: 'rbx', ch: 'rcx', dh: 'rdx', spl: 'rsp', bpl: 'rbp', sil: 'rsi', dil: 'rdi' };
  if (legacy[name]) return legacy[name];
  const r = /^r(\d+)[dwl]$/.exec(name);
  if (r) return `r${r[1]}`;
  const e = /^e?([abcd])[xl]$/.exec(name) ?? /^e?(sp|bp|si|di)$/.exec(name);
  if (e) return e[1].length === 1 ? `r${e[1]}x` : `r${e[1]}`;
  return undefined;
}

export function registerReads(machine: Machine): ReadSet | undefined {
  const s = machine.state;
  const bytes = machine.readVirtual(s.rip, 15);
  if (!(bytes instanceof Uint8Array)) return undefined;
  const decoder = new Decoder(64, bytes, DecoderOptions.None);
  decoder.ip = s.rip;
  const insn = decoder.decode();
  try {
    if (insn.isInvalid) return undefined;
    factory ??= new InstructionInfoFactory();
    const info = factory.info(insn);
    const out: ReadSet = { registers: new Set(), msrs: new Set() };
    for (const u of info.usedRegisters()) {
      if (!READS.has(u.access)) continue;
      const reg = u.register as Register;
      const gpr = gprOf(reg);
      if (gpr) out.registers.add(gpr);
      const name = Register[reg]?.toLowerCase();
      if (name && /^cr[02348]$/.test(name)) out.registers.add(name);
      if (reg === Register.FS) out.msrs.add(MSR.FS_BASE);
      if (reg === Register.GS) out.msrs.add(MSR.GS_BASE);
    }
    if (insn.rflagsRead !== 0 || insn.mnemonic === Mnemonic.Pushf || insn.mnemonic === Mnemonic.Pushfq) out.registers.add('rflags');
    switch (insn.mnemonic) {
      case Mnemonic.Rdmsr:
        out.msrs.add(Number(s.gpr[1] & 0xffffffffn));
        break;
      case Mnemonic.Swapgs:
        out.msrs.add(MSR.GS_BASE).add(MSR.KERNEL_GS_BASE);
        break;
      case Mnemonic.Syscall:
        out.msrs.add(MSR.EFER).add(MSR.STAR).add(MSR.LSTAR).add(MSR.SYSCALL_MASK);
        out.registers.add('rflags');
        break;
      case Mnemonic.Sysretq:
      case Mnemonic.Sysret:
        out.msrs.add(MSR.EFER).add(MSR.STAR);
        break;
      case Mnemonic.Rdfsbase:
        out.msrs.add(MSR.FS_BASE);
        break;
      case Mnemonic.Rdgsbase:
        out.msrs.add(MSR.GS_BASE);
        break;
    }
    if (insn.memorySegment === Register.FS && insn.opCount > 0 && info.usedMemory().length) out.msrs.add(MSR.FS_BASE);
    if (insn.memorySegment === Register.GS && insn.opCount > 0 && info.usedMemory().length) out.msrs.add(MSR.GS_BASE);
    return out;
  } finally {
    insn.free();
    decoder.free();
  }
}
