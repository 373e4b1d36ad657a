/**
 * Scenarios (launch attribute `scenario`): prepared situations that make the entry code take
 * each of its exits. The default is the SYSRET fast path. Each IRET scenario breaks exactly one
 * of the opportunistic-SYSRET conditions, the way a real process gets there: a sigreturn or a
 * ptrace(SETREGS)-style change of pt_regs while the task is in the kernel (modelled right after
 * do_syscall_64 returns), or user code that runs single-stepped. The explanation is printed to
 * the Debug Console at launch; at the return to user mode the runtime says which exit was taken
 * and which check sent it there.
 */
import type { CpuProfile } from '../cpu/profiles';
import { PT_REGS, RFLAGS, SELECTOR, SIZEOF_PTREGS } from '../machine/facts';
import { writeLE } from '../machine/memory';
import type { KentryRuntime } from './runtime';

export interface Scenario {
  name: string;
  title: string;
  /** Printed at launch: what is set up, and how the syscall will end. */
  explanation: string;
  cpu?: string;
  /** Derive the CPU from the chosen profile (e.g. without PCID). */
  cpuVariant?: (cpu: CpuProfile) => CpuProfile;
  config?: Record<string, boolean>;
  /** The ring-3 program (used unless launch.json names one). */
  program?: string;
  /** Boot-time change of the kernel image (e.g. patch a check out). Returns a problem, or undefined. */
  patch?: (rt: KentryRuntime) => string | undefined;
  /** Right after do_syscall_64 returns: change pt_regs as sigreturn or ptrace would. */
  afterSyscall?: (rt: KentryRuntime) => void;
}

const GETPID_THEN_EXIT = `
	.text
	.globl _start
_start:
	movl	$39, %eax		/* getpid */
	syscall
	movl	$231, %eax		/* exit_group(0) */
	xorl	%edi, %edi
	syscall
	ud2
`;

/** The address the first syscall's pt_regs field lives at. */
function regsField(rt: KentryRuntime, field: string): bigint {
  const f = PT_REGS.find((x) => x.field === field);
  if (!f) throw new Error(`no pt_regs field ${field}`);
  return rt.system.layout.taskStackTop - BigInt(SIZEOF_PTREGS) + BigInt(f.offset);
}

function readRegs(rt: KentryRuntime, field: string): bigint {
  const v = rt.system.machine.readU64Virtual(regsField(rt, field));
  return typeof v === 'bigint' ? v : 0n;
}

function writeRegs(rt: KentryRuntime, field: string, value: bigint): void {
  rt.system.machine.writeVirtual(regsField(rt, field), writeLE(value, 8));
}

/** Only the first syscall is changed; the program's exit must go through untouched. */
function once(fn: (rt: KentryRuntime) => void): (rt: KentryRuntime) => void {
  return (rt) => {
    if (readRegs(rt, 'orig_ax') === 39n) fn(rt);
  };
}

/** The first non-canonical address of 4-level paging. */
const NON_CANONICAL = 0x0000800000000000n;

/**
 * The sysret-gp setup, shared by the Intel and AMD scenarios so they differ only in the CPU: the entry
 * code's canonical check (shl/sar) patched out, a user-chosen RSP, and RIP = RCX made non-canonical after getpid.
 */
