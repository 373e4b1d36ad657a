/*
 * The entry code's building blocks (the kernel keeps them in arch/x86/entry/calling.h):
 * saving and restoring the user's registers as `struct pt_regs`, and switching between the
 * two KPTI page tables. Written for kentry from the documented behaviour of Linux 5.8.
 */
#ifndef _KENTRY_CALLING_H
#define _KENTRY_CALLING_H

#include <kentry/linkage.h>
#include <kentry/percpu.h>
#include <kentry/alternative.h>
#include <kentry/unwind-hints.h>
#include <asm/asm-offsets.h>
#include <asm/processor-flags.h>

/*
 * `PUSH_AND_CLEAR_REGS`: push the rest of `struct pt_regs` (di first, r15 last, so r15 ends at
 * the lowest address = offset 0) and zero each callee-clobbered register right after saving
 * it, so stale user values cannot steer speculation in the kernel.
 * `rax=` chooses what goes into pt_regs->ax: the syscall path stores -ENOSYS there, so a
 * syscall number nobody handles returns -ENOSYS.
 */
.macro PUSH_AND_CLEAR_REGS rdx=%rdx, rax=%rax, save_ret=0
	.if \save_ret
	pushq	%rsi
	movq	8(%rsp), %rsi
	movq	%rdi, 8(%rsp)
	.else
	pushq	%rdi
	pushq	%rsi
	.endif
	pushq	\rdx
	xorl	%edx, %edx
	pushq	%rcx
	xorl	%ecx, %ecx
	pushq	\rax
	pushq	%r8
	xorl	%r8d, %r8d
	pushq	%r9
	xorl	%r9d, %r9d
	pushq	%r10
	xorl	%r10d, %r10d
	pushq	%r11
	xorl	%r11d, %r11d
	pushq	%rbx
	xorl	%ebx, %ebx
	pushq	%rbp
	xorl	%ebp, %ebp
	pushq	%r12
	xorl	%r12d, %r12d
	pushq	%r13
	xorl	%r13d, %r13d
	pushq	%r14
	xorl	%r14d, %r14d
	pushq	%r15
	xorl	%r15d, %r15d
	UNWIND_HINT_REGS
	.if \save_ret
	pushq	%rsi
	.endif
.endm

/*
 * `POP_REGS`: undo PUSH_AND_CLEAR_REGS, r15 first. `pop_rdi=0` leaves pt_regs->di on the
 * stack (the caller still needs a scratch register). `skip_r11rcx=1` pops the r11 and cx
 * slots into %rsi (thrown away, %rsi is popped for real later) because the SYSRET path has
 * already loaded %r11 = user RFLAGS and %rcx = user RIP.
 */
.macro POP_REGS pop_rdi=1, skip_r11rcx=0
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbp
	popq	%rbx
	.if \skip_r11rcx
	popq	%rsi
	.else
	popq	%r11
	.endif
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rax
	.if \skip_r11rcx
	popq	%rsi
	.else
	popq	%rcx
	.endif
	popq	%rdx
	popq	%rsi
	.if \pop_rdi
	popq	%rdi
	.endif
.endm

#ifdef CONFIG_PAGE_TABLE_ISOLATION

/*
 * KPTI's two page tables are an 8 KiB-aligned pair: kernel PGD, then user PGD 4 KiB above it.
 * Bit PAGE_SHIFT of CR3 picks the half. With PCID, bit 11 of the PCID marks the user's ASID.
 */
#define PTI_USER_PGTABLE_BIT PAGE_SHIFT
#define PTI_USER_PGTABLE_MASK (1 << PTI_USER_PGTABLE_BIT)
#define PTI_USER_PCID_BIT X86_CR3_PTI_PCID_USER_BIT
#define PTI_USER_PCID_MASK (1 << PTI_USER_PCID_BIT)
#define PTI_USER_PGTABLE_AND_PCID_MASK (PTI_USER_PCID_MASK | PTI_USER_PGTABLE_MASK)

/* Bit 63 of a value written to CR3: keep this PCID's TLB entries (do not flush). */
.macro SET_NOFLUSH_BIT reg:req
	bts	$X86_CR3_PCID_NOFLUSH_BIT, \reg
.endm

/*
 * Turn a user CR3 value into the kernel's: clear the user-PGD bit and the user-PCID bit. With
 * PCID the kernel's TLB entries stay valid across the switch, so also set NOFLUSH.
 */
