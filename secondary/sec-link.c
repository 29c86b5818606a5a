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
#include "last-error.h"
#include "sec-link.h"
#include "sec-link-int.h"
#include "log.h"
#include "xport.h"
#include "xport-rdma.h"

/* See the primary's link.c: a floor for the handshake of a slow host. */
#define HANDSHAKE_MIN_MS 1000

unsigned sec_handshake_ms(const struct sec_link *l)
{
	return l->cfg.timeout_ms > HANDSHAKE_MIN_MS ? l->cfg.timeout_ms :
						      HANDSHAKE_MIN_MS;
}

void sec_link_init(struct sec_link *l, const struct sec_link_cfg *cfg,
		   const struct sec_link_ops *ops)
{
	memset(l, 0, sizeof(*l));
	l->cfg = *cfg;
	l->ops = *ops;
	hb_rtt_reset(&l->rtt);
}

bool sec_link_connected(const struct sec_link *l)
{
	return l->x != NULL;
}

const char *sec_link_peer(const struct sec_link *l)
{
	return l->peer;
}

/*
 * Everything the secondary sends is queued and written as the socket takes
 * it: were it to block in a write, it would stop reading the primary, which
 * may be blocked writing to us. The loop writes the rest on EV_WRITE.
 */
int sec_link_send(struct sec_link *l, const struct proto_msg *m)
{
	int ret;

	if (!l->x)
		return -ENOTCONN;
	ret = proto_queue(l->x, m);
	if (ret == 0)
		ret = xport_flush_nb(l->x);
	if (ret == -EAGAIN)
		ret = 0;
	if (ret == 0)
		evloop_mod(l->cfg.loop, xport_fd(l->x),
			   EV_READ | (xport_queued(l->x) ? EV_WRITE : 0));
	return ret;
}

/* What sec_link_queue queued during a loop round, written at its end. */
static void flush_round(void *opaque)
{
	struct sec_link *l = opaque;
	int ret;

	if (!l->x)
		return;
	ret = xport_flush_nb(l->x);
	if (ret == 0 || ret == -EAGAIN)
		evloop_mod(l->cfg.loop, xport_fd(l->x),
			   EV_READ | (xport_queued(l->x) ? EV_WRITE : 0));
	/* A broken write is sticky (x->werr): the next read or tick ends
	 * the link, as for sec_link_send. */
}

/*
 * The SVM's output, as it comes: queued, and written with the rest of the
 * loop round's at its end (one write, one TLS record, for the output of
 * all the events the round fed the SVM). Anything sent with
 * sec_link_send meanwhile takes it along, in order.
 */
int sec_link_queue(struct sec_link *l, const struct proto_msg *m)
{
	int ret;

	if (!l->x)
		return -ENOTCONN;
	ret = proto_queue(l->x, m);
	if (ret == 0)
		evloop_defer(l->cfg.loop, flush_round, l);
	return ret;
}

void sec_link_start_heartbeats(struct sec_link *l)
{
	l->heartbeats = true;
}

int sec_link_heartbeat(struct sec_link *l)
{
	struct proto_msg m = { .type = PROTO_HEARTBEAT };
	uint64_t now = evloop_now_ms();

	if (!l->x || !l->heartbeats || now - l->hb_ms < l->cfg.heartbeat_ms)
		return 0;
	m.heartbeat.time_ms = l->hb_ms = now;
	hb_rtt_stamp(&l->rtt, &m.heartbeat);
	return sec_link_send(l, &m);
}

/* The primary must keep hearing from us; a broken link shows in on_link
 * or the tick. */
int sec_link_heartbeat_idle(void *opaque)
{
	struct sec_link *l = opaque;

	sec_link_heartbeat(l);
	return l->ops.stop_requested && l->ops.stop_requested(l->ops.opaque) ?
	       -ECANCELED : 0;
}

void sec_link_heard(struct sec_link *l)
{
	l->rx_ms = evloop_now_ms();
}

