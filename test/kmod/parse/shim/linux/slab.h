/* Userspace stand-in for linux/slab.h: the parser's allocations on the C heap. */
#ifndef SHIM_LINUX_SLAB_H
#define SHIM_LINUX_SLAB_H
#include <stdlib.h>
#define GFP_KERNEL 0
#define kzalloc(size, gfp) calloc(1, (size))
#define kcalloc(n, size, gfp) calloc((n), (size))
#define kfree(p) free((void *)(p))
#endif
