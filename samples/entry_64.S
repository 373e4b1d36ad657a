/*
 * # entry_SYSCALL_64, annotated (Linux 5.8 semantics)
 *
 * kentry's rendition of the x86-64 system-call entry path of Linux v5.8
 * (arch/x86/entry/entry_64.S), written for stepping in the debugger: every instruction or
 * macro use has a comment block above it, which is also what hovering it shows.
 *
 * The trip: a ring-3 `syscall` loads RIP from MSR_LSTAR (= entry_SYSCALL_64), CS/SS from
 * MSR_STAR, saves the user RIP in %rcx and RFLAGS in %r11, clears the RFLAGS bits in
 * MSR_SYSCALL_MASK (IF among them) and switches to CPL 0. Nothing else: RSP is still the
 * user's, GS still holds the user's base, CR3 still the user page table.
 *
 * The macros (PER_CPU_VAR, SWITCH_TO_KERNEL_CR3, PUSH_AND_CLEAR_REGS ...) come from kentry's
 * own headers in `include/`; hover a macro use to see its expansion.
 */
#include <linux/linkage.h>
#include <linux/errno.h>
#include <asm/segment.h>
#include <asm/asm-offsets.h>
#include <asm/processor-flags.h>
#include <asm/page_types.h>
#include <asm/percpu.h>
#include <asm/cpufeatures.h>
#include <asm/alternative-asm.h>
#include <asm/unwind_hints.h>
#include <asm/irqflags.h>
#include <asm/processor.h>
#include <kentry/calling.h>

	.code64
	/*
	 * `.entry.text` is the only kernel text the KPTI user page table maps: these
	 * instructions must be fetchable before CR3 points at the kernel page table.
	 */
	.section .entry.text, "ax"

/*
 * Where MSR_LSTAR points. On entry: %rcx = user RIP (the instruction after `syscall`),
 * %r11 = user RFLAGS, %rax = syscall number, %rdi %rsi %rdx %r10 %r8 %r9 = arguments,
 * RSP = user stack, interrupts off.
 */
SYM_CODE_START(entry_SYSCALL_64)
	/* No usable stack frame yet: tells the ORC unwinder not to look for one (no code). */
	UNWIND_HINT_EMPTY

	/*
	 * Exchange GS_BASE (the user's) with KERNEL_GS_BASE (this CPU's per-CPU area). From here
	 * on `%gs:x` reaches per-CPU variable x. Watch both MSRs swap in the Machine view.
	 */
	swapgs

	/*
	 * Park the user RSP in the TSS's sp2 slot, which the CPU never uses on Linux (ring 2
	 * does not exist there). It is the only free scratch memory: no register is free yet.
	 * `cpu_tss_rw` is mapped in the user page table, so this works before the CR3 switch.
	 */
	movq	%rsp, PER_CPU_VAR(cpu_tss_rw + TSS_sp2)

	/*
	 * KPTI: move from the user page table (which maps only this code, the TSS and the
	 * cpu_entry_area) to the kernel's: clear CR3's user-PGD bit (bit 12) and user-PCID
	 * bit (bit 11); with PCID set NOFLUSH so the kernel keeps its TLB entries. %rsp is
	 * the scratch register: its user value is saved already. Patched to a jump over the
	 * sequence on CPUs without X86_FEATURE_PTI.
	 */
	SWITCH_TO_KERNEL_CR3 scratch_reg=%rsp

	/*
	 * Load the top of this task's kernel stack. In 5.8 it lives in TSS.sp1
	 * (`cpu_current_top_of_stack` is `cpu_tss_rw + TSS_sp1`), kept up to date on every
	 * context switch. The kernel stack is not in the user page table: only now usable.
	 */
	movq	PER_CPU_VAR(cpu_current_top_of_stack), %rsp

	/*
	 * Build the top of `struct pt_regs` the way an interrupt's hardware frame looks, so all
	 * entry paths share one layout. First pt_regs->ss: the user data selector.
	 */
	pushq	$__USER_DS

	/* pt_regs->sp: the user RSP parked in TSS.sp2 above. */
	pushq	PER_CPU_VAR(cpu_tss_rw + TSS_sp2)

	/* pt_regs->flags: user RFLAGS, which `syscall` saved in %r11. */
	pushq	%r11

	/* pt_regs->cs: the user code selector (SYSCALL does not save CS). */
	pushq	$__USER_CS

	/* pt_regs->ip: the user return address, which `syscall` saved in %rcx. */
	pushq	%rcx

/*
 * Paravirtualised kernels (Xen PV) enter here with the hardware-like frame already built.
 */
