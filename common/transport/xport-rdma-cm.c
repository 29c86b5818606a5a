// SPDX-License-Identifier: MIT
/*
 * RDMA connection setup with librdmacm: the client resolves, connects and
 * waits (bounded by its timeout); the server's listener hands requests out
 * without blocking and accepts without waiting for the handshake's end
 * (the data path holds its SENDs until ESTABLISHED arrives).
 *
 * Each connection has a CM event channel of its own (the server migrates
 * the request's id off the listener's channel), so its DISCONNECTED wakes
 * that connection's fd and nothing else. The xport's fd is an epoll set of
 * that channel, the completion channel and the guarding TLS socket: one
 * readable fd for "something happened", whatever it was.
 *
 * The hello in the private data says who we are (magic, version), how
 * many receive buffers the sender may fill (its credits) and, from the
 * client, the token binding the connection to a TLS session. A request
 * whose hello is malformed is rejected by the listener itself; a reject
 * carries a reason the client turns into words.
 */
#include "xport-rdma-int.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "config.h"
#include "evloop.h"
#include "log.h"
#include "net-addr.h"

#define RDMA_LISTEN_BACKLOG 16

bool xport_rdma_built(void)
{
	return true;
}

static int set_nonblock(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/* --- per-connection resources ------------------------------------------- */

int rdma_conn_setup(struct rdma_xport *t, char *err, size_t errlen)
{
	struct ibv_qp_init_attr qa = { 0 };
	const char *call;

	call = "ibv_alloc_pd";
	t->pd = ibv_alloc_pd(t->id->verbs);
	if (!t->pd)
		goto fail;
	call = "ibv_create_comp_channel";
	t->cc = ibv_create_comp_channel(t->id->verbs);
	if (!t->cc)
		goto fail;
	call = "ibv_create_cq";
	t->cq = ibv_create_cq(t->id->verbs, RDMA_CQ_DEPTH, t, t->cc, 0);
	if (!t->cq)
		goto fail;
	call = "ibv_req_notify_cq";
	errno = ibv_req_notify_cq(t->cq, 0);
	if (errno)
		goto fail;
	call = "fcntl(O_NONBLOCK) on the completion channel";
	if (set_nonblock(t->cc->fd) < 0)
		goto fail;
	qa.send_cq = t->cq;
	qa.recv_cq = t->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.sq_sig_all = 0;              /* we choose what to signal */
	qa.cap.max_send_wr = RDMA_SQ_DEPTH;
	qa.cap.max_recv_wr = RDMA_RECV_SLOTS;
	qa.cap.max_send_sge = 1;
	qa.cap.max_recv_sge = 1;
	call = "rdma_create_qp";
	if (rdma_create_qp(t->id, t->pd, &qa) < 0)
		goto fail;
	t->qp_made = true;
	return rdma_buffers_init(t, err, errlen);
fail:
	snprintf(err, errlen, "%s: %s", call, strerror(errno ? errno : EIO));
	return errno ? -errno : -EIO;
}

int rdma_epoll_make(struct rdma_xport *t, char *err, size_t errlen)
{
	int fds[3] = { t->cc->fd, t->ch->fd,
		       t->guard ? xport_fd(t->guard) : -1 };
	struct epoll_event ev = { .events = EPOLLIN };
	char peer[64];
	int ep, i, r;

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		r = -errno;
		snprintf(err, errlen, "epoll_create1: %s", strerror(-r));
		return r;
	}
	for (i = 0; i < 3; i++) {
		if (fds[i] < 0)
			continue;
		ev.data.fd = fds[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0) {
			r = -errno;
			snprintf(err, errlen, "epoll_ctl: %s", strerror(-r));
			close(ep);
			return r;
		}
	}
	r = xport_init(&t->x, &rdma_ops, ep);
	if (r < 0) {
		snprintf(err, errlen, "xport_init: %s", strerror(-r));
		close(ep);
		return r;
	}
	if (net_format_addr(rdma_get_peer_addr(t->id), sizeof(struct
			    sockaddr_storage), peer, sizeof(peer)) == 0)
		snprintf(t->x.peer, sizeof(t->x.peer), "%s", peer);
	return 0;
}