void sec_link_close(struct sec_link *l)
{
	if (!l->x)
		return;
	if (xport_queued(l->x)) {
		xport_set_timeout(l->x, 1000);
		xport_flush(l->x);
	}
	evloop_del(l->cfg.loop, xport_fd(l->x));
	xport_free(l->x);
	l->x = NULL;
	l->x_rdma = false;
	l->heartbeats = false;
}

static void ended(struct sec_link *l, int err, const char *why, bool lost)
{
	l->ops.ended(l->ops.opaque, err, why, lost);
}

void sec_link_fail(struct sec_link *l, int err, const char *why, bool lost)
{
	if (l->x)
		ended(l, err, why, lost);
}

struct evloop *sec_link_loop(const struct sec_link *l)
{
	return l->cfg.loop;
}

/* Our write to the primary broke: the link, not us, is at fault. */
static bool link_broken(const struct sec_link *l)
{
	return l->x && l->x->werr;
}

static int dispatch(struct sec_link *l, const struct proto_msg *m)
{
	sec_link_handler h = m->type < PROTO__MAX && l->ops.handlers ?
			     l->ops.handlers[m->type] : NULL;

	if (!h) {
		log_error("%s sent %s, which the secondary never expects",
			  l->peer, proto_type_name(m->type));
		return -EPROTO;
	}
	return h(l->ops.handler_opaque, m);
}

static void on_link(struct evloop *loop, int fd, uint32_t events, void *opaque)
{
	struct sec_link *l = opaque;
	struct proto_budget budget = { 0, 0 };
	struct proto_msg m;
	int ret;

	(void)loop;
	(void)fd;
	/* As the primary's link: over RDMA, queued output moves on EV_READ
	 * (the fd is never writable), and a readable fd may hold no byte. */
	if ((events & EV_WRITE) || xport_queued(l->x)) {
		ret = xport_flush_nb(l->x);
		if (ret < 0 && ret != -EAGAIN) {
			ended(l, ret, strerror(-ret), true);
			return;
		}
		evloop_mod(l->cfg.loop, xport_fd(l->x),
			   EV_READ | (xport_queued(l->x) ? EV_WRITE : 0));
		if (!(events & EV_READ))
			return;
	}
	for (;;) {
		bool received;

		/* Read until the transport has nothing: over RDMA that last
		 * read is what tells the primary we took everything before a
		 * placement it holds back (xport-rdma.c), and a wake-up may
		 * carry no byte at all. */
		if (!xport_has_buffered(l->x) && xport_nothing_to_read(l->x))
			return;
		ret = proto_recv(l->x, &l->rx, &m);
		received = ret == 0;
		if (received) {
			l->rx_ms = evloop_now_ms();
			if (m.type == PROTO_HEARTBEAT)
				hb_rtt_received(&l->rtt, &m.heartbeat);
			ret = dispatch(l, &m);
			/* A long stream of pages must not starve our
			 * heartbeats: the primary may be waiting on them. */
			if (ret == 0)
				sec_link_heartbeat(l);
		}
		/* A stop request cut a wait short: the loop ends us next; this
		 * is no verdict on the primary or on us. */
		if (ret == -ECANCELED)
			return;
		if (received && ret < 0 && !link_broken(l)) {
			/* The primary is alive (it just wrote to us) and holds
			 * the state; the failure is ours, or a message we
			 * refuse: end this connection. */
			ended(l, ret, NULL, false);
			return;
		}
		if (ret == -EPROTO) {
			ended(l, ret, NULL, false);       /* I6: a bad frame */
			return;
		}
		if (ret < 0) {
			ended(l, ret, ret == -ECONNRESET ? "connection closed" :
				      strerror(-ret), true);
			return;
		}
		if (!proto_budget_spend(&budget, &l->rx) || !l->x)
			break;
	}
	/* Budget spent: the loop comes back (sec_link_resume) once the
	 * control socket and the SVM have had their turn, if frames wait;
	 * if none do, the read that says all was taken is done now. */
	if (l->x && !xport_has_buffered(l->x))
		xport_fill_nb(l->x);
}