SYM_INNER_LABEL(entry_SYSCALL_64_after_hwframe, SYM_L_GLOBAL)
	/* pt_regs->orig_ax: the syscall number, kept for ptrace and syscall restart. */
	pushq	%rax

	/*
	 * Save the remaining registers into pt_regs (di, si, dx, cx, ax, r8 ... r15) and zero the
	 * ones C code might speculatively consume. pt_regs->ax starts as -ENOSYS: the result of a
	 * syscall number the table does not know.
	 */
	PUSH_AND_CLEAR_REGS rax=$-ENOSYS

	/* First C argument: the syscall number (%rax is still the user's). */
	movq	%rax, %rdi

	/* Second C argument: the pt_regs we just built (RSP points at pt_regs->r15). */
	movq	%rsp, %rsi

	/*
	 * `do_syscall_64(nr, regs)`: run the system call and the exit-to-user work. kentry runs
	 * it as a TypeScript model (it is C in the kernel); the result lands in pt_regs->ax.
	 * Returns with interrupts disabled.
	 */
	call	do_syscall_64

	/*
	 * Fast or slow return? SYSRET is cheaper than IRET, but only restores what the CPU can
	 * restore from %rcx and %r11, so the frame must qualify. Check 1: SYSRET returns to
	 * %rcx, so pt_regs->cx must equal pt_regs->ip (ptrace or signals may have changed one).
	 */
	movq	RCX(%rsp), %rcx

	/* pt_regs->ip into %r11 for the comparison. */
	movq	RIP(%rsp), %r11

	/* Check 1: RCX == RIP. */
	cmpq	%rcx, %r11

	/* Not equal: take the IRET path. */
	jne	swapgs_restore_regs_and_return_to_usermode

	/*
	 * Check 2: the return address must be canonical. Intel CPUs raise #GP for a
	 * non-canonical RCX in SYSRET *while still at CPL 0 with the user's RSP*: a user
	 * could take over the kernel. Sign-extend from the top implemented bit (bit 47 with
	 * 4-level paging) by shifting left then arithmetically right; a canonical address
	 * comes back unchanged.
	 */
#ifdef CONFIG_X86_5LEVEL
	/* The top bit depends on whether the CPU runs 5-level paging: chosen at boot. */
	ALTERNATIVE "shl $(64 - 48), %rcx; sar $(64 - 48), %rcx", \
		"shl $(64 - 57), %rcx; sar $(64 - 57), %rcx", X86_FEATURE_LA57
#else
	/* Shift bit 47 up to bit 63 ... */
	shl	$(64 - (__VIRTUAL_MASK_SHIFT+1)), %rcx

	/* ... and back, copying it into bits 63..48. */
	sar	$(64 - (__VIRTUAL_MASK_SHIFT+1)), %rcx
#endif

	/* Changed by the round trip: not canonical. */
	cmpq	%rcx, %r11

	/* Check 2 failed: IRET path (IRET faults in user mode instead, which is harmless). */
	jne	swapgs_restore_regs_and_return_to_usermode

	/* Check 3: SYSRET loads CS = __USER_CS unconditionally, so the saved CS must be that. */
	cmpq	$__USER_CS, CS(%rsp)

	/* Check 3 failed: IRET path. */
	jne	swapgs_restore_regs_and_return_to_usermode

	/* Check 4: SYSRET restores RFLAGS from %r11, so pt_regs->r11 must equal pt_regs->flags. */
	movq	R11(%rsp), %r11

	/* Check 4: R11 == RFLAGS. */
	cmpq	%r11, EFLAGS(%rsp)

	/* Check 4 failed: IRET path. */
	jne	swapgs_restore_regs_and_return_to_usermode

	/*
	 * Check 5: neither RF nor TF. SYSRET cannot restore RF (SYSCALL cleared it), and a
	 * restored TF traps right after SYSRET, which would loop forever when single-stepping
	 * code that sets TF itself. IRET handles both.
	 */
	testq	$(X86_EFLAGS_RF|X86_EFLAGS_TF), %r11

	/* Check 5 failed: IRET path. */
	jnz	swapgs_restore_regs_and_return_to_usermode

	/* The saved RSP needs no check: SYSRET does not use it (we restore it ourselves). */

	/* Check 6: SYSRET loads SS = __USER_DS, so the saved SS must be that. */
	cmpq	$__USER_DS, SS(%rsp)

	/* Check 6 failed: IRET path. */
	jne	swapgs_restore_regs_and_return_to_usermode

/*
 * All checks passed. The label only names this spot in profiles and backtraces; nothing
 * jumps here.
 */
