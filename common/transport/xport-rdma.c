// SPDX-License-Identifier: MIT
/*
 * The RDMA data path: the stream in SEND/RECV messages with credits, and
 * placements (RDMA WRITEs) at their positions in that stream.
 *
 * Receive ring: RDMA_RECV_SLOTS buffers of one message each, all posted.
 * A data message stays in its buffer until the reader has taken all of
 * it; then the buffer is reposted and counted as a credit to return.
 * Control messages (credits, an ack request, a region) are handled when
 * they complete and their buffers reposted at once.
 *
 * Credits. A sender holds one credit per receive buffer the peer has
 * posted and not yet reported filled; each message costs one. Every
 * header returns the credits of the buffers reposted since the last one
 * (and says how much of the stream the reader has taken). Data, region
 * and ack-request messages need two credits, so one is always left for a
 * CREDIT message; a CREDIT goes out when half the ring was reposted
 * unreported, or when an ack is due, and it always returns at least one
 * credit (an ack request's own buffer is held back until its ack).
 *
 * Why this cannot deadlock, both sides writing (given readers that read
 * what arrives, as TCP needs too): a side whose credits are short (< 2)
 * has R-1 or more messages at the peer, arrived or in flight. Once the
 * peer's reader takes them, at least R/2 buffers are reposted unreported
 * and the peer sends a CREDIT, unless it has no credit itself. A side
 * reaches zero credits only by sending a CREDIT (everything else leaves
 * one), which returns at least one credit to the other side when it
 * arrives; so the two sides cannot both sit at zero once what is in flight
 * has landed, and whichever has a credit sends its CREDIT. No message
 * needs a reader to make room for it beyond the credits counted, so the
 * peer never gets an RNR (the QPs have rnr_retry 0: an RNR is an error).
 *
 * Placement order. A WRITE queued at stream position P is posted after
 * the SEND carrying byte P-1 and before the one carrying byte P, so RC
 * ordering puts its bytes in place before the receiver can see byte P.
 * The contract also promises the receiver sees them no earlier than it
 * has handled the messages before P (a DISCARD of the same page), which
 * RC alone does not give: the WRITE could land while that message waits
 * unread. So a WRITE at P waits until the peer's reader has taken all
 * bytes before P, and came back for more (ops->read is called again only
 * once the common layer's buffer is empty, so the bytes handed out before
 * that call were taken by the caller); the sender asks for that with an
 * ACKREQ and the reader answers with the header's consumed count. A run
 * of placements between two messages costs one round trip.
 *
 * Signalling: every 16th WR, and every WR while the send slots or the
 * send queue are nearly full, so whenever the writer waits for slots a
 * signalled WR is in flight to free them.
 */
#include "xport-rdma-int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "evloop.h"
#include "log.h"

#define SIGNAL_EVERY 16
#define NEARLY_FULL 4
#define BATCH_MAX 32
#define WR_RECV (1ull << 63)
#define CLOSE_DRAIN_MS 2000

struct batch {
	struct ibv_send_wr wr[BATCH_MAX];
	struct ibv_sge sge[BATCH_MAX];
	unsigned n;
};

static uint8_t *rslot(struct rdma_xport *t, unsigned i)
{
	return t->rmem + (size_t)i * RDMA_SLOT_SIZE;
}

static uint8_t *sslot(struct rdma_xport *t, unsigned i)
{
	return t->smem + (size_t)i * RDMA_SLOT_SIZE;
}

static unsigned slots_free(const struct rdma_xport *t)
{
	return RDMA_SEND_SLOTS - (unsigned)(t->slot_head - t->slot_tail);
}

static unsigned sq_room(const struct rdma_xport *t)
{
	return RDMA_SQ_DEPTH - (unsigned)(t->wr_posted - t->wr_done);
}

/* The connection is broken: remember why, tell the peer. */
static int fail(struct rdma_xport *t, int r)
{
	if (!t->err) {
		t->err = r;
		rdma_disconnect(t->id);
	}
	return t->err;
}

