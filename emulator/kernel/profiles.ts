/**
 * Per-version facts about the Linux kernel that the entry code depends on: the Kconfig
 * symbols it tests, X86_FEATURE_* numbers used by ALTERNATIVE, syscall numbers, per-CPU
 * variable offsets and the virtual memory layout. One table per version; adding a version
 * touches only this file (and the models that differ).
 */
import { newerProfiles } from './profiles-6x';

/** A Kconfig selection: symbol name without CONFIG_ -> y (true) / n (false). */
export type KernelConfig = Readonly<Record<string, boolean>>;

export interface ConfigSymbol {
  /** Default in kentry's profile (what a distro x86-64 kernel of that era has, unless noted). */
  default: boolean;
  doc: string;
}

export interface PerCpuVariable {
  /** Offset inside the per-CPU area: the value `%gs:name` addresses, as with x86-64's zero-based per-CPU section. */
  offset: number;
  size: number;
  doc: string;
}

export interface SyscallInfo {
  nr: number;
  name: string;
  /** C signature, for the model's summary. */
  signature: string;
}

/** The version families kentry has bundled facts for (a real tree's exact version picks one). */
export type KernelFamily = '5.8' | '6.1' | '6.6' | '6.12';

export interface KernelProfile {
  /** Kernel version the profile describes, e.g. '5.8'. */
  version: string;
  /** Which family's behaviour applies (alt_instr layout, do_syscall_64 ABI, per-CPU stack top). */
  family: KernelFamily;
  /** struct alt_instr layout and apply_alternatives() flavour: 5.8 (13 bytes, padlen), 6.1 (12 bytes), 6.3+ (14 bytes, ft_flags). */
  altInstr: '5.8' | '6.1' | '6.3';
  /** Where entry_SYSCALL_64 loads the task stack top from: a per-CPU symbol plus offset. */
  topOfStack: { symbol: string; offset: number; name: string; doc: string };
  /**
   * For real trees without include/generated/ (never built): Kconfig values (CONFIG_ prefix
   * dropped; 'y' symbols are booleans in `config`) and the asm-offsets the entry code uses.
   */
  unbuiltTree?: { kconfigValues: Readonly<Record<string, string>>; asmOffsets: Readonly<Record<string, number>>; extraHeaders: Readonly<Record<string, string>> };
  /** Extra -D flags Kbuild passes when assembling arch/x86/entry/entry_64.S (beyond __KERNEL__, __ASSEMBLY__). */
  kbuildDefines: Readonly<Record<string, string>>;
  /** Where each group of facts came from (a real tree's files, a bundled table, launch.json). */
  factSources: Readonly<Record<string, string>>;
  /** Exact release the sample and the seed were taken from. */
  release: string;
  /** Config symbols that matter to entry code, with their defaults and meaning. */
  configSymbols: Readonly<Record<string, ConfigSymbol>>;
  /** The default configuration (derived from configSymbols). */
  config: KernelConfig;
  /** X86_FEATURE_* numbers (word*32+bit) without the prefix; 'PTI' is a Linux-synthetic feature. */
  x86Features: Readonly<Record<string, number>>;
  syscalls: readonly SyscallInfo[];
  /** errno values the entry code and the models return (negated). */
  errno: Readonly<Record<string, number>>;
  /** Per-CPU variables the entry code touches, by symbol name. */
  perCpu: Readonly<Record<string, PerCpuVariable>>;
  /** Bytes reserved for one CPU's per-CPU area. */
  perCpuAreaSize: number;
  /** Struct offsets emitted by the kernel's asm-offsets that are not machine facts. */
  asmOffsets: Readonly<Record<string, number>>;
  /**
   * Symbols the assembly may use that are not per-CPU variables but are #defines in C headers
   * of that version (written into the generated headers as cpp text).
   */
  cppAliases: Readonly<Record<string, string>>;
  /** How the entry code calls into C. */
  doSyscall64: {
    signature: string;
    /** Registers of the C arguments, in the order `nr`, `regs` are named in argNames. */
    argRegisters: readonly string[];
    argNames: readonly ('nr' | 'regs')[];
    /** 6.7+: returns true when SYSRET is allowed (the checks moved from entry_64.S to C). */
    returnsBool: boolean;
    doc: string;
  };
  /** Virtual memory layout (Documentation/x86/x86_64/mm.rst of that version, 4-level paging). */
  layout: {
    /** __START_KERNEL_map: kernel image virtual = physical + this. */
    startKernelMap: bigint;
    /** Where .text starts (_text). */
    kernelTextBase: bigint;
    /** Where .entry.text starts (PMD-aligned after .text, as vmlinux.lds does with PTI). */
    entryTextBase: bigint;
    /** Where the init-time alternative tables live. */
    altReplacementBase: bigint;
    altInstructionsBase: bigint;
    /** PAGE_OFFSET: start of the direct map of all physical memory. */
    pageOffset: bigint;
    /** VMALLOC_START: task stacks live here with CONFIG_VMAP_STACK. */
    vmallocStart: bigint;
    /** CPU_ENTRY_AREA_BASE; CPU 0's area is one page above it (the read-only IDT sits first). */
    cpuEntryAreaBase: bigint;
    /** Offsets inside one CPU's cpu_entry_area. */
    ceaGdtOffset: number;
    ceaEntryStackOffset: number;
    ceaTssOffset: number;
    /** sizeof(struct entry_stack): the trampoline stack's size. */
    entryStackSize: number;
    /** THREAD_SIZE: the task's kernel stack. */
    threadSize: number;
    /** __VIRTUAL_MASK_SHIFT with 4-level paging. */
    virtualMaskShift: number;
    /** TASK_SIZE_MAX: user addresses are below it (access_ok). */
    taskSizeMax: bigint;
    /** Where the user program's .text is linked (the classic ELF base + 0x1000). */
    userTextBase: bigint;
    userStackTop: bigint;
    userStackSize: number;
  };
  /** Kernel PCID of the boot mm (kern_pcid(0) = 1); the user one adds X86_CR3_PTI_PCID_USER_BIT. */
  kernelPcid: number;
  /** What the getpid model answers. */
  pid: number;
}

