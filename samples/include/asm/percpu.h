/* kentry: the kernel's <asm/percpu.h>, mapped to kentry's own definitions. */
#include <kentry/percpu.h>
