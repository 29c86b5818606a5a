/* SPDX-License-Identifier: MIT */
/*
 * The guest supervisor: starts a guest binary on a RAM layout, waits for it
 * to be ready, and stops it. Both daemons use it (the PVM and the SVM).
 */
#ifndef COLO_GUESTPROC_H
#define COLO_GUESTPROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "chan.h"

struct ram_layout;

struct guestproc {
	pid_t pid;              /* -1 when not running */
	int chan_fd;            /* event channel, daemon end (non-blocking) */
	int hint_fd;            /* hint channel, daemon end (blocking) */
	struct chan_reader rd;  /* buffered reader over chan_fd */
};

/*
 * fork + exec path with the RAM layout's memfds and both channels passed as
 * described in chan.h; resume tells the guest that its RAM holds a state to
 * continue from. Waits (up to timeout_ms) for CHAN_READY. 0 or -errno; the
 * reason is logged.
 */
int guestproc_spawn(struct guestproc *gp, const char *path,
		    const struct ram_layout *ram, bool resume, int timeout_ms);

/* SIGKILL and reap; NULL-safe and idempotent. */
void guestproc_stop(struct guestproc *gp);

#endif