const SYMBOLS: Record<string, ConfigSymbol> = {
  X86_64: { default: true, doc: '64-bit kernel.' },
  SMP: { default: true, doc: 'Per-CPU variables are %gs-relative (PER_CPU_VAR).' },
  PAGE_TABLE_ISOLATION: { default: true,
    doc: 'KPTI (Meltdown mitigation): user mode runs on a page table that maps almost no kernel memory; the entry code switches CR3 (SWITCH_TO_KERNEL_CR3 / SWITCH_TO_USER_CR3_STACK). Patched in at boot only when the CPU needs it (X86_FEATURE_PTI).' },
  X86_5LEVEL: { default: false, doc: '5-level paging support: the SYSRET canonical check becomes an ALTERNATIVE on X86_FEATURE_LA57.' },
  GCC_PLUGIN_STACKLEAK: { default: false, doc: 'Erase the used part of the kernel stack before returning to user mode (STACKLEAK_ERASE_NOCLOBBER calls stackleak_erase).' },
  PARAVIRT: { default: false, doc: 'Paravirtualised SWAPGS/SYSRET/IRET hooks. kentry models native hardware only.' },
  PARAVIRT_XXL: { default: false, doc: 'Paravirt ops for privileged instructions (Xen PV).' },
  DEBUG_ENTRY: { default: false, doc: 'Extra sanity checks in the entry code (e.g. that pt_regs->cs is a user selector before returning to user mode).' },
  IA32_EMULATION: { default: false, doc: '32-bit syscalls (entry_SYSCALL_compat). Not modelled.' },
  X86_ESPFIX64: { default: false, doc: 'IRET to a 16-bit LDT stack segment fix-up. Not modelled (kentry sets up no LDT).' },
  VMAP_STACK: { default: true, doc: 'Task kernel stacks live in vmalloc space with guard pages.' },
  RETPOLINE: { default: true, doc: 'Indirect branches through retpoline thunks (the syscall path has none in 5.8).' },
};