static int proto_error(struct rdma_xport *t, const char *what,
		       unsigned long long v)
{
	log_error("rdma %s: protocol error: %s (%llu); closing", t->x.peer,
		  what, v);
	return fail(t, -EPROTO);
}

/* --- setup ---------------------------------------------------------------- */

void rdma_hello_fill(struct rdma_hello *h,
		     const uint8_t token[XPORT_RDMA_TOKEN_LEN])
{
	memset(h, 0, sizeof(*h));
	h->magic = RDMA_MAGIC;
	h->version = RDMA_VERSION;
	h->recv_slots = RDMA_RECV_SLOTS;
	h->slot_size = RDMA_SLOT_SIZE;
	memcpy(h->token, token, XPORT_RDMA_TOKEN_LEN);
}

int rdma_hello_check(const void *data, size_t len, struct rdma_hello *h,
		     char *err, size_t errlen)
{
	if (!data || len < sizeof(*h)) {
		snprintf(err, errlen, "private data of %zu bytes, not a hello",
			 data ? len : 0);
		return -EPROTO;
	}
	memcpy(h, data, sizeof(*h));
	if (h->magic != RDMA_MAGIC) {
		snprintf(err, errlen, "not a colo peer (magic %#x)", h->magic);
		return -EPROTO;
	}
	if (h->version != RDMA_VERSION) {
		snprintf(err, errlen, "protocol version %u, expected %u",
			 h->version, RDMA_VERSION);
		return -EPROTO;
	}
	if (h->slot_size != RDMA_SLOT_SIZE) {
		snprintf(err, errlen, "message size %u, expected %u",
			 h->slot_size, RDMA_SLOT_SIZE);
		return -EPROTO;
	}
	if (h->recv_slots < 4 || h->recv_slots > 1024) {
		snprintf(err, errlen, "receive ring of %u, outside 4..1024",
			 h->recv_slots);
		return -EPROTO;
	}
	return 0;
}

static int reg_error(int e, const char *what, size_t len, char *err,
		     size_t errlen)
{
	if (e == ENOMEM || e == EPERM || e == EAGAIN) {
		snprintf(err, errlen,
			 "%s: memlock limit (ulimit -l) too low for %zu MiB",
			 what, (len + (1 << 20) - 1) >> 20);
		return -ENOMEM;
	}
	snprintf(err, errlen, "%s: ibv_reg_mr: %s", what, strerror(e));
	return e ? -e : -EIO;
}

static int post_recv(struct rdma_xport *t, unsigned i)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)rslot(t, i),
		.length = RDMA_SLOT_SIZE,
		.lkey = t->rmr->lkey,
	};
	struct ibv_recv_wr wr = { .wr_id = WR_RECV | i, .sg_list = &sge,
				  .num_sge = 1 }, *bad;

	return ibv_post_recv(t->id->qp, &wr, &bad);
}

int rdma_buffers_init(struct rdma_xport *t, char *err, size_t errlen)
{
	size_t rsize = (size_t)RDMA_RECV_SLOTS * RDMA_SLOT_SIZE;
	size_t ssize = (size_t)RDMA_SEND_SLOTS * RDMA_SLOT_SIZE;
	unsigned i;
	int r;

	t->rmem = aligned_alloc(4096, rsize);
	t->smem = aligned_alloc(4096, ssize);
	if (!t->rmem || !t->smem) {
		snprintf(err, errlen, "out of memory for the rings");
		return -ENOMEM;
	}
	t->rmr = ibv_reg_mr(t->pd, t->rmem, rsize, IBV_ACCESS_LOCAL_WRITE);
	if (!t->rmr)
		return reg_error(errno, "receive ring", rsize + ssize, err,
				 errlen);
	t->smr = ibv_reg_mr(t->pd, t->smem, ssize, 0);
	if (!t->smr)
		return reg_error(errno, "send ring", rsize + ssize, err,
				 errlen);
	for (i = 0; i < RDMA_RECV_SLOTS; i++) {
		r = post_recv(t, i);
		if (r) {
			snprintf(err, errlen, "ibv_post_recv: %s", strerror(r));
			return -r;
		}
	}
	return 0;
}

