/* SPDX-License-Identifier: MIT */
/*
 * What proc-image.c (the full capture) and proc-image-tracked.c (a
 * capture against a base) share; nothing else includes it.
 */
#ifndef COLO_PROC_IMAGE_INT_H
#define COLO_PROC_IMAGE_INT_H

#include "proc-image.h"

/* img->runs: the bytes of the n ranges of pid's memory, one run each. */
int proc_image_read_ranges(pid_t pid, const struct proc_image_range *r,
			   size_t n, struct proc_image *img);

/* img's threads, fd table and connections (all but the map and pages). */
int proc_image_capture_rest(struct proc_stop *ps, int pidfd,
			    const int *daemon_fds, size_t n_daemon_fds,
			    struct proc_image *img);

#endif