/** v5.8 arch/x86/include/asm/cpufeatures.h numbers (word * 32 + bit). */
const FEATURES_5_8: Record<string, number> = {
  FPU: 0 * 32 + 0,
  PGE: 0 * 32 + 13,
  SYSCALL: 1 * 32 + 11,
  NX: 1 * 32 + 20,
  LM: 1 * 32 + 29,
  ALWAYS: 3 * 32 + 21,
  PCID: 4 * 32 + 17,
  PTI: 7 * 32 + 11,
  RETPOLINE: 7 * 32 + 12,
  FSGSBASE: 9 * 32 + 0,
  SMEP: 9 * 32 + 7,
  INVPCID: 9 * 32 + 10,
  SMAP: 9 * 32 + 20,
  FENCE_SWAPGS_USER: 11 * 32 + 4,
  FENCE_SWAPGS_KERNEL: 11 * 32 + 5,
  UMIP: 16 * 32 + 2,
  LA57: 16 * 32 + 16,
};

const SYSCALLS_X86_64: SyscallInfo[] = [
  { nr: 0, name: 'read', signature: 'read(unsigned int fd, char *buf, size_t count)' },
  { nr: 1, name: 'write', signature: 'write(unsigned int fd, const char *buf, size_t count)' },
  { nr: 39, name: 'getpid', signature: 'getpid(void)' },
  { nr: 60, name: 'exit', signature: 'exit(int error_code)' },
  { nr: 231, name: 'exit_group', signature: 'exit_group(int error_code)' },
];

const PROFILE_5_8: KernelProfile = {
  version: '5.8',
  family: '5.8',
  altInstr: '5.8',
  topOfStack: { symbol: 'cpu_tss_rw', offset: 12, name: 'cpu_current_top_of_stack',
    doc: 'In 5.8 an alias of cpu_tss_rw.x86_tss.sp1: entry_SYSCALL_64 loads RSP from it.' },
  kbuildDefines: {},
  factSources: {
    config: 'bundled 5.8 profile (emulator/kernel/profiles.ts)',
    asmOffsets: 'machine facts (pt_regs, TSS) + bundled 5.8 struct tlb_state offsets',
    x86Features: 'bundled table of v5.8 arch/x86/include/asm/cpufeatures.h',
    layout: 'v5.8 Documentation/x86/x86_64/mm.rst (4-level)',
  },
  release: 'v5.8.13',
  configSymbols: SYMBOLS,
  config: Object.fromEntries(Object.entries(SYMBOLS).map(([k, v]) => [k, v.default])),
  x86Features: FEATURES_5_8,
  syscalls: SYSCALLS_X86_64,
  errno: { EBADF: 9, EFAULT: 14, ENOSYS: 38 },
  perCpu: {
    fixed_percpu_data: { offset: 0x0, size: 48, doc: 'irq stack union; the stack-protector canary sits at %gs:40.' },
    gdt_page: { offset: 0x1000, size: 0x1000, doc: 'This CPU\'s GDT (the CPU uses the read-only alias in cpu_entry_area).' },
    cpu_tss_rw: { offset: 0x2000, size: 0x3000,
      doc: 'struct tss_struct: the hardware TSS (sp0 = trampoline stack top, sp1 = task stack top, sp2 = scratch for the user RSP) followed by the I/O bitmap. Page aligned, mapped into the user page table so the entry code can use it before switching CR3.' },
    entry_stack_storage: { offset: 0x5000, size: 0x1000, doc: 'The page behind the cpu_entry_area trampoline (entry) stack.' },
    cpu_tlbstate: { offset: 0x6000, size: 0x100,
      doc: 'struct tlb_state: loaded mm, its ASID, and user_pcid_flush_mask (user PCIDs that must be flushed on the next return to user mode).' },
    current_task: { offset: 0x6100, size: 8, doc: 'The running task_struct.' },
    cpu_number: { offset: 0x6108, size: 4, doc: 'This CPU\'s number (0).' },
  },
  perCpuAreaSize: 0x8000,
  // struct tlb_state (5.8): loaded_mm 0, last_user_mm 8, loaded_mm_asid 16, next_asid 18,
  // is_lazy 20, invalidate_other 21, user_pcid_flush_mask 22, cr4 24.
  asmOffsets: { TLB_STATE_user_pcid_flush_mask: 22, TLB_STATE_loaded_mm_asid: 16 },
  cppAliases: {
    // 4.15-5.9 keep the task stack top in the TSS's unused sp1 slot.
    cpu_current_top_of_stack: 'cpu_tss_rw + TSS_sp1',
  },
  doSyscall64: {
    signature: 'void do_syscall_64(unsigned long nr, struct pt_regs *regs)',
    argRegisters: ['rdi', 'rsi'],
    argNames: ['nr', 'regs'],
    returnsBool: false,
    doc: 'Since 5.8 (generic entry code): enter-from-user work, regs->ax = sys_call_table[nr](regs) for nr < NR_syscalls, exit-to-user work.',
  },
  layout: {
    startKernelMap: 0xffffffff80000000n,
    kernelTextBase: 0xffffffff81000000n,
    entryTextBase: 0xffffffff81a00000n,
    altReplacementBase: 0xffffffff82a00000n,
    altInstructionsBase: 0xffffffff82a80000n,
    pageOffset: 0xffff888000000000n,
    vmallocStart: 0xffffc90000000000n,
    cpuEntryAreaBase: 0xfffffe0000000000n,
    ceaGdtOffset: 0x0,
    ceaEntryStackOffset: 0x1000,
    ceaTssOffset: 0x2000,
    entryStackSize: 64 * 8,
    threadSize: 16 * 1024,
    virtualMaskShift: 47,
    taskSizeMax: 0x7ffffffff000n,
    userTextBase: 0x401000n,
    userStackTop: 0x7ffffffff000n,
    userStackSize: 0x4000,
  },
  kernelPcid: 1,
  pid: 4242,
};

