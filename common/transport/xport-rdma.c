// SPDX-License-Identifier: MIT
/*
 * The RDMA data path: the stream in SEND/RECV messages with credits, and
 * placements (RDMA WRITEs) at their positions in that stream. This file
 * sends and runs the ops; xport-rdma-recv.c takes completions and
 * messages in, xport-rdma-place.c keeps regions and placements,
 * xport-rdma-cm.c sets connections up.
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
 * of placements between two messages costs one round trip, unless the
 * caller declared the messages between harmless (xport_place_harmless:
 * the PAGES that name placed pages): then a WRITE waits only for what the
 * last WRITE before it waited for (its gate), and live sync streams.
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
#define CLOSE_DRAIN_MS 2000

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

int rdma_reg_error(int e, const char *what, size_t len, char *err,
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
		return rdma_reg_error(errno, "receive ring", rsize + ssize, err,
				 errlen);
	t->smr = ibv_reg_mr(t->pd, t->smem, ssize, 0);
	if (!t->smr)
		return rdma_reg_error(errno, "send ring", rsize + ssize, err,
				 errlen);
	for (i = 0; i < RDMA_RECV_SLOTS; i++) {
		r = rdma_recv_post(t, i);
		if (r) {
			snprintf(err, errlen, "ibv_post_recv: %s", strerror(r));
			return -r;
		}
	}
	return 0;
}

/* --- sending -------------------------------------------------------------- */

int rdma_batch_post(struct rdma_xport *t, struct rdma_batch *b)
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
		return rdma_fail(t, -EIO);
	}
	return 0;
}

/* Appends a WR; slot is the send slot it frees on completion, or -1.
 * The caller checked sq_room. */
static int batch_add(struct rdma_xport *t, struct rdma_batch *b,
		     enum ibv_wr_opcode op, uint64_t laddr, uint32_t len,
		     uint32_t lkey, uint64_t raddr, uint32_t rkey, int slot,
		     bool signal)
{
	struct ibv_send_wr *wr;
	uint64_t seq;
	int r;

	if (b->n == RDMA_BATCH_MAX) {
		r = rdma_batch_post(t, b);
		if (r)
			return r;
	}
	seq = ++t->wr_posted;
	if (slot >= 0)
		t->slot_seq[slot] = seq;
	if (++t->unsignaled >= SIGNAL_EVERY ||
	    rdma_slots_free(t) < NEARLY_FULL ||
	    rdma_sq_room(t) < NEARLY_FULL)
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
	       rdma_slots_free(t) >= 1 && rdma_sq_room(t) >= 1;
}

/* One message in the next send slot; the caller checked can_send. */
static int send_msg(struct rdma_xport *t, struct rdma_batch *b, uint8_t type,
		    const void *payload, uint32_t len, bool signal)
{
	unsigned idx = (unsigned)(t->slot_head % RDMA_SEND_SLOTS);
	struct rdma_msg_hdr h = { .type = type, .len = len,
				  .consumed = t->consumed };
	uint8_t *p = rdma_sslot(t, idx);

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
			 (int)idx, signal);
}

/* A CREDIT when half the ring waits to be reported or an ack is due. */
static int pump_credit(struct rdma_xport *t, struct rdma_batch *b)
{
	bool ack_due = t->held && t->consumed >= t->want_ack;

	if (t->unreported < RDMA_RECV_SLOTS / 2 && !ack_due)
		return 0;
	if (!can_send(t, 1))
		return 0;       /* the peer's next CREDIT lets us */
	return send_msg(t, b, RDMA_MSG_CREDIT, NULL, 0, false);
}

/* Posts the events due at the current stream position: 0 when none is
 * left there, -EAGAIN when one must wait, -errno. */