void sec_link_resume(struct sec_link *l)
{
	if (l->x && xport_has_buffered(l->x))
		on_link(l->cfg.loop, xport_fd(l->x), EV_READ, l);
}

bool sec_link_has_buffered(const struct sec_link *l)
{
	return l->x && xport_has_buffered(l->x);
}

int sec_link_adopt(struct sec_link *l, struct xport *x)
{
	return sec_link_adopt_x(l, x, false);
}

int sec_link_adopt_x(struct sec_link *l, struct xport *x, bool rdma)
{
	if (l->x) {
		log_warn("refusing %s: already serving primary %s", x->peer,
			 l->peer);
		xport_free(x);
		return -EBUSY;
	}
	/* Liveness in every state: a primary that makes no progress for
	 * this long, from the hello on, is gone (I10: and a stop request
	 * ends any wait on it). */
	if (xport_set_timeout(x, (int)l->cfg.timeout_ms) < 0 ||
	    evloop_add(l->cfg.loop, xport_fd(x), EV_READ, on_link, l) < 0) {
		log_error("cannot take connection from %s", x->peer);
		xport_free(x);
		return -EIO;
	}
	xport_set_cancel(x, l->cfg.cancel_fd);
	l->x = x;
	l->x_rdma = rdma;
	l->heartbeats = false;
	snprintf(l->peer, sizeof(l->peer), "%s", x->peer);
	l->rx_ms = l->hb_ms = evloop_now_ms();
	hb_rtt_reset(&l->rtt);
	log_info("primary %s connected%s", x->peer, rdma ? " over RDMA" : "");
	if (l->ops.connected)
		l->ops.connected(l->ops.opaque);
	return 0;
}

void sec_pending_end(struct sec_link *l, struct sec_pending *pp)
{
	evloop_del(l->cfg.loop, xport_fd(pp->x));
	xport_free(pp->x);
	pp->x = NULL;
}

void sec_pending_reject(struct sec_link *l, struct sec_pending *pp,
			const char *err)
{
	log_error("rejecting %s: %s", pp->x->peer, err);
	last_error_set(l->cfg.last_error, "rejected %s: %s", pp->x->peer, err);
	sec_pending_end(l, pp);
}

static bool channel_wanted(const struct sec_link *l)
{
	return l->x && !l->x_rdma && l->ops.channel_wanted &&
	       l->ops.channel_wanted(l->ops.opaque);
}

/* A channel's CHANNEL frame, header and all (proto.c: 20 bytes). */
#define CHANNEL_FRAME_LEN (PROTO_HDR_LEN + 20)
_Static_assert(CHANNEL_FRAME_LEN <= SEC_TOKEN_LEN, "CHANNEL frame fits");

/* The refusal goes out in the protocol, so the primary can say why; x
 * is out of the loop and is freed. */
static void refuse_x(struct sec_link *l, struct xport *x, const char *why)
{
	struct proto_msg m = { .type = PROTO_REFUSE };

	snprintf(m.refuse.reason, sizeof(m.refuse.reason), "%s", why);
	xport_set_timeout(x, 1000);
	if (proto_send(x, &m) == 0)
		xport_flush(x);
	log_error("rejecting %s: %s", x->peer, why);
	last_error_set(l->cfg.last_error, "rejected %s: %s", x->peer, why);
	xport_free(x);
}

static void channel_refuse(struct sec_link *l, struct sec_pending *pp,
			   const char *why)
{
	struct xport *x = pp->x;

	evloop_del(l->cfg.loop, xport_fd(x));
	pp->x = NULL;
	refuse_x(l, x, why);
}

/*
 * A connection that came while a primary was served may only be a
 * channel of its live sync: its first frame is CHANNEL, read without
 * blocking (it is small and fixed), then handed to the owner.
 */
