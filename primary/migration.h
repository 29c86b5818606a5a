/* SPDX-License-Identifier: MIT */
/*
 * Live sync's own state: the migration thread that dials the secondary and
 * pre-copies RAM (ram_save_live_sync), and what it hands back to the main
 * thread when it ends.
 *
 * Threads. The main thread fills everything before pthread_create and reads
 * what the thread wrote only after pthread_join (which orders the two),
 * except the atomics, which either side may touch at any time:
 *  - cancel (with a write to cancel_fd): main -> thread, give up;
 *  - connected, refused, result: thread -> main, read while it runs
 *    (status shows "connecting" until connected).
 * error and started_ms are the thread's while it runs. The link
 * (struct link) is the thread's until the join as well.
 */
#ifndef COLO_PRIMARY_MIGRATION_H
#define COLO_PRIMARY_MIGRATION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ram-save.h"

struct migration {
	/* The main thread's. */
	pthread_t thread;
	bool running;                   /* started and not joined yet */
	int event_fd;                   /* thread -> main: done */
	int cancel_fd;                  /* main -> thread: give up */
	struct ram_save_stats base;     /* RAM stats when live sync began */
	/* Set before the thread starts, read-only while it runs: the
	 * liveness tunables as live sync began (the thread never reads
	 * opts, which `set` writes on the main thread). */
	unsigned heartbeat_ms, failover_timeout_ms;

	/* Either thread, any time. */
	_Atomic bool cancel;            /* for the thread's loops; set with
					 * the write to cancel_fd */
	_Atomic int result;             /* 0 converged, -errno */
	_Atomic bool connected;         /* dialled and hello accepted */
	_Atomic bool refused;           /* the secondary said REFUSE */

	/* The thread's while it runs, the main thread's after the join. */
	char error[512];
	uint64_t started_ms;
};

#endif
