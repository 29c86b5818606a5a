/* SPDX-License-Identifier: MIT */
/*
 * Inside colo-shim.so: what its three files share. The shim lives in a
 * program that knows nothing of it, so its state is the one thing it
 * cannot pass around: the userfaultfd, set once by the constructor before
 * the program's main() runs and only read afterwards.
 */
#ifndef COLO_SHIM_H
#define COLO_SHIM_H

#include <stdbool.h>
#include <stdint.h>

/* -1 until the constructor has parked it at COLO_SHIM_UFFD_FD, and again
 * in a forked child (the uffd is the parent's memory's, see colo-shim.c). */
extern int shim_uffd;

/*
 * Registers [start, start + len) (rounded out to pages) in write-protect
 * async mode; with protect, also write-protects it, for memory the
 * program has not written yet. Errors are ignored: what is missed here
 * the daemon registers from outside (proc_track_refresh).
 */
void shim_register(uintptr_t start, uintptr_t len, bool protect);

/* Every writable private VMA of /proc/self/maps. -errno on a read error. */
int shim_register_all(bool protect);

/* The seccomp filter: no exec, vfork, or clone sharing memory that is not
 * a thread (shim-seccomp.c); fork is let through. 0 or -errno. */
int shim_seccomp_install(void);

#endif
