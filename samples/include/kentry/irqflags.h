/*
 * Privileged return and GS-swap steps. With CONFIG_PARAVIRT a hypervisor could replace them;
 * kentry models bare hardware, where they are the plain instructions.
 */
#ifndef _KENTRY_IRQFLAGS_H
#define _KENTRY_IRQFLAGS_H

#include <kentry/linkage.h>

/* Exchange GS_BASE and KERNEL_GS_BASE. */
#define SWAPGS swapgs

/* The last kernel instructions of the fast path: user GS base back, then SYSRET to ring 3. */
#define USERGS_SYSRET64 swapgs ASM_NL sysretq

/* The slow path returns through native_iret, which ends in `iretq`. */
#define INTERRUPT_RETURN jmp native_iret

#endif
