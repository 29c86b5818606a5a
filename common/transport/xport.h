/* SPDX-License-Identifier: MIT */
/*
 * Transports for the replication link, behind one small vtable (as Redis
 * does for TCP and TLS): plain TCP (only with --insecure), TLS 1.3 with
 * mutual X.509 authentication (the default), and RDMA.
 *
 * Contract of the wrappers: the socket is non-blocking from xport_init on.
 * The blocking calls (xport_read, xport_read_full, xport_write, xport_flush)
 * wait in poll() for at most the timeout set by xport_set_timeout (15 s
 * until set) without progress, then give -ETIMEDOUT: a stalled peer never
 * hangs us. Writes are buffered until xport_flush or until 64 KiB are
 * queued; reads are buffered too, so a caller driven by poll() must also
 * drain while xport_has_buffered() says so (TLS holds decrypted bytes poll
 * cannot see). A blocking read also pushes out queued output whenever the
 * socket takes it, so waiting for the answer to a queued request is safe.
 *
 * An event loop that must never block (two peers that both write a lot
 * would otherwise fill both socket buffers and wait on each other for ever)
 * uses the _nb calls instead: xport_queue appends without writing,
 * xport_flush_nb writes what the socket takes now, and xport_read_nb reads
 * what is there now; -EAGAIN means "wait for EV_WRITE (flush) or EV_READ
 * (read) on xport_fd and call again". The two styles mix: a blocking call
 * after an -EAGAIN simply finishes the job.
 *
 * Errors are negative errno values; the reason is logged once, where it is
 * found, naming the peer and the failing call.
 */
#ifndef COLO_XPORT_H
#define COLO_XPORT_H

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct xport;

/*
 * read and write never block: a count, 0 for EOF (read), or -errno, with
 * -EAGAIN when the socket is not ready. An implementation whose -EAGAIN
 * awaits the other direction (TLS: a read that must write first) says so in
 * x->wait_for (POLLIN or POLLOUT); the common layer clears it before each
 * call.
 */
struct xport_ops {
	const char *name;                                   /* "tcp", "tls" */
	ssize_t (*read)(struct xport *x, void *buf, size_t len);   /* 0: EOF */
	ssize_t (*write)(struct xport *x, const void *buf, size_t len);
	bool (*pending)(const struct xport *x);  /* bytes below us, unread */
	/* Optional (RDMA): xport_place's work, at the stream position
	 * "written so far + xport_queued"; NULL: xport_place gives 0. */
	int (*place)(struct xport *x, uint32_t region, uint64_t offset,
		     const void *src, size_t len);
	void (*place_harmless)(struct xport *x);   /* optional, as place */
	void (*destroy)(struct xport *x);
};

struct xport {
	const struct xport_ops *ops;
	int fd;
	char peer[64];                 /* "host:port" for messages */
	int timeout_ms;                /* of the blocking calls; -1: none */
	int werr;                      /* a write broke the stream: sticky */
	int cancel_fd;                 /* readable: blocking calls give up */
	short wait_for;                /* see struct xport_ops */
	unsigned char *wbuf;           /* queued output is [wstart, wlen) */
	size_t wstart, wlen, wcap;
	unsigned char *rbuf;
	size_t rstart, rend, rcap;
};

/* Common parts, used by the implementations; sets fd O_NONBLOCK. */
int xport_init(struct xport *x, const struct xport_ops *ops, int fd);

/* Blocking. A count (0: EOF), -ETIMEDOUT (nothing lost: wait again), -errno. */
ssize_t xport_read(struct xport *x, void *buf, size_t len);
/* 0, -ECONNRESET when the peer closed first, -ETIMEDOUT, -errno. */
int xport_read_full(struct xport *x, void *buf, size_t len);
/* Buffers; writes (blocking) once 64 KiB are queued. 0 or -errno. */
int xport_write(struct xport *x, const void *buf, size_t len);
/* Writes everything queued, blocking. 0, -ETIMEDOUT (the rest stays
 * queued: flush again or free), -errno. */
int xport_flush(struct xport *x);

/* Non-blocking. A count (0: EOF), -EAGAIN when nothing is there, -errno. */
ssize_t xport_read_nb(struct xport *x, void *buf, size_t len);
/* Appends to the output queue, which grows as needed; never writes.
 * 0 or -errno (-ENOMEM, or the error that broke an earlier write). */
int xport_queue(struct xport *x, const void *buf, size_t len);
/* Writes as much of the queue as the socket takes now. 0 when all is out,
 * -EAGAIN when some is left (wait for EV_WRITE and call again), -errno. */
int xport_flush_nb(struct xport *x);
/* Bytes queued for output and not yet written. */
size_t xport_queued(const struct xport *x);
/*
 * Without blocking, bring what the transport has now into the read
 * buffer: > 0 when bytes are buffered, 0 at EOF, -EAGAIN when there is
 * nothing, -errno. For event loops about to call a blocking reader on a
 * readable fd: an RDMA xport's fd is readable for completions and CM
 * events too, which carry no byte, and a reader woken by one would block
 * until the peer next speaks.
 */
