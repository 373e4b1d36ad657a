/* kentry: the kernel's <linux/errno.h>, mapped to kentry's own definitions. */
#include <generated/kentry-constants.h>