/* --- sending -------------------------------------------------------------- */

static int batch_post(struct rdma_xport *t, struct batch *b)
{
	struct ibv_send_wr *bad;
	unsigned i;
	int r;

	if (!b->n)
		return 0;
	for (i = 0; i < b->n; i++)
		b->wr[i].next = i + 1 < b->n ? &b->wr[i + 1] : NULL;
	r = ibv_post_send(t->id->qp, b->wr, &bad);
	b->n = 0;
	if (r) {
		log_error("rdma %s: ibv_post_send: %s", t->x.peer, strerror(r));
		return fail(t, -EIO);
	}
	return 0;
}

/* Appends a WR; slot is the send slot it frees on completion, or -1.
 * The caller checked sq_room. */
static int batch_add(struct rdma_xport *t, struct batch *b,
		     enum ibv_wr_opcode op, uint64_t laddr, uint32_t len,
		     uint32_t lkey, uint64_t raddr, uint32_t rkey, int slot,
		     bool signal)
{
	struct ibv_send_wr *wr;
	uint64_t seq;
	int r;

	if (b->n == BATCH_MAX) {
		r = batch_post(t, b);
		if (r)
			return r;
	}
	seq = ++t->wr_posted;
	if (slot >= 0)
		t->slot_seq[slot] = seq;
	if (++t->unsignaled >= SIGNAL_EVERY || slots_free(t) < NEARLY_FULL ||
	    sq_room(t) < NEARLY_FULL)
		signal = true;
	if (signal)
		t->unsignaled = 0;
	b->sge[b->n] = (struct ibv_sge){ .addr = laddr, .length = len,
					  .lkey = lkey };
	wr = &b->wr[b->n];
	*wr = (struct ibv_send_wr){
		.wr_id = seq,
		.sg_list = len ? &b->sge[b->n] : NULL,
		.num_sge = len ? 1 : 0,
		.opcode = op,
		.send_flags = signal ? IBV_SEND_SIGNALED : 0,
	};
	if (op == IBV_WR_RDMA_WRITE) {
		wr->wr.rdma.remote_addr = raddr;
		wr->wr.rdma.rkey = rkey;
	}
	b->n++;
	return 0;
}

static bool can_send(const struct rdma_xport *t, unsigned need_credits)
{
	return t->established && !t->err && t->credits >= need_credits &&
	       slots_free(t) >= 1 && sq_room(t) >= 1;
}

/* One message in the next send slot; the caller checked can_send. */
static int send_msg(struct rdma_xport *t, struct batch *b, uint8_t type,
		    const void *payload, uint32_t len)
{
	unsigned idx = (unsigned)(t->slot_head % RDMA_SEND_SLOTS);
	struct rdma_msg_hdr h = { .type = type, .len = len,
				  .consumed = t->consumed };
	uint8_t *p = sslot(t, idx);

	h.credits = (uint16_t)t->unreported;
	t->unreported = 0;
	if (t->held && t->consumed >= t->want_ack) {
		h.credits = (uint16_t)(h.credits + t->held);
		t->held = 0;
	}
	memcpy(p, &h, sizeof(h));
	if (len)
		memcpy(p + sizeof(h), payload, len);
	t->slot_head++;
	t->credits--;
	return batch_add(t, b, IBV_WR_SEND, (uintptr_t)p,
			 (uint32_t)(sizeof(h) + len), t->smr->lkey, 0, 0,
			 (int)idx, false);
}

