/* kentry: the kernel's <asm/unwind_hints.h>, mapped to kentry's own definitions. */
#include <kentry/unwind-hints.h>
