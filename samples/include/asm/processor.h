/* kentry: the kernel's <asm/processor.h>, mapped to kentry's own definitions. */
#include <generated/kentry-constants.h>
