/*
 * Everything a bare entry_64.S excerpt expects from the kernel's headers, for files that have
 * no #include lines of their own (such as a code block copied out of a blog post or a note).
 * kentry passes it with gcc's `-include` semantics and then places the code in `.entry.text`,
 * where entry_64.S puts it.
 */
#ifndef _KENTRY_PRELUDE_H
#define _KENTRY_PRELUDE_H

#include <linux/linkage.h>
#include <linux/errno.h>
#include <asm/segment.h>
#include <asm/asm-offsets.h>
#include <asm/processor-flags.h>
#include <asm/page_types.h>
#include <asm/percpu.h>
#include <asm/cpufeatures.h>
#include <asm/alternative-asm.h>
#include <asm/unwind_hints.h>
#include <asm/irqflags.h>
#include <asm/processor.h>
#include <kentry/calling.h>

	.code64
	.section .entry.text, "ax"

#endif