.macro ADJUST_KERNEL_CR3 reg:req
	ALTERNATIVE "", "SET_NOFLUSH_BIT \reg", X86_FEATURE_PCID
	andq	$(~PTI_USER_PGTABLE_AND_PCID_MASK), \reg
.endm

/*
 * Enter the kernel page table. Until X86_FEATURE_PTI is patched in, the first instruction jumps
 * over the whole sequence (CPUs that are not vulnerable to Meltdown never switch).
 */
.macro SWITCH_TO_KERNEL_CR3 scratch_reg:req
	ALTERNATIVE "jmp .Lkentry_kcr3_done_\@", "", X86_FEATURE_PTI
	mov	%cr3, \scratch_reg
	ADJUST_KERNEL_CR3 \scratch_reg
	mov	\scratch_reg, %cr3
.Lkentry_kcr3_done_\@:
.endm

/* This CPU's cpu_tlbstate.user_pcid_flush_mask: one bit per kernel PCID whose user twin must be flushed. */
#define THIS_CPU_user_pcid_flush_mask PER_CPU_VAR(cpu_tlbstate) + TLB_STATE_user_pcid_flush_mask

/*
 * Leave for the user page table, using two scratch registers. Without PCID: just set the
 * user-PGD bit. With PCID: look up the current ASID in user_pcid_flush_mask; if a flush is
 * pending (the kernel changed user mappings while the user PCID's TLB entries were cached)
 * clear the bit and write CR3 without NOFLUSH, so the CPU flushes the user PCID; otherwise
 * write it with NOFLUSH. Either way the user PCID bit and the user-PGD bit are set.
 */
.macro SWITCH_TO_USER_CR3_NOSTACK scratch_reg:req, scratch_reg2:req
	ALTERNATIVE "jmp .Lkentry_ucr3_done_\@", "", X86_FEATURE_PTI
	mov	%cr3, \scratch_reg
	ALTERNATIVE "jmp .Lkentry_ucr3_write_\@", "", X86_FEATURE_PCID
	movq	\scratch_reg, \scratch_reg2
	andq	$(0x7FF), \scratch_reg
	bt	\scratch_reg, THIS_CPU_user_pcid_flush_mask
	jnc	.Lkentry_ucr3_noflush_\@
	btr	\scratch_reg, THIS_CPU_user_pcid_flush_mask
	movq	\scratch_reg2, \scratch_reg
	jmp	.Lkentry_ucr3_pcid_\@
.Lkentry_ucr3_noflush_\@:
	movq	\scratch_reg2, \scratch_reg
	SET_NOFLUSH_BIT \scratch_reg
.Lkentry_ucr3_pcid_\@:
	orq	$(PTI_USER_PCID_MASK), \scratch_reg
.Lkentry_ucr3_write_\@:
	orq	$(PTI_USER_PGTABLE_MASK), \scratch_reg
	mov	\scratch_reg, %cr3
.Lkentry_ucr3_done_\@:
.endm

/* Same, when only one register is free: borrow %rax through the (trampoline) stack. */
.macro SWITCH_TO_USER_CR3_STACK scratch_reg:req
	pushq	%rax
	SWITCH_TO_USER_CR3_NOSTACK scratch_reg=\scratch_reg, scratch_reg2=%rax
	popq	%rax
.endm

#else /* !CONFIG_PAGE_TABLE_ISOLATION: one page table, nothing to switch */

.macro SWITCH_TO_KERNEL_CR3 scratch_reg:req
.endm
.macro SWITCH_TO_USER_CR3_NOSTACK scratch_reg:req, scratch_reg2:req
.endm
.macro SWITCH_TO_USER_CR3_STACK scratch_reg:req
.endm

#endif /* CONFIG_PAGE_TABLE_ISOLATION */

/*
 * `STACKLEAK_ERASE_NOCLOBBER`: with the stackleak GCC plugin, poison the part of the task
 * stack this syscall used, keeping every register intact. Empty otherwise.
 */
.macro STACKLEAK_ERASE_NOCLOBBER
#ifdef CONFIG_GCC_PLUGIN_STACKLEAK
	PUSH_AND_CLEAR_REGS
	call	stackleak_erase
	POP_REGS
#endif
.endm

#endif
