/* SPDX-License-Identifier: MIT */
/*
 * The secondary's end of the replication link: accepting the primary (one
 * at a time), TLS handshakes in progress (and, with --transport rdma, the
 * RDMA connection each binds), framing, heartbeats and the
 * primary's liveness. What a message means is not the link's business:
 * each one goes to the handler the caller registered for its type, and
 * every end of the connection is reported through sec_link_ops.ended, so
 * the link never calls up into the units above it.
 *
 * Main thread only: every field below is touched by the event loop.
 */
#ifndef COLO_SECONDARY_SEC_LINK_H
#define COLO_SECONDARY_SEC_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "hb-rtt.h"
#include "proto.h"

struct evloop;
struct last_error;
struct xport;
struct xport_rdma_listener;
struct xport_tls_ctx;

/* A message of one type from the primary: 0, or -errno to end the
 * connection (-ECANCELED: a stop request cut a wait short). */
typedef int (*sec_link_handler)(void *opaque, const struct proto_msg *m);

struct sec_link_ops {
	/* Indexed by message type, PROTO__MAX entries; a type without a
	 * handler is refused as unexpected (I6). */
	const sec_link_handler *handlers;
	void *handler_opaque;
	/* A primary connected (its hello has yet to come). */
	void (*connected)(void *opaque);
	/*
	 * The connection ends: lost says the primary is unreachable (a read
	 * or write broke, or it went silent for timeout_ms) rather than
	 * refused by us or failed on our side. why may be NULL (then err
	 * says it). The link is still open: the callee logs with
	 * sec_link_peer and closes it (sec_link_close).
	 */
	void (*ended)(void *opaque, int err, const char *why, bool lost);
	/*
	 * Extra live-sync channels (chan-rx.h); either may be NULL (none
	 * taken). channel_wanted: while a primary is served, may another
	 * connection come (a channel)? channel: one presented CHANNEL c; 0
	 * when the callee took x, else -errno with why, and the link sends
	 * REFUSE (why) and closes x.
	 */
	bool (*channel_wanted)(void *opaque);
	int (*channel)(void *opaque, struct xport *x,
		       const struct proto_channel *c, char *why,
		       size_t whylen);
	/* For waits outside the loop: true once a stop was requested. */
	bool (*stop_requested)(void *opaque);
	void *opaque;
};

struct sec_link_cfg {
	struct evloop *loop;
	struct xport_tls_ctx *tls;     /* NULL: plain TCP (--insecure) */
	/* --transport rdma: the TLS (or, with --insecure, plain TCP)
	 * connection only binds an RDMA connection, which becomes the link
	 * (sec-link-rdma.c). */
	bool rdma;
	int cancel_fd;                 /* readable: blocking calls end (I10) */
	unsigned heartbeat_ms;
	unsigned timeout_ms;           /* the primary's silence that ends it */
	struct last_error *last_error; /* may be NULL */
};

/* An accepted connection not yet the link, driven by the loop: a silent
 * peer costs a file descriptor until its deadline. */
#define SEC_PENDING_MAX 4
#define SEC_TOKEN_LEN 32              /* XPORT_RDMA_TOKEN_LEN */
enum sec_pending_phase {
	SEC_HANDSHAKE,                 /* TLS handshake in progress */
	SEC_TOKEN,                     /* --insecure rdma: token in clear */
	SEC_AWAIT_RDMA,                /* bound: its RDMA request awaited */
	SEC_CHANNEL,                   /* a live-sync channel: its CHANNEL
					* frame awaited (in token) */
};
struct sec_pending {
	struct xport *x;               /* NULL: free slot */
	uint64_t deadline_ms;
	enum sec_pending_phase phase;
	uint8_t token[SEC_TOKEN_LEN];  /* SEC_TOKEN: got bytes of it */
	size_t got;
	bool channel;                  /* came while a primary was served */
};