void rdma_conn_teardown(struct rdma_xport *t)
{
	if (t->qp_made)
		rdma_destroy_qp(t->id);
	if (t->smr)
		ibv_dereg_mr(t->smr);
	if (t->rmr)
		ibv_dereg_mr(t->rmr);
	for (unsigned i = 0; i < RDMA_MAX_REGIONS; i++)
		if (t->exposed[i])
			ibv_dereg_mr(t->exposed[i]);
	for (unsigned i = 0; i < t->nsources; i++)
		ibv_dereg_mr(t->sources[i]);
	free(t->smem);
	free(t->rmem);
	if (t->cq)
		ibv_destroy_cq(t->cq);
	if (t->cc)
		ibv_destroy_comp_channel(t->cc);
	if (t->pd)
		ibv_dealloc_pd(t->pd);
	if (t->id)
		rdma_destroy_id(t->id);
	if (t->ch)
		rdma_destroy_event_channel(t->ch);
	xport_free(t->guard);
}

int rdma_cm_poll(struct rdma_xport *t)
{
	struct rdma_cm_event *ev;
	enum rdma_cm_event_type type;

	while (rdma_get_cm_event(t->ch, &ev) == 0) {
		type = ev->event;
		rdma_ack_cm_event(ev);
		switch (type) {
		case RDMA_CM_EVENT_ESTABLISHED:
			t->established = true;
			break;
		case RDMA_CM_EVENT_DISCONNECTED:
			t->peer_closed = true;
			break;
		case RDMA_CM_EVENT_TIMEWAIT_EXIT:
			break;
		default:
			log_error("rdma %s: connection event %s", t->x.peer,
				  rdma_event_str(type));
			return -ECONNRESET;
		}
	}
	return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
}

/* --- client -------------------------------------------------------------- */

/*
 * The next CM event on ch within the deadline, which must be want: 0, the
 * private data of the event copied to pd (up to *pdlen, set to the length),
 * or -errno with err saying what came instead.
 */
static int wait_event(struct rdma_event_channel *ch,
		      enum rdma_cm_event_type want, long long deadline,
		      void *pd, size_t *pdlen, const char *what,
		      char *err, size_t errlen)
{
	struct pollfd pfd = { .fd = ch->fd, .events = POLLIN };
	struct rdma_cm_event *ev;
	const struct rdma_reject *rj;
	long long left;
	int r = 0;

	for (;;) {
		if (rdma_get_cm_event(ch, &ev) == 0)
			break;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			r = -errno;
			snprintf(err, errlen, "rdma_get_cm_event: %s",
				 strerror(-r));
			return r;
		}
		left = deadline - (long long)evloop_now_ms();
		if (left <= 0) {
			snprintf(err, errlen, "%s: timed out", what);
			return -ETIMEDOUT;
		}
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR) {
			r = -errno;
			snprintf(err, errlen, "poll: %s", strerror(-r));
			return r;
		}
	}
	if (ev->event == want) {
		if (pd) {
			size_t n = ev->param.conn.private_data_len;

			if (n > *pdlen)
				n = *pdlen;
			if (ev->param.conn.private_data)
				memcpy(pd, ev->param.conn.private_data, n);
			else
				n = 0;
			*pdlen = n;
		}
	} else if (ev->event == RDMA_CM_EVENT_REJECTED) {
		rj = ev->param.conn.private_data;
		if (rj && ev->param.conn.private_data_len >= sizeof(*rj) &&
		    rj->magic == RDMA_MAGIC)
			snprintf(err, errlen, "%s: rejected by the server: %s",
				 what,
				 rj->reason == RDMA_REJECT_REFUSED ?
				 "token unknown (not bound to its TLS session)" :
				 rj->reason == RDMA_REJECT_MALFORMED ?
				 "malformed request" :
				 "server could not set the connection up");
		else
			snprintf(err, errlen,
				 "%s: rejected (status %d: nothing listens there?)",
				 what, ev->status);
		r = -ECONNREFUSED;
	} else {
		snprintf(err, errlen, "%s: %s (status %d)%s", what,
			 rdma_event_str(ev->event), ev->status,
			 ev->event == RDMA_CM_EVENT_ADDR_ERROR ?
			 ": no RDMA device has a route to that address" : "");
		r = ev->event == RDMA_CM_EVENT_UNREACHABLE ? -EHOSTUNREACH :
		    ev->event == RDMA_CM_EVENT_ADDR_ERROR ? -EADDRNOTAVAIL :
		    -ECONNREFUSED;
	}
	rdma_ack_cm_event(ev);
	return r;
}

static int ms_left(long long deadline)
{
	long long left = deadline - (long long)evloop_now_ms();

	return left < 1 ? 1 : left > 60000 ? 60000 : (int)left;
}

