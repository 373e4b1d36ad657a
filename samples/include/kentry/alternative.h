/*
 * Boot-time code patching, as Linux 5.8 lays it out. `ALTERNATIVE old, new, feature` assembles
 * `old` in place (padded with 0x90 up to the length of `new`), assembles `new` out of line in
 * `.altinstr_replacement`, and records both in `.altinstructions`. At boot, apply_alternatives()
 * copies `new` over `old` when the CPU has `feature`, and pads what is left with long NOPs.
 *
 * One `.altinstructions` record (struct alt_instr of v5.8, packed: 13 bytes):
 *
 * | field           | type | meaning                                        |
 * |-----------------|------|------------------------------------------------|
 * | instr_offset    | s32  | original code, relative to this field          |
 * | repl_offset     | s32  | replacement, relative to this field            |
 * | cpuid           | u16  | X86_FEATURE_* number                           |
 * | instrlen        | u8   | length of the original, padding included       |
 * | replacementlen  | u8   | length of the replacement                      |
 * | padlen          | u8   | how many of instrlen bytes are padding         |
 */
#ifndef _KENTRY_ALTERNATIVE_H
#define _KENTRY_ALTERNATIVE_H

#include <asm/cpufeatures.h>

.macro kentry_altinstr_record orig, repl, feature, orig_len, repl_len, pad_len
	.long \orig - .
	.long \repl - .
	.word \feature
	.byte \orig_len
	.byte \repl_len
	.byte \pad_len
.endm

.macro ALTERNATIVE oldinstr, newinstr, feature
770:
	\oldinstr
771:
	/* pad with NOPs when the replacement is longer (gas: a true comparison is -1) */
	.skip -(((774f-773f)-(771b-770b)) > 0) * ((774f-773f)-(771b-770b)),0x90
772:
	.pushsection .altinstructions,"a"
	kentry_altinstr_record 770b, 773f, \feature, 772b-770b, 774f-773f, 772b-771b
	.popsection
	.pushsection .altinstr_replacement,"ax"
773:
	\newinstr
774:
	.popsection
.endm

/* The larger of two lengths, without branches (gas has no max()). */
#define kentry_alt_max(a, b) ((a) ^ (((a) ^ (b)) & -(-((a) < (b)))))
#define kentry_alt_pad2 (kentry_alt_max((775f-774f), (776f-775f)) - (771b-770b))

/* Two candidates: the record for feature2 comes second, so it wins when both features are present. */
.macro ALTERNATIVE_2 oldinstr, newinstr1, feature1, newinstr2, feature2
770:
	\oldinstr
771:
	.skip -(kentry_alt_pad2 > 0) * kentry_alt_pad2,0x90
772:
	.pushsection .altinstructions,"a"
	kentry_altinstr_record 770b, 774f, \feature1, 772b-770b, 775f-774f, 772b-771b
	kentry_altinstr_record 770b, 775f, \feature2, 772b-770b, 776f-775f, 772b-771b
	.popsection
	.pushsection .altinstr_replacement,"ax"
774:
	\newinstr1
775:
	\newinstr2
776:
	.popsection
.endm

#endif
