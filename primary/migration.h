/* SPDX-License-Identifier: MIT */
/*
 * Live sync: the migration thread dials the secondary (dial.c), then
 * pre-copies RAM (ram_save_live_sync) over the link, and says it ended by
 * a write to event_fd. It works on what it is handed (the link, the RAM
 * state and layout, a config), never on the primary's context; the owner
 * (primary.c) watches event_fd, calls migration_join, and decides what
 * comes next (the first checkpoint, or another try later).
 *
 * Threads. The main thread fills everything before pthread_create and reads
 * what the thread wrote only after pthread_join (which orders the two),
 * except the atomics, which either side may touch at any time:
 *  - cancel (with a write to cancel_fd): main -> thread, give up;
 *  - connected, refused, result: thread -> main, read while it runs
 *    (status shows "connecting" until connected).
 * error is the thread's while it runs; started_ms too until connected is
 * stored, after which it stays put and the main thread may read it (the
 * atomic store and load order the two: live-sync progress). The link
 * (struct link) is the thread's until the join as well.
 */
#ifndef COLO_PRIMARY_MIGRATION_H
#define COLO_PRIMARY_MIGRATION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mig-channels.h"
#include "proto.h"
#include "ram-save.h"

struct link;
struct ram_layout;
struct xport_tls_ctx;

/* What the thread needs to dial: a copy taken as live sync begins, so that
 * `set` and `protect` may change the primary's meanwhile. */
struct image_save_base;

struct migration_config {
	const char *secondary;          /* HOST:PORT */
	bool insecure;                  /* plain TCP, else TLS with tls */
	bool rdma;                      /* then RDMA, bound to that */
	struct xport_tls_ctx *tls;
	const char *tls_hostname;       /* NULL: the host dialled */
	uint8_t guest_digest[PROTO_DIGEST_LEN];
	struct proto_generation gen;    /* the primary's, for the hello */
	/* A process guest (--exec): its identity (proc-identity.h, encoded),
	 * sent before the hello, NULL for a libcolo-guest (the migration
	 * keeps its own copy, migration_start); its own pages are live
	 * synced as images (image_save_live) against exec_base, which the
	 * main thread leaves alone until the thread is joined. */
	uint8_t *identity;
	size_t identity_len;
	struct image_save_base *exec_base;
	pid_t exec_pid;
	int exec_pidfd;
	/* The liveness tunables as live sync began. */
	unsigned heartbeat_ms, failover_timeout_ms;
	/* Connections of the live sync, the link included (--channels):
	 * 1 for RDMA and an --exec guest. */
	unsigned channels;
};

struct migration {
	/* Handed in (migration_init), the owner's for good. */
	struct link *link;
	struct ram_state *rs;
	const struct ram_layout *ram;
	_Atomic unsigned *max_wait_ms;  /* `set max-wait` changes it */

	/* The main thread's. */
	pthread_t thread;
	bool running;                   /* started and not joined yet */
	int event_fd;                   /* thread -> main: done */
	int cancel_fd;                  /* main -> thread: give up */
	struct ram_save_stats base;     /* RAM stats when live sync began */
	/* Set before the thread starts, read-only while it runs. */
	struct migration_config cfg;

	/* Either thread, any time. */
	_Atomic bool cancel;            /* for the thread's loops; set with
					 * the write to cancel_fd */
	_Atomic int result;             /* 0 converged, -errno */
	_Atomic bool connected;         /* dialled and hello accepted */
	_Atomic bool refused;           /* the secondary said REFUSE */

	/* The thread's while it runs, the main thread's after the join. */
	char error[512];
	uint64_t started_ms;
	uint64_t exec_pages, exec_bytes; /* an --exec program's live sync */
	uint8_t token[PROTO_TOKEN_LEN]; /* the session's, from HELLO_ACK */
	struct mig_channels chans;      /* the live sync's connections */
	unsigned passes;                /* over RAM, pre-copy */
	bool converged;                 /* the last pass left little dirty */
};

/* The eventfds; event_fd is then the owner's to watch. 0 or -errno. */
int migration_init(struct migration *m, struct link *link,
		   struct ram_state *rs, const struct ram_layout *ram,
		   _Atomic unsigned *max_wait_ms);
/* Cancels a running thread, closes the eventfds. */
void migration_deinit(struct migration *m);
/* Everything is dirty again (a new secondary has nothing), and the thread
 * dials cfg->secondary. 0 or -errno (no thread then). */
int migration_start(struct migration *m, const struct migration_config *cfg);
/*
 * Call live sync off and wait for the thread: every wait it can be in
 * watches cancel_fd, except a TCP connect (at most DIAL_TIMEOUT_MS) and
 * an RDMA connect (at most the handshake's timeout, dial.c). The link's
 * transport is left to the caller.
 */
void migration_cancel(struct migration *m);
/* After event_fd was readable: false when there was nothing to join (a
 * cancel came first); else the thread is joined and *result is live
 * sync's (0 converged, -ECANCELED, -errno with error saying why). */
bool migration_join(struct migration *m, int *result);

/* dial.c, on the migration thread: connect, TLS handshake, [RDMA
 * connect,] hello[, RAM registered for RDMA]. 0;
 * -ECANCELED when called off; refused set when the secondary refused us;
 * anything else is worth another try (error says why). */
int dial_secondary(struct migration *m);
/* dial.c, after dial_secondary: the cfg.channels - 1 extra connections of
 * the live sync into chans (none for 1). 0 or -errno (error says why). */
int dial_channels(struct migration *m);

#endif
