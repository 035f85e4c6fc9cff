#ifndef CSYSTEM_SHIM_H
#define CSYSTEM_SHIM_H
// glibc calls Swift's Glibc module does not expose.
#include <malloc.h>
#include <spawn.h>

// glibc >= 2.34: the child closes every descriptor from `from` up before it execs. <spawn.h>
// declares it only under __USE_MISC, which Swift's Glibc module is built without.
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);
#endif
