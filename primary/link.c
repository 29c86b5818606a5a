// SPDX-License-Identifier: MIT
/*
 * The replication link to the secondary once it is dialled (dial.c): its
 * liveness during live sync, and in colo state the messages both ways,
 * heartbeats and silence. A link that breaks is reported through the lost
 * callback; what losing the secondary means is the caller's.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "evloop.h"
#include "link.h"
#include "log.h"
#include "xport.h"

/* A message may be read without blocking. A readable fd may hold no byte
 * (an RDMA completion): fill first, so that proto_recv never waits for a
 * heartbeat not yet sent. */
static bool input_waiting(struct link *l)
{
	return xport_has_buffered(l->x) ||
	       (evloop_fd_readable(xport_fd(l->x)) &&
		!xport_nothing_to_read(l->x));
}

/*
 * Live sync is one-way traffic, but both sides must still notice a peer
 * that went silent without closing (a host that died, a cut cable): read
 * the secondary's heartbeats without blocking, and send ours when we have
 * sent nothing else for a while.
 */
int link_sync_liveness(struct link *l, unsigned heartbeat_ms,
		       unsigned failover_timeout_ms, char *err, size_t errlen)
{
	struct proto_msg m;
	uint64_t now;
	int ret;

	while (input_waiting(l)) {
		ret = proto_recv(l->x, &l->rx, &m);
		if (ret < 0)
			return ret;
		if (m.type != PROTO_HEARTBEAT) {
			snprintf(err, errlen, "secondary sent %s during live "
				 "sync", proto_type_name(m.type));
			return -EPROTO;
		}
		hb_rtt_received(&l->rtt, &m.heartbeat);
		l->rx_ms = evloop_now_ms();
	}
	now = evloop_now_ms();
	if (now - l->rx_ms >= failover_timeout_ms) {
		snprintf(err, errlen, "secondary %s silent for %llu ms during "
			 "live sync", l->peer ? l->peer : "?",
			 (unsigned long long)(now - l->rx_ms));
		return -ETIMEDOUT;
	}
	if (now - l->hb_ms >= heartbeat_ms) {
		m.type = PROTO_HEARTBEAT;
		m.heartbeat.time_ms = now;
		hb_rtt_stamp(&l->rtt, &m.heartbeat);
		ret = proto_send(l->x, &m);
		if (ret < 0)
			return ret;
		l->hb_ms = now;
	}
	return 0;
}

/* Past this much queued for the secondary, wait for it to drain: the
 * backpressure that keeps a slow secondary from costing unbounded memory.
 * Blocking is safe here because the secondary never blocks writing to us. */
#define LINK_QUEUE_MAX (32u << 20)

void link_set_loop(struct link *l, struct evloop *loop, link_lost_fn lost)
{
	l->loop = loop;
	l->lost = lost;
}

/* EV_WRITE for queued output; an RDMA xport's fd never says writable,
 * so link_on_readable flushes on EV_READ as well. */
static void link_watch(struct link *l)
{
	evloop_mod(l->loop, xport_fd(l->x),
		   EV_READ | (xport_queued(l->x) ? EV_WRITE : 0));
}

static void lost(struct link *l, const char *why)
{
	if (l->lost)
		l->lost(l->handlers_opaque, why);
}

/* What link_queue queued during a loop round, written at its end: all of
 * a round's messages in one write (one TLS record up to 16 KiB). */
static void link_flush_round(void *opaque)
{
	struct link *l = opaque;
	int ret;

	if (!l->x)
		return;         /* lost meanwhile */
	ret = xport_flush_nb(l->x);
	if (ret < 0 && ret != -EAGAIN) {
		lost(l, strerror(-ret));
		return;
	}
	link_watch(l);
}

/* Queue a message for the secondary in colo state; it is written at the
 * end of the loop round, with the round's others (or sooner, by any
 * blocking send or read on the link). Past LINK_QUEUE_MAX queued, wait
 * for the socket. 0, or -errno once the link is lost. */
int link_queue(struct link *l, const struct proto_msg *m)
{
	int ret = proto_queue(l->x, m);

	if (ret == 0 && xport_queued(l->x) > LINK_QUEUE_MAX) {
		ret = xport_flush_nb(l->x);
		if (ret == -EAGAIN && xport_queued(l->x) > LINK_QUEUE_MAX)
			ret = xport_flush(l->x);
		if (ret == -EAGAIN)
			ret = 0;
	}
	if (ret < 0) {
		lost(l, strerror(-ret));
		return ret;
	}
	evloop_defer(l->loop, link_flush_round, l);
	return 0;
}

/*
 * Queue a heartbeat if one is due and write what the socket takes. Never
 * blocks and never ends the link itself, so that it is safe in the middle
 * of a checkpoint: 0 or -errno, for the caller to act on.
 */
