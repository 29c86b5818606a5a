/* SPDX-License-Identifier: MIT */
/*
 * The primary's link to its secondary: the transport, what was read of it,
 * and when we last heard from and spoke to the secondary.
 *
 * Messages the secondary sends unasked (in colo state: OUTPUT) go to a
 * table of handlers the role's top file (primary.c) hands over, so the
 * link never calls up into the units above it. Heartbeats the link takes
 * itself. A reply the caller waits for (CKPT_ACK, VERIFY) it asks for by
 * type with link_expect, the way QEMU's colo_receive_check_message does:
 * the checkpoint reads as send, expect, expect.
 *
 * Threads: the migration thread's from dialling (dial.c) until the main
 * thread joins it, the main thread's after (see primary-int.h); loop and
 * lost are set once at start-up.
 */
#ifndef COLO_PRIMARY_LINK_H
#define COLO_PRIMARY_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hb-rtt.h"
#include "proto.h"

struct evloop;
struct xport;

/* A handler of the table: 0 to go on, -errno ends the link. */
typedef int (*link_handler_fn)(void *opaque, const struct proto_msg *m);
/* The link broke in colo state (why, for the log); gets handlers_opaque.
 * It is expected to end the link (free x and set it to NULL). */
typedef void (*link_lost_fn)(void *opaque, const char *why);

struct link {
	struct xport *x;                /* NULL: no secondary */
	struct proto_rxbuf rx;
	const link_handler_fn *handlers;  /* PROTO__MAX entries */
	void *handlers_opaque;
	const char *peer;               /* the secondary's address, for logs */
	struct evloop *loop;            /* watches x in colo state */
	link_lost_fn lost;
	uint64_t rx_ms;                 /* last message from the secondary */
	uint64_t hb_ms;                 /* last heartbeat sent */
	struct hb_rtt rtt;              /* from the heartbeats both ways */
};

/* What to do with each type the secondary may send unasked (NULL: a
 * protocol error). Set once, before the first message. */
void link_set_handlers(struct link *l, const link_handler_fn *table,
		       void *opaque);

/*
 * Wait for the next message of one of types (LINK_MSG bits) and return it
 * in m (valid until the next receive); whatever else arrives meanwhile
 * goes through the handlers. 0, or -errno (the transport's timeout, a
 * cancel, a protocol error): the caller gives the link up.
 */
#define LINK_MSG(type) (1u << (type))
int link_expect_any(struct link *l, uint32_t types, struct proto_msg *m);
int link_expect(struct link *l, enum proto_type type, struct proto_msg *m);

/*
 * For the migration thread between live-sync steps, which must not block:
 * take the secondary's heartbeats that are in, send ours when heartbeat_ms
 * passed since the last, and fail when the secondary was silent for
 * failover_timeout_ms (-ETIMEDOUT) or sent anything but a heartbeat
 * (-EPROTO); err then says why. Uses and updates rx_ms and hb_ms.
 */
int link_sync_liveness(struct link *l, unsigned heartbeat_ms,
		       unsigned failover_timeout_ms, char *err, size_t errlen);

/* One message the secondary sent unasked, to its handler. */
int link_dispatch(struct link *l, const struct proto_msg *m);

/*
 * In colo state (the main thread's; the caller checks the state): the link
 * is watched in loop, with link_on_readable and the struct link as opaque.
 * A failure calls lost (with the handlers' opaque) and returns.
 */
void link_set_loop(struct link *l, struct evloop *loop, link_lost_fn lost);
/* Queue a message for the secondary, written with the rest of the loop
 * round's at its end (evloop_defer); past a bound, wait for the socket to
 * drain. 0, or -errno once lost. */
int link_queue(struct link *l, const struct proto_msg *m);
/* Queue a heartbeat if heartbeat_ms passed since the last and write what
 * the socket takes. Never blocks and never calls lost, so that it is safe
 * in the middle of a checkpoint: 0 or -errno, for the caller. */
int link_heartbeat(struct link *l, unsigned heartbeat_ms);
/* Heartbeats due, and a secondary silent for failover_timeout_ms lost. */
void link_tick(struct link *l, unsigned heartbeat_ms,
	       unsigned failover_timeout_ms);
void link_on_readable(struct evloop *loop, int fd, uint32_t events,
		      void *opaque);
/* Frames of the secondary read but not handled yet (fair loops: the loop
 * must come back for them without an event). */
bool link_has_buffered(const struct link *l);
/*
 * Reads and dispatches, as link_expect does while it waits, every message
 * that has arrived, without waiting for more: for a wait of the main
 * thread outside the loop (a checkpoint waiting for the PVM's child), so
 * that the secondary is heard. 0, or -errno: the caller gives the link up.
 */
int link_poll(struct link *l);

#endif
