/*
 * kentry's own definitions of the kernel's symbol-annotation macros (the kernel keeps them in
 * <linux/linkage.h>). They only place labels and tell the ELF symbol table what a symbol is;
 * none of them emits an instruction, except the alignment padding of ALIGN.
 */
#ifndef _KENTRY_LINKAGE_H
#define _KENTRY_LINKAGE_H

/* Statement separator for cpp macros that expand to more than one assembler statement. */
#define ASM_NL ;

/* x86 aligns code symbols to 16 bytes, padding with one-byte NOPs (0x90). */
#define ALIGN .p2align 4, 0x90

/* Linkage: a global symbol is visible to the linker (and to other translation units). */
#define SYM_L_GLOBAL(name) .globl name
#define SYM_L_LOCAL(name)

/*
 * `SYM_CODE_START(name)`: start of code that does not follow the C calling convention
 * (entry points, trampolines). Global, aligned, then the label itself.
 */
#define SYM_CODE_START(name) SYM_L_GLOBAL(name) ASM_NL ALIGN ASM_NL name:
#define SYM_CODE_START_LOCAL(name) ALIGN ASM_NL name:
#define SYM_CODE_START_NOALIGN(name) SYM_L_GLOBAL(name) ASM_NL name:

/* `SYM_CODE_END(name)`: records the symbol's type (no type) and its size, for debuggers and objtool. */
#define SYM_CODE_END(name) .type name, @notype ASM_NL .size name, . - name

/*
 * `SYM_INNER_LABEL(name, linkage)`: a label in the middle of a code block that other code may
 * jump to, e.g. `entry_SYSCALL_64_after_hwframe`. `linkage` is SYM_L_GLOBAL or SYM_L_LOCAL.
 */
#define SYM_INNER_LABEL(name, linkage) .type name, @notype ASM_NL linkage(name) ASM_NL name:
#define SYM_INNER_LABEL_ALIGN(name, linkage) ALIGN ASM_NL SYM_INNER_LABEL(name, linkage)

/* C-callable functions. */
#define SYM_FUNC_START(name) SYM_L_GLOBAL(name) ASM_NL ALIGN ASM_NL name:
#define SYM_FUNC_END(name) .type name, @function ASM_NL .size name, . - name

#endif
