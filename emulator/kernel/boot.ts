/**
 * Boot: link the kernel objects and the user program, load them, patch alternatives, and
 * leave the machine as Linux 5.8 leaves CPU 0 when its first process runs in user mode:
 * GDT and TSS from the cpu_entry_area, per-CPU area with cpu_tss_rw (sp0 = trampoline stack,
 * sp1 = task stack top), KPTI page-table pair, SYSCALL MSRs as syscall_init() writes them.
 */
import type { Diagnostic, LinkLayout, LinkedImage, ObjectImage } from '../asm/types';
import { link as kentryLink } from '../asm/link';
import type { CpuProfile } from '../cpu/profiles';
import { Machine } from '../machine/machine';
import { flatSegment, FLAT_CODE64_ATTRS, FLAT_DATA_ATTRS } from '../cpu/descriptors';
import { CR0_FIELDS, CR4_FIELDS, CR3, DESCRIPTOR, EFER_FIELDS, GDT_ENTRY, MSR, RFLAGS, SELECTOR, X86_HW_TSS, X86_HW_TSS_SIZE, bitMask, type BitField } from '../machine/facts';
import { PhysicalMemory, writeLE } from '../machine/memory';
import { GPR_INDEX, nullSegment, type CpuState } from '../machine/state';
import { applyAlternatives, type AppliedAlternative } from './alternatives';
import { PHYS, perCpuAddress, taskStackBottom, type SystemLayout } from './layout';
import { doSyscall64Model, stackleakEraseModel } from './models/do-syscall-64';
import type { KernelModel } from './models/types';
import { EXCEPTION_GATES, EXCEPTION_STACK_SIZE, IDT_LIMIT, IST, STUB_BYTES, STUB_STRIDE as EXC_STUB_STRIDE, buildIdt, stubName } from './idt';
import { FrameAllocator, PAGE, PageTableBuilder, isUserHalf, type LeafFlags, type PagingLevels } from './pagetables';
import type { KernelConfig, KernelProfile } from './profiles';

export interface BootOptions {
  profile: KernelProfile;
  config: KernelConfig;
  cpu: CpuProfile;
  kernel: ObjectImage[];
  user: ObjectImage;
  /** The linker to use; default: kentry's (emulator/asm/link). Tests may pass GNU ld's result instead. */
  link?: Linker;
}

export type Linker = (objects: ObjectImage[], layout: LinkLayout) => LinkedImage;


export interface BootedSystem {
  machine: Machine;
  profile: KernelProfile;
  config: KernelConfig;
  cpu: CpuProfile;
  /** Features the booted kernel uses: the CPU's plus Linux's synthetic ones (PTI, ALWAYS), minus what it turned off. */
  features: Set<string>;
  /** Why each feature decision was made (feature -> sentence). */
  featureReasons: Map<string, string>;
  kernelImage: LinkedImage;
  userImage: LinkedImage;
  /** Models of C functions, by the address the entry code calls. */
  models: Map<bigint, KernelModel>;
  /**
   * Symbols the entry file references but nothing defines (other entry objects, C handlers,
   * data): each gets a stub address; reaching a `ud2` stub is a clear stop. Address -> name.
   */
  stubs: Map<bigint, { name: string; kind: 'ud2' | 'ret' | 'jmp-reg' | 'data'; doc: string }>;
  layout: SystemLayout;
  alternatives: AppliedAlternative[];
  /** KPTI active: two page tables, CR3 switches on every entry/exit. */
  pti: boolean;
  /** PCID active (CR4.PCIDE). */
  pcid: boolean;
  /** Where the user program starts. */
  userEntry: bigint;
  /** Page-table depth: 5 with CR4.LA57 (LA57 CPU and X86_5LEVEL=y), else 4. */
  pagingLevels: PagingLevels;
  /** The IDT the CPU uses (IDTR): gates for vectors 0-31 to kentry's exception stubs, IST stacks in the TSS. */
  idt: { base: bigint; limit: number; stubs: Map<bigint, string>; istStacks: { ist: number; name: string; top: bigint }[] };
}

/**
 * Linux-synthetic features (set by the kernel's bug/mitigation selection, not by CPUID) that
 * kentry's boot leaves clear, with the reason shown on the ALTERNATIVE sites that test them.
 */