export const KERNEL_PROFILES: Readonly<Record<string, KernelProfile>> = {
  ...newerProfiles(PROFILE_5_8),
  // Last on purpose: "the newest key" is the language server's default, and the bundled sample is 5.8.
  '5.8': PROFILE_5_8,
};

/**
 * The family a kernel version belongs to: 5.8 -> 5.8, 5.9-6.2 -> 6.1, 6.3-6.8 -> 6.6, 6.9+ -> 6.12.
 * Exact for the versions kentry was checked on (5.8.x, 6.1.x, 6.12.x); 5.9-5.19 are approximated
 * by 6.1 (own cpu_current_top_of_stack, do_syscall_64(regs, nr), 12-byte alt_instr), which is what
 * those releases converge to; launch.json kernel.version can pick another family.
 */
export function familyOf(major: number, minor: number): KernelFamily {
  if (major < 5 || (major === 5 && minor <= 8)) return '5.8';
  if (major === 5) return '6.1';
  if (major > 6 || minor >= 9) return '6.12';
  return minor >= 3 ? '6.6' : '6.1';
}

/** The bundled profile for a version string such as '6.1', '6.1.192', 'v6.12', or a family name. */
export function profileForVersion(version: string): KernelProfile | undefined {
  if (KERNEL_PROFILES[version]) return KERNEL_PROFILES[version];
  const m = /^v?(\d+)\.(\d+)/.exec(version);
  if (!m) return undefined;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  // Before 5.8 the entry code is too different (no SYM_* annotations, C syscall dispatch in asm).
  if (major < 5 || (major === 5 && minor < 8)) return undefined;
  return KERNEL_PROFILES[familyOf(major, minor)];
}

/** The profile's defaults overlaid with the user's choices (unknown symbols are kept: they become CONFIG_ defines too). */
export function resolveConfig(profile: KernelProfile, overrides?: Record<string, boolean>): KernelConfig {
  return { ...profile.config, ...(overrides ?? {}) };
}

export function syscallByNumber(profile: KernelProfile, nr: bigint): SyscallInfo | undefined {
  return profile.syscalls.find((s) => BigInt(s.nr) === nr);
}

export function syscallNumber(profile: KernelProfile, name: string): number {
  const s = profile.syscalls.find((x) => x.name === name);
  if (!s) throw new Error(`syscall ${name} is not in the ${profile.version} profile`);
  return s.nr;
}

/** Name of an X86_FEATURE number, e.g. 235 -> 'PTI'. */
export function featureName(profile: KernelProfile, n: number): string | undefined {
  return Object.entries(profile.x86Features).find(([, v]) => v === n)?.[0];
}
