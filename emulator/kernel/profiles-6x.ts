/**
 * Kernel profiles of the 6.x families (6.1, 6.6, 6.12), built on the 5.8 profile: what changed
 * for the entry code, and the facts an UNBUILT real tree needs (a tree without include/generated/:
 * its Kconfig values and asm-offsets, numbers only). Values were read from Debian's
 * linux-source-6.1 (6.1.192) and linux-source-6.12 (6.12.117) after `make x86_64_defconfig &&
 * make prepare` (include/generated/autoconf.h and asm-offsets.h); 6.6 has no tree on disk and is
 * derived from 6.12 with the pre-6.9 Kconfig names (see factSources).
 */
import type { ConfigSymbol, KernelFamily, KernelProfile } from './profiles';

/** Kconfig values of x86_64_defconfig that the headers entry_64.S includes test (6.1.192). */
const KCONFIG_6_1 = [
  '64BIT', 'ARCH_DMA_ADDR_T_64BIT', 'ARCH_HAS_MEM_ENCRYPT', 'ARCH_USE_SYM_ANNOTATIONS', 'BUG', 'CC_HAS_ASM_INLINE', 'COMPAT',
  'CPU_IBPB_ENTRY', 'CPU_IBRS_ENTRY', 'CPU_SRSO', 'CPU_UNRET_ENTRY', 'DEBUG_BUGVERBOSE', 'DYNAMIC_MEMORY_LAYOUT', 'GENERIC_BUG',
  'GENERIC_BUG_RELATIVE_POINTERS', 'HAVE_ARCH_JUMP_LABEL_RELATIVE', 'HAVE_ARCH_PREL32_RELOCATIONS', 'HAVE_JUMP_LABEL_HACK', 'HAVE_KVM',
  'HAVE_UID16', 'IA32_EMULATION', 'IRQ_WORK', 'JUMP_LABEL', 'KPROBES', 'KVM_GUEST', 'MITIGATION_ITS', 'MODULES', 'OBJTOOL',
  'PAGE_TABLE_ISOLATION', 'PARAVIRT', 'PCI_MSI', 'PHYS_ADDR_T_64BIT', 'PROC_FS', 'RANDOMIZE_BASE', 'RANDOMIZE_MEMORY', 'RETHUNK',
  'RETPOLINE', 'SMP', 'SPARSEMEM', 'SPARSEMEM_VMEMMAP', 'TRACEPOINTS', 'TRACING', 'UID16', 'X86_5LEVEL', 'X86_64', 'X86_64_SMP',
  'X86_CMOV', 'X86_CMPXCHG64', 'X86_INTEL_MEMORY_PROTECTION_KEYS', 'X86_IOPL_IOPERM', 'X86_IO_APIC', 'X86_LOCAL_APIC', 'X86_MCE',
  'X86_MCE_AMD', 'X86_MCE_THRESHOLD', 'X86_THERMAL_VECTOR', 'X86_UMIP', 'X86_VSYSCALL_EMULATION', 'X86_ESPFIX64', 'STACKPROTECTOR',
  'UNWINDER_ORC', 'MITIGATION_RFDS', 'MITIGATION_SPECTRE_BHI', 'MITIGATION_TSA',
];
const KCONFIG_VALUES_6_1: Record<string, string> = {
  BASE_SMALL: '0', NR_CPUS: '64', PGTABLE_LEVELS: '5', PHYSICAL_ALIGN: '0x200000', PHYSICAL_START: '0x1000000',
  X86_INTERNODE_CACHE_SHIFT: '6', X86_L1_CACHE_SHIFT: '6', X86_MINIMUM_CPU_FAMILY: '64', CC_VERSION_TEXT: '"gcc"',
};