int link_heartbeat(struct link *l, unsigned heartbeat_ms)
{
	struct proto_msg m = { .type = PROTO_HEARTBEAT };
	uint64_t now = evloop_now_ms();
	int ret;

	if (!l->x || now - l->hb_ms < heartbeat_ms)
		return 0;
	m.heartbeat.time_ms = l->hb_ms = now;
	hb_rtt_stamp(&l->rtt, &m.heartbeat);
	ret = proto_queue(l->x, &m);
	if (ret == 0)
		ret = xport_flush_nb(l->x);
	if (ret == -EAGAIN)
		ret = 0;
	if (ret == 0)
		link_watch(l);
	return ret;
}

void link_set_handlers(struct link *l, const link_handler_fn *table,
		       void *opaque)
{
	l->handlers = table;
	l->handlers_opaque = opaque;
}

/*
 * Heartbeats are the link's own business (receiving one is all the
 * liveness it proves); every other type goes to its handler, and a type
 * with none is a protocol error.
 */
int link_dispatch(struct link *l, const struct proto_msg *m)
{
	link_handler_fn fn = NULL;

	if (m->type == PROTO_HEARTBEAT) {
		hb_rtt_received(&l->rtt, &m->heartbeat);
		return 0;
	}
	if (l->handlers && m->type > 0 && m->type < PROTO__MAX)
		fn = l->handlers[m->type];
	if (!fn) {
		log_error("secondary sent unexpected %s",
			  proto_type_name(m->type));
		return -EPROTO;
	}
	return fn(l->handlers_opaque, m);
}

int link_expect_any(struct link *l, uint32_t types, struct proto_msg *m)
{
	int ret;

	for (;;) {
		ret = proto_recv(l->x, &l->rx, m);
		if (ret < 0)
			return ret;
		l->rx_ms = evloop_now_ms();
		if (m->type < 32 && (types & LINK_MSG(m->type)))
			return 0;
		ret = link_dispatch(l, m);
		if (ret < 0)
			return ret;
	}
}

int link_expect(struct link *l, enum proto_type type, struct proto_msg *m)
{
	return link_expect_any(l, LINK_MSG(type), m);
}

bool link_has_buffered(const struct link *l)
{
	return l->x && xport_has_buffered(l->x);
}

int link_poll(struct link *l)
{
	struct proto_msg m;
	int ret;

	if (!l->x)
		return -ENOTCONN;
	while (input_waiting(l)) {
		ret = proto_recv(l->x, &l->rx, &m);
		if (ret < 0)
			return ret;
		l->rx_ms = evloop_now_ms();
		ret = link_dispatch(l, &m);
		if (ret < 0)
			return ret;
	}
	return 0;
}

void link_on_readable(struct evloop *loop, int fd, uint32_t events,
		      void *opaque)
{
	struct link *l = opaque;
	struct proto_budget budget = { 0, 0 };
	struct proto_msg m;
	int ret;

	(void)loop;
	(void)fd;
	/* Output waits on EV_WRITE, or on EV_READ over RDMA (a completion
	 * returned credits): flushing when nothing is writable costs one
	 * -EAGAIN. */
	if ((events & EV_WRITE) || xport_queued(l->x)) {
		ret = xport_flush_nb(l->x);
		if (ret < 0 && ret != -EAGAIN) {
			lost(l, strerror(-ret));
			return;
		}
		link_watch(l);
		if (!(events & EV_READ))
			return;
	}
	for (;;) {
		/* Read until the transport has nothing (a wake-up may carry
		 * no byte: an RDMA completion), never waiting in proto_recv
		 * for a message not sent yet; over RDMA the last, empty read
		 * also tells the peer all was taken (xport-rdma.c). */
		if (!xport_has_buffered(l->x) && xport_nothing_to_read(l->x))
			return;
		ret = proto_recv(l->x, &l->rx, &m);
		if (ret == 0) {
			l->rx_ms = evloop_now_ms();
			ret = link_dispatch(l, &m);
		}
		if (ret < 0) {
			lost(l, ret == -ECONNRESET ? "connection closed" :
						     strerror(-ret));
			return;
		}
		if (!proto_budget_spend(&budget, &l->rx))
			break;
	}
	/* Budget spent: primary_run_adopted's loop calls us again once
	 * clients, the PVM and the control socket had a turn, if frames
	 * wait; if none do, the read that says all was taken is done now. */
	if (!xport_has_buffered(l->x))
		xport_fill_nb(l->x);
}

/*
 * Heartbeats and silence. In colo state the secondary hears from us at least
 * every heartbeat_ms, and a secondary silent for failover_timeout_ms is
 * lost. (Dialling it again is primary.c's redial_tick.)
 */
void link_tick(struct link *l, unsigned heartbeat_ms,
	       unsigned failover_timeout_ms)
{
	uint64_t now = evloop_now_ms();
	int ret;

	if (!l->x)
		return;
	if (now - l->rx_ms >= failover_timeout_ms) {
		char why[96];

		snprintf(why, sizeof(why), "no message for %llu ms",
			 (unsigned long long)(now - l->rx_ms));
		lost(l, why);
		return;
	}
	ret = link_heartbeat(l, heartbeat_ms);
	if (ret < 0)
		lost(l, strerror(-ret));
}
