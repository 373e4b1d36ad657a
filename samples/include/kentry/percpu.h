/*
 * Per-CPU variables on x86-64 SMP kernels: the linker places every per-CPU variable at an
 * offset inside a zero-based per-CPU section, and each CPU's copy lives at
 * `GS_BASE + offset`. So `PER_CPU_VAR(x)` is simply a %gs-relative memory operand.
 */
#ifndef _KENTRY_PERCPU_H
#define _KENTRY_PERCPU_H

/*
 * `PER_CPU_VAR(var)` -> `%gs:var`. Valid only after SWAPGS has installed the kernel's GS base
 * (MSR_GS_BASE = this CPU's per-CPU area); with the user's GS base it would read user memory.
 */
#define PER_CPU_VAR(var) %gs:var

#endif
