/* kentry: the kernel's <asm/segment.h>, mapped to kentry's own definitions. */
#include <kentry/segment.h>
