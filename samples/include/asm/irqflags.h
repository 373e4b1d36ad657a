/* kentry: the kernel's <asm/irqflags.h>, mapped to kentry's own definitions. */
#include <kentry/irqflags.h>
