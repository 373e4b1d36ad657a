/* kentry: the kernel's <asm/asm-offsets.h>, mapped to kentry's own definitions. */
#include <generated/asm-offsets.h>
