/* kentry: the kernel's <asm/page_types.h>, mapped to kentry's own definitions. */
#include <generated/kentry-constants.h>
