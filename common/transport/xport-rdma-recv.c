// SPDX-License-Identifier: MIT
/*
 * The RDMA transport's receive side: the receive ring's buffers, the
 * completion queue drained (completion events acked, the CQ re-armed and
 * then polled empty, so no completion goes without a wake-up), each
 * message's header checked against fixed bounds before anything in it is
 * believed, control messages handled on arrival, and the CM events and
 * the guard that end a connection. Data messages wait in their buffers
 * for the reader (xport-rdma.c).
 */
#include "xport-rdma-int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

#include "log.h"

/* The connection is broken: remember why, tell the peer. */
int rdma_fail(struct rdma_xport *t, int r)
{
	if (!t->err) {
		t->err = r;
		rdma_disconnect(t->id);
	}
	return t->err;
}

/* Logs what the peer got wrong and fails with -EPROTO. */
static int proto_error(struct rdma_xport *t, const char *what,
		       unsigned long long v)
{
	log_error("rdma %s: protocol error: %s (%llu); closing", t->x.peer,
		  what, v);
	return rdma_fail(t, -EPROTO);
}

int rdma_recv_post(struct rdma_xport *t, unsigned i)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)rdma_rslot(t, i),
		.length = RDMA_SLOT_SIZE,
		.lkey = t->rmr->lkey,
	};
	struct ibv_recv_wr wr = { .wr_id = RDMA_WR_RECV | i, .sg_list = &sge,
				  .num_sge = 1 }, *bad;

	return ibv_post_recv(t->id->qp, &wr, &bad);
}

int rdma_repost(struct rdma_xport *t, unsigned i)
{
	int r;

	if (t->flushed || t->peer_closed)
		return 0;       /* the QP is going: nothing to fill */
	r = rdma_recv_post(t, i);
	if (r) {
		log_error("rdma %s: ibv_post_recv: %s", t->x.peer,
			  strerror(r));
		return rdma_fail(t, -EIO);
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
	return rdma_repost(t, i);
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
	memcpy(&h, rdma_rslot(t, i), sizeof(h));
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
		return on_control(t, i, &h, rdma_rslot(t, i) + sizeof(h));
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
			  wc->wr_id & RDMA_WR_RECV ? "receive" : "send",
			  ibv_wc_status_str(wc->status));
		return rdma_fail(t, wc->status == IBV_WC_RETRY_EXC_ERR ?
			    -ECONNRESET : -EIO);
	}
	if (wc->wr_id & RDMA_WR_RECV)
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
int rdma_progress(struct rdma_xport *t)
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
			return rdma_fail(t, -EIO);
		}
	}
	for (;;) {
		k = ibv_poll_cq(t->cq, 16, wc);
		if (k < 0) {
			log_error("rdma %s: ibv_poll_cq failed", t->x.peer);
			return rdma_fail(t, -EIO);
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
			return rdma_fail(t, r);
	}
	if (guard && !t->peer_closed)
		guard_check(t);
	return 0;
}