struct xport *xport_rdma_connect(const char *hostport,
				 const uint8_t token[XPORT_RDMA_TOKEN_LEN],
				 struct xport *guard, int timeout_ms,
				 char *err, size_t errlen)
{
	long long deadline = (long long)evloop_now_ms() + timeout_ms;
	struct rdma_conn_param cp = { 0 };
	struct rdma_hello mine, theirs;
	uint8_t pd[256];
	size_t pdlen = sizeof(pd);
	struct addrinfo *ai = NULL;
	struct rdma_xport *t;
	char why[200];
	int r;

	t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "out of memory");
		xport_free(guard);
		return NULL;
	}
	t->guard = guard;
	t->ch = rdma_create_event_channel();
	if (!t->ch || set_nonblock(t->ch->fd) < 0) {
		snprintf(err, errlen, "rdma_create_event_channel: %s (is the "
			 "rdma_cm module loaded?)", strerror(errno));
		goto fail;
	}
	if (rdma_create_id(t->ch, &t->id, t, RDMA_PS_TCP) < 0) {
		snprintf(err, errlen, "rdma_create_id: %s", strerror(errno));
		goto fail;
	}
	if (net_resolve(hostport, false, &ai, err, errlen) < 0)
		goto fail;
	if (rdma_resolve_addr(t->id, NULL, ai->ai_addr,
			      ms_left(deadline)) < 0) {
		snprintf(err, errlen, "rdma_resolve_addr %s: %s", hostport,
			 strerror(errno));
		goto fail;
	}
	if (wait_event(t->ch, RDMA_CM_EVENT_ADDR_RESOLVED, deadline, NULL,
		       NULL, "address", why, sizeof(why)) < 0)
		goto fail_why;
	if (rdma_resolve_route(t->id, ms_left(deadline)) < 0) {
		snprintf(err, errlen, "rdma_resolve_route %s: %s", hostport,
			 strerror(errno));
		goto fail;
	}
	if (wait_event(t->ch, RDMA_CM_EVENT_ROUTE_RESOLVED, deadline, NULL,
		       NULL, "route", why, sizeof(why)) < 0)
		goto fail_why;
	if (rdma_conn_setup(t, err, errlen) < 0)
		goto fail;
	rdma_hello_fill(&mine, token);
	cp.private_data = &mine;
	cp.private_data_len = sizeof(mine);
	cp.retry_count = 7;
	cp.rnr_retry_count = 0;         /* credits: an RNR is a bug */
	if (rdma_connect(t->id, &cp) < 0) {
		snprintf(err, errlen, "rdma_connect %s: %s", hostport,
			 strerror(errno));
		goto fail;
	}
	if (wait_event(t->ch, RDMA_CM_EVENT_ESTABLISHED, deadline, pd, &pdlen,
		       "connect", why, sizeof(why)) < 0)
		goto fail_why;
	if (rdma_hello_check(pd, pdlen, &theirs, why, sizeof(why)) < 0)
		goto fail_why;
	t->peer_slots = theirs.recv_slots;
	t->credits = theirs.recv_slots;
	t->established = true;
	if (rdma_epoll_make(t, err, errlen) < 0)
		goto fail;
	freeaddrinfo(ai);
	return &t->x;
fail_why:
	snprintf(err, errlen, "rdma %s: %s", hostport, why);
fail:
	r = errno;
	if (ai)
		freeaddrinfo(ai);
	rdma_conn_teardown(t);
	free(t);
	errno = r;
	return NULL;
}

/* --- server -------------------------------------------------------------- */

struct xport_rdma_listener {
	struct rdma_event_channel *ch;
	struct rdma_cm_id *id;
	char addr[64];
};

struct xport_rdma_request {
	struct rdma_cm_id *id;
	struct rdma_hello hello;
};

struct xport_rdma_listener *xport_rdma_listen(const char *hostport,
					      char *err, size_t errlen)
{
	struct xport_rdma_listener *l = calloc(1, sizeof(*l));
	struct addrinfo *ai = NULL;

	if (!l) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(l->addr, sizeof(l->addr), "%s", hostport);
	l->ch = rdma_create_event_channel();
	if (!l->ch || set_nonblock(l->ch->fd) < 0) {
		snprintf(err, errlen, "rdma_create_event_channel: %s (is the "
			 "rdma_cm module loaded?)", strerror(errno));
		goto fail;
	}
	if (rdma_create_id(l->ch, &l->id, l, RDMA_PS_TCP) < 0) {
		snprintf(err, errlen, "rdma_create_id: %s", strerror(errno));
		goto fail;
	}
	if (net_resolve(hostport, true, &ai, err, errlen) < 0)
		goto fail;
	if (rdma_bind_addr(l->id, ai->ai_addr) < 0) {
		snprintf(err, errlen, "rdma_bind_addr %s: %s", hostport,
			 strerror(errno));
		goto fail;
	}
	if (rdma_listen(l->id, RDMA_LISTEN_BACKLOG) < 0) {
		snprintf(err, errlen, "rdma_listen %s: %s", hostport,
			 strerror(errno));
		goto fail;
	}
	freeaddrinfo(ai);
	return l;
fail:
	if (ai)
		freeaddrinfo(ai);
	xport_rdma_listener_free(l);
	return NULL;
}

