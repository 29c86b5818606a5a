/* SPDX-License-Identifier: MIT */
/*
 * Transports for the replication link, behind one small vtable (as Redis
 * does for TCP and TLS): plain TCP (only with --insecure), TLS 1.3 with
 * mutual X.509 authentication (the default), and RDMA.
 *
 * Contract of the wrappers: sockets are blocking with the timeout set by
 * xport_set_timeout (a stalled peer gives -ETIMEDOUT, never a hang); writes
 * are buffered until xport_flush or until the buffer fills; reads are
 * buffered too, so a caller driven by poll() must also drain while
 * xport_has_buffered() says so (TLS holds decrypted bytes poll cannot see).
 * Errors are negative errno values; the reason is logged once, where it is
 * found, naming the peer and the failing call.
 */
#ifndef COLO_XPORT_H
#define COLO_XPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct xport;

struct xport_ops {
	const char *name;                                   /* "tcp", "tls" */
	ssize_t (*read)(struct xport *x, void *buf, size_t len);   /* 0: EOF */
	ssize_t (*write)(struct xport *x, const void *buf, size_t len);
	bool (*pending)(const struct xport *x);  /* bytes below us, unread */
	void (*destroy)(struct xport *x);
};

struct xport {
	const struct xport_ops *ops;
	int fd;
	char peer[64];                 /* "host:port" for messages */
	unsigned char *wbuf;
	size_t wlen, wcap;
	unsigned char *rbuf;
	size_t rstart, rend, rcap;
};

/* Common parts, used by the implementations. */
int xport_init(struct xport *x, const struct xport_ops *ops, int fd);

ssize_t xport_read(struct xport *x, void *buf, size_t len);  /* 0: EOF */
/* 0, -ECONNRESET when the peer closed first, -ETIMEDOUT, -errno. */
int xport_read_full(struct xport *x, void *buf, size_t len);
int xport_write(struct xport *x, const void *buf, size_t len);
int xport_flush(struct xport *x);
bool xport_has_buffered(const struct xport *x);
int xport_set_timeout(struct xport *x, int ms);
static inline int xport_fd(const struct xport *x) { return x->fd; }
void xport_free(struct xport *x);   /* closes the fd; NULL-safe */

/* TCP sockets: "host:port"; err gets a one-line reason on failure. */
int net_listen(const char *hostport, char *err, size_t errlen);
int net_connect(const char *hostport, int timeout_ms, char *err,
		size_t errlen);
int net_accept(int lfd, char *peer, size_t peerlen);

/* Plain TCP over a connected socket; takes ownership of fd. */
struct xport *xport_tcp_new(int fd);

/*
 * TLS. A context loads a credentials directory with QEMU's file names:
 * ca-cert.pem, and server-cert.pem + server-key.pem (server) or
 * client-cert.pem + client-key.pem (client). TLS 1.3 only; both sides
 * must present a certificate signed by the CA.
 */
struct xport_tls_ctx;
enum xport_tls_role { XPORT_TLS_CLIENT, XPORT_TLS_SERVER };
struct xport_tls_ctx *xport_tls_ctx_new(const char *dir,
					enum xport_tls_role role,
					char *err, size_t errlen);
void xport_tls_ctx_free(struct xport_tls_ctx *ctx);
/* Handshake over a connected socket (bounded by timeout_ms); takes ownership
 * of fd either way. NULL on failure, with the reason in err. */
struct xport *xport_tls_new(struct xport_tls_ctx *ctx, int fd, int timeout_ms,
			    char *err, size_t errlen);

#endif
