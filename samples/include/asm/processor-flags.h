/* kentry: the kernel's <asm/processor-flags.h>, mapped to kentry's own definitions. */
#include <kentry/processor-flags.h>
