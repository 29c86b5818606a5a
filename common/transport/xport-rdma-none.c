// SPDX-License-Identifier: MIT
/*
 * The RDMA calls in a build without rdma-core's libraries: each one fails
 * the same way and says why, so a daemon asked for RDMA tells its
 * operator what to rebuild instead of pretending. (xport_tls_export_token
 * lives in xport-tls.c: it needs only TLS.)
 */
#include <errno.h>
#include <stdio.h>

#include "xport-rdma.h"
#include "xport.h"

#define NO_RDMA "colo was built without RDMA (rdma-core's librdmacm/" \
		"libibverbs missing or -Drdma=disabled)"

static void say(char *err, size_t errlen)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", NO_RDMA);
}

bool xport_rdma_built(void)
{
	return false;
}

struct xport *xport_rdma_connect(const char *hostport,
				 const uint8_t token[XPORT_RDMA_TOKEN_LEN],
				 struct xport *guard, int timeout_ms,
				 char *err, size_t errlen)
{
	(void)hostport;
	(void)token;
	(void)timeout_ms;
	xport_free(guard);      /* ours whatever the outcome */
	say(err, errlen);
	errno = EPROTONOSUPPORT;
	return NULL;
}

struct xport_rdma_listener *xport_rdma_listen(const char *hostport,
					      char *err, size_t errlen)
{
	(void)hostport;
	say(err, errlen);
	errno = EPROTONOSUPPORT;
	return NULL;
}

int xport_rdma_listener_fd(const struct xport_rdma_listener *l)
{
	(void)l;
	return -EPROTONOSUPPORT;
}

void xport_rdma_listener_free(struct xport_rdma_listener *l)
{
	(void)l;
}

int xport_rdma_next(struct xport_rdma_listener *l,
		    struct xport_rdma_request **req,
		    uint8_t token[XPORT_RDMA_TOKEN_LEN])
{
	(void)l;
	(void)req;
	(void)token;
	return -EPROTONOSUPPORT;
}

struct xport *xport_rdma_accept(struct xport_rdma_request *req,
				struct xport *guard, char *err, size_t errlen)
{
	(void)req;
	xport_free(guard);
	say(err, errlen);
	errno = EPROTONOSUPPORT;
	return NULL;
}

void xport_rdma_reject(struct xport_rdma_request *req)
{
	(void)req;
}

int xport_rdma_expose(struct xport *x, uint32_t region, void *addr,
		      size_t len, char *err, size_t errlen)
{
	(void)x;
	(void)region;
	(void)addr;
	(void)len;
	say(err, errlen);
	return -EPROTONOSUPPORT;
}

int xport_rdma_source(struct xport *x, const void *addr, size_t len,
		      char *err, size_t errlen)
{
	(void)x;
	(void)addr;
	(void)len;
	say(err, errlen);
	return -EPROTONOSUPPORT;
}
