/* SPDX-License-Identifier: MIT */
/*
 * The secondary's extra live-sync channels (--channels on the primary):
 * connections bound to the session by the token its HELLO_ACK carried,
 * each with a receiver thread that decodes its PAGES and DISCARDs and
 * stores them in the RAM cache (and, before the SVM first runs, its RAM),
 * as the link's own pages are.
 *
 *   hello (channels N)  -> chan_rx_open: a token, N-1 channels expected
 *   CHANNEL (token, i)  -> chan_rx_take: checked, echoed, a thread started
 *   ... PAGES / DISCARD on each, CHANNEL_END ...
 *   first CKPT_BEGIN    -> chan_rx_finish: every thread reached its END
 *                          (joined), the channels closed
 *   reset, stop         -> chan_rx_stop: threads cancelled and joined
 *
 * A page always travels the channel of its 2 MiB chunk (proto.h), which a
 * receiver checks (I6): a page sent again can never be overtaken by its
 * older copy, and nothing of the sync is left in flight once every
 * channel has ended.
 *
 * Threads. Every call here is the event loop's. A receiver owns its
 * transport and its counters until it is joined; it touches the RAM
 * cache only through ramcache_store (whose bitmaps take bitmap_mutex) and
 * reads the layout, which stays put until the join. It reports its end
 * through done and result (atomics) and a write to event_fd, which the
 * loop watches: a receiver that fails fails the link (failed callback).
 */
#ifndef COLO_SECONDARY_CHAN_RX_H
#define COLO_SECONDARY_CHAN_RX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "ramblock.h"

struct evloop;
struct ramcache;
struct xport;
struct chan_rx;

struct chan_rx_thread {
	struct chan_rx *cr;
	struct xport *x;               /* NULL: the slot is free */
	uint32_t index;
	pthread_t thread;
	struct proto_rxbuf rx;         /* the thread's */
	uint64_t pages;                /* the thread's until joined */
	char why[160];                 /* the thread's until done */
	_Atomic bool done;
	_Atomic int result;            /* 0: reached CHANNEL_END; -errno */
	bool reported;                 /* the loop's: failure passed on */
};

struct chan_rx {
	/* Set at init. */
	struct evloop *loop;
	int event_fd;                  /* threads -> loop: one ended */
	int cancel_fd;                 /* loop -> threads: give up */
	int stop_fd;                   /* readable: a stop was requested */
	void (*failed)(void *opaque, int err, const char *why);
	void *opaque;

	/* The session's (chan_rx_open), read-only while threads run. */
	bool open;                     /* taking channels */
	unsigned n;                    /* channels, the link included */
	uint8_t token[PROTO_TOKEN_LEN];
	struct ramcache *cache;
	const struct ram_layout *ram;
	unsigned timeout_ms;           /* chan_rx_finish's wait at most */

	unsigned taken;                /* channels connected */
	struct chan_rx_thread t[PROTO_MAX_CHANNELS];   /* by index */
};

/* failed(opaque, err, why) is how a receiver's failure reaches the owner
 * (on the loop): the link is to end. stop_fd (the daemon's signalfd, or
 * -1), when readable, cuts chan_rx_finish's wait short (I10); it is
 * polled, never read. 0 or -errno. */
int chan_rx_init(struct chan_rx *cr, struct evloop *loop, int stop_fd,
		 void (*failed)(void *opaque, int err, const char *why),
		 void *opaque);
void chan_rx_deinit(struct chan_rx *cr);

/* A hello was accepted: a fresh token into token, and channels - 1 extra
 * connections expected (none for 0 or 1) for the RAM of ram and cache. */
void chan_rx_open(struct chan_rx *cr, unsigned channels,
		  struct ramcache *cache, const struct ram_layout *ram,
		  unsigned timeout_ms, uint8_t token[PROTO_TOKEN_LEN]);
/* While the live sync runs over several channels, may [first, first +
 * count) travel channel index (0: the link)? Always, over one. */
bool chan_rx_routes_to(const struct chan_rx *cr, uint32_t index,
		       uint64_t first, uint64_t count);
/* Does a live sync expect another channel now? */
bool chan_rx_wanted(const struct chan_rx *cr);
/* Whether this session takes CHANNEL c now, without taking it: 0, or
 * -errno with why (chan_rx_take's checks; pure, for the fuzzer). */
int chan_rx_check(const struct chan_rx *cr, const struct proto_channel *c,
		  char *why, size_t whylen);
/*
 * A connection presented CHANNEL c: when c is one this session expects
 * (its token, an index 1..n-1 not yet taken, while the live sync takes
 * channels), the CHANNEL is echoed and a receiver takes x. Else why says
 * what was wrong, and x stays the caller's (to REFUSE and close).
 * 0 or -errno.
 */
int chan_rx_take(struct chan_rx *cr, struct xport *x,
		 const struct proto_channel *c, char *why, size_t whylen);
/*
 * The first checkpoint begins: wait (at most timeout_ms, or until stop_fd
 * says stop: -ECANCELED) until every
 * expected channel has reached its CHANNEL_END, join the receivers and
 * close the channels. *pages gets the pages they stored. 0, or -errno
 * with why (a channel missing, failed or late: the sync fails).
 */
int chan_rx_finish(struct chan_rx *cr, uint64_t *pages, char *why,
		   size_t whylen);
/* The session ends (reset, stop, failover): cancel and join the
 * receivers, close the channels, take none until the next open. */
void chan_rx_stop(struct chan_rx *cr);

#endif
