/* kentry: the kernel's <asm/unistd_64.h>, mapped to kentry's own definitions. */
#include <generated/unistd_64.h>
