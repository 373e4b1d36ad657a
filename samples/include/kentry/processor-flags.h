/*
 * RFLAGS and CR3 bit names (the kernel: <asm/processor-flags.h>). The numbers are generated
 * from kentry's machine facts (generated/kentry-constants.h).
 */
#ifndef _KENTRY_PROCESSOR_FLAGS_H
#define _KENTRY_PROCESSOR_FLAGS_H
#include <generated/kentry-constants.h>
#endif
