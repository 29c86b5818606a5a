/* SPDX-License-Identifier: MIT */
/*
 * Shared by the benchmarks: a clock, a sink that reads the replication
 * stream and counts it (the secondary's side, minus the cache), and a
 * wrapper around the daemon's own live-sync loop (ram_save_live_sync).
 * The forked guest comes from tests/unit/locking-guest.h.
 */
#ifndef COLO_BENCH_UTIL_H
#define COLO_BENCH_UTIL_H

#include <pthread.h>
#include <time.h>

#include "locking-guest.h"
#include "proto.h"
#include "ram-save.h"
#include "tunables.h"

static inline double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct sink {
	struct xport *x;
	pthread_t th;
	uint64_t pages, zero_pages, discarded;   /* read after the join */
};

static inline void *sink_main(void *arg)
{
	struct sink *s = arg;
	struct proto_rxbuf rxb = { 0 };
	struct proto_msg m;

	while (proto_recv(s->x, &rxb, &m) == 0 && m.type != PROTO_CKPT_END) {
		if (m.type == PROTO_PAGES) {
			s->pages += m.pages.count;
			if (!m.pages.data)
				s->zero_pages += m.pages.count;
		} else if (m.type == PROTO_DISCARD) {
			s->discarded += m.discard.count;
		}
	}
	proto_rxbuf_free(&rxb);
	return NULL;
}

/* A connected pair: tx for ram_save, the sink thread on the other end. */
static inline struct xport *sink_start(struct sink *s)
{
	struct xport *tx;

	memset(s, 0, sizeof(*s));
	tguest_xport_pair(&tx, &s->x);
	CHECK_EQ(pthread_create(&s->th, NULL, sink_main, s), 0);
	return tx;
}

/* Ends the stream and waits for the sink to have read all of it. */
static inline void sink_stop(struct sink *s, struct xport *tx)
{
	struct proto_msg m = { .type = PROTO_CKPT_END };

	CHECK_EQ(proto_send(tx, &m), 0);
	CHECK_EQ(xport_flush(tx), 0);
	pthread_join(s->th, NULL);
	xport_free(tx);
	xport_free(s->x);
}

/* The daemon's live-sync loop (ram_save_live_sync) at the shipped max-wait,
 * with no hook: stop when little is left or after max_passes. Returns the
 * passes made. */
static inline unsigned bench_live_sync(struct ram_state *rs, struct xport *tx,
				       uint64_t converged, unsigned max_passes)
{
	_Atomic unsigned max_wait = (unsigned)tunables[TUNABLE_MAX_WAIT].def;
	struct ram_live_sync ls = {
		.max_wait_ms = &max_wait,
		.converged_pages = converged,
		.max_passes = max_passes,
	};

	CHECK_EQ(ram_save_live_sync(rs, tx, &ls), 0);
	return ls.passes;
}

#endif