/* A CREDIT when half the ring waits to be reported or an ack is due. */
static int pump_credit(struct rdma_xport *t, struct batch *b)
{
	bool ack_due = t->held && t->consumed >= t->want_ack;

	if (t->unreported < RDMA_RECV_SLOTS / 2 && !ack_due)
		return 0;
	if (!can_send(t, 1))
		return 0;       /* the peer's next CREDIT lets us */
	return send_msg(t, b, RDMA_MSG_CREDIT, NULL, 0);
}

/* Posts the events due at the current stream position: 0 when none is
 * left there, -EAGAIN when one must wait, -errno. */
static int pump_events(struct rdma_xport *t, struct batch *b)
{
	struct rdma_event *e;
	int r;

	while (t->ev_n && t->events[t->ev_head].pos == t->sent) {
		e = &t->events[t->ev_head];
		if (e->is_write) {
			if (t->peer_consumed < e->pos) {
				struct rdma_msg_ackreq a = { .pos = e->pos };

				if (t->ackreq_sent >= e->pos ||
				    !can_send(t, 2))
					return -EAGAIN;
				t->ackreq_sent = e->pos;
				r = send_msg(t, b, RDMA_MSG_ACKREQ, &a,
					     sizeof(a));
				return r ? r : -EAGAIN;
			}
			if (!t->established || sq_room(t) < 1)
				return -EAGAIN;
			r = batch_add(t, b, IBV_WR_RDMA_WRITE, e->laddr,
				      (uint32_t)e->len, e->lkey, e->raddr,
				      e->rkey, -1, false);
		} else {
			struct rdma_msg_region m = {
				.region = e->region, .rkey = e->rkey,
				.addr = e->raddr, .len = e->len,
			};

			if (!can_send(t, 2))
				return -EAGAIN;
			r = send_msg(t, b, RDMA_MSG_REGION, &m, sizeof(m));
		}
		if (r)
			return r;
		t->ev_head = (t->ev_head + 1) % RDMA_MAX_EVENTS;
		t->ev_n--;
	}
	return 0;
}

/* --- receiving ------------------------------------------------------------ */

static int repost(struct rdma_xport *t, unsigned i)
{
	int r;

	if (t->flushed || t->peer_closed)
		return 0;       /* the QP is going: nothing to fill */
	r = post_recv(t, i);
	if (r) {
		log_error("rdma %s: ibv_post_recv: %s", t->x.peer,
			  strerror(r));
		return fail(t, -EIO);
	}
	return 0;
}

static int on_control(struct rdma_xport *t, unsigned i,
		      const struct rdma_msg_hdr *h, const uint8_t *payload)
{
	struct rdma_msg_ackreq a;
	struct rdma_msg_region m;

	switch (h->type) {
	case RDMA_MSG_CREDIT:
		if (h->len)
			return proto_error(t, "CREDIT with a payload", h->len);
		t->unreported++;
		break;
	case RDMA_MSG_ACKREQ:
		if (h->len != sizeof(a))
			return proto_error(t, "ACKREQ of bad length", h->len);
		memcpy(&a, payload, sizeof(a));
		if (a.pos > t->received || a.pos < t->want_ack)
			return proto_error(t, "ACKREQ position out of range",
					   a.pos);
		t->want_ack = a.pos;
		t->held++;
		break;
	case RDMA_MSG_REGION:
		if (h->len != sizeof(m))
			return proto_error(t, "REGION of bad length", h->len);
		memcpy(&m, payload, sizeof(m));
		if (m.region >= RDMA_MAX_REGIONS)
			return proto_error(t, "REGION number out of range",
					   m.region);
		if (!m.len || m.addr + m.len < m.addr)
			return proto_error(t, "REGION of bad extent", m.len);
		t->peer_regions[m.region] = (struct rdma_peer_region){
			.valid = true, .rkey = m.rkey, .addr = m.addr,
			.len = m.len,
		};
		t->unreported++;
		break;
	default:
		return proto_error(t, "unknown message type", h->type);
	}
	return repost(t, i);
}

