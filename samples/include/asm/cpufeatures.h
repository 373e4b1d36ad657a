/* kentry: the kernel's <asm/cpufeatures.h>, mapped to kentry's own definitions. */
#include <generated/cpufeatures.h>
