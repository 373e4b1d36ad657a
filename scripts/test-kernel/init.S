/*
 * kentry's test /init: a static program with raw system calls and no libc, so every syscall
 * the debugger stops on is one of these. It writes a line, asks for its pid, writes another
 * line, then reboots; QEMU runs with -no-reboot so the reboot ends QEMU instead of panicking
 * on "Attempted to kill init". If reboot ever returns, it spins in pause() for the debugger.
 */
	.globl _start
	.text
_start:
	mov	$1, %eax		/* write(1, hello, len) */
	mov	$1, %edi
	lea	hello(%rip), %rsi
	mov	$hello_len, %edx
	syscall
	mov	$39, %eax		/* getpid() */
	syscall
	mov	%rax, %r12
	mov	$1, %eax		/* write(1, bye, len) */
	mov	$1, %edi
	lea	bye(%rip), %rsi
	mov	$bye_len, %edx
	syscall
	mov	$169, %eax		/* reboot(MAGIC1, MAGIC2, LINUX_REBOOT_CMD_RESTART) */
	mov	$0xfee1dead, %edi
	mov	$672274793, %esi
	mov	$0x01234567, %edx
	xor	%r10d, %r10d
	syscall
1:	mov	$34, %eax		/* pause() */
	syscall
	jmp	1b

	.section .rodata
hello:	.ascii "kentry-init: hello from /init\n"
	.set hello_len, . - hello
bye:	.ascii "kentry-init: getpid done, rebooting\n"
	.set bye_len, . - bye