static int on_recv(struct rdma_xport *t, const struct ibv_wc *wc)
{
	unsigned i = (unsigned)(wc->wr_id & 0xffff), at;
	struct rdma_msg_hdr h;

	if (i >= RDMA_RECV_SLOTS)
		return proto_error(t, "completion for no receive slot", i);
	if (wc->byte_len < sizeof(h))
		return proto_error(t, "message shorter than a header",
				   wc->byte_len);
	memcpy(&h, rslot(t, i), sizeof(h));
	if (h.len != wc->byte_len - sizeof(h))
		return proto_error(t, "header length disagrees with message",
				   h.len);
	if (h.credits > t->peer_slots - t->credits)
		return proto_error(t, "credits beyond the ring", h.credits);
	if (h.consumed < t->peer_consumed || h.consumed > t->sent)
		return proto_error(t, "consumed count out of range",
				   h.consumed);
	t->credits += h.credits;
	t->peer_consumed = h.consumed;
	if (h.type != RDMA_MSG_DATA)
		return on_control(t, i, &h, rslot(t, i) + sizeof(h));
	if (!h.len)
		return proto_error(t, "empty DATA message", 0);
	/* At most RDMA_RECV_SLOTS receives are posted: ready cannot fill. */
	at = (t->ready_head + t->ready_n) % RDMA_RECV_SLOTS;
	t->ready[at] = (uint16_t)i;
	t->ready_len[at] = h.len;
	t->ready_n++;
	t->received += h.len;
	return 0;
}

static int on_completion(struct rdma_xport *t, const struct ibv_wc *wc)
{
	uint64_t seq;

	if (wc->status != IBV_WC_SUCCESS) {
		if (wc->status == IBV_WC_WR_FLUSH_ERR) {
			t->flushed = true;
			return 0;
		}
		log_error("rdma %s: %s completion: %s", t->x.peer,
			  wc->wr_id & WR_RECV ? "receive" : "send",
			  ibv_wc_status_str(wc->status));
		return fail(t, wc->status == IBV_WC_RETRY_EXC_ERR ?
			    -ECONNRESET : -EIO);
	}
	if (wc->wr_id & WR_RECV)
		return on_recv(t, wc);
	seq = wc->wr_id;
	if (seq > t->wr_done)
		t->wr_done = seq;
	while (t->slot_tail < t->slot_head &&
	       t->slot_seq[t->slot_tail % RDMA_SEND_SLOTS] <= seq)
		t->slot_tail++;
	return 0;
}

/* The guard's socket is readable: TLS housekeeping (session tickets), or
 * its end, which ends this connection too. Nothing else comes on it. */
static void guard_check(struct rdma_xport *t)
{
	char buf[512];
	ssize_t n;

	for (;;) {
		n = xport_read_nb(t->guard, buf, sizeof(buf));
		if (n == -EAGAIN)
			return;
		if (n <= 0) {
			log_info("rdma %s: its TLS session ended", t->x.peer);
			t->peer_closed = true;
			return;
		}
	}
}

/*
 * Everything that happened: completion events (drained, acked, the CQ
 * re-armed and then polled empty, so a completion after the last poll
 * raises a new event), CM events, the guard. 0 or the sticky error.
 */
