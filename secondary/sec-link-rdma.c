// SPDX-License-Identifier: MIT
/*
 * --transport rdma on the secondary: which RDMA connection may become the
 * link. RDMA has no authentication of its own, so a request is taken only
 * when its token (CM private data) is one that a pending connection,
 * authenticated by TLS 1.3 on TCP first, exported on our side; that TLS
 * connection then guards the RDMA one for its life (xport-rdma.h).
 *
 *   TCP accept -> SEC_HANDSHAKE (TLS) -> SEC_AWAIT_RDMA -+-> RDMA request
 *   (--insecure: TCP accept -> SEC_TOKEN, 32 bytes)  ----+   with its token:
 *                                                            accept, adopt
 *
 * A request with a token no pending connection holds is rejected; a
 * pending connection with no request by its deadline is dropped.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "evloop.h"
#include "last-error.h"
#include "log.h"
#include "sec-link-int.h"
#include "xport-rdma.h"
#include "xport.h"

_Static_assert(SEC_TOKEN_LEN == XPORT_RDMA_TOKEN_LEN, "token length");

void sec_rdma_bound(struct sec_link *l, struct sec_pending *pp)
{
	if (xport_tls_export_token(pp->x, pp->token) < 0) {
		sec_pending_reject(l, pp, "cannot export the TLS session's "
				   "token for RDMA");
		return;
	}
	pp->phase = SEC_AWAIT_RDMA;
	/* The RDMA connect follows at once; it gets a deadline of its own
	 * as long as the handshake's. */
	pp->deadline_ms = evloop_now_ms() + sec_handshake_ms(l);
}

static void read_token(struct sec_link *l, struct sec_pending *pp)
{
	ssize_t n = xport_read_nb(pp->x, pp->token + pp->got,
				  SEC_TOKEN_LEN - pp->got);

	if (n == -EAGAIN)
		return;
	if (n <= 0) {
		sec_pending_reject(l, pp, n == 0 ? "closed before its RDMA "
				   "token" : strerror((int)-n));
		return;
	}
	pp->got += (size_t)n;
	if (pp->got == SEC_TOKEN_LEN)
		pp->phase = SEC_AWAIT_RDMA;
}

void sec_rdma_on_pending(struct sec_link *l, struct sec_pending *pp)
{
	if (pp->phase == SEC_TOKEN) {
		read_token(l, pp);
		if (!pp->x || pp->phase == SEC_TOKEN)
			return;
	}
	/* Nothing may come here before the RDMA connection: a peer that
	 * sends (a hello, by TLS) or closes is no RDMA primary. */
	if (xport_nothing_to_read(pp->x))
		return;
	sec_pending_reject(l, pp, "spoke on the TCP connection instead of "
			   "connecting over RDMA; is the primary started with "
			   "--transport rdma?");
}

const char *sec_pending_late(const struct sec_link *l,
			     const struct sec_pending *pp)
{
	switch (pp->phase) {
	case SEC_TOKEN:
		return "no RDMA token in time";
	case SEC_AWAIT_RDMA:
		return l->cfg.tls ? "no RDMA connection request in time after "
				    "the TLS handshake; is the primary started "
				    "with --transport rdma?" :
				    "no RDMA connection request in time after "
				    "its token; is the primary started with "
				    "--transport rdma?";
	case SEC_CHANNEL:
		return "no CHANNEL in time";
	case SEC_HANDSHAKE:
		break;
	}
	return "TLS handshake: no answer in time";
}

/* Every byte compared (CRYPTO_memcmp): how long a refusal takes says
 * nothing of a token. */
static bool same_token(const uint8_t *a, const uint8_t *b)
{
	return CRYPTO_memcmp(a, b, SEC_TOKEN_LEN) == 0;
}

static struct sec_pending *bound_to(struct sec_link *l, const uint8_t *token)
{
	size_t i;

	for (i = 0; i < SEC_PENDING_MAX; i++)
		if (l->pending[i].x && l->pending[i].phase == SEC_AWAIT_RDMA &&
		    same_token(l->pending[i].token, token))
			return &l->pending[i];
	return NULL;
}

static void take_request(struct sec_link *l, struct xport_rdma_request *req,
			 const uint8_t *token)
{
	struct sec_pending *pp = bound_to(l, token);
	struct xport *guard, *x;
	char err[256], peer[64];

	if (!pp) {
		xport_rdma_reject(req);
		log_warn("RDMA connection request bound to no %s: rejected",
			 l->cfg.tls ? "authenticated TLS session" :
				      "pending connection's token");
		last_error_set(l->cfg.last_error, "rejected an RDMA connection "
			       "request bound to no %s",
			       l->cfg.tls ? "authenticated TLS session" :
					    "pending connection's token");
		return;
	}
	if (l->x) {
		xport_rdma_reject(req);
		sec_pending_reject(l, pp, "already serving a primary");
		return;
	}
	/* The guard is the RDMA xport's from here, whatever the outcome. */
	guard = pp->x;
	snprintf(peer, sizeof(peer), "%s", guard->peer);
	evloop_del(l->cfg.loop, xport_fd(guard));
	pp->x = NULL;
	x = xport_rdma_accept(req, guard, err, sizeof(err));
	if (!x) {
		log_error("rejecting %s over RDMA: %s", peer, err);
		last_error_set(l->cfg.last_error, "rejected %s over RDMA: %s",
			       peer, err);
		return;
	}
	sec_link_adopt_x(l, x, true);
}

static void on_rdma_request(struct evloop *loop, int fd, uint32_t events,
			    void *opaque)
{
	struct sec_link *l = opaque;
	struct xport_rdma_request *req;
	uint8_t token[XPORT_RDMA_TOKEN_LEN];
	int ret;

	(void)loop;
	(void)fd;
	(void)events;
	while ((ret = xport_rdma_next(l->rdma_listener, &req, token)) == 1)
		take_request(l, req, token);
	if (ret < 0)
		log_error("RDMA listener: %s", strerror(-ret));
}

int sec_link_listen_rdma(struct sec_link *l, const char *hostport,
			 char *err, size_t errlen)
{
	int ret;

	l->rdma_listener = xport_rdma_listen(hostport, err, errlen);
	if (!l->rdma_listener)
		return -EIO;
	ret = evloop_add(l->cfg.loop, xport_rdma_listener_fd(l->rdma_listener),
			 EV_READ, on_rdma_request, l);
	if (ret < 0) {
		snprintf(err, errlen, "cannot watch the RDMA listener: %s",
			 strerror(-ret));
		sec_link_unlisten_rdma(l);
	}
	return ret;
}

void sec_link_unlisten_rdma(struct sec_link *l)
{
	if (!l->rdma_listener)
		return;
	evloop_del(l->cfg.loop, xport_rdma_listener_fd(l->rdma_listener));
	xport_rdma_listener_free(l->rdma_listener);
	l->rdma_listener = NULL;
}

bool sec_link_is_rdma(const struct sec_link *l)
{
	return l->x && l->x_rdma;
}

int sec_link_expose(struct sec_link *l, uint32_t region, void *addr,
		    size_t len, char *err, size_t errlen)
{
	if (!sec_link_is_rdma(l)) {
		snprintf(err, errlen, "the link is not RDMA");
		return -ENOTCONN;
	}
	return xport_rdma_expose(l->x, region, addr, len, err, errlen);
}