/** The same for 6.12.117: the mitigations were renamed MITIGATION_* in 6.9. */
const KCONFIG_6_12 = [
  '64BIT', 'ARCH_DMA_ADDR_T_64BIT', 'ARCH_HAS_MEM_ENCRYPT', 'ARCH_USE_SYM_ANNOTATIONS', 'BUG', 'CALL_PADDING', 'CALL_THUNKS',
  'CC_HAS_ASM_INLINE', 'CC_HAS_NAMED_AS', 'COMPAT', 'DEBUG_BUGVERBOSE', 'DEBUG_ENTRY', 'DYNAMIC_MEMORY_LAYOUT', 'GENERIC_BUG',
  'GENERIC_BUG_RELATIVE_POINTERS', 'HAVE_ARCH_JUMP_LABEL_RELATIVE', 'HAVE_JUMP_LABEL_HACK', 'HAVE_UID16', 'IA32_EMULATION',
  'IRQ_DOMAIN_HIERARCHY', 'IRQ_WORK', 'JUMP_LABEL', 'KPROBES', 'KVM_GUEST', 'MITIGATION_CALL_DEPTH_TRACKING', 'MITIGATION_IBPB_ENTRY',
  'MITIGATION_IBRS_ENTRY', 'MITIGATION_ITS', 'MITIGATION_PAGE_TABLE_ISOLATION', 'MITIGATION_RETHUNK', 'MITIGATION_RETPOLINE',
  'MITIGATION_SRSO', 'MITIGATION_UNRET_ENTRY', 'NOINSTR_VALIDATION', 'OBJTOOL', 'PARAVIRT', 'PCI_MSI', 'PHYS_ADDR_T_64BIT', 'PROC_FS',
  'RANDOMIZE_BASE', 'RANDOMIZE_MEMORY', 'SMP', 'SPARSEMEM', 'SPARSEMEM_VMEMMAP', 'TRACEPOINTS', 'TRACING', 'UID16',
  'USE_X86_SEG_SUPPORT', 'X86_5LEVEL', 'X86_64', 'X86_64_SMP', 'X86_CET', 'X86_CMOV', 'X86_CMPXCHG64',
  'X86_INTEL_MEMORY_PROTECTION_KEYS', 'X86_IOPL_IOPERM', 'X86_IO_APIC', 'X86_KERNEL_IBT', 'X86_LOCAL_APIC', 'X86_MCE', 'X86_MCE_AMD',
  'X86_MCE_THRESHOLD', 'X86_THERMAL_VECTOR', 'X86_UMIP', 'X86_VSYSCALL_EMULATION', 'X86_ESPFIX64', 'STACKPROTECTOR', 'UNWINDER_ORC',
];
const KCONFIG_VALUES_6_12: Record<string, string> = {
  ...KCONFIG_VALUES_6_1, FUNCTION_ALIGNMENT: '16', FUNCTION_PADDING_BYTES: '16', PAGE_SHIFT: '12',
};
delete KCONFIG_VALUES_6_12.BASE_SMALL;

/** 6.9 renamed the mitigation symbols; 6.6 still has the old names. */
const RENAMED_IN_6_9: Record<string, string> = {
  MITIGATION_CALL_DEPTH_TRACKING: 'CALL_DEPTH_TRACKING', MITIGATION_IBPB_ENTRY: 'CPU_IBPB_ENTRY', MITIGATION_IBRS_ENTRY: 'CPU_IBRS_ENTRY',
  MITIGATION_PAGE_TABLE_ISOLATION: 'PAGE_TABLE_ISOLATION', MITIGATION_RETHUNK: 'RETHUNK', MITIGATION_RETPOLINE: 'RETPOLINE',
  MITIGATION_SRSO: 'CPU_SRSO', MITIGATION_UNRET_ENTRY: 'CPU_UNRET_ENTRY',
};
const KCONFIG_6_6 = KCONFIG_6_12.map((k) => RENAMED_IN_6_9[k] ?? k);