const CANONICAL_CHECK_PATCHED_OUT: Pick<Scenario, 'program' | 'patch' | 'afterSyscall'> = {
  program: `
	.text
	.globl _start
_start:
	movabsq	$0x0000414141414000, %rsp	/* user-controlled RSP */
	movl	$39, %eax		/* getpid */
	syscall
	ud2
`,
  patch: (rt) => {
    const rows = rt.entryRows().filter((l) => /^\s*(shl|sar)[lq]?\s+\$/.test(l.text));
    if (!rows.length) return 'the canonical check (shl/sar) was not found in entry_SYSCALL_64';
    for (const l of rows) rt.system.machine.writeVirtual(l.address, new Uint8Array(l.size).fill(0x90));
    rt.emit('output', `[scenario] patched out ${rows.length} instructions (shl/sar) with NOPs at ${rows.map((l) => rt.describeAddress(l.address)).join(', ')}\n`, 'console');
    return undefined;
  },
  afterSyscall: once((rt) => {
    writeRegs(rt, 'ip', NON_CANONICAL);
    writeRegs(rt, 'cx', NON_CANONICAL);
  }),
};

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'sysret',
    title: 'SYSRET fast path',
    explanation: 'The bundled program calls getpid, write and exit. Every opportunistic-SYSRET check passes, so each syscall returns by SYSRET.',
  },
  {
    name: 'iret-rcx-rip',
    title: 'RCX != RIP (sigreturn changes the return address)',
    explanation: 'After getpid, a sigreturn-style change sets pt_regs->ip to the label `resume` while pt_regs->cx still holds the address after `syscall`. '
      + 'SYSRET can only return to RCX, so the check "RCX == RIP" fails and the syscall returns by IRET, to `resume`.',
    program: `
	.text
	.globl _start
_start:
	movl	$39, %eax		/* getpid */
	syscall
	ud2				/* not reached: the kernel resumes at resume */
	.globl resume
resume:
	movl	$231, %eax		/* exit_group(0) */
	xorl	%edi, %edi
	syscall
`,
    afterSyscall: once((rt) => writeRegs(rt, 'ip', rt.symbolAddress('resume') ?? 0n)),
  },
  {
    name: 'iret-noncanonical',
    title: 'Non-canonical RIP (ptrace sets RIP = RCX = 0x0000800000000000)',
    explanation: 'After getpid, a ptrace(SETREGS)-style change sets pt_regs->ip and ->cx to 0x0000800000000000, the first non-canonical address of 4-level paging. '
      + 'RCX == RIP holds, but the canonical check (shl/sar) changes RCX, so the syscall returns by IRET - and IRET raises #GP in ring 0, on the kernel stack, where Linux can handle it (a SIGSEGV), instead of SYSRET\'s #GP on the user\'s RSP.',
    program: GETPID_THEN_EXIT,
    afterSyscall: once((rt) => {
      writeRegs(rt, 'ip', NON_CANONICAL);
      writeRegs(rt, 'cx', NON_CANONICAL);
    }),
  },
  {
    name: 'iret-cs',
    title: 'CS changed (ptrace sets CS = __USER32_CS)',
    explanation: 'After getpid, a ptrace-style change sets pt_regs->cs to __USER32_CS (a 32-bit process). SYSRET (64-bit) always loads __USER_CS, so the check "CS == __USER_CS" fails and the syscall returns by IRET into compatibility mode, '
      + 'where kentry stops: it does not emulate 32-bit code (#UD at the first 32-bit instruction).',
    program: GETPID_THEN_EXIT,
    afterSyscall: once((rt) => writeRegs(rt, 'cs', BigInt(SELECTOR.__USER32_CS))),
  },
  {
    name: 'iret-ss',
    title: 'SS changed (ptrace sets SS = __KERNEL_DS)',
    explanation: 'After getpid, a ptrace-style change sets pt_regs->ss to __KERNEL_DS. SYSRET always loads __USER_DS, so the check "SS == __USER_DS" fails and the syscall returns by IRET, '
      + 'which checks the selector: an SS with RPL 0 for a return to ring 3 is #GP(selector), raised in ring 0.',
    program: GETPID_THEN_EXIT,
    afterSyscall: once((rt) => writeRegs(rt, 'ss', BigInt(SELECTOR.__KERNEL_DS))),
  },
  {
    name: 'iret-r11-rflags',
    title: 'R11 != RFLAGS (sigreturn restores different flags)',
    explanation: 'After getpid, a sigreturn-style change sets CF in pt_regs->flags; pt_regs->r11 still holds the RFLAGS that SYSCALL saved. SYSRET loads RFLAGS from R11, '
      + 'so the check "R11 == RFLAGS" fails and the syscall returns by IRET, which restores pt_regs->flags: the program sees CF set (jc) and exits.',
    program: `
	.text
	.globl _start
_start:
	clc
	movl	$39, %eax		/* getpid */
	syscall
	jc	1f			/* CF comes from pt_regs->flags, restored by IRET */
	ud2
1:	movl	$231, %eax		/* exit_group(0) */
	xorl	%edi, %edi
	syscall
`,
    afterSyscall: once((rt) => writeRegs(rt, 'flags', readRegs(rt, 'flags') | RFLAGS.CF)),
  },
  {
    name: 'iret-tf',
    title: 'TF set (single-stepping the seed\'s stuck_here code)',
    explanation: 'The user code is the seed\'s stuck_here example (RCX = RIP and R11 = RFLAGS by hand); a debugger single-steps the task: after getpid, ptrace sets TF in pt_regs->flags and ->r11. '
      + 'R11 == RFLAGS and every other check passes, but "RF and TF clear in R11" fails: SYSRET would load TF and trap at once, before any user instruction, and a #DB that returned by SYSRET again would never get past stuck_here. '
      + 'So the syscall returns by IRET, and the #DB single-step trap comes after the first user instruction.',
    program: `
	.text
	.globl _start
_start:
	movq	$stuck_here, %rcx
	pushfq
	popq	%r11
stuck_here:
	movl	$39, %eax		/* getpid */
	syscall
	movl	$231, %eax		/* exit_group(0): a #DB stops before it */
	xorl	%edi, %edi
	syscall
`,
    afterSyscall: once((rt) => {
      writeRegs(rt, 'flags', readRegs(rt, 'flags') | RFLAGS.TF);
      writeRegs(rt, 'r11', readRegs(rt, 'r11') | RFLAGS.TF);
    }),
  },
  {
    name: 'sysret-gp',
    title: 'Intel: #GP in ring 0 on SYSRET (canonical check patched out)',
    cpu: 'intel',
    explanation: 'The canonical check (shl/sar of RCX) is patched out of entry_SYSCALL_64, the user sets its own RSP to 0x0000414141414000, and after getpid ptrace sets RIP = RCX = 0x0000800000000000. '
      + 'Every remaining check passes, and on Intel SYSRET raises #GP for a non-canonical RCX while still in ring 0 - with the user\'s RSP already loaded: the seed\'s warning, "this essentially lets the user take over the kernel". kentry stops at that #GP.',
    ...CANONICAL_CHECK_PATCHED_OUT,
  },
  {
    name: 'sysret-gp-amd',
    title: 'AMD: the same SYSRET returns, and the fault comes in ring 3',
    cpu: 'amd',
    explanation: 'The sysret-gp setup on an AMD CPU: the canonical check patched out, the user RSP at 0x0000414141414000, and RIP = RCX = 0x0000800000000000 after getpid. '
      + 'AMD\'s SYSRET does not check RCX: it returns to ring 3, and the fault for the non-canonical RIP comes from the first instruction fetch, in ring 3, where it is an ordinary user fault. That is why the check matters on Intel only.',
    ...CANONICAL_CHECK_PATCHED_OUT,
  },
  {
    name: 'pti-off',
    title: 'PTI off (PAGE_TABLE_ISOLATION=n)',
    config: { PAGE_TABLE_ISOLATION: false },
    explanation: 'The kernel is built without page-table isolation: one page table, so SWITCH_TO_KERNEL_CR3 and SWITCH_TO_USER_CR3 are patched to nothing at boot and CR3 never changes on entry or exit. Returns by SYSRET.',
  },
  {
    name: 'pti-on',
    title: 'PTI on (PAGE_TABLE_ISOLATION=y, Intel)',
    cpu: 'intel',
    config: { PAGE_TABLE_ISOLATION: true },
    explanation: 'Page-table isolation on an Intel CPU (vulnerable to Meltdown): entry switches CR3 to the kernel page table, exit back to the user one (bit 12 of CR3). Returns by SYSRET.',
  },
  {
    name: 'pcid-off',
    title: 'PCID off (a CPU without PCID)',
    cpuVariant: (cpu) => ({ ...cpu, name: `${cpu.name}-nopcid`, features: new Set([...cpu.features].filter((f) => f !== 'PCID' && f !== 'INVPCID')) }),
    explanation: 'The same Intel CPU without PCID/INVPCID: CR4.PCIDE stays clear, so CR3 carries no PCID, every CR3 write flushes the TLB, and the NOFLUSH bit (63) is never set. Returns by SYSRET.',
  },
  {
    name: 'pcid-on',
    title: 'PCID on (Intel with PCID)',
    cpu: 'intel',
    explanation: 'Intel with PCID: kernel and user page tables get different PCIDs (bit 11 of CR3 for the user one), and CR3 writes set NOFLUSH (bit 63) so the TLB keeps both. Returns by SYSRET.',
  },
  {
    name: 'la57',
    title: 'LA57 CPU (intel-la57, X86_5LEVEL=y)',
    cpu: 'intel-la57',
    config: { X86_5LEVEL: true },
    explanation: 'An Ice Lake-like CPU with 5-level paging and a kernel built with X86_5LEVEL: boot sets CR4.LA57 and builds 5-level page tables (PML5), with Linux\'s 5-level layout (direct map at 0xff11000000000000, vmalloc and the task stack at 0xffa0000000000000). '
      + 'The canonical check is an ALTERNATIVE on X86_FEATURE_LA57: it shifts by 64-57 instead of 64-48, so RCX may use 57 bits. The Debug Console says below why boot chose it. Returns by SYSRET.',
  },
  {
    name: 'la57-off',
    title: 'No LA57 (intel, 4-level paging)',
    cpu: 'intel',
    explanation: 'A 4-level-paging CPU: canonical means bits 63..47 equal; the check shifts by 64-48. Returns by SYSRET.',
  },
  {
    name: 'amd',
    title: 'AMD CPU',
    cpu: 'amd',
    explanation: 'An AMD Zen 2-like CPU: not affected by Meltdown, so Linux leaves PTI off (no CR3 switches), no PCID; AMD\'s SYSRET does not #GP in ring 0 on a non-canonical RCX (it faults after the return, in ring 3). Returns by SYSRET.',
  },
  {
    name: 'intel',
    title: 'Intel CPU',
    cpu: 'intel',
    explanation: 'An Intel Skylake-SP-like CPU: PTI on (Meltdown), PCID, SMEP/SMAP; SYSRET checks RCX for canonical form in ring 0, hence the entry code\'s check. Returns by SYSRET.',
  },
];

/** After boot: print the explanation and apply the scenario's patch. Returns a problem, or undefined. */
export function applyScenario(scenario: Scenario, rt: KentryRuntime): string | undefined {
  const sys = rt.system;
  rt.emit('output', `[scenario] ${scenario.name}: ${scenario.title}\n  ${scenario.explanation}\n`, 'console');
  if (scenario.name.startsWith('la57')) rt.emit('output', `[scenario] LA57: ${sys.featureReasons.get('LA57') ?? ''}\n`, 'console');
  if (scenario.name.startsWith('pti') || scenario.name === 'amd') rt.emit('output', `[scenario] PTI: ${sys.featureReasons.get('PTI') ?? ''}\n`, 'console');
  if (scenario.name.startsWith('pcid')) rt.emit('output', `[scenario] PCID: ${sys.pcid ? 'on (CR4.PCIDE=1)' : `off: ${sys.featureReasons.get('PCID') ?? 'not used'}`}\n`, 'console');
  return scenario.patch?.(rt);
}
