/*
 * A ring-3 program for kentry: three system calls through the `syscall` instruction.
 *
 * The x86-64 Linux syscall convention: the number in %rax, arguments in %rdi, %rsi, %rdx,
 * %r10, %r8, %r9; the result comes back in %rax (a negative errno on failure). `syscall`
 * itself overwrites %rcx (return address) and %r11 (saved RFLAGS).
 */
#include <asm/unistd_64.h>

	.section .rodata
/* The bytes write() copies out of user memory. */
message:
	.ascii "Hello from ring 3, via entry_SYSCALL_64!\n"
message_end:

	.text
	.globl _start
_start:
	/*
	 * getpid(): no arguments. Step into the `syscall` to follow it through entry_SYSCALL_64;
	 * %rax holds the pid when SYSRET brings us back.
	 */
	movl	$__NR_getpid, %eax
	syscall

	/* Keep the pid in a callee-saved register: the next syscall returns its own result in %rax. */
	movq	%rax, %rbx

	/*
	 * write(1, message, length): fd 1 is the debug console. The kernel reads the buffer
	 * through the user mapping, as copy_from_user() does.
	 */
	movl	$__NR_write, %eax
	movl	$1, %edi
	leaq	message(%rip), %rsi
	movl	$(message_end - message), %edx
	syscall

	/* exit_group(0): the process ends here; `syscall` does not return. */
	movl	$__NR_exit_group, %eax
	xorl	%edi, %edi
	syscall

	/* Never reached: trap if it were. */
	ud2