int xport_rdma_listener_fd(const struct xport_rdma_listener *l)
{
	return l->ch->fd;
}

void xport_rdma_listener_free(struct xport_rdma_listener *l)
{
	if (!l)
		return;
	if (l->id)
		rdma_destroy_id(l->id);
	if (l->ch)
		rdma_destroy_event_channel(l->ch);
	free(l);
}

static void reject_with(struct rdma_cm_id *id, enum rdma_reject_reason why)
{
	struct rdma_reject rj = { .magic = RDMA_MAGIC, .reason = why };

	if (rdma_reject(id, &rj, sizeof(rj)) < 0)
		log_warn("rdma_reject: %s", strerror(errno));
}

int xport_rdma_next(struct xport_rdma_listener *l,
		    struct xport_rdma_request **req,
		    uint8_t token[XPORT_RDMA_TOKEN_LEN])
{
	struct xport_rdma_request *rq;
	struct rdma_cm_event *ev;
	struct rdma_hello h;
	struct rdma_cm_id *id;
	char why[160];
	int r;

	for (;;) {
		if (rdma_get_cm_event(l->ch, &ev) < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 :
			       -errno;
		if (ev->event != RDMA_CM_EVENT_CONNECT_REQUEST) {
			/* A request we rejected, or one given up on. */
			rdma_ack_cm_event(ev);
			continue;
		}
		id = ev->id;
		r = rdma_hello_check(ev->param.conn.private_data,
				     ev->param.conn.private_data_len, &h, why,
				     sizeof(why));
		rdma_ack_cm_event(ev);
		if (r < 0) {
			log_warn("rdma listener %s: request rejected: %s",
				 l->addr, why);
			reject_with(id, RDMA_REJECT_MALFORMED);
			rdma_destroy_id(id);
			continue;
		}
		rq = calloc(1, sizeof(*rq));
		if (!rq) {
			reject_with(id, RDMA_REJECT_RESOURCES);
			rdma_destroy_id(id);
			return -ENOMEM;
		}
		rq->id = id;
		rq->hello = h;
		memcpy(token, h.token, XPORT_RDMA_TOKEN_LEN);
		*req = rq;
		return 1;
	}
}

void xport_rdma_reject(struct xport_rdma_request *req)
{
	if (!req)
		return;
	reject_with(req->id, RDMA_REJECT_REFUSED);
	rdma_destroy_id(req->id);
	free(req);
}

struct xport *xport_rdma_accept(struct xport_rdma_request *req,
				struct xport *guard, char *err, size_t errlen)
{
	static const uint8_t no_token[XPORT_RDMA_TOKEN_LEN];
	struct rdma_conn_param cp = { 0 };
	struct rdma_hello mine;
	struct rdma_xport *t;

	t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "out of memory");
		xport_free(guard);
		reject_with(req->id, RDMA_REJECT_RESOURCES);
		rdma_destroy_id(req->id);
		free(req);
		return NULL;
	}
	t->guard = guard;
	t->id = req->id;
	t->peer_slots = req->hello.recv_slots;
	t->credits = req->hello.recv_slots;
	free(req);
	t->ch = rdma_create_event_channel();
	if (!t->ch || set_nonblock(t->ch->fd) < 0) {
		snprintf(err, errlen, "rdma_create_event_channel: %s",
			 strerror(errno));
		goto fail;
	}
	if (rdma_migrate_id(t->id, t->ch) < 0) {
		snprintf(err, errlen, "rdma_migrate_id: %s", strerror(errno));
		goto fail;
	}
	if (rdma_conn_setup(t, err, errlen) < 0 ||
	    rdma_epoll_make(t, err, errlen) < 0)
		goto fail;
	rdma_hello_fill(&mine, no_token);
	cp.private_data = &mine;
	cp.private_data_len = sizeof(mine);
	cp.retry_count = 7;
	cp.rnr_retry_count = 0;
	if (rdma_accept(t->id, &cp) < 0) {
		snprintf(err, errlen, "rdma_accept: %s", strerror(errno));
		goto fail_closed;
	}
	return &t->x;
fail:
	reject_with(t->id, RDMA_REJECT_RESOURCES);
fail_closed:
	if (t->x.ops) {
		/* The epoll fd exists: xport_free closes it via destroy. */
		t->err = -EIO;
		xport_free(&t->x);
		return NULL;
	}
	rdma_conn_teardown(t);
	free(t);
	return NULL;
}
