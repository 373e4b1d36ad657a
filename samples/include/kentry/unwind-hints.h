/*
 * ORC unwinder hints. In the kernel they record, in a section objtool consumes and the linker
 * discards, what the stack looks like at that point (e.g. "no frame": UNWIND_HINT_EMPTY).
 * They generate no code and no run-time data, so kentry defines them as empty.
 */
#ifndef _KENTRY_UNWIND_HINTS_H
#define _KENTRY_UNWIND_HINTS_H

.macro UNWIND_HINT_EMPTY
.endm

.macro UNWIND_HINT_REGS base=%rsp, offset=0, indirect=0, extra=1, partial=0
.endm

.macro UNWIND_HINT_IRET_REGS base=%rsp, offset=0
.endm

.macro UNWIND_HINT_FUNC sp_offset=8
.endm

#endif
