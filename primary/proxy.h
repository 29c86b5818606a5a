/* SPDX-License-Identifier: MIT */
/*
 * The client-facing proxy: the clients of --service, what they send turned
 * into events for the guest, and the output the comparator releases written
 * back to them, with backpressure both ways and limits on each client.
 *
 * The proxy knows nothing of the PVM, the link or the checkpoint: what it
 * needs from them comes through struct proxy_ops, which the role's top file
 * (primary.c) hands in. The comparator's release callbacks are
 * proxy_release and proxy_release_close, with the struct proxy as opaque.
 *
 * Threads: the main thread's, all of it (the event loop and the
 * comparator's releases run there).
 */
#ifndef COLO_PRIMARY_PROXY_H
#define COLO_PRIMARY_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cmp;
struct evloop;

/* The device state lists every open connection; it holds this many. */
#define MAX_CONNS_IN_STATE 65536

struct proxy_ops {
	/* Hand the guest an event of conn (CHAN_EV_OPEN, _DATA, _CLOSE): 0
	 * once queued, -errno when the guest cannot take it. */
	int (*to_guest)(void *opaque, uint32_t type, uint32_t conn,
			const void *data, size_t len);
	/* Offsets in the guest's input stream: past everything queued, and
	 * past what the guest has read. Their difference is its backlog. */
	uint64_t (*input_queued_end)(void *opaque);
	uint64_t (*input_read)(void *opaque);
	/* Bytes waiting to go to the secondary (0 when unprotected): a
	 * backlog all clients share. */
	size_t (*link_backlog)(void *opaque);
	/* Outputs are compared (colo state): new connections must be opened
	 * in the comparator, which this returns (it is rebuilt when the
	 * secondary is lost, so the proxy never keeps it). */
	bool (*protected)(void *opaque);
	struct cmp *(*comparator)(void *opaque);
};

/* The tunables the proxy obeys; `set` may change them at any time. */
struct proxy_limits {
	uint64_t client_output_limit;   /* unwritten output: disconnect */
	uint64_t client_input_limit;    /* guest behind on input: pause */
	uint64_t max_held_output;       /* held output not yet the client's */
	unsigned max_clients;           /* 0: from RLIMIT_NOFILE (at init) */
};

struct proxy_client;

struct proxy {
	struct evloop *loop;
	const struct proxy_ops *ops;
	void *opaque;
	struct proxy_limits limits;

	int listen_fd;
	struct proxy_client **clients;  /* in no order */
	size_t clients_cap, nclients;
	uint32_t next_conn_id;          /* the last id given out */
	unsigned max_clients;           /* in force (see limits) */
	size_t npaused;                 /* clients not read (backpressure) */
	uint64_t accept_resume_ms;      /* accepting paused until; 0: not */
	uint64_t accept_failures;       /* since the last report */
	uint64_t accept_report_ms;      /* ... made then */
	uint64_t refused_clients;       /* over max_clients, since report */
	uint64_t refused_report_ms;
};

/* Listen on service and watch it in loop. 0 or -errno (logged). */
int proxy_init(struct proxy *px, struct evloop *loop, const char *service,
	       const struct proxy_limits *limits, const struct proxy_ops *ops,
	       void *opaque);
/* Closes every client and the listener; safe after a failed init and on
 * a zeroed struct with listen_fd -1. */
void proxy_deinit(struct proxy *px);
void proxy_set_limits(struct proxy *px, const struct proxy_limits *limits);

/* The comparator's callbacks (opaque: the struct proxy). Both run inside
 * the comparator: a client that breaks is only marked, and
 * proxy_flush_closing frees it. */
void proxy_release(void *opaque, uint32_t conn, const uint8_t *buf,
		   size_t len);
void proxy_release_close(void *opaque, uint32_t conn);

/* The PVM closed conn; false when there is nothing to close (a client
 * already gone, or a second close). */
bool proxy_guest_closed(struct proxy *px, uint32_t conn);
/* In colo state, before len more bytes of conn's output join the
 * comparator: true when the client went over its output limit (it is
 * disconnected and the comparator forgets conn; drop the bytes). */
bool proxy_output_over(struct proxy *px, uint32_t conn, size_t len);
/* Protected from now on: open every client in the comparator. */
void proxy_track_all(struct proxy *px, struct cmp *cmp);

/* From the loop, after each round: close what ended, then the timed work
 * (accept again after a pause, read paused clients again). */
void proxy_flush_closing(struct proxy *px);
void proxy_tick(struct proxy *px);
uint64_t proxy_next_deadline_ms(const struct proxy *px);

size_t proxy_conn_ids(const struct proxy *px, uint32_t *ids, size_t max);
size_t proxy_nclients(const struct proxy *px);

#endif
