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
#include <unistd.h>

#include "evloop.h"
#include "secondary-int.h"
#include "log.h"
#include "xport.h"

#define LINK_TIMEOUT_MS 15000

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

	if (!s->link || now - s->link_hb_ms < s->opts.heartbeat_ms)
		return 0;
	m.heartbeat.time_ms = s->link_hb_ms = now;
	return sec_link_send(s, &m);
}

/* For waits in the loop (SVM barriers, hashing for verify): the primary
 * must keep hearing from us; a broken link shows in on_link or the tick. */
void sec_link_heartbeat_idle(void *opaque)
{
	sec_link_heartbeat(opaque);
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
static void connection_failed(struct secondary *s, int err)
{
	const char *why = err == -EPROTO ? "malformed or unexpected message" :
			  strerror(-err);

	if (s->state == IN_FENCED) {
		log_warn("connection from %s ended (%s); keeping the fenced SVM",
			 s->peer, why);
		sec_link_close(s);
		return;
	}
	incoming_reset(s, why);
}

static void on_link(struct evloop *l, int fd, uint32_t events, void *opaque)
{
	struct secondary *s = opaque;
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
		ret = proto_recv(s->link, &s->rx, &m);
		if (ret == 0) {
			s->link_rx_ms = evloop_now_ms();
			ret = incoming_handle(s, &m);
			if (ret < 0 && !link_broken(s)) {
				/* The primary is alive (it just wrote to us)
				 * and holds the state; the failure is ours, or
				 * a message we refuse: end this connection. */
				connection_failed(s, ret);
				return;
			}
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
	} while (s->link && xport_has_buffered(s->link));
}

void sec_link_on_accept(struct evloop *l, int fd, uint32_t events, void *opaque)
{
	struct secondary *s = opaque;
	char peer[64], err[256];
	struct xport *x;
	int cfd;

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
	} else {
		x = xport_tls_new(s->tls, cfd, LINK_TIMEOUT_MS, err,
				  sizeof(err));
		if (!x) {
			log_error("rejecting %s: %s", peer, err);
			snprintf(s->last_error, sizeof(s->last_error),
				 "rejected %s: %s", peer, err);
			return;
		}
	}
	if (!x || xport_set_timeout(x, LINK_TIMEOUT_MS) < 0 ||
	    evloop_add(l, xport_fd(x), EV_READ, on_link, s) < 0) {
		log_error("cannot take connection from %s", peer);
		xport_free(x);
		return;
	}
	s->link = x;
	snprintf(s->peer, sizeof(s->peer), "%s", peer);
	if (s->state != IN_FENCED)     /* fenced: kept until a hello is accepted */
		s->state = IN_HELLO;
	s->link_rx_ms = s->link_hb_ms = evloop_now_ms();
	s->lost_ms = 0;
	log_info("primary %s connected", peer);
}
