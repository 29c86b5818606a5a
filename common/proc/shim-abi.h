/* SPDX-License-Identifier: MIT */
/*
 * What colo-shim.so (guest/shim/) and the daemon agree on. The shim is
 * preloaded into an unmodified program; the daemon finds its userfaultfd
 * at a fixed descriptor number and takes a copy with pidfd_getfd(), so
 * nothing needs to be published in the program's environment (which
 * proc-launch builds from scratch and keeps identical on both hosts).
 */
#ifndef COLO_SHIM_ABI_H
#define COLO_SHIM_ABI_H

/*
 * High enough to stay clear of the program's own descriptors (it gets the
 * lowest free numbers, the same ones with or without the shim), below the
 * RLIMIT_NOFILE proc-launch sets (PROC_LAUNCH_NOFILE).
 */
#define COLO_SHIM_UFFD_FD 1000

#endif
