/*
 * The slow way back to user mode, as Linux 5.8 has it: `swapgs_restore_regs_and_return_to_usermode`.
 * entry_SYSCALL_64 jumps here whenever SYSRET cannot be used safely (see its checks). kentry
 * adds this file to the build when the entry code you debug does not define the label itself,
 * e.g. when it is an excerpt of entry_64.S. Written for kentry; the comments are ours.
 */
#include <linux/linkage.h>
#include <asm/segment.h>
#include <asm/asm-offsets.h>
#include <asm/percpu.h>
#include <asm/irqflags.h>
#include <asm/unwind_hints.h>
#include <kentry/calling.h>

	.code64
	.section .entry.text, "ax"

/*
 * Reached with RSP pointing at a complete `struct pt_regs` on the task's kernel stack, the
 * kernel page table in CR3 and the kernel GS base in GS_BASE.
 */
SYM_CODE_START(swapgs_restore_regs_and_return_to_usermode)
#ifdef CONFIG_DEBUG_ENTRY
	/*
	 * Debug builds check that the frame really returns to ring 3: the low two bits of the
	 * saved CS are its RPL. `ud2` (#UD) if not.
	 */
	testb	$3, CS(%rsp)
	jnz	1f
	ud2
1:
#endif
	/*
	 * Reload every general-purpose register from pt_regs except %rdi, which stays on the stack
	 * because we need one register to work with. Afterwards RSP points at the pt_regs->di slot,
	 * followed by orig_ax and the hardware frame: RIP, CS, RFLAGS, RSP, SS.
	 */
	POP_REGS pop_rdi=0

	/*
	 * Keep a pointer to the rest of pt_regs in %rdi. The task stack is about to become invisible
	 * (the user page table does not map it), so what IRET needs is copied elsewhere first.
	 */
	movq	%rsp, %rdi

	/*
	 * Switch to the per-CPU trampoline stack: TSS.sp0, the top of the entry stack in the
	 * `cpu_entry_area`, which the user page table maps too.
	 */
	movq	PER_CPU_VAR(cpu_tss_rw + TSS_sp0), %rsp
	UNWIND_HINT_EMPTY

	/*
	 * Build the IRET frame on the trampoline stack, SS first so RIP ends on top. `N*8(%rdi)`
	 * counts 8-byte slots from pt_regs->di: 2 = ip, 3 = cs, 4 = flags, 5 = sp, 6 = ss.
	 */
	pushq	6*8(%rdi)
	pushq	5*8(%rdi)
	pushq	4*8(%rdi)
	pushq	3*8(%rdi)
	pushq	2*8(%rdi)

	/* Then the user's %rdi, so %rdi can serve as scratch once more. */
	pushq	(%rdi)

	/*
	 * Only registers and the trampoline stack are live now: the point where the stack-erasing
	 * hardening (STACKLEAK) wipes what this syscall left on the task stack.
	 */
	STACKLEAK_ERASE_NOCLOBBER

	/*
	 * Back to the user page table (KPTI). With PCID this may also ask the CPU to flush the user
	 * PCID's stale TLB entries. Borrows %rax through the stack.
	 */
	SWITCH_TO_USER_CR3_STACK scratch_reg=%rdi

	/* The user's %rdi. Now only the IRET frame is left on the trampoline stack. */
	popq	%rdi

	/* User GS base back into GS_BASE; the kernel's goes back to KERNEL_GS_BASE. */
	SWAPGS

	/* `jmp native_iret`: the common IRET of every return path. */
	INTERRUPT_RETURN
SYM_CODE_END(swapgs_restore_regs_and_return_to_usermode)

/*
 * IRETQ pops RIP, CS, RFLAGS, RSP and SS and checks the selectors against the GDT. Unlike
 * SYSRET it restores any RFLAGS (TF, RF) and any canonical RIP safely.
 * (The ESPFIX64 check for a 16-bit LDT stack segment is not here: kentry sets up no LDT.)
 */
SYM_CODE_START_NOALIGN(native_iret)
	UNWIND_HINT_IRET_REGS
SYM_INNER_LABEL(native_irq_return_iret, SYM_L_GLOBAL)
	iretq
SYM_CODE_END(native_iret)