/** asm-offsets.h values the entry code uses that are not machine facts (pt_regs/TSS come from emulator/machine/facts). */
const ASM_OFFSETS_6_1: Record<string, number> = {
  stack_canary_offset: 40, TASK_threadsp: 2904, TASK_stack_canary: 1344, TLB_STATE_user_pcid_flush_mask: 22,
  CPU_ENTRY_AREA_entry_stack: 4096, SIZEOF_entry_stack: 4096, MASK_entry_stack: -4096,
};
const ASM_OFFSETS_6_12: Record<string, number> = {
  FIXED_stack_canary: 40, TASK_threadsp: 2968, TASK_stack_canary: 1416, TLB_STATE_user_pcid_flush_mask: 22,
  CPU_ENTRY_AREA_entry_stack: 4096, SIZEOF_entry_stack: 4096, MASK_entry_stack: -4096,
  X86_top_of_stack: 24, X86_current_task: 0, X86_call_depth: 16,
};

const MITIGATION_SYMBOLS: Record<string, ConfigSymbol> = {
  X86_KERNEL_IBT: { default: false, doc: 'Indirect Branch Tracking: ENDBR (endbr64) at every indirect-branch target, e.g. the first instruction of entry_SYSCALL_64.' },
  RETHUNK: { default: true, doc: 'RET becomes `jmp __x86_return_thunk` (retbleed/SRSO); patched back to `ret` at boot through objtool\'s .return_sites, which kentry does not have: the thunk is a `ret` stub.' },
  CPU_UNRET_ENTRY: { default: true, doc: 'UNTRAIN_RET on kernel entry (AMD retbleed): an ALTERNATIVE on X86_FEATURE_UNRET.' },
  CPU_IBPB_ENTRY: { default: true, doc: 'IBPB on kernel entry (UNTRAIN_RET on X86_FEATURE_ENTRY_IBPB).' },
  CPU_IBRS_ENTRY: { default: true, doc: 'IBRS_ENTER / IBRS_EXIT write MSR_IA32_SPEC_CTRL on entry and exit, on X86_FEATURE_KERNEL_IBRS.' },
  CPU_SRSO: { default: true, doc: 'Speculative Return Stack Overflow mitigation (AMD): UNTRAIN_RET variants on X86_FEATURE_SRSO*.' },
  IA32_EMULATION: { default: true, doc: '32-bit syscalls (entry_SYSCALL_compat, int $0x80). Assembled, not modelled.' },
  X86_ESPFIX64: { default: true, doc: 'IRET to a 16-bit LDT stack segment fix-up. Assembled; kentry sets up no LDT.' },
  STACKPROTECTOR: { default: true, doc: '-fstack-protector canary in the per-CPU area (fixed_percpu_data.stack_canary).' },
  PARAVIRT: { default: true, doc: 'Paravirt hooks; native hardware: the XENPV alternatives stay unpatched.' },
  DEBUG_ENTRY: { default: false, doc: 'Extra sanity checks in the entry code.' },
};

function symbolsFor(on: string[], base: Record<string, ConfigSymbol>, renames: Record<string, string> = {}): Record<string, ConfigSymbol> {
  const out: Record<string, ConfigSymbol> = {};
  for (const [k, v] of Object.entries({ ...base, ...MITIGATION_SYMBOLS })) out[renames[k] ?? k] = { ...v, default: on.includes(renames[k] ?? k) };
  // Every other y symbol of the defconfig list is kept (it may matter to a header).
  for (const k of on) out[k] ??= { default: true, doc: 'x86_64_defconfig value (include/generated/autoconf.h of the Debian tree).' };
  return out;
}

const TO_NEW_NAMES: Record<string, string> = Object.fromEntries(Object.entries(RENAMED_IN_6_9).map(([n, o]) => [o, n]));

