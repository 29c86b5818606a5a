/* SPDX-License-Identifier: MIT */
/*
 * The extra connections of a live sync (--channels N, like QEMU's multifd):
 * N-1 transports besides the link, each with a sender thread, so that TLS
 * encryption (and the writes) of the live sync spread over N threads; the
 * migration thread keeps the link's share. dial.c connects them; this unit
 * owns them from then until they close, after the live sync.
 *
 * Threads. The migration thread queues pages on every channel under
 * bitmap_mutex (ram-save.c) while the senders are idle, then hands them
 * over with mig_channels_start and takes them back with mig_channels_wait
 * (each channel's lock and condition order the two): a channel's transport
 * is its sender's between the two calls and the migration thread's
 * otherwise. cancel_fd (the migration's) ends a sender's blocking write.
 */
#ifndef COLO_PRIMARY_MIG_CHANNELS_H
#define COLO_PRIMARY_MIG_CHANNELS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "proto.h"
#include "ram-save.h"

struct xport;

struct mig_channel {
	struct xport *x;
	pthread_t thread;
	bool started;                  /* the thread runs (join it) */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* Guarded by lock. */
	bool flush;                    /* start() asked, the sender works */
	bool quit;
	int result;                    /* of the last flush: 0 or -errno */
};

struct mig_channels {
	struct ram_channels rc;        /* what ram-save routes by; x[0]: link */
	struct mig_channel ch[PROTO_MAX_CHANNELS];   /* [1..rc.n-1] used */
};

/* One channel: the link alone (rc.n 1, x[0] = link). */
void mig_channels_init(struct mig_channels *cs, struct xport *link);
/* x (connected, past its CHANNEL exchange) becomes channel rc.n, with its
 * sender thread. 0 or -errno (x is freed then). */
int mig_channels_add(struct mig_channels *cs, struct xport *x);
/* ram_channels' start and wait (opaque: the mig_channels). */
void mig_channels_start(void *opaque);
int mig_channels_wait(void *opaque);
/* The live sync is done: CHANNEL_END with its page count on each extra
 * channel, written out. 0 or -errno. */
int mig_channels_end(struct mig_channels *cs);
/* Stop and join the senders, close the extra channels (x[0] stays). */
void mig_channels_close(struct mig_channels *cs);

#endif
