# SYNTAX TEST "source.kentry-asm" "kentry-asm: AT&T entry code with the C preprocessor"
#include <asm/msr-index.h>
#<~------- meta.preprocessor.include.kentry-asm keyword.control.directive.include.kentry-asm
#        ^^^^^^^^^^^^^^^^^ string.quoted.other.lt-gt.include.kentry-asm
#include "calling.h"
#        ^^^^^^^^^^^ string.quoted.double.include.kentry-asm
#define SCRATCH_SLOT	(8 * 3)	/* a comment */
#<~------ keyword.control.directive.define.kentry-asm
#       ^^^^^^^^^^^^ entity.name.function.preprocessor.kentry-asm
#                     ^ constant.numeric.decimal.kentry-asm
#                               ^^^^^^^^^^^^^ comment.block.kentry-asm
#define PER_CPU_VAR(var)	%gs:var
#                   ^^^ variable.parameter.preprocessor.kentry-asm
#                       	^^^ variable.other.register.segment.kentry-asm
#ifdef CONFIG_X86_5LEVEL
#<~----- keyword.control.directive.conditional.kentry-asm
#      ^^^^^^^^^^^^^^^^^ entity.name.other.preprocessor.macro.kentry-asm
#endif
#<~----- keyword.control.directive.conditional.kentry-asm
# A hash comment, not a directive
#<--------------------------------- comment.line.number-sign.kentry-asm
// A C++ comment
#<-------------- comment.line.double-slash.kentry-asm
SYM_CODE_START(entry_SYSCALL_64)
#<------------- support.function.linkage.kentry-asm
#              ^^^^^^^^^^^^^^^^ entity.name.function.kentry-asm
	swapgs
#^^^^^^ keyword.mnemonic.privileged.kentry-asm
	movq	%rsp, PER_CPU_VAR(cpu_tss_rw + TSS_sp2)
#^^^^ keyword.mnemonic.kentry-asm - keyword.mnemonic.privileged.kentry-asm
#    	^^^^ variable.other.register.kentry-asm
#    	      ^^^^^^^^^^^ entity.name.function.macro.call.kentry-asm
	SWITCH_TO_KERNEL_CR3 scratch_reg=%rsp
#^^^^^^^^^^^^^^^^^^^^ entity.name.function.macro.call.kentry-asm
	pushq	$__USER_DS				/* pt_regs->ss */
#     	^ punctuation.definition.immediate.kentry-asm
#     	 ^^^^^^^^^ variable.other.constant.immediate.kentry-asm
#     	          				^^^^^^^^^^^^^^^^ comment.block.kentry-asm
	movq	RCX(%rsp), %rcx
#    	^^^ variable.other.constant.kentry-asm - entity.name.function.macro.call.kentry-asm
	mov	%cr3, %rax		# read CR3
#   	^^^^ variable.other.register.control.kentry-asm
#   	                	^^^^^^^^^^ comment.line.number-sign.kentry-asm
	shl	$(64 - 48), %rcx
#   	^ punctuation.definition.immediate.kentry-asm
#   	  ^^ constant.numeric.decimal.kentry-asm
	testq	$0x10100, %r11
#     	 ^^^^^^^ constant.numeric.immediate.kentry-asm
	jnz	1f
#^^^ keyword.mnemonic.kentry-asm
#   	^^ entity.name.label.local.reference.kentry-asm
1:	sysretq
#<- entity.name.label.local.kentry-asm
#  ^^^^^^^ keyword.mnemonic.privileged.kentry-asm
syscall_return_via_sysret:	popq %rdi
#<------------------------ entity.name.function.label.kentry-asm
#                        ^ punctuation.separator.label.kentry-asm
#                          ^^^^ keyword.mnemonic.kentry-asm
	.section .entry.text, "ax"
#^^^^^^^^ keyword.other.directive.kentry-asm
#                      ^^^^ string.quoted.double.kentry-asm
.macro SAVE_SCRATCH reg=%rax tmp:req
#<----- keyword.other.directive.macro.kentry-asm
#      ^^^^^^^^^^^^ entity.name.function.macro.kentry-asm
#                   ^^^ variable.parameter.macro.kentry-asm
#                       ^^^^ variable.other.register.kentry-asm
#                                ^^^ storage.modifier.macro.kentry-asm
	movq	\reg, %gs:SCRATCH_SLOT; lfence
#    	^^^^ variable.parameter.macro.kentry-asm
#    	                      ^ punctuation.separator.statement.kentry-asm
#    	                        ^^^^^^ keyword.mnemonic.kentry-asm
label_\@:
#     ^^ variable.parameter.macro.kentry-asm
.endm
#<----- keyword.other.directive.kentry-asm
	/*
	 * ユーザーの GS とカーネルの GS を入れ替える。
# ^^^^^^^^ comment.block.kentry-asm
	 */
	ALTERNATIVE "shl $(64 - 48), %rcx", \
#^^^^^^^^^^^ entity.name.function.macro.call.kentry-asm
#            ^^^^^^^^^^^^^^^^^^^^^^ string.quoted.double.kentry-asm
		"shl $(64 - 57), %rcx", X86_FEATURE_LA57
#	                        ^^^^^^^^^^^^^^^^ variable.other.constant.kentry-asm
	pushq	(%rdi)
#^^^^^ keyword.mnemonic.kentry-asm
#      	 ^^^ variable.other.register.kentry-asm
	idtentry_body \cfunc \has_error_code
#^^^^^^^^^^^^^ entity.name.function.macro.call.kentry-asm
#              ^^^^^^ variable.parameter.macro.kentry-asm
	ALTERNATIVE "shl $(64 - 48), %rcx", "", X86_FEATURE_LA57
#^^^^^^^^^^^ entity.name.function.macro.call.kentry-asm
#                              ^^^ string.quoted.double.kentry-asm variable.other.register.kentry-asm