function family(base: KernelProfile, f: KernelFamily, over: Partial<KernelProfile> & { on: string[]; renames?: Record<string, string> }): KernelProfile {
  const { on, renames, ...rest } = over;
  const configSymbols = symbolsFor(on, base.configSymbols as Record<string, ConfigSymbol>, renames);
  return {
    ...base,
    version: f,
    family: f,
    configSymbols,
    config: Object.fromEntries(Object.entries(configSymbols).map(([k, v]) => [k, v.default])),
    layout: { ...base.layout, entryStackSize: 4096 },
    doSyscall64: {
      signature: 'void do_syscall_64(struct pt_regs *regs, int nr)',
      argRegisters: ['rdi', 'rsi'],
      argNames: ['regs', 'nr'],
      returnsBool: false,
      doc: 'Since 5.9 the arguments are (regs, nr): enter-from-user work, regs->ax = sys_call_table[nr](regs), syscall_exit_to_user_mode().',
    },
    ...rest,
  };
}

/**
 * X86_FEATURE_* numbers the 6.x entry code's ALTERNATIVEs test (word*32+bit), from the trees'
 * arch/x86/include/asm/cpufeatures.h; a real tree's own header overrides them at load time.
 */
const FEATURES_6_1: Record<string, number> = {
  FPU: 0, PGE: 13, SYSCALL: 43, NX: 52, LM: 61, ALWAYS: 117, PCID: 145, PTI: 235, KERNEL_IBRS: 236, USE_IBPB: 245, XENPV: 272,
  FSGSBASE: 288, SMEP: 295, ERMS: 297, INVPCID: 298, SMAP: 308, FENCE_SWAPGS_USER: 356, FENCE_SWAPGS_KERNEL: 357, ENTRY_IBPB: 362,
  RETPOLINE: 364, RETPOLINE_LFENCE: 365, RETHUNK: 366, UNRET: 367, CLEAR_CPU_BUF: 370, SRSO: 376, SRSO_ALIAS: 377,
  IBPB_ON_VMEXIT: 378, UMIP: 514, LA57: 528, MD_CLEAR: 586, SPEC_CTRL: 602, CLEAR_BHB_LOOP: 673, CLEAR_BHB_LOOP_ON_VMEXIT: 676,
  INDIRECT_THUNK_ITS: 677,
};
const FEATURES_6_12: Record<string, number> = { ...FEATURES_6_1, CALL_DEPTH: 371, CLEAR_CPU_BUF: 114, INDIRECT_THUNK_ITS: 678 };

const TOP_OF_STACK_6_1 = { symbol: 'cpu_current_top_of_stack', offset: 0, name: 'cpu_current_top_of_stack',
  doc: 'Its own per-CPU variable since 5.9 (no longer TSS sp1): entry_SYSCALL_64 loads RSP from it.' };
const TOP_OF_STACK_6_2 = { symbol: 'pcpu_hot', offset: 24, name: 'pcpu_hot.top_of_stack',
  doc: 'struct pcpu_hot (6.2+) gathers the hot per-CPU fields; entry_SYSCALL_64 loads RSP from pcpu_hot + X86_top_of_stack.' };