const SYNTHETIC_OFF: Record<string, string> = {
  XENPV: 'not set: kentry runs native hardware, not a Xen PV guest',
  KERNEL_IBRS: 'not set: kentry models no X86_BUG_RETBLEED, so Linux selects no IBRS-on-entry mitigation (IBRS_ENTER/IBRS_EXIT stay NOPs)',
  ENTRY_IBPB: 'not set: no retbleed/SRSO mitigation by IBPB on entry is selected (UNTRAIN_RET stays NOPs)',
  UNRET: 'not set: the retbleed untrain-ret mitigation is for affected AMD CPUs; kentry models no X86_BUG_RETBLEED',
  RETHUNK: 'not set: no return-thunk mitigation selected (RET sites keep `jmp __x86_return_thunk`, whose stub is a plain ret)',
  SRSO: 'not set: kentry models no X86_BUG_SRSO',
  SRSO_ALIAS: 'not set: kentry models no X86_BUG_SRSO',
  IBPB_ON_VMEXIT: 'not set: no virtualisation',
  CALL_DEPTH: 'not set: call depth tracking is a retbleed mitigation for Skylake-era Intel CPUs; not selected',
  CLEAR_CPU_BUF: 'not set: kentry models no MDS/TAA/MMIO/RFDS bug, so CLEAR_CPU_BUFFERS (verw) stays a NOP',
  CLEAR_BHB_LOOP: 'not set: kentry models no X86_BUG_BHI, so CLEAR_BRANCH_HISTORY stays a NOP',
  CLEAR_BHB_LOOP_ON_VMEXIT: 'not set: no virtualisation',
  RETPOLINE: 'not set: kentry models no Spectre v2 (X86_BUG_SPECTRE_V2) mitigation by retpolines',
  RETPOLINE_LFENCE: 'not set: no retpoline mitigation selected',
  INDIRECT_THUNK_ITS: 'not set: kentry models no X86_BUG_ITS',
  USER_IBRS: 'not set: no user IBRS',
  FENCE_SWAPGS_USER: 'not set: kentry models no Spectre v1 swapgs bug (X86_BUG_SWAPGS), so no LFENCE after SWAPGS',
  FENCE_SWAPGS_KERNEL: 'not set: kentry models no Spectre v1 swapgs bug (X86_BUG_SWAPGS)',
};

/** Linux 5.8 has 16 GDT entries per CPU (GDT_ENTRIES). */
const GDT_ENTRIES = 16;
/** Model stubs: addresses in kernel .text where `call <model>` lands; the bytes are ud2 so nothing runs by accident. */
const MODEL_STUB_OFFSET = 0x100000n;
const MODEL_STUB_STRIDE = 0x40n;

/** Stubs for unresolved symbols: after the model stubs, 16 bytes each. */
const STUB_OFFSET = 0x110000n;
const STUB_STRIDE = 0x10n;
/** kentry's exception handler stubs (the IDT's targets): after the unresolved-symbol stubs. */
const EXC_STUB_OFFSET = 0x120000n;

/**
 * The object without its `.discard.*` sections (objtool annotations: unwind hints, noendbr,
 * intra-function calls ...), which vmlinux.lds throws away: their 32-bit absolute references
 * to kernel addresses could not even be linked.
 */
export function withoutDiscarded(o: ObjectImage): ObjectImage {
  const discarded = (name: string): boolean => name.startsWith('.discard');
  if (![...o.sections.keys()].some(discarded)) return o;
  return {
    ...o,
    sections: new Map([...o.sections].filter(([n]) => !discarded(n))),
    symbols: new Map([...o.symbols].filter(([, d]) => !d.section || !discarded(d.section))),
    relocations: o.relocations.filter((r) => !discarded(r.section)),
    lines: o.lines.filter((l) => !discarded(l.section)),
  };
}

/** Symbols referenced by relocations that no object defines and the layout does not provide. */
export function unresolvedSymbols(objects: ObjectImage[], provided: ReadonlyMap<string, bigint>): string[] {
  const defined = new Set<string>();
  for (const o of objects) {
    for (const [name] of o.symbols) defined.add(name);
    for (const [name] of o.sections) defined.add(name);
  }
  const out = new Set<string>();
  for (const o of objects) for (const r of o.relocations) if (!defined.has(r.symbol) && !provided.has(r.symbol)) out.add(r.symbol);
  return [...out].sort();
}

const THUNK_REGS = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];

/**
 * Mitigation routines the entry code `call`s when their feature is patched in: their effect is
 * on predictors only (IBPB, return-stack untraining), so architecturally they are a `ret`.
 */
const PREDICTOR_ONLY = new Set(['entry_ibpb', 'entry_untrain_ret', 'retbleed_untrain_ret', 'zen_untrain_ret', 'srso_untrain_ret', 'srso_alias_untrain_ret', 'its_return_thunk']);
/** Data the entry code reads from .entry.text (mapped in the user page table too): VERW's selector operand. */
const ENTRY_TEXT_DATA: Record<string, { bytes: number[]; doc: string }> = {
  x86_verw_sel: { bytes: [SELECTOR.__KERNEL_DS & 0xff, SELECTOR.__KERNEL_DS >> 8], doc: 'the selector CLEAR_CPU_BUFFERS hands to VERW (__KERNEL_DS); lives in .entry.text' },
  mds_verw_sel: { bytes: [SELECTOR.__KERNEL_DS & 0xff, SELECTOR.__KERNEL_DS >> 8], doc: 'the selector CLEAR_CPU_BUFFERS hands to VERW (__KERNEL_DS); lives in .entry.text' },
};