static int progress(struct rdma_xport *t)
{
	struct epoll_event ev[3];
	struct ibv_wc wc[16];
	struct ibv_cq *cq;
	void *ctx;
	int n, i, k, r;
	unsigned got = 0;
	bool cm = false, guard = false;

	if (t->err)
		return t->err;
	n = epoll_wait(t->x.fd, ev, 3, 0);
	for (i = 0; i < n; i++) {
		if (ev[i].data.fd == t->ch->fd)
			cm = true;
		else if (t->guard && ev[i].data.fd == xport_fd(t->guard))
			guard = true;
	}
	while (ibv_get_cq_event(t->cc, &cq, &ctx) == 0)
		got++;
	if (got) {
		ibv_ack_cq_events(t->cq, got);
		r = ibv_req_notify_cq(t->cq, 0);
		if (r) {
			log_error("rdma %s: ibv_req_notify_cq: %s", t->x.peer,
				  strerror(r));
			return fail(t, -EIO);
		}
	}
	for (;;) {
		k = ibv_poll_cq(t->cq, 16, wc);
		if (k < 0) {
			log_error("rdma %s: ibv_poll_cq failed", t->x.peer);
			return fail(t, -EIO);
		}
		for (i = 0; i < k; i++) {
			r = on_completion(t, &wc[i]);
			if (r)
				return r;
		}
		if (k < 16)
			break;
	}
	if (cm) {
		r = rdma_cm_poll(t);
		if (r)
			return fail(t, r);
	}
	if (guard && !t->peer_closed)
		guard_check(t);
	return 0;
}

/* --- the ops -------------------------------------------------------------- */

static ssize_t rdma_read(struct xport *x, void *buf, size_t len)
{
	struct rdma_xport *t = to_rdma(x);
	struct batch b;
	size_t got = 0, n;
	unsigned slot;
	int r;

	/* Called with the common layer's buffer empty: what we handed out
	 * before has been taken (see the placement order above). */
	t->consumed = t->handed_out;
	b.n = 0;
	r = progress(t);
	while (got < len && t->ready_n) {
		slot = t->ready[t->ready_head];
		n = t->ready_len[t->ready_head] - t->ready_off;
		if (n > len - got)
			n = len - got;
		memcpy((uint8_t *)buf + got, rslot(t, slot) +
		       sizeof(struct rdma_msg_hdr) + t->ready_off, n);
		got += n;
		t->ready_off += (uint32_t)n;
		if (t->ready_off < t->ready_len[t->ready_head])
			break;
		t->ready_off = 0;
		t->ready_head = (t->ready_head + 1) % RDMA_RECV_SLOTS;
		t->ready_n--;
		if (!t->err && repost(t, slot) == 0)
			t->unreported++;
	}
	t->handed_out += got;
	if (!t->err) {
		/* Events due here (the writer may wait in poll for them),
		 * then the credits this read freed. */
		pump_events(t, &b);
		pump_credit(t, &b);
		batch_post(t, &b);
	}
	if (got)
		return (ssize_t)got;
	if (r || t->err)
		return t->err ? t->err : r;
	if (t->peer_closed)
		return 0;
	x->wait_for = POLLIN;
	return -EAGAIN;
}

static ssize_t rdma_write(struct xport *x, const void *buf, size_t len)
{
	struct rdma_xport *t = to_rdma(x);
	size_t done = 0, n;
	struct batch b;
	int r;

	b.n = 0;
	r = progress(t);
	if (r)
		return r;
	if (t->peer_closed || t->flushed) {
		log_info("rdma %s: the peer closed the connection", x->peer);
		return -EPIPE;
	}
	if (!t->established) {
		x->wait_for = POLLIN;
		return -EAGAIN;
	}
	for (;;) {
		r = pump_events(t, &b);
		if (r)
			break;
		if (done == len)
			break;
		n = len - done;
		if (n > RDMA_PAYLOAD_MAX)
			n = RDMA_PAYLOAD_MAX;
		/* pump_events left the next event past t->sent */
		if (t->ev_n && t->events[t->ev_head].pos - t->sent < n)
			n = (size_t)(t->events[t->ev_head].pos - t->sent);
		if (!can_send(t, 2))
			break;
		r = send_msg(t, &b, RDMA_MSG_DATA, (const uint8_t *)buf + done,
			     (uint32_t)n);
		if (r)
			break;
		t->sent += n;
		done += n;
	}
	if (!t->err)
		pump_credit(t, &b);
	if (!t->err)
		batch_post(t, &b);
	if (t->err)
		return done ? (ssize_t)done : t->err;
	if (done)
		return (ssize_t)done;
	x->wait_for = POLLIN;
	return -EAGAIN;
}