export function newerProfiles(base: KernelProfile): Record<string, KernelProfile> {
  const specCtrl = { x86_spec_ctrl_current: { offset: 0x6200, size: 8, doc: 'The SPEC_CTRL MSR value the kernel runs with; IBRS_ENTER writes it (IBRS bit set) on entry.' } };
  const perCpu61 = { ...base.perCpu, ...specCtrl, cpu_current_top_of_stack: { offset: 0x6110, size: 8, doc: 'Top of the current task\'s kernel stack (its own per-CPU variable since 5.9).' } };
  const perCpu66 = { ...base.perCpu, ...specCtrl, pcpu_hot: { offset: 0x6140, size: 64, doc: 'struct pcpu_hot: current_task 0, preempt_count 8, cpu_number 12, call_depth 16, top_of_stack 24 ...' } };
  const sources = (tree: string, extra: Record<string, string> = {}): Record<string, string> => ({
    config: `bundled ${tree} x86_64_defconfig values (used only for a tree without include/generated/)`,
    asmOffsets: `bundled ${tree} asm-offsets numbers + machine facts (pt_regs, TSS)`,
    x86Features: `the tree's arch/x86/include/asm/cpufeatures.h (without one: bundled numbers from ${tree})`,
    layout: '4-level Documentation/x86/x86_64/mm.rst; SIZEOF_entry_stack from the tree\'s asm-offsets',
    ...extra,
  });
  const p61 = family(base, '6.1', {
    release: 'v6.1', altInstr: '6.1', x86Features: FEATURES_6_1, topOfStack: TOP_OF_STACK_6_1, perCpu: perCpu61, on: KCONFIG_6_1,
    kbuildDefines: {},
    unbuiltTree: { kconfigValues: KCONFIG_VALUES_6_1, asmOffsets: ASM_OFFSETS_6_1, extraHeaders: { 'arch/x86/include/generated/asm/export.h': '#include <asm-generic/export.h>' } },
    factSources: sources('Debian linux-source-6.1 (6.1.192)'),
  });
  const p66 = family(base, '6.6', {
    release: 'v6.6', altInstr: '6.3', x86Features: FEATURES_6_12, topOfStack: TOP_OF_STACK_6_2, perCpu: perCpu66, on: KCONFIG_6_6,
    kbuildDefines: {},
    unbuiltTree: { kconfigValues: KCONFIG_VALUES_6_12, asmOffsets: ASM_OFFSETS_6_12, extraHeaders: {} },
    factSources: sources('6.12-derived (pre-6.9 Kconfig names)', {
      note: '6.6 has no tree on disk here: its Kconfig names and asm-offsets are the 6.12 ones with the pre-6.9 mitigation names; not checked against a 6.6 build',
    }),
  });
  const p612 = family(base, '6.12', {
    release: 'v6.12', altInstr: '6.3', x86Features: FEATURES_6_12, topOfStack: TOP_OF_STACK_6_2, perCpu: perCpu66, on: KCONFIG_6_12, renames: TO_NEW_NAMES,
    // Kbuild passes the module name macros to every object since 6.x (seen in `make V=1 arch/x86/entry/entry_64.o`).
    kbuildDefines: { KBUILD_MODFILE: '"arch/x86/entry/entry_64"', KBUILD_MODNAME: '"entry_64"', __KBUILD_MODNAME: 'kmod_entry_64' },
    unbuiltTree: { kconfigValues: KCONFIG_VALUES_6_12, asmOffsets: ASM_OFFSETS_6_12, extraHeaders: {} },
    factSources: sources('Debian linux-source-6.12 (6.12.117)'),
  });
  return { '6.1': p61, '6.6': p66, '6.12': adjustForVersion(p612, 6, 12) };
}

/**
 * Exact-version knobs inside a family: the 6.6 family spans 6.3-6.8, and do_syscall_64 started
 * returning bool (SYSRET checks in C) in 6.7; pcpu_hot replaced cpu_current_top_of_stack in 6.2.
 */
export function adjustForVersion(p: KernelProfile, major: number, minor: number): KernelProfile {
  const v = major * 100 + minor;
  let out = p;
  if (v >= 607 && !p.doSyscall64.returnsBool) {
    out = { ...out, doSyscall64: { ...out.doSyscall64, returnsBool: true, signature: 'bool do_syscall_64(struct pt_regs *regs, int nr)',
      doc: 'Since 6.7 the SYSRET conditions are checked in C: returns true when SYSRET is allowed, false to leave through IRET.' } };
  }
  if (v >= 602 && out.topOfStack.symbol !== 'pcpu_hot' && out.family !== '5.8') out = { ...out, topOfStack: TOP_OF_STACK_6_2, perCpu: { ...out.perCpu, pcpu_hot: { offset: 0x6140, size: 64, doc: 'struct pcpu_hot' } } };
  return out;
}
