/*
 * Segment selectors of the Linux x86-64 GDT. A selector is `index * 8 + RPL`; the user ones
 * carry RPL 3. The GDT order is dictated by SYSCALL/SYSRET, which derive CS and SS from the
 * STAR MSR instead of reading the GDT. The GDT_ENTRY_* indices come from kentry's machine
 * facts through the generated constants header.
 */
#ifndef _KENTRY_SEGMENT_H
#define _KENTRY_SEGMENT_H

#include <generated/kentry-constants.h>

#define __KERNEL32_CS (GDT_ENTRY_KERNEL32_CS * 8)
#define __KERNEL_CS (GDT_ENTRY_KERNEL_CS * 8)
#define __KERNEL_DS (GDT_ENTRY_KERNEL_DS * 8)
#define __USER32_CS (GDT_ENTRY_DEFAULT_USER32_CS * 8 + 3)
#define __USER_DS (GDT_ENTRY_DEFAULT_USER_DS * 8 + 3)
#define __USER_CS (GDT_ENTRY_DEFAULT_USER_CS * 8 + 3)

#endif