static bool rdma_pending(const struct xport *x)
{
	const struct rdma_xport *t = (const struct rdma_xport *)
		((const char *)x - __builtin_offsetof(struct rdma_xport, x));

	return t->ready_n || t->err || t->peer_closed;
}

static int find_source(struct rdma_xport *t, const void *src, size_t len,
		       uint32_t *lkey)
{
	uintptr_t a = (uintptr_t)src, s;
	unsigned i;

	for (i = 0; i < t->nsources; i++) {
		s = (uintptr_t)t->sources[i]->addr;
		if (a >= s && len <= t->sources[i]->length &&
		    a - s <= t->sources[i]->length - len) {
			*lkey = t->sources[i]->lkey;
			return 0;
		}
	}
	return -ENOENT;
}

static bool push_event(struct rdma_xport *t, const struct rdma_event *e)
{
	if (t->ev_n == RDMA_MAX_EVENTS)
		return false;
	t->events[(t->ev_head + t->ev_n) % RDMA_MAX_EVENTS] = *e;
	t->ev_n++;
	return true;
}

static int rdma_place(struct xport *x, uint32_t region, uint64_t offset,
		      const void *src, size_t len)
{
	struct rdma_xport *t = to_rdma(x);
	struct rdma_peer_region *pr;
	struct rdma_event e, *last;
	uint64_t pos = t->sent + xport_queued(x), chunk;
	unsigned need;
	uint32_t lkey;
	struct batch b;

	if (t->err)
		return t->err;
	if (t->peer_closed || t->flushed)
		return -EPIPE;
	if (!len || region >= RDMA_MAX_REGIONS)
		return 0;
	pr = &t->peer_regions[region];
	if (!pr->valid || offset > pr->len || len > pr->len - offset)
		return 0;
	if (find_source(t, src, len, &lkey) < 0)
		return 0;
	if (t->ev_n) {
		last = &t->events[(t->ev_head + t->ev_n - 1) % RDMA_MAX_EVENTS];
		if (last->is_write && last->pos == pos && last->lkey == lkey &&
		    last->rkey == pr->rkey &&
		    last->raddr + last->len == pr->addr + offset &&
		    last->laddr + last->len == (uintptr_t)src &&
		    last->len + len <= RDMA_WRITE_MAX) {
			last->len += len;
			return 1;
		}
	}
	need = (unsigned)((len + RDMA_WRITE_MAX - 1) / RDMA_WRITE_MAX);
	if (RDMA_MAX_EVENTS - t->ev_n < need) {
		/* Make room if the head can go now; else the caller sends
		 * the bytes in the stream. */
		b.n = 0;
		if (progress(t) == 0) {
			pump_events(t, &b);
			batch_post(t, &b);
		}
		if (t->err)
			return t->err;
		if (RDMA_MAX_EVENTS - t->ev_n < need)
			return 0;
	}
	while (len) {
		chunk = len < RDMA_WRITE_MAX ? len : RDMA_WRITE_MAX;
		e = (struct rdma_event){
			.pos = pos, .is_write = true, .region = region,
			.rkey = pr->rkey, .lkey = lkey,
			.raddr = pr->addr + offset, .laddr = (uintptr_t)src,
			.len = chunk,
		};
		push_event(t, &e);
		offset += chunk;
		src = (const uint8_t *)src + chunk;
		len -= chunk;
	}
	return 1;
}

/* Waits (bounded) for the peer to have everything posted, then says
 * goodbye: a flush returns once SENDs are posted, and a QP destroyed
 * under them would drop them. */