ssize_t xport_fill_nb(struct xport *x);
/* True when xport_fill_nb found nothing and a read would only wait for
 * the peer; false when there is something (bytes, EOF, an error) or the
 * transport must write before it can read (TLS), which a blocking read
 * does. */
static inline bool xport_nothing_to_read(struct xport *x)
{
	return xport_fill_nb(x) == -EAGAIN && x->wait_for != POLLOUT;
}

bool xport_has_buffered(const struct xport *x);
/* Whether x may put bytes in the peer's memory (RDMA: xport_place). */
static inline bool xport_can_place(const struct xport *x)
{
	return x->ops->place != NULL;
}
/*
 * A file descriptor whose readability cancels every blocking wait on x with
 * -ECANCELED (the daemons pass their signalfd, or an eventfd their main
 * thread writes on stop), so that a stop request never waits for a peer's
 * timeout. -1 (the default): none. The fd is polled, never read.
 */
void xport_set_cancel(struct xport *x, int fd);
/* Wait until x is ready for what its last -EAGAIN waited for (x->wait_for,
 * or reading), or until deadline (evloop_now_ms() time; < 0: none).
 * 0, -ETIMEDOUT, -ECANCELED, -errno. */
int xport_wait(struct xport *x, long long deadline);
/* Bounds each wait of the blocking calls for progress; ms <= 0: no limit. */
int xport_set_timeout(struct xport *x, int ms);
static inline int xport_fd(const struct xport *x) { return x->fd; }
void xport_free(struct xport *x);   /* closes the fd; NULL-safe */

/* TCP sockets: "host:port"; err gets a one-line reason on failure. */
int net_listen(const char *hostport, char *err, size_t errlen);
int net_connect(const char *hostport, int timeout_ms, char *err,
		size_t errlen);
/* The accepted fd (close-on-exec, blocking), or -errno. Resource
 * shortages (net_accept_exhausted) are not logged: they repeat while they
 * last, and only the caller can pause and count them. */
int net_accept(int lfd, char *peer, size_t peerlen);
static inline bool net_accept_exhausted(int err)
{
	return err == -EMFILE || err == -ENFILE || err == -ENOBUFS ||
	       err == -ENOMEM;
}

/* Plain TCP over a connected socket; takes ownership of fd. */
struct xport *xport_tcp_new(int fd);

/*
 * TLS. A context loads a credentials directory with QEMU's file names:
 * ca-cert.pem, and server-cert.pem + server-key.pem (server) or
 * client-cert.pem + client-key.pem (client). TLS 1.3 only; both sides
 * must present a certificate signed by the CA. Who the peer is beyond
 * that, as QEMU's tls-authz and tls-hostname: the context's authz list,
 * and the host each connection expects (xport_tls_start).
 */
struct xport_tls_ctx;
enum xport_tls_role { XPORT_TLS_CLIENT, XPORT_TLS_SERVER };
struct xport_tls_ctx *xport_tls_ctx_new(const char *dir,
					enum xport_tls_role role,
					char *err, size_t errlen);
void xport_tls_ctx_free(struct xport_tls_ctx *ctx);
/*
 * Accept only peers whose certificate carries one of ids (copied): its
 * subject DN exactly as RFC 2253 prints it ("CN=colo client", as
 * `openssl x509 -noout -subject -nameopt RFC2253` shows), or a DNS name of
 * its subjectAltName (case-insensitive, no wildcards). n == 0: any
 * certificate from the CA. Applies to handshakes started later. 0 or
 * -ENOMEM (the list is then empty).
 */
int xport_tls_ctx_set_authz(struct xport_tls_ctx *ctx, const char *const *ids,
			    size_t n);
/* Handshake over a connected socket, blocking for at most timeout_ms;
 * takes ownership of fd either way. NULL on failure, with the reason in
 * err. host as for xport_tls_start. */
struct xport *xport_tls_new(struct xport_tls_ctx *ctx, int fd,
			    const char *host, int timeout_ms, char *err,
			    size_t errlen);
/*
 * The same without blocking, for an event loop: start takes ownership of fd
 * (NULL on failure, with the reason in err); then call handshake whenever
 * x's fd is ready for x->wait_for: 0 once established, -EAGAIN to wait
 * again, -errno with the reason in err (free x then). The caller owns the
 * deadline: a silent peer costs it a file descriptor, not its loop.
 * host, when not NULL, is the name the peer's certificate must carry in
 * its subjectAltName (a DNS name, or an IP address literal matched against
 * its IP entries), checked by OpenSSL; a client passes the host it dialled.
 * A refusal (wrong name, not in the authz list) names in err what was
 * expected and what the certificate presented.
 */
struct xport *xport_tls_start(struct xport_tls_ctx *ctx, int fd,
			      const char *host, char *err, size_t errlen);
int xport_tls_handshake(struct xport *x, char *err, size_t errlen);
/* The negotiated protocol (0x0304 for TLS 1.3), or 0 if x is not TLS. */
int xport_tls_version(const struct xport *x);

#endif