type StubKind = 'ud2' | 'ret' | 'jmp-reg' | 'data';

function stubFor(name: string): { name: string; kind: StubKind; doc: string } {
  if (name === '__x86_return_thunk') return { name, kind: 'ret', doc: 'return thunk, as apply_returns() leaves it without a return mitigation: `ret`' };
  if (PREDICTOR_ONLY.has(name)) return { name, kind: 'ret', doc: `${name}: acts on branch predictors only (IBPB / return-stack untraining), so kentry runs it as a plain \`ret\`` };
  if (ENTRY_TEXT_DATA[name]) return { name, kind: 'data', doc: ENTRY_TEXT_DATA[name].doc };
  const thunk = /^__x86_indirect_thunk_(\w+)$/.exec(name);
  if (thunk && THUNK_REGS.includes(thunk[1])) return { name, kind: 'jmp-reg', doc: `retpoline thunk without X86_FEATURE_RETPOLINE: \`jmp *%${thunk[1]}\`` };
  return { name, kind: 'ud2', doc: `${name} is defined outside the entry file and not modelled: a ud2 stub, reaching it stops the run` };
}

function stubBytes(name: string, kind: StubKind): Uint8Array {
  if (kind === 'ret') return new Uint8Array([0xc3, 0xcc]);
  if (kind === 'data') return new Uint8Array(ENTRY_TEXT_DATA[name].bytes);
  if (kind === 'jmp-reg') {
    const r = THUNK_REGS.indexOf(name.replace('__x86_indirect_thunk_', ''));
    return new Uint8Array([...(r >= 8 ? [0x41] : []), 0xff, 0xe0 | (r & 7)]);
  }
  return new Uint8Array([0x0f, 0x0b]);
}

function bits(fields: readonly BitField[], names: string[]): bigint {
  return names.reduce((acc, n) => {
    const f = fields.find((x) => x.name === n);
    if (!f) throw new Error(`no bit ${n}`);
    return acc | bitMask(f);
  }, 0n);
}

function bootError(message: string): { errors: Diagnostic[] } {
  return { errors: [{ severity: 'error', message: `boot: ${message}`, loc: { file: '<boot>', line: 0 }, stack: [] }] };
}

/** A segment descriptor as GDT_ENTRY_INIT(flags, base, limit) builds it; `flags` in the attrs format (access byte + flags nibble at 12..15). */
export function segmentDescriptor(flags: number, base: bigint, limit: number): bigint {
  return (BigInt(limit & 0xffff))
    | ((base & 0xffffffn) << 16n)
    | (BigInt(flags & 0xf0ff) << 40n)
    | (BigInt((limit >> 16) & 0xf) << 48n)
    | (((base >> 24n) & 0xffn) << 56n);
}

const ACCESSED = DESCRIPTOR.ACCESSED;
const CODE64 = DESCRIPTOR.P | DESCRIPTOR.S | DESCRIPTOR.CODE | DESCRIPTOR.RW | ACCESSED | DESCRIPTOR.L | DESCRIPTOR.G;
const CODE32 = DESCRIPTOR.P | DESCRIPTOR.S | DESCRIPTOR.CODE | DESCRIPTOR.RW | ACCESSED | DESCRIPTOR.DB | DESCRIPTOR.G;
const DATA = DESCRIPTOR.P | DESCRIPTOR.S | DESCRIPTOR.RW | ACCESSED | DESCRIPTOR.DB | DESCRIPTOR.G;
const DPL3 = 3 << DESCRIPTOR.DPL_SHIFT;
/** 64-bit TSS, busy (LTR marks it busy), present. */
const TSS_BUSY = 0x0b | DESCRIPTOR.P;