int rdma_pump_events(struct rdma_xport *t, struct rdma_batch *b)
{
	struct rdma_event *e;
	int r;

	while (t->ev_n && t->events[t->ev_head].pos == t->sent) {
		e = &t->events[t->ev_head];
		if (e->is_write) {
			if (t->peer_consumed < e->gate) {
				struct rdma_msg_ackreq a = { .pos = e->gate };

				if (t->ackreq_sent >= e->gate ||
				    !can_send(t, 2))
					return -EAGAIN;
				t->ackreq_sent = e->gate;
				r = send_msg(t, b, RDMA_MSG_ACKREQ, &a,
					     sizeof(a), false);
				return r ? r : -EAGAIN;
			}
			if (!t->established || rdma_sq_room(t) < 1)
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
			r = send_msg(t, b, RDMA_MSG_REGION, &m, sizeof(m),
				     false);
		}
		if (r)
			return r;
		t->ev_head = (t->ev_head + 1) % RDMA_MAX_EVENTS;
		t->ev_n--;
	}
	return 0;
}

/* --- the ops -------------------------------------------------------------- */

static ssize_t rdma_read(struct xport *x, void *buf, size_t len)
{
	struct rdma_xport *t = to_rdma(x);
	struct rdma_batch b;
	size_t got = 0, n;
	unsigned slot;
	int r;

	/* Called with the common layer's buffer empty: what we handed out
	 * before has been taken (see the placement order above). */
	t->consumed = t->handed_out;
	b.n = 0;
	r = rdma_progress(t);
	while (got < len && t->ready_n) {
		slot = t->ready[t->ready_head];
		n = t->ready_len[t->ready_head] - t->ready_off;
		if (n > len - got)
			n = len - got;
		memcpy((uint8_t *)buf + got, rdma_rslot(t, slot) +
		       sizeof(struct rdma_msg_hdr) + t->ready_off, n);
		got += n;
		t->ready_off += (uint32_t)n;
		if (t->ready_off < t->ready_len[t->ready_head])
			break;
		t->ready_off = 0;
		t->ready_head = (t->ready_head + 1) % RDMA_RECV_SLOTS;
		t->ready_n--;
		if (!t->err && rdma_repost(t, slot) == 0)
			t->unreported++;
	}
	t->handed_out += got;
	if (!t->err) {
		/* Events due here (the writer may wait in poll for them),
		 * then the credits this read freed. */
		rdma_pump_events(t, &b);
		pump_credit(t, &b);
		rdma_batch_post(t, &b);
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
	struct rdma_batch b;
	int r;

	b.n = 0;
	r = rdma_progress(t);
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
		r = rdma_pump_events(t, &b);
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
			     (uint32_t)n, false);
		if (r)
			break;
		t->sent += n;
		done += n;
	}
	if (!t->err)
		pump_credit(t, &b);
	if (!t->err)
		rdma_batch_post(t, &b);
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

/* Waits (bounded) for the peer to have everything posted, then says
 * goodbye: a flush returns once SENDs are posted, and a QP destroyed
 * under them would drop them. */
static void drain_before_close(struct rdma_xport *t)
{
	long long deadline = (long long)evloop_now_ms() + CLOSE_DRAIN_MS;
	struct pollfd pfd = { .fd = t->cc->fd, .events = POLLIN };
	struct rdma_batch b = { .n = 0 };
	uint64_t fence;
	long long left;

	if (t->err || !t->established || t->peer_closed || t->flushed ||
	    t->wr_done == t->wr_posted)
		return;
	/* A signalled CREDIT (returning what there is, maybe nothing) is
	 * the fence: its completion says all before it arrived. Without a
	 * credit (the last message was a CREDIT), close without waiting. */
	if (!can_send(t, 1))
		return;
	if (send_msg(t, &b, RDMA_MSG_CREDIT, NULL, 0, true) ||
	    rdma_batch_post(t, &b))
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
		if (rdma_progress(t))
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
	.place_harmless = rdma_place_harmless,
	.destroy = rdma_destroy,
};
