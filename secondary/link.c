// SPDX-License-Identifier: MIT
/*
 * The secondary's end of the replication link: one primary at a time. A
 * connection that fails its TLS handshake or sends anything malformed is
 * closed with a log line; the daemon goes on listening.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>

#include "evloop.h"
#include "secondary-int.h"
#include "log.h"
#include "xport.h"

/* See the primary's link.c: a floor for the handshake of a slow host. */
#define HANDSHAKE_MIN_MS 1000

/*
 * Everything the secondary sends is queued and written as the socket takes
 * it: were it to block in a write, it would stop reading the primary, which
 * may be blocked writing to us. The loop writes the rest on EV_WRITE.
 */
int sec_link_send(struct secondary *s, const struct proto_msg *m)
{
	int ret;

	if (!s->link)
		return -ENOTCONN;
	ret = proto_queue(s->link, m);
	if (ret == 0)
		ret = xport_flush_nb(s->link);
	if (ret == -EAGAIN)
		ret = 0;
	if (ret == 0)
		evloop_mod(s->loop, xport_fd(s->link),
			   EV_READ | (xport_queued(s->link) ? EV_WRITE : 0));
	return ret;
}

/*
 * Queue a heartbeat if one is due. Never ends the link itself, so that it
 * is safe while a checkpoint is being applied: 0 or -errno.
 */
int sec_link_heartbeat(struct secondary *s)
{
	struct proto_msg m = { .type = PROTO_HEARTBEAT };
	uint64_t now = evloop_now_ms();

	/* From the accepted hello on: before it the primary waits for
	 * HELLO_ACK or REFUSE and nothing else. */
	if (!s->link || now - s->link_hb_ms < s->opts.tunables.heartbeat_ms ||
	    (s->state != IN_SYNC && s->state != IN_CKPT &&
	     s->state != IN_COLO))
		return 0;
	m.heartbeat.time_ms = s->link_hb_ms = now;
	return sec_link_send(s, &m);
}

/* For waits in the loop (SVM barriers, hashing for verify): the primary
 * must keep hearing from us; a broken link shows in on_link or the tick.
 * A pending stop signal ends the wait. */
int sec_link_heartbeat_idle(void *opaque)
{
	struct secondary *s = opaque;

	sec_link_heartbeat(s);
	return secondary_stop_requested(s) ? -ECANCELED : 0;
}

/* Before closing: give what is queued (a REFUSE reason) a short chance. */
void sec_link_close(struct secondary *s)
{
	if (!s->link)
		return;
	if (xport_queued(s->link)) {
		xport_set_timeout(s->link, 1000);
		xport_flush(s->link);
	}
	evloop_del(s->loop, xport_fd(s->link));
	xport_free(s->link);
	s->link = NULL;
}

/* Our write to the primary broke: the link, not us, is at fault. */
static bool link_broken(const struct secondary *s)
{
	return s->link && s->link->werr;
}

/*
 * This connection ends, but the primary is not lost: our own failure (the
 * SVM died or hung, an apply error) or a message we refuse (I6). The SVM is
 * dropped; the primary, alive, dials again and live-syncs us. While fenced,
 * only the new connection ends: the fenced SVM may be the only copy, and it
 * goes only once a primary's hello has been accepted.
 */
void sec_link_failed(struct secondary *s, int err, const char *why)
{
	if (!why)
		why = err == -EPROTO ? "malformed or unexpected message" :
		      strerror(-err);
	if (s->state == IN_FENCED) {
		log_warn("connection from %s ended (%s); keeping the fenced SVM",
			 s->peer, why);
		sec_link_close(s);
		return;
	}
	incoming_reset(s, why);
}

static void connection_failed(struct secondary *s, int err)
{
	sec_link_failed(s, err, NULL);
}