/** Linux's GDT (gdt_page of 5.8) plus the TSS descriptor set_tss_desc() writes. */
export function buildGdt(tssBase: bigint, tssLimit: number): Uint8Array {
  const gdt = new Uint8Array(GDT_ENTRIES * 8);
  const put = (index: number, v: bigint): void => gdt.set(writeLE(v, 8), index * 8);
  put(GDT_ENTRY.KERNEL32_CS, segmentDescriptor(CODE32, 0n, 0xfffff));
  put(GDT_ENTRY.KERNEL_CS, segmentDescriptor(CODE64, 0n, 0xfffff));
  put(GDT_ENTRY.KERNEL_DS, segmentDescriptor(DATA, 0n, 0xfffff));
  put(GDT_ENTRY.DEFAULT_USER32_CS, segmentDescriptor(CODE32 | DPL3, 0n, 0xfffff));
  put(GDT_ENTRY.DEFAULT_USER_DS, segmentDescriptor(DATA | DPL3, 0n, 0xfffff));
  put(GDT_ENTRY.DEFAULT_USER_CS, segmentDescriptor(CODE64 | DPL3, 0n, 0xfffff));
  // 16-byte system descriptor: the usual 8 bytes, then base[63:32].
  put(GDT_ENTRY.TSS, segmentDescriptor(TSS_BUSY, tssBase, tssLimit));
  put(GDT_ENTRY.TSS + 1, tssBase >> 32n);
  // GDT_ENTRY_PER_CPU: limit encodes (node << 12) | cpu for RDPID-less getcpu(); CPU 0, node 0.
  put(GDT_ENTRY.PER_CPU, segmentDescriptor(DESCRIPTOR.P | DESCRIPTOR.S | 0x05 | DPL3 | DESCRIPTOR.DB, 0n, 0));
  return gdt;
}

/** The features Linux 5.8 ends up with on this CPU and config, each with its reason. */
export function bootFeatures(profile: KernelProfile, config: KernelConfig, cpu: CpuProfile): { features: Set<string>; reasons: Map<string, string> } {
  const features = new Set(cpu.features);
  const reasons = new Map<string, string>();
  for (const f of cpu.features) {
    reasons.set(f, SYNTHETIC_OFF[f] ? `set: the ${cpu.name} CPU profile selects this Linux mitigation feature` : `the ${cpu.name} CPU reports ${f} in CPUID`);
  }
  features.add('ALWAYS');
  reasons.set('ALWAYS', 'X86_FEATURE_ALWAYS is set on every CPU');
  const ptiConfigured = Boolean(config.PAGE_TABLE_ISOLATION || config.MITIGATION_PAGE_TABLE_ISOLATION);
  if (ptiConfigured && cpu.vendor === 'intel') {
    features.add('PTI');
    reasons.set('PTI', 'set by Linux because PAGE_TABLE_ISOLATION=y and this Intel CPU is vulnerable to Meltdown');
  } else {
    reasons.set('PTI', ptiConfigured
      ? 'not set: AMD CPUs are not affected by Meltdown (X86_BUG_CPU_MELTDOWN), so Linux leaves page-table isolation off'
      : 'not set: the kernel is built without PAGE_TABLE_ISOLATION');
  }
  if (features.has('LA57') && config.X86_5LEVEL) {
    reasons.set('LA57', `set: the ${cpu.name} CPU has 5-level paging and the kernel is built with X86_5LEVEL, so it boots with CR4.LA57 (57-bit addresses, 5-level page tables)`);
  } else if (features.has('LA57')) {
    features.delete('LA57');
    reasons.set('LA57', 'cleared: the kernel is built without X86_5LEVEL, so it runs 4-level paging');
  } else if (!reasons.has('LA57')) reasons.set('LA57', `the ${cpu.name} CPU has no 5-level paging`);
  if (!features.has('PCID')) reasons.set('PCID', `the ${cpu.name} CPU has no PCID`);
  for (const [f, why] of Object.entries(SYNTHETIC_OFF)) if (!features.has(f)) reasons.set(f, why);
  return { features, reasons };
}

function leafFlagsForSection(flags: string, user: boolean): LeafFlags {
  return { writable: flags.includes('w'), executable: flags.includes('x'), user };
}

export function bootSystem(opts: BootOptions): BootedSystem | { errors: Diagnostic[] } {
  try {
    return boot(opts);
  } catch (e) {
    return bootError(e instanceof Error ? e.message : String(e));
  }
}

/**
 * The virtual layout with 5-level paging (Documentation/x86/x86_64/mm.rst, "5-level page
 * tables"): direct map and vmalloc move up into the 57-bit space; cpu_entry_area and the kernel
 * image stay where they are. User programs keep below 47 bits (Linux maps higher only on request).
 */
function la57Layout(l: KernelProfile['layout']): KernelProfile['layout'] {
  return { ...l, pageOffset: 0xff11000000000000n, vmallocStart: 0xffa0000000000000n, virtualMaskShift: 56, taskSizeMax: (1n << 56n) - PAGE };
}