static void read_channel(struct sec_link *l, struct sec_pending *pp)
{
	struct proto_msg m;
	uint32_t type, len;
	char why[PROTO_REASON_MAX];
	struct xport *x;
	ssize_t n;

	n = xport_read_nb(pp->x, pp->token + pp->got,
			  CHANNEL_FRAME_LEN - pp->got);
	if (n == -EAGAIN)
		return;
	if (n <= 0) {
		sec_pending_reject(l, pp, n == 0 ? "closed before its CHANNEL"
				   : strerror((int)-n));
		return;
	}
	pp->got += (size_t)n;
	if (pp->got < CHANNEL_FRAME_LEN)
		return;
	if (proto_decode_hdr(pp->token, &type, &len) < 0 ||
	    type != PROTO_CHANNEL || len != CHANNEL_FRAME_LEN - PROTO_HDR_LEN ||
	    proto_decode(type, pp->token + PROTO_HDR_LEN, len, &m) < 0) {
		channel_refuse(l, pp, "already serving a primary, and this "
			       "connection is no live-sync CHANNEL of it");
		return;
	}
	if (!channel_wanted(l) || !l->ops.channel) {
		channel_refuse(l, pp, "no live sync here takes channels");
		return;
	}
	x = pp->x;
	evloop_del(l->cfg.loop, xport_fd(x));
	pp->x = NULL;
	if (l->ops.channel(l->ops.opaque, x, &m.channel, why,
			   sizeof(why)) == 0) {
		log_info("live-sync channel %u from %s", m.channel.index,
			 x->peer);
		return;
	}
	refuse_x(l, x, why);
}

static void on_pending(struct evloop *loop, int fd, uint32_t events,
		       void *opaque)
{
	struct sec_link *l = opaque;
	struct sec_pending *pp = NULL;
	char err[1024];
	struct xport *x;
	size_t i;
	int ret;

	(void)loop;
	(void)events;
	for (i = 0; i < SEC_PENDING_MAX; i++)
		if (l->pending[i].x && xport_fd(l->pending[i].x) == fd)
			pp = &l->pending[i];
	if (!pp)
		return;
	if (pp->phase == SEC_CHANNEL) {
		read_channel(l, pp);
		return;
	}
	if (pp->phase != SEC_HANDSHAKE) {
		sec_rdma_on_pending(l, pp);
		return;
	}
	ret = xport_tls_handshake(pp->x, err, sizeof(err));
	if (ret == -EAGAIN) {
		evloop_mod(l->cfg.loop, fd, pp->x->wait_for == POLLOUT ?
					    EV_WRITE : EV_READ);
		return;
	}
	if (ret < 0) {
		sec_pending_reject(l, pp, err);
		return;
	}
	if (pp->channel) {
		/* Authenticated: now its CHANNEL, which may be here already. */
		evloop_mod(l->cfg.loop, fd, EV_READ);
		pp->phase = SEC_CHANNEL;
		pp->got = 0;
		read_channel(l, pp);
		return;
	}
	if (l->cfg.rdma) {
		/* Authenticated: now it waits for its RDMA request. */
		evloop_mod(l->cfg.loop, fd, EV_READ);
		sec_rdma_bound(l, pp);
		return;
	}
	x = pp->x;
	pp->x = NULL;
	evloop_del(l->cfg.loop, fd);
	sec_link_adopt(l, x);
}

/*
 * Over RDMA the primary registers (pins) its whole guest RAM between the
 * connection and its hello. Until the hello it may be silent this long;
 * after it, timeout_ms as always.
 */
#define SEC_RDMA_HELLO_MS XPORT_RDMA_PIN_ALLOWANCE_MS

static uint64_t silence_limit(const struct sec_link *l)
{
	if (l->x_rdma && !l->heartbeats && l->cfg.timeout_ms < SEC_RDMA_HELLO_MS)
		return SEC_RDMA_HELLO_MS;
	return l->cfg.timeout_ms;
}

/*
 * Silence and heartbeats. A primary silent for timeout_ms is gone in every
 * state; what that means (take over, or only end this connection so that
 * a peer that died during the hello or the sync cannot hold our only link
 * slot) is for the owner's ended callback to decide.
 */
