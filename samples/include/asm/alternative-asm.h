/* kentry: the kernel's <asm/alternative-asm.h>, mapped to kentry's own definitions. */
#include <kentry/alternative.h>
