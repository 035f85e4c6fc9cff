#ifndef CMALLOC_SHIM_H
#define CMALLOC_SHIM_H
// glibc's malloc_trim: the daemon hands back the pages a config load freed.
#include <malloc.h>
#endif