void sec_link_tick(struct sec_link *l)
{
	uint64_t now = evloop_now_ms();
	char why[96];
	size_t i;

	for (i = 0; i < SEC_PENDING_MAX; i++)
		if (l->pending[i].x && now >= l->pending[i].deadline_ms)
			sec_pending_reject(l, &l->pending[i],
					   sec_pending_late(l, &l->pending[i]));
	if (!l->x)
		return;
	if (now - l->rx_ms >= silence_limit(l)) {
		snprintf(why, sizeof(why), "no message for %llu ms",
			 (unsigned long long)(now - l->rx_ms));
		ended(l, -ETIMEDOUT, why, true);
		return;
	}
	if (sec_link_heartbeat(l) < 0)
		ended(l, -EPIPE, "cannot send a heartbeat", true);
}

bool sec_link_busy(const struct sec_link *l)
{
	size_t i;

	if (l->x)
		return true;
	for (i = 0; i < SEC_PENDING_MAX; i++)
		if (l->pending[i].x)
			return true;
	return false;
}

void sec_link_deinit(struct sec_link *l)
{
	size_t i;

	for (i = 0; i < SEC_PENDING_MAX; i++)
		if (l->pending[i].x)
			sec_pending_end(l, &l->pending[i]);
	sec_link_close(l);
	sec_link_unlisten_rdma(l);
	proto_rxbuf_free(&l->rx);
}

/* A free slot for a handshake; when all are taken, the oldest gives way:
 * peers that hold a slot and say nothing must not lock the primary out. */
static struct sec_pending *pending_slot(struct sec_link *l)
{
	struct sec_pending *oldest = &l->pending[0];
	size_t i;

	for (i = 0; i < SEC_PENDING_MAX; i++) {
		if (!l->pending[i].x)
			return &l->pending[i];
		if (l->pending[i].deadline_ms < oldest->deadline_ms)
			oldest = &l->pending[i];
	}
	sec_pending_reject(l, oldest, "too many TLS handshakes at once");
	return oldest;
}

static void pending_add(struct sec_link *l, struct xport *x,
			enum sec_pending_phase phase, unsigned ms)
{
	struct sec_pending *pp = pending_slot(l);

	pp->x = x;
	pp->phase = phase;
	pp->got = 0;
	pp->channel = l->x != NULL;
	pp->deadline_ms = evloop_now_ms() + ms;
	if (evloop_add(l->cfg.loop, xport_fd(x), EV_READ, on_pending, l) < 0)
		sec_pending_reject(l, pp, "cannot watch the connection");
}

void sec_link_on_accept(struct evloop *loop, int fd, uint32_t events,
			void *opaque)
{
	struct sec_link *l = opaque;
	unsigned ms = sec_handshake_ms(l);
	char peer[64], err[256];
	struct xport *x;
	int cfd;

	(void)loop;
	(void)events;
	cfd = net_accept(fd, peer, sizeof(peer));
	if (cfd < 0)
		return;
	if (l->x && !channel_wanted(l)) {
		log_warn("refusing %s: already serving primary %s", peer,
			 l->peer);
		close(cfd);
		return;
	}
	if (!l->cfg.tls) {
		x = xport_tcp_new(cfd);
		if (!x)
			log_error("cannot take connection from %s", peer);
		else if (l->x)
			pending_add(l, x, SEC_CHANNEL, ms);
		else if (!l->cfg.rdma)
			sec_link_adopt(l, x);
		else
			pending_add(l, x, SEC_TOKEN, ms);
		return;
	}
	/* Which primary may connect is the authz list's business: a client
	 * certificate names no host we could have expected. */
	x = xport_tls_start(l->cfg.tls, cfd, NULL, err, sizeof(err));
	if (!x) {
		log_error("rejecting %s: %s", peer, err);
		return;
	}
	/* The client speaks first; nothing to do until it has. */
	pending_add(l, x, SEC_HANDSHAKE, ms);
}