syscall_return_via_sysret:
	/*
	 * Restore the user's registers from pt_regs, except %rdi (still needed) and %rcx/%r11,
	 * which already hold the user RIP and RFLAGS for SYSRET: those slots are popped into
	 * %rsi and discarded.
	 */
	POP_REGS pop_rdi=0 skip_r11rcx=1

	/* %rdi: pointer to the rest of pt_regs (di, orig_ax, ip, cs, flags, sp, ss). */
	movq	%rsp, %rdi

	/*
	 * Switch to the trampoline stack (TSS.sp0, in the cpu_entry_area): the only stack the user
	 * page table maps, and we are about to switch to it.
	 */
	movq	PER_CPU_VAR(cpu_tss_rw + TSS_sp0), %rsp

	/* Stack changed, no frame: unwinder hint (no code). */
	UNWIND_HINT_EMPTY

	/* Copy the user RSP (pt_regs->sp, RSP-RDI bytes above pt_regs->di) to the trampoline stack. */
	pushq	RSP-RDI(%rdi)

	/* And the user's %rdi (pt_regs->di). */
	pushq	(%rdi)

	/* Only registers and the trampoline stack are live: STACKLEAK's spot (empty by default). */
	STACKLEAK_ERASE_NOCLOBBER

	/*
	 * KPTI: back to the user page table; with PCID, flush the user PCID if
	 * cpu_tlbstate.user_pcid_flush_mask asks for it, else write CR3 with NOFLUSH.
	 */
	SWITCH_TO_USER_CR3_STACK scratch_reg=%rdi

	/* The user's %rdi. */
	popq	%rdi

	/* The user's RSP: from here on a fault would run on the user stack. */
	popq	%rsp

	/* `swapgs; sysretq`: user GS base back, then RIP = %rcx, RFLAGS = %r11, CPL 3. */
	USERGS_SYSRET64
SYM_CODE_END(entry_SYSCALL_64)

/*
 * ## The IRET path
 *
 * Every return to user mode that cannot use SYSRET ends here, including the syscalls that
 * failed one of the checks above. RSP points at a complete pt_regs on the task stack.
 */
SYM_CODE_START(swapgs_restore_regs_and_return_to_usermode)
#ifdef CONFIG_DEBUG_ENTRY
	/* Debug builds: the saved CS must have RPL 3, else `ud2`. */
	testb	$3, CS(%rsp)
	jnz	1f
	ud2
1:
#endif
	/* Restore every register except %rdi, which stays in the pt_regs->di slot. */
	POP_REGS pop_rdi=0

	/* %rdi: pointer to pt_regs->di and the hardware frame above it. */
	movq	%rsp, %rdi

	/* Switch to the trampoline stack (TSS.sp0), mapped in both page tables. */
	movq	PER_CPU_VAR(cpu_tss_rw + TSS_sp0), %rsp

	/* Unwinder hint (no code). */
	UNWIND_HINT_EMPTY

	/* Copy the IRET frame: pt_regs->ss (slot 6 counted from pt_regs->di) ... */
	pushq	6*8(%rdi)

	/* ... pt_regs->sp ... */
	pushq	5*8(%rdi)

	/* ... pt_regs->flags ... */
	pushq	4*8(%rdi)

	/* ... pt_regs->cs ... */
	pushq	3*8(%rdi)

	/* ... and pt_regs->ip, which ends up on top as IRETQ expects. */
	pushq	2*8(%rdi)

	/* The user's %rdi, above the frame. */
	pushq	(%rdi)

	/* STACKLEAK's spot (empty by default). */
	STACKLEAK_ERASE_NOCLOBBER

	/* KPTI: back to the user page table (borrows %rax through the stack). */
	SWITCH_TO_USER_CR3_STACK scratch_reg=%rdi

	/* The user's %rdi. */
	popq	%rdi

	/* User GS base back into GS_BASE. */
	SWAPGS

	/* `jmp native_iret`. */
	INTERRUPT_RETURN
SYM_CODE_END(swapgs_restore_regs_and_return_to_usermode)

/*
 * The final IRET of every return path. IRETQ pops RIP, CS, RFLAGS, RSP and SS and checks the
 * selectors against the GDT; it restores TF and RF, unlike SYSRET. (5.8 first checks for an
 * LDT stack segment, the ESPFIX64 case; kentry sets up no LDT, so that branch is left out.)
 */
SYM_CODE_START_NOALIGN(native_iret)
	/* The stack holds exactly an IRET frame (unwinder hint, no code). */
	UNWIND_HINT_IRET_REGS
SYM_INNER_LABEL(native_irq_return_iret, SYM_L_GLOBAL)
	/* Back to ring 3. */
	iretq
SYM_CODE_END(native_iret)
