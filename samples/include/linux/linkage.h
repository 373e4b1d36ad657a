/* kentry: the kernel's <linux/linkage.h>, mapped to kentry's own definitions. */
#include <kentry/linkage.h>