static void on_link(struct evloop *l, int fd, uint32_t events, void *opaque)
{
	struct secondary *s = opaque;
	struct proto_budget budget = { 0, 0 };
	struct proto_msg m;
	int ret;

	(void)l;
	(void)fd;
	if (events & EV_WRITE) {
		ret = xport_flush_nb(s->link);
		if (ret < 0 && ret != -EAGAIN) {
			if (s->state == IN_FENCED)
				connection_failed(s, ret);
			else
				secondary_primary_lost(s, strerror(-ret), false);
			return;
		}
		evloop_mod(s->loop, xport_fd(s->link),
			   EV_READ | (xport_queued(s->link) ? EV_WRITE : 0));
		if (!(events & EV_READ))
			return;
	}
	do {
		bool received;

		ret = proto_recv(s->link, &s->rx, &m);
		received = ret == 0;
		if (received) {
			s->link_rx_ms = evloop_now_ms();
			ret = incoming_handle(s, &m);
			/* A long stream of pages must not starve our
			 * heartbeats: the primary may be waiting on them. */
			if (ret == 0)
				sec_link_heartbeat(s);
		}
		/* A stop request cut a wait short: the loop ends us next; this
		 * is no verdict on the primary or on us. */
		if (ret == -ECANCELED)
			return;
		if (received && ret < 0 && !link_broken(s)) {
			/* The primary is alive (it just wrote to us) and holds
			 * the state; the failure is ours, or a message we
			 * refuse: end this connection. */
			connection_failed(s, ret);
			return;
		}
		if (ret == -EPROTO) {
			connection_failed(s, ret);        /* I6: a bad frame */
			return;
		}
		if (ret < 0) {
			if (s->state == IN_FENCED) {
				connection_failed(s, ret);
				return;
			}
			secondary_primary_lost(s, ret == -ECONNRESET ?
					       "connection closed" :
					       strerror(-ret), false);
			return;
		}
		/* Budget spent: the loop comes back (sec_link_resume) once
		 * the control socket and the SVM have had their turn. */
	} while (proto_budget_spend(&budget, &s->rx) && s->link &&
		 xport_has_buffered(s->link));
}

void sec_link_resume(struct secondary *s)
{
	if (s->link && xport_has_buffered(s->link))
		on_link(s->loop, xport_fd(s->link), EV_READ, s);
}

bool sec_link_has_buffered(const struct secondary *s)
{
	return s->link && xport_has_buffered(s->link);
}

/* The connection becomes the link: one primary at a time. */
static void take_link(struct secondary *s, struct xport *x)
{
	if (s->link) {
		log_warn("refusing %s: already serving primary %s", x->peer,
			 s->peer);
		xport_free(x);
		return;
	}
	/* Liveness in every state: a primary that makes no progress for
	 * this long, from the hello on, is gone (I10: and a stop request
	 * ends any wait on it). */
	if (xport_set_timeout(x, (int)s->opts.tunables.failover_timeout_ms) < 0 ||
	    evloop_add(s->loop, xport_fd(x), EV_READ, on_link, s) < 0) {
		log_error("cannot take connection from %s", x->peer);
		xport_free(x);
		return;
	}
	xport_set_cancel(x, s->sig_fd);
	s->link = x;
	snprintf(s->peer, sizeof(s->peer), "%s", x->peer);
	if (s->state != IN_FENCED)     /* fenced: kept until a hello is accepted */
		s->state = IN_HELLO;
	s->link_rx_ms = s->link_hb_ms = evloop_now_ms();
	s->lost_ms = 0;
	log_info("primary %s connected", x->peer);
}

static void pending_end(struct secondary *s, struct sec_pending *pp)
{
	evloop_del(s->loop, xport_fd(pp->x));
	xport_free(pp->x);
	pp->x = NULL;
}

static void pending_reject(struct secondary *s, struct sec_pending *pp,
			   const char *err)
{
	log_error("rejecting %s: %s", pp->x->peer, err);
	snprintf(s->last_error, sizeof(s->last_error), "rejected %s: %s",
		 pp->x->peer, err);
	pending_end(s, pp);
}