static void drain_before_close(struct rdma_xport *t)
{
	long long deadline = (long long)evloop_now_ms() + CLOSE_DRAIN_MS;
	struct pollfd pfd = { .fd = t->cc->fd, .events = POLLIN };
	struct batch b = { .n = 0 };
	uint64_t fence;
	long long left;

	if (t->err || !t->established || t->peer_closed || t->flushed ||
	    t->wr_done == t->wr_posted || sq_room(t) < 1)
		return;
	/* A zero-length WRITE needs no key (IBA C9-88) and no credit. */
	if (batch_add(t, &b, IBV_WR_RDMA_WRITE, 0, 0, 0, 0, 0, -1, true) ||
	    batch_post(t, &b))
		return;
	fence = t->wr_posted;
	while (t->wr_done < fence && !t->err && !t->peer_closed &&
	       !t->flushed) {
		left = deadline - (long long)evloop_now_ms();
		if (left <= 0) {
			log_warn("rdma %s: close: the peer did not take the last messages",
				 t->x.peer);
			return;
		}
		if (progress(t))
			return;
		if (t->wr_done >= fence)
			break;
		poll(&pfd, 1, (int)left);
	}
}

static void rdma_destroy(struct xport *x)
{
	struct rdma_xport *t = to_rdma(x);

	if (t->qp_made) {
		drain_before_close(t);
		if (!t->err)
			rdma_disconnect(t->id);
	}
	rdma_conn_teardown(t);
	free(t);
}

const struct xport_ops rdma_ops = {
	.name = "rdma",
	.read = rdma_read,
	.write = rdma_write,
	.pending = rdma_pending,
	.place = rdma_place,
	.destroy = rdma_destroy,
};

/* --- regions -------------------------------------------------------------- */

int xport_rdma_expose(struct xport *x, uint32_t region, void *addr,
		      size_t len, char *err, size_t errlen)
{
	struct rdma_xport *t;
	struct rdma_event e;
	struct ibv_mr *mr;

	if (!x || x->ops != &rdma_ops) {
		snprintf(err, errlen, "not an RDMA connection");
		return -EINVAL;
	}
	t = to_rdma(x);
	if (region >= RDMA_MAX_REGIONS || !len) {
		snprintf(err, errlen, "region %u of %zu bytes: out of range",
			 region, len);
		return -EINVAL;
	}
	if (t->err) {
		snprintf(err, errlen, "the connection is broken");
		return t->err;
	}
	if (t->ev_n == RDMA_MAX_EVENTS) {
		snprintf(err, errlen, "too many placements pending");
		return -ENOBUFS;
	}
	mr = ibv_reg_mr(t->pd, addr, len,
			IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	if (!mr)
		return reg_error(errno, "exposing a region", len, err, errlen);
	if (t->exposed[region])
		ibv_dereg_mr(t->exposed[region]);
	t->exposed[region] = mr;
	e = (struct rdma_event){
		.pos = t->sent + xport_queued(x), .is_write = false,
		.region = region, .rkey = mr->rkey,
		.raddr = (uintptr_t)addr, .len = len,
	};
	push_event(t, &e);
	return 0;
}

int xport_rdma_source(struct xport *x, const void *addr, size_t len,
		      char *err, size_t errlen)
{
	struct rdma_xport *t;
	struct ibv_mr *mr;

	if (!x || x->ops != &rdma_ops) {
		snprintf(err, errlen, "not an RDMA connection");
		return -EINVAL;
	}
	t = to_rdma(x);
	if (!len) {
		snprintf(err, errlen, "an empty source");
		return -EINVAL;
	}
	if (t->nsources == RDMA_MAX_SOURCES) {
		snprintf(err, errlen, "%d source regions at most",
			 RDMA_MAX_SOURCES);
		return -ENOSPC;
	}
	/* Local read only: the HCA reads it for our WRITEs. */
	mr = ibv_reg_mr(t->pd, (void *)(uintptr_t)addr, len, 0);
	if (!mr)
		return reg_error(errno, "registering a source", len, err,
				 errlen);
	t->sources[t->nsources++] = mr;
	return 0;
}