struct sec_link {
	struct sec_link_cfg cfg;
	struct sec_link_ops ops;
	struct sec_pending pending[SEC_PENDING_MAX];
	struct xport *x;               /* the primary; NULL: none */
	bool x_rdma;                   /* x is the RDMA connection */
	struct xport_rdma_listener *rdma_listener;  /* cfg.rdma */
	char peer[64];                 /* kept after the close, for messages */
	struct proto_rxbuf rx;
	uint64_t rx_ms;                /* last message from the primary */
	uint64_t hb_ms;                /* last heartbeat sent */
	struct hb_rtt rtt;             /* from the heartbeats both ways */
	bool heartbeats;               /* from the accepted hello on */
};

void sec_link_init(struct sec_link *l, const struct sec_link_cfg *cfg,
		   const struct sec_link_ops *ops);
/* Closes the link and any pending handshake. */
void sec_link_deinit(struct sec_link *l);

/* The listening socket's EV_READ callback (opaque: the sec_link). */
void sec_link_on_accept(struct evloop *loop, int fd, uint32_t events,
			void *opaque);
/* A connection (handshake done) becomes the link: 0, or -EBUSY while one
 * is served, -errno; x is freed on failure. */
int sec_link_adopt(struct sec_link *l, struct xport *x);

/*
 * --transport rdma: listen for RDMA CM requests on hostport too (the same
 * as the TCP listener's: RDMA CM's ports are its own), watched in the
 * loop. A request is accepted only with the token of a pending connection
 * that finished its handshake (or sent it, with --insecure), whose TLS
 * connection then guards it. 0 or -errno with err.
 */
int sec_link_listen_rdma(struct sec_link *l, const char *hostport,
			 char *err, size_t errlen);
/* The link is an RDMA connection (pages may arrive placed). */
bool sec_link_is_rdma(const struct sec_link *l);
/* Over RDMA, let the primary write into [addr, addr + len) as region
 * (xport_rdma_expose); the key goes ahead of anything sent after. */
int sec_link_expose(struct sec_link *l, uint32_t region, void *addr,
		    size_t len, char *err, size_t errlen);

bool sec_link_connected(const struct sec_link *l);
/* The primary's "host:port", or "" before the first one connected. */
const char *sec_link_peer(const struct sec_link *l);

/* Queue a message, written as the socket takes it (never blocks: the
 * primary may be blocked writing to us). 0, -ENOTCONN or -errno. */
int sec_link_send(struct sec_link *l, const struct proto_msg *m);
/* Queue a message without writing: it goes at the end of the loop round
 * with the others queued in it (or with the next sec_link_send). For the
 * SVM's output. 0, -ENOTCONN or -errno. */
int sec_link_queue(struct sec_link *l, const struct proto_msg *m);
/* Before closing, what is queued (a REFUSE reason) gets a short chance. */
void sec_link_close(struct sec_link *l);

/* The primary's hello was accepted: from now on it waits for heartbeats
 * (before, it waits for HELLO_ACK or REFUSE and nothing else). */
void sec_link_start_heartbeats(struct sec_link *l);
/* Queue a heartbeat if one is due: 0 or -errno, never ends the link, so
 * it is safe in the middle of applying a checkpoint. */
int sec_link_heartbeat(struct sec_link *l);
/* For waits in the loop (opaque: the sec_link): heartbeats go on; a
 * pending stop request ends the wait with -ECANCELED. */
int sec_link_heartbeat_idle(void *opaque);
/* End the connection with the primary from outside the link (a live-sync
 * channel failed): ended(err, why, lost) as if the link had found it. */
void sec_link_fail(struct sec_link *l, int err, const char *why, bool lost);
struct evloop *sec_link_loop(const struct sec_link *l);
/* Count the primary's silence from now (after a long apply). */
void sec_link_heard(struct sec_link *l);

/* Every loop tick: handshake deadlines, the primary's silence, heartbeats. */
void sec_link_tick(struct sec_link *l);
bool sec_link_busy(const struct sec_link *l);   /* a link or a handshake */
/* Fair loops: the link stops after a budget with frames left in userspace
 * buffers epoll cannot see; the loop polls without waiting while this says
 * so, then resumes the link itself. */
bool sec_link_has_buffered(const struct sec_link *l);
void sec_link_resume(struct sec_link *l);

#endif