static void on_handshake(struct evloop *l, int fd, uint32_t events,
			 void *opaque)
{
	struct secondary *s = opaque;
	struct sec_pending *pp = NULL;
	char err[1024];
	struct xport *x;
	size_t i;
	int ret;

	(void)l;
	(void)events;
	for (i = 0; i < SEC_PENDING_MAX; i++)
		if (s->pending[i].x && xport_fd(s->pending[i].x) == fd)
			pp = &s->pending[i];
	if (!pp)
		return;
	ret = xport_tls_handshake(pp->x, err, sizeof(err));
	if (ret == -EAGAIN) {
		evloop_mod(s->loop, fd, pp->x->wait_for == POLLOUT ? EV_WRITE :
								       EV_READ);
		return;
	}
	if (ret < 0) {
		pending_reject(s, pp, err);
		return;
	}
	x = pp->x;
	pp->x = NULL;
	evloop_del(s->loop, fd);
	take_link(s, x);
}

void sec_link_pending_tick(struct secondary *s)
{
	uint64_t now = evloop_now_ms();
	size_t i;

	for (i = 0; i < SEC_PENDING_MAX; i++)
		if (s->pending[i].x && now >= s->pending[i].deadline_ms)
			pending_reject(s, &s->pending[i],
				       "TLS handshake: no answer in time");
}

bool sec_link_pending_any(const struct secondary *s)
{
	size_t i;

	for (i = 0; i < SEC_PENDING_MAX; i++)
		if (s->pending[i].x)
			return true;
	return false;
}

void sec_link_pending_free(struct secondary *s)
{
	size_t i;

	for (i = 0; i < SEC_PENDING_MAX; i++)
		if (s->pending[i].x)
			pending_end(s, &s->pending[i]);
}

/* A free slot for a handshake; when all are taken, the oldest gives way:
 * peers that hold a slot and say nothing must not lock the primary out. */
static struct sec_pending *pending_slot(struct secondary *s)
{
	struct sec_pending *oldest = &s->pending[0];
	size_t i;

	for (i = 0; i < SEC_PENDING_MAX; i++) {
		if (!s->pending[i].x)
			return &s->pending[i];
		if (s->pending[i].deadline_ms < oldest->deadline_ms)
			oldest = &s->pending[i];
	}
	pending_reject(s, oldest, "too many TLS handshakes at once");
	return oldest;
}

void sec_link_on_accept(struct evloop *l, int fd, uint32_t events, void *opaque)
{
	struct secondary *s = opaque;
	unsigned ms = s->opts.tunables.failover_timeout_ms > HANDSHAKE_MIN_MS ?
		      s->opts.tunables.failover_timeout_ms : HANDSHAKE_MIN_MS;
	struct sec_pending *pp;
	char peer[64], err[256];
	struct xport *x;
	int cfd;

	(void)l;
	(void)events;
	cfd = net_accept(fd, peer, sizeof(peer));
	if (cfd < 0)
		return;
	if (s->link) {
		log_warn("refusing %s: already serving primary %s", peer,
			 s->peer);
		close(cfd);
		return;
	}
	if (s->opts.insecure) {
		x = xport_tcp_new(cfd);
		if (x)
			take_link(s, x);
		else
			log_error("cannot take connection from %s", peer);
		return;
	}
	/* Which primary may connect is the authz list's business: a client
	 * certificate names no host we could have expected. */
	x = xport_tls_start(s->tls, cfd, NULL, err, sizeof(err));
	if (!x) {
		log_error("rejecting %s: %s", peer, err);
		return;
	}
	pp = pending_slot(s);
	pp->x = x;
	pp->deadline_ms = evloop_now_ms() + ms;
	if (evloop_add(s->loop, xport_fd(x), EV_READ, on_handshake, s) < 0) {
		pending_reject(s, pp, "cannot watch the connection");
		return;
	}
	/* The client speaks first; nothing to do until it has. */
}