function boot(opts: BootOptions): BootedSystem | { errors: Diagnostic[] } {
  const { config, cpu } = opts;
  const { features, reasons } = bootFeatures(opts.profile, config, cpu);
  const pagingLevels: PagingLevels = features.has('LA57') ? 5 : 4;
  const profile = pagingLevels === 5 ? { ...opts.profile, layout: la57Layout(opts.profile.layout) } : opts.profile;
  const L = profile.layout;
  const pti = features.has('PTI');
  const pcid = features.has('PCID');

  // ---- virtual layout of CPU 0 and the task
  const perCpuPhys = PHYS.perCpu;
  const perCpuBase = L.pageOffset + perCpuPhys;
  const cea = L.cpuEntryAreaBase + PAGE; // CPU_ENTRY_AREA_PER_CPU: the read-only IDT page comes first
  const stackBottom = taskStackBottom(profile);
  const layoutBase = {
    perCpuBase,
    perCpuPhys,
    tssAddress: perCpuAddress(profile, perCpuBase, 'cpu_tss_rw'),
    tssAlias: cea + BigInt(L.ceaTssOffset),
    gdtAddress: perCpuAddress(profile, perCpuBase, 'gdt_page'),
    gdtAlias: cea + BigInt(L.ceaGdtOffset),
    cpuEntryArea: cea,
    taskStackBottom: stackBottom,
    taskStackTop: stackBottom + BigInt(L.threadSize),
    taskStackPhys: PHYS.taskStack,
    entryStackBottom: cea + BigInt(L.ceaEntryStackOffset),
    entryStackTop: cea + BigInt(L.ceaEntryStackOffset) + BigInt(L.entryStackSize),
    userStackTop: L.userStackTop,
    userStackBottom: L.userStackTop - BigInt(L.userStackSize),
  };

  // ---- link: per-CPU symbols are offsets (zero-based per-CPU section), models get stub addresses
  const modelList: KernelModel[] = [doSyscall64Model(profile)];
  if (config.GCC_PLUGIN_STACKLEAK) modelList.push(stackleakEraseModel());
  const models = new Map<bigint, KernelModel>();
  const externs = new Map<string, bigint>();
  for (const [name, v] of Object.entries(profile.perCpu)) externs.set(name, BigInt(v.offset));
  modelList.forEach((m, i) => {
    const at = L.kernelTextBase + MODEL_STUB_OFFSET + BigInt(i) * MODEL_STUB_STRIDE;
    externs.set(m.symbol, at);
    models.set(at, m);
  });
  const stubs = new Map<bigint, { name: string; kind: StubKind; doc: string }>();
  unresolvedSymbols(opts.kernel.map(withoutDiscarded), externs).forEach((name, i) => {
    const at = L.kernelTextBase + STUB_OFFSET + BigInt(i) * STUB_STRIDE;
    externs.set(name, at);
    stubs.set(at, stubFor(name));
  });
  const link = opts.link ?? kentryLink;
  const kernelImage = link(opts.kernel.map(withoutDiscarded), {
    sectionBases: {
      '.text': L.kernelTextBase,
      '.entry.text': L.entryTextBase,
      '.altinstr_replacement': L.altReplacementBase,
      '.altinstructions': L.altInstructionsBase,
    },
    defaultBase: L.altInstructionsBase + 0x10000n,
    externs,
  });
  const userImage = link([opts.user], { sectionBases: { '.text': L.userTextBase }, defaultBase: L.userTextBase, sectionAlign: Number(PAGE), externs: new Map() });
  // Name the model and stub addresses like any kernel symbol (call stacks, disassembly, hovers).
  for (const [at, m] of models) if (!kernelImage.symbols.has(m.symbol)) kernelImage.symbols.set(m.symbol, at);
  for (const [at, st] of stubs) if (!kernelImage.symbols.has(st.name)) kernelImage.symbols.set(st.name, at);
  const linkErrors = [...kernelImage.diagnostics, ...userImage.diagnostics].filter((d) => d.severity === 'error');
  if (linkErrors.length) return { errors: linkErrors };
  const lstar = kernelImage.symbols.get('entry_SYSCALL_64');
  if (lstar === undefined) return bootError('the kernel defines no entry_SYSCALL_64 (the SYSCALL entry point MSR_LSTAR must hold)');
  const userEntry = userImage.symbols.get('_start') ?? userImage.segments.find((s) => s.name === '.text')?.address;
  if (userEntry === undefined) return bootError('the user program has no _start and no .text');

  // ---- physical memory: kernel image at __START_KERNEL_map, per-CPU area, stacks
  const mem = new PhysicalMemory();
  const kernelPhys = (va: bigint): bigint => va - L.startKernelMap;
  for (const s of kernelImage.segments) {
    if (s.address < L.startKernelMap) return bootError(`kernel section ${s.name} linked at 0x${s.address.toString(16)}, outside the kernel image mapping`);
    mem.write(kernelPhys(s.address), s.bytes);
  }
  for (const at of models.keys()) mem.write(kernelPhys(at), new Uint8Array([0x0f, 0x0b])); // ud2
  for (const [at, st] of stubs) mem.write(kernelPhys(at), stubBytes(st.name, st.kind));

  // ---- alternatives (text_poke_early on the loaded image)
  const alternatives = applyAlternatives(
    kernelImage, profile,
    { features, why: (f, present) => `X86_FEATURE_${f} ${present ? 'present' : 'absent'}: ${reasons.get(f) ?? (present ? 'set' : `the ${cpu.name} CPU does not have it`)}` },
    (va, len) => mem.read(kernelPhys(va), len),
    (va, bytes) => mem.write(kernelPhys(va), bytes),
  );

  // ---- page tables
  const frames = new FrameAllocator(PHYS.pageTables, PHYS.pageTablesEnd);
  const pt = new PageTableBuilder(mem, frames, cpu.features.has('NX'), pagingLevels);
  const kernelPgd = frames.alloc(2, 2n * PAGE); // 8 KiB-aligned pair (PGD_ALLOCATION_ORDER 1)
  const userPgd = pti ? kernelPgd + PAGE : kernelPgd;
  const roData: LeafFlags = { writable: false, executable: false, user: false };
  const rwData: LeafFlags = { writable: true, executable: false, user: false };

  const pagesOf = (address: bigint, size: number): bigint[] => {
    const out: bigint[] = [];
    for (let p = address & ~(PAGE - 1n); p < address + BigInt(size); p += PAGE) out.push(p);
    return out;
  };
  // Kernel image: each page with the union of its sections' rights.
  const kernelPages = new Map<bigint, LeafFlags>();
  for (const s of kernelImage.segments) {
    const f = leafFlagsForSection(s.flags, false);
    for (const p of pagesOf(s.address, Math.max(s.bytes.length, 1))) {
      const old = kernelPages.get(p);
      kernelPages.set(p, old ? { user: false, writable: old.writable || f.writable, executable: old.executable || f.executable } : f);
    }
  }
  // Exception stubs: in .entry.text's place for the CPU (mapped in the user page table too, like asm_exc_*).
  const excStubBase = L.kernelTextBase + EXC_STUB_OFFSET;
  const excStubs = new Map<bigint, string>();
  for (const g of EXCEPTION_GATES) {
    const at = excStubBase + BigInt(g.vector) * EXC_STUB_STRIDE;
    excStubs.set(at, stubName(g));
    mem.write(kernelPhys(at), STUB_BYTES);
    if (!kernelImage.symbols.has(stubName(g))) kernelImage.symbols.set(stubName(g), at);
  }
  for (const at of [...models.keys(), ...stubs.keys(), ...excStubs.keys()]) kernelPages.set(at & ~(PAGE - 1n), { writable: false, executable: true, user: false });
  for (const [va, f] of kernelPages) pt.map4k(kernelPgd, va, kernelPhys(va), f);
  // Direct map of the per-CPU area, the vmalloc'ed task stack, the cpu_entry_area aliases.
  pt.mapRange(kernelPgd, perCpuBase, perCpuPhys, profile.perCpuAreaSize, rwData);
  pt.mapRange(kernelPgd, layoutBase.taskStackBottom, PHYS.taskStack, L.threadSize, rwData);
  const percpuPhysOf = (name: string): bigint => perCpuPhys + BigInt(profile.perCpu[name].offset);
  pt.map4k(kernelPgd, layoutBase.gdtAlias, percpuPhysOf('gdt_page'), roData);
  pt.map4k(kernelPgd, layoutBase.entryStackBottom & ~(PAGE - 1n), percpuPhysOf('entry_stack_storage'), rwData);
  pt.mapRange(kernelPgd, layoutBase.tssAlias, percpuPhysOf('cpu_tss_rw'), profile.perCpu.cpu_tss_rw.size, roData);
  // The IDT at CPU_ENTRY_AREA_RO_IDT (read-only, what IDTR holds), and the IST stacks after the
  // TSS in CPU 0's cpu_entry_area, each above a guard page (struct cea_exception_stacks).
  const idtPhys = frames.alloc();
  mem.write(idtPhys, buildIdt(excStubBase));
  pt.map4k(kernelPgd, L.cpuEntryAreaBase, idtPhys, roData);
  const estacks = cea + BigInt(L.ceaTssOffset) + ((BigInt(profile.perCpu.cpu_tss_rw.size) + PAGE - 1n) & ~(PAGE - 1n));
  const istStacks = (Object.entries(IST) as [string, number][]).map(([name, ist], k) => {
    const bottom = estacks + BigInt(2 * k + 1) * PAGE;
    pt.mapRange(kernelPgd, bottom, frames.alloc(EXCEPTION_STACK_SIZE / Number(PAGE)), EXCEPTION_STACK_SIZE, rwData);
    return { ist, name, top: bottom + BigInt(EXCEPTION_STACK_SIZE) };
  });

  // User program and stack, in the user half of the user PGD (the only PGD without PTI).
  const userFrames = new FrameAllocator(PHYS.userFrames, PHYS.userFramesEnd);
  const userPages = new Map<bigint, LeafFlags>();
  for (const s of userImage.segments) {
    if (!isUserHalf(s.address)) return bootError(`user section ${s.name} linked at 0x${s.address.toString(16)}, outside user space`);
    const f = leafFlagsForSection(s.flags, true);
    for (const p of pagesOf(s.address, Math.max(s.bytes.length, 1))) {
      const old = userPages.get(p);
      userPages.set(p, old ? { user: true, writable: old.writable || f.writable, executable: old.executable || f.executable } : f);
    }
  }
  const userPhys = new Map<bigint, bigint>();
  for (const [va, f] of userPages) {
    const pa = userFrames.alloc();
    userPhys.set(va, pa);
    pt.map4k(userPgd, va, pa, f);
  }
  for (const s of userImage.segments) {
    for (let i = 0; i < s.bytes.length; ) {
      const va = s.address + BigInt(i);
      const page = va & ~(PAGE - 1n);
      const n = Math.min(s.bytes.length - i, Number(PAGE - (va - page)));
      mem.write((userPhys.get(page) as bigint) + (va - page), s.bytes.subarray(i, i + n));
      i += n;
    }
  }
  for (const va of pagesOf(layoutBase.userStackBottom, L.userStackSize)) {
    pt.map4k(userPgd, va, userFrames.alloc(), { writable: true, executable: false, user: true });
  }

  if (pti) {
    // The kernel PGD shares the user half, made non-executable for the kernel (pti_set_user_pgtbl).
    for (const i of pt.userHalfEntries(userPgd)) pt.copyPgdEntry(userPgd, kernelPgd, i, cpu.features.has('NX') ? (1n << 63n) : 0n);
    // pti_clone_user_shared(): the whole cpu_entry_area PGD slot, and each CPU's cpu_tss_rw page.
    pt.shareP4dEntry(kernelPgd, userPgd, L.cpuEntryAreaBase);
    pt.map4k(userPgd, layoutBase.tssAddress, percpuPhysOf('cpu_tss_rw'), rwData);
    // pti_clone_entry_text(): .entry.text, executable, nothing else of the kernel image.
    const entry = kernelImage.segments.find((s) => s.name === '.entry.text');
    if (entry) for (const va of pagesOf(entry.address, entry.bytes.length)) pt.map4k(userPgd, va, kernelPhys(va), { writable: false, executable: true, user: false });
    // .entry.text data kentry provides as stubs (x86_verw_sel): their page too, as Linux has them in .entry.text.
    for (const [at, st] of stubs) if (st.kind === 'data') pt.map4k(userPgd, at & ~(PAGE - 1n), kernelPhys(at & ~(PAGE - 1n)), { writable: false, executable: true, user: false });
    // The exception stubs stand for asm_exc_*, which live in .entry.text: the CPU reaches them with the user CR3.
    pt.map4k(userPgd, excStubBase & ~(PAGE - 1n), kernelPhys(excStubBase & ~(PAGE - 1n)), { writable: false, executable: true, user: false });
  }

  // ---- per-CPU data: GDT, TSS, TLB state
  const tssLimit = X86_HW_TSS_SIZE - 1;
  mem.write(percpuPhysOf('gdt_page'), buildGdt(layoutBase.tssAlias, tssLimit));
  const tssField = (name: string): bigint => percpuPhysOf('cpu_tss_rw') + BigInt((X86_HW_TSS.find((f) => f.field === name) as { offset: number }).offset);
  mem.writeU64(tssField('sp0'), layoutBase.entryStackTop);
  for (const st of istStacks) mem.writeU64(tssField(`ist[${st.ist - 1}]`), st.top);
  // The task stack top entry_SYSCALL_64 loads: TSS sp1 (5.8), cpu_current_top_of_stack (5.9-6.1), pcpu_hot.top_of_stack (6.2+).
  const tos = profile.topOfStack;
  if (!profile.perCpu[tos.symbol]) return bootError(`per-CPU variable ${tos.symbol} (${tos.name}) is not in the ${profile.version} profile`);
  mem.writeU64(percpuPhysOf(tos.symbol) + BigInt(tos.offset), layoutBase.taskStackTop);
  // No I/O bitmap: the offset points past the TSS limit (IO_BITMAP_OFFSET_INVALID).
  mem.write(tssField('io_bitmap_base'), writeLE(BigInt(X86_HW_TSS_SIZE), 2));
  const tlbstate = percpuPhysOf('cpu_tlbstate');
  mem.write(tlbstate + BigInt(profile.asmOffsets.TLB_STATE_loaded_mm_asid), writeLE(0n, 2));
  mem.writeU64(percpuPhysOf('fixed_percpu_data') + 40n, 0x5eed0f5eed0f0000n); // stack canary
  // x86_spec_ctrl_current (5.19+): the SPEC_CTRL value IBRS_ENTER writes; IBRS set when KERNEL_IBRS is on.
  if (profile.perCpu.x86_spec_ctrl_current) mem.writeU64(percpuPhysOf('x86_spec_ctrl_current'), features.has('KERNEL_IBRS') ? 1n : 0n);

  // ---- CPU state: syscall_init(), cr4_init(), then "return" to the user program
  const machine = new Machine(cpu, mem);
  const s: CpuState = machine.state;
  s.cr0 = bits(CR0_FIELDS, ['PE', 'MP', 'ET', 'NE', 'WP', 'AM', 'PG']);
  const cr4 = ['PAE', 'PSE', 'PGE', 'OSFXSR', 'OSXMMEXCPT'];
  if (pcid) cr4.push('PCIDE');
  if (cpu.features.has('SMEP')) cr4.push('SMEP');
  if (cpu.features.has('SMAP')) cr4.push('SMAP');
  if (cpu.features.has('UMIP')) cr4.push('UMIP');
  if (cpu.features.has('XSAVE')) cr4.push('OSXSAVE');
  if (pagingLevels === 5) cr4.push('LA57');
  s.cr4 = bits(CR4_FIELDS, cr4);
  s.msrs.set(MSR.EFER, bits(EFER_FIELDS, ['SCE', 'LME', 'LMA', ...(cpu.features.has('NX') ? ['NXE'] : [])]));
  s.msrs.set(MSR.STAR, ((BigInt(SELECTOR.__USER32_CS) << 16n) | BigInt(SELECTOR.__KERNEL_CS)) << 32n);
  s.msrs.set(MSR.LSTAR, lstar);
  s.msrs.set(MSR.CSTAR, 0n);
  s.msrs.set(MSR.SYSCALL_MASK, RFLAGS.TF | RFLAGS.DF | RFLAGS.IF | RFLAGS.IOPL | RFLAGS.AC | RFLAGS.NT);
  s.msrs.set(MSR.KERNEL_GS_BASE, perCpuBase);
  s.msrs.set(MSR.TSC_AUX, 0n);
  s.msrs.set(MSR.IA32_PAT, 0x0007040600070406n);
  s.msrs.set(MSR.IA32_SYSENTER_CS, 0n);
  s.msrs.set(MSR.IA32_SYSENTER_ESP, 0n);
  s.msrs.set(MSR.IA32_SYSENTER_EIP, 0n);
  s.gdtr = { base: layoutBase.gdtAlias, limit: GDT_ENTRIES * 8 - 1 };
  s.idtr = { base: L.cpuEntryAreaBase, limit: IDT_LIMIT };
  s.tr = { selector: SELECTOR.TSS, base: layoutBase.tssAlias, limit: tssLimit, attrs: TSS_BUSY };
  s.ldtr = nullSegment();
  // User mode, as after execve(): CS/SS user selectors, DS/ES/FS/GS null, GS base 0.
  s.seg.cs = flatSegment(SELECTOR.__USER_CS, FLAT_CODE64_ATTRS, 3);
  s.seg.ss = flatSegment(SELECTOR.__USER_DS, FLAT_DATA_ATTRS, 3);
  for (const r of ['ds', 'es', 'fs', 'gs'] as const) s.seg[r] = nullSegment();
  s.cpl = 3;
  s.rflags = RFLAGS.FIXED1 | RFLAGS.IF;
  s.rip = userEntry;
  s.gpr.fill(0n);
  s.gpr[GPR_INDEX.rsp] = layoutBase.userStackTop;
  const pcidBits = pcid ? BigInt(profile.kernelPcid) | (pti ? CR3.PTI_PCID_USER_MASK : 0n) : 0n;
  s.cr3 = userPgd | pcidBits;

  return {
    machine, profile, config, cpu, features, featureReasons: reasons, kernelImage, userImage, models, stubs,
    layout: { ...layoutBase, kernelPgd, userPgd }, alternatives, pti, pcid, userEntry,
    pagingLevels, idt: { base: L.cpuEntryAreaBase, limit: IDT_LIMIT, stubs: excStubs, istStacks },
  };
}
