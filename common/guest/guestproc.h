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
	struct chan_writer wr;  /* queued events, never a blocking write */
	struct chan_reader hint_rd;  /* buffered reader over hint_fd */
};

/* How often the waits below run their idle hook. */
#define GUESTPROC_IDLE_MS 50

/*
 * fork + exec path with the RAM layout's memfds and both channels passed as
 * described in chan.h; resume tells the guest that its RAM holds a state to
 * continue from. args (NULL-terminated, NULL for none) follow path in the
 * guest's argv: the daemons' --guest-arg, the same for PVM and SVM. Waits
 * (up to timeout_ms) for CHAN_READY, running idle (may be NULL) at least
 * every GUESTPROC_IDLE_MS meanwhile, as guestproc_barrier does. 0 or
 * -errno; the reason is logged.
 */
int guestproc_spawn(struct guestproc *gp, const char *path,
		    const char *const *args, const struct ram_layout *ram,
		    bool resume, int timeout_ms, int (*idle)(void *opaque),
		    void *opaque);

/* Queue an event for the guest, without writing: guestproc_flush (once
 * for all the events of a loop round) or guestproc_pump writes it. 0 or
 * -errno (the guest is gone). */
int guestproc_send(struct guestproc *gp, const struct chan_msg *m);
/* Write what is queued, as much as the socket takes now; the rest waits
 * for EV_WRITE (guestproc_events). 0 or -errno (the guest is gone). */
int guestproc_flush(struct guestproc *gp);
/* The loop interest the channel needs now: EV_READ, plus EV_WRITE while
 * events are queued. */
uint32_t guestproc_events(const struct guestproc *gp);
/* A barrier's wait ends after timeout_ms without a message from the guest,
 * and in any case after this many times timeout_ms. */
#define GUESTPROC_BARRIER_CAP 4

/* What a barrier's wait does besides waiting; any member may be NULL. */
struct guestproc_wait_ops {
	/* Every message other than the barrier's answer (output, CLOSE). */
	int (*on_msg)(void *opaque, const struct chan_msg *m);
	/* The hint channel is readable. A guest on its way to the barrier
	 * may free memory and then waits for the hint's answer: a daemon
	 * whose hints are answered by its event loop must answer them here
	 * too, or the two wait for each other. NULL: served elsewhere. */
	int (*on_hint)(void *opaque);
	/* Runs at least every GUESTPROC_IDLE_MS: heartbeats go on while a
	 * busy guest works its way to the barrier; a negative return (a stop
	 * request) ends the wait with that value. */
	int (*idle)(void *opaque);
	void *opaque;
};

/*
 * Wait until the guest answers barrier id, writing queued events and
 * handing everything else it sends to ops meanwhile. The guest is then at
 * a safe point. A guest working through a backlog keeps sending output:
 * the wait gives up after timeout_ms without any message from it, or after
 * GUESTPROC_BARRIER_CAP * timeout_ms in all (its peer waits, and the PVM's
 * clients with it). 0, -ETIMEDOUT, or -errno (guest gone, or what an op
 * returned).
 */
int guestproc_barrier(struct guestproc *gp, uint64_t id, int timeout_ms,
		      const struct guestproc_wait_ops *ops);
/* Write queued events and read what arrived, handing messages to on_msg,
 * without blocking. 0, or -errno (guest gone, malformed, on_msg's error). */
int guestproc_pump(struct guestproc *gp, uint64_t *barrier_done,
		   int (*on_msg)(void *opaque, const struct chan_msg *m),
		   void *opaque);

/* SIGKILL and reap; NULL-safe and idempotent. */
void guestproc_stop(struct guestproc *gp);

#endif
