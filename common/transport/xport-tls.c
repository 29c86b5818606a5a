// SPDX-License-Identifier: MIT
/*
 * TLS 1.3 with mutual X.509 authentication over a connected TCP socket, the
 * default replication transport.
 *
 * Both ends are pinned to the deployment's private CA: a context trusts only
 * the ca-cert.pem of its credentials directory (never the system store), the
 * server demands a client certificate, and the client verifies the server's
 * chain. The CA alone does not say which member of the deployment the peer
 * is, so two checks narrow it, as QEMU's tls-hostname and tls-authz do:
 * the client names the host it dialled and OpenSSL's own verification
 * (X509_VERIFY_PARAM host or IP) matches it against the server certificate's
 * subjectAltName; and either side may hold an authz list, identities of
 * which the peer certificate must carry one (its subject DN as RFC 2253
 * prints it, or a DNS name in its subjectAltName). A refusal names what was
 * expected and what the certificate presented, recorded by the verify
 * callback while the certificate is at hand.
 *
 * The socket is non-blocking throughout (xport_init makes it so). The
 * handshake runs against a deadline, so a peer that stalls or talks garbage
 * costs at most timeout_ms; afterwards SSL_read and SSL_write give
 * WANT_READ/WANT_WRITE, which become -EAGAIN for the common layer (with the
 * direction in x->wait_for), and that layer polls or hands the -EAGAIN on.
 * SSL_write runs in partial-write mode, one record at a time, and is retried
 * with the same queued bytes wherever the queue has moved to. In TLS 1.3 the
 * two directions are independent, so SSL_read is fine while a write waits.
 * OpenSSL's socket BIO writes with write(), not send(MSG_NOSIGNAL): the
 * daemons ignore SIGPIPE for that reason.
 */
#include "evloop.h"
#include "xport.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "log.h"
#include "tls-identity.h"
#include "xport-rdma.h"

/* OpenSSL's read buffer for read ahead: eight full records. */
#define TLS_READ_BUFFER (8 * (16384 + 256))

struct xport_tls_ctx {
	SSL_CTX *ssl_ctx;
	enum xport_tls_role role;
	char **authz;                  /* identities the peer may have */
	size_t nauthz;                 /* 0: any certificate from the CA */
};

struct tls_xport {
	struct xport x;
	SSL *ssl;
	const struct xport_tls_ctx *ctx;   /* its authz list, while verifying */
	char want_host[256];           /* the name asked of the peer, or "" */
	char presented[512];           /* the peer certificate, described */
};

static const struct xport_ops tls_ops;

static struct tls_xport *to_tls(struct xport *x)
{
	return (struct tls_xport *)((char *)x - offsetof(struct tls_xport, x));
}

static const struct tls_xport *to_tls_const(const struct xport *x)
{
	return (const struct tls_xport *)((const char *)x -
					  offsetof(struct tls_xport, x));
}

/*
 * The reason of the oldest error on this thread's OpenSSL queue (the root
 * cause; later entries only say which layer passed it up), then clear it.
 */
static void ssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();
	const char *r;

	if (!e) {
		snprintf(buf, len, "no OpenSSL error recorded");
	} else {
		r = ERR_reason_error_string(e);
		if (r)
			snprintf(buf, len, "%s", r);
		else
			ERR_error_string_n(e, buf, len);
	}
	ERR_clear_error();
}

/* --- credentials ------------------------------------------------------- */

static int cred_path(char *buf, size_t len, const char *dir, const char *name,
		     char *err, size_t errlen)
{
	if ((size_t)snprintf(buf, len, "%s/%s", dir, name) >= len) {
		snprintf(err, errlen, "TLS credentials path too long: %s/%s",
			 dir, name);
		return -ENAMETOOLONG;
	}
	if (access(buf, R_OK) < 0) {
		int e = errno;

		snprintf(err, errlen, "TLS credentials: cannot read %s: %s",
			 buf, strerror(e));
		return -e;
	}
	return 0;
}

static int load_creds(SSL_CTX *sc, const char *ca, const char *cert,
		      const char *key, char *err, size_t errlen)
{
	char why[256];

	if (SSL_CTX_load_verify_locations(sc, ca, NULL) != 1) {
		ssl_reason(why, sizeof(why));
		snprintf(err, errlen, "loading CA certificate %s: %s", ca, why);
		return -EINVAL;
	}
	if (SSL_CTX_use_certificate_chain_file(sc, cert) != 1) {
		ssl_reason(why, sizeof(why));
		snprintf(err, errlen, "loading certificate %s: %s", cert, why);
		return -EINVAL;
	}
	/* This already compares the key with the certificate. */
	if (SSL_CTX_use_PrivateKey_file(sc, key, SSL_FILETYPE_PEM) != 1) {
		bool mismatch = ERR_GET_REASON(ERR_peek_error()) ==
				X509_R_KEY_VALUES_MISMATCH;

		ssl_reason(why, sizeof(why));
		if (mismatch)
			goto mismatch;
		snprintf(err, errlen, "loading private key %s: %s", key, why);
		return -EINVAL;
	}
	if (SSL_CTX_check_private_key(sc) != 1) {
		ssl_reason(why, sizeof(why));
		goto mismatch;
	}
	return 0;
mismatch:
	snprintf(err, errlen, "private key %s does not match %s: %s", key,
		 cert, why);
	return -EINVAL;
}

/* A setting OpenSSL refused: a context without it is not the one we promise. */
static void setter_failed(const char *call, char *err, size_t errlen)
{
	char why[256];

	ssl_reason(why, sizeof(why));
	snprintf(err, errlen, "TLS context: %s failed: %s", call, why);
}

/*
 * Runs for each certificate of the peer's chain, and again for the leaf
 * when a check on it fails (hostname, IP). At the leaf: remember what it
 * presents, for the refusal message, and apply the authz list once
 * everything else has passed, so the peer is told by an alert.
 */
static int verify_peer(int ok, X509_STORE_CTX *store)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(store,
			SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls_xport *t = ssl ? SSL_get_app_data(ssl) : NULL;
	X509 *cert = X509_STORE_CTX_get_current_cert(store);

	if (!t || !cert || X509_STORE_CTX_get_error_depth(store) != 0)
		return ok;
	tls_id_describe(cert, t->presented, sizeof(t->presented));
	if (!ok || !t->ctx->nauthz ||
	    tls_id_authz_match(cert, t->ctx->authz, t->ctx->nauthz))
		return ok;
	X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
	return 0;
}

struct xport_tls_ctx *xport_tls_ctx_new(const char *dir,
					enum xport_tls_role role,
					char *err, size_t errlen)
{
	bool server = role == XPORT_TLS_SERVER;
	char ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
	struct xport_tls_ctx *ctx;
	STACK_OF(X509_NAME) *names;
	SSL_CTX *sc;

	if (cred_path(ca, sizeof(ca), dir, "ca-cert.pem", err, errlen) ||
	    cred_path(cert, sizeof(cert), dir,
		      server ? "server-cert.pem" : "client-cert.pem",
		      err, errlen) ||
	    cred_path(key, sizeof(key), dir,
		      server ? "server-key.pem" : "client-key.pem",
		      err, errlen))
		return NULL;

	ERR_clear_error();
	sc = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!sc) {
		char why[256];

		ssl_reason(why, sizeof(why));
		snprintf(err, errlen, "SSL_CTX_new: %s", why);
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(sc, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(sc, TLS1_3_VERSION) != 1) {
		setter_failed("SSL_CTX_set_min/max_proto_version(TLS 1.3)",
			      err, errlen);
		goto fail;
	}
	/*
	 * A host that dies sends no close_notify; that is the failover case,
	 * not an attack. The wire protocol is framed, so a cut shows up as a
	 * short message (-ECONNRESET) either way.
	 */
	SSL_CTX_set_options(sc, SSL_OP_IGNORE_UNEXPECTED_EOF);
	/*
	 * SSL_write returns after each record, and a retry after WANT_WRITE
	 * may pass the same bytes from another address (the output queue
	 * compacts and grows); AUTO_RETRY lets one SSL_read step over
	 * non-application records.
	 */
	SSL_CTX_set_mode(sc, SSL_MODE_AUTO_RETRY |
			 SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Read what the socket holds, not a record header and then its
	 * body: one read() for several records, not two for each (bytes
	 * read ahead are what tls_pending reports). A buffer of eight
	 * records lets one read() take several when a checkpoint streams. */
	SSL_CTX_set_read_ahead(sc, 1);
	SSL_CTX_set_default_read_buffer_len(sc, TLS_READ_BUFFER);
	if (load_creds(sc, ca, cert, key, err, errlen))
		goto fail;
	if (server) {
		SSL_CTX_set_verify(sc, SSL_VERIFY_PEER |
				   SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_peer);
		/* Name our CA to clients so they pick the right certificate. */
		names = SSL_load_client_CA_file(ca);
		if (!names) {
			setter_failed("SSL_load_client_CA_file", err, errlen);
			goto fail;
		}
		SSL_CTX_set_client_CA_list(sc, names);
		/* One long-lived link: resumption tickets are dead weight. */
		if (SSL_CTX_set_num_tickets(sc, 0) != 1) {
			setter_failed("SSL_CTX_set_num_tickets", err, errlen);
			goto fail;
		}
	} else {
		SSL_CTX_set_verify(sc, SSL_VERIFY_PEER, verify_peer);
	}
	ERR_clear_error();

	ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		snprintf(err, errlen, "TLS context: %s", strerror(ENOMEM));
		goto fail;
	}
	ctx->ssl_ctx = sc;
	ctx->role = role;
	return ctx;
fail:
	SSL_CTX_free(sc);
	return NULL;
}

static void authz_clear(struct xport_tls_ctx *ctx)
{
	while (ctx->nauthz)
		free(ctx->authz[--ctx->nauthz]);
	free(ctx->authz);
	ctx->authz = NULL;
}

int xport_tls_ctx_set_authz(struct xport_tls_ctx *ctx, const char *const *ids,
			    size_t n)
{
	size_t i;

	authz_clear(ctx);
	if (!n)
		return 0;
	ctx->authz = calloc(n, sizeof(*ctx->authz));
	if (!ctx->authz)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		ctx->authz[i] = strdup(ids[i]);
		if (!ctx->authz[i]) {
			authz_clear(ctx);
			return -ENOMEM;
		}
		ctx->nauthz++;
	}
	return 0;
}

void xport_tls_ctx_free(struct xport_tls_ctx *ctx)
{
	if (!ctx)
		return;
	authz_clear(ctx);
	SSL_CTX_free(ctx->ssl_ctx);
	free(ctx);
}

/* --- I/O ---------------------------------------------------------------- */

/* A failed SSL_read/SSL_write (ret <= 0, errno sys) as a count or -errno. */
static ssize_t tls_error(struct tls_xport *t, const char *call, int ret,
			 int sys, bool reading)
{
	char why[256];

	switch (SSL_get_error(t->ssl, ret)) {
	case SSL_ERROR_ZERO_RETURN:
		if (reading)
			return 0;
		log_error("%s to %s: peer closed the TLS session", call,
			  t->x.peer);
		return -EPIPE;
	case SSL_ERROR_WANT_READ:
		t->x.wait_for = POLLIN;
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		t->x.wait_for = POLLOUT;
		return -EAGAIN;
	case SSL_ERROR_SYSCALL:
		if (sys == EINTR || sys == EAGAIN || sys == EWOULDBLOCK)
			return -sys;
		if (ERR_peek_error())
			break;
		if (!sys) {
			if (reading)
				return 0;
			sys = ECONNRESET;
		}
		log_error("%s with %s: %s", call, t->x.peer, strerror(sys));
		return -sys;
	default:
		break;
	}
	ssl_reason(why, sizeof(why));
	log_error("%s with %s: %s", call, t->x.peer, why);
	return -EPROTO;
}

static ssize_t tls_read(struct xport *x, void *buf, size_t len)
{
	struct tls_xport *t = to_tls(x);
	int n;

	if (len > INT_MAX)
		len = INT_MAX;
	ERR_clear_error();
	errno = 0;
	n = SSL_read(t->ssl, buf, (int)len);
	if (n > 0)
		return n;
	return tls_error(t, "SSL_read", n, errno, true);
}

static ssize_t tls_write(struct xport *x, const void *buf, size_t len)
{
	struct tls_xport *t = to_tls(x);
	int n;

	/* Partial writes: a count of whole records, or WANT_WRITE. */
	if (len > INT_MAX)
		len = INT_MAX;
	ERR_clear_error();
	errno = 0;
	n = SSL_write(t->ssl, buf, (int)len);
	if (n > 0)
		return n;
	return tls_error(t, "SSL_write", n, errno, false);
}

/* Decrypted bytes OpenSSL holds are invisible to poll() on the fd. */
static bool tls_pending(const struct xport *x)
{
	/* SSL_pending counts only the record being read; the records read
	 * ahead behind it are as invisible to poll() as it is. */
	return SSL_has_pending(to_tls_const(x)->ssl);
}

static void tls_destroy(struct xport *x)
{
	struct tls_xport *t = to_tls(x);

	/* No SSL_shutdown: close_notify is a write; free flushes nothing. */
	SSL_free(t->ssl);
	free(t);
}

static const struct xport_ops tls_ops = {
	.name = "tls",
	.read = tls_read,
	.write = tls_write,
	.pending = tls_pending,
	.destroy = tls_destroy,
};

int xport_tls_version(const struct xport *x)
{
	if (!x || x->ops != &tls_ops)
		return 0;
	return SSL_version(to_tls_const(x)->ssl);
}

/*
 * RFC 5705/8446 keying material under a label of our own: both ends derive
 * it from the session's secrets, so an RDMA peer that shows it must be the
 * one that authenticated here (nobody else saw the secrets).
 */
#define RDMA_BIND_LABEL "EXPORTER-colo-rdma-bind"

int xport_tls_export_token(const struct xport *tls,
			   uint8_t token[XPORT_RDMA_TOKEN_LEN])
{
	SSL *ssl;

	if (!tls || tls->ops != &tls_ops)
		return -EINVAL;
	ssl = to_tls_const(tls)->ssl;
	if (!SSL_is_init_finished(ssl))
		return -EINVAL;
	if (SSL_export_keying_material(ssl, token, XPORT_RDMA_TOKEN_LEN,
				       RDMA_BIND_LABEL,
				       sizeof(RDMA_BIND_LABEL) - 1, NULL, 0,
				       0) != 1) {
		log_error("TLS keying material export for %s failed",
			  tls->peer);
		ERR_clear_error();
		return -EINVAL;
	}
	return 0;
}

/* --- handshake ---------------------------------------------------------- */


/* Who the peer should have been and who its certificate says it is. */
static void identity_detail(struct tls_xport *t, long verify, char *buf,
			    size_t len)
{
	const struct xport_tls_ctx *c = t->ctx;
	size_t i, used;

	if (verify == X509_V_ERR_HOSTNAME_MISMATCH ||
	    verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
		snprintf(buf, len, ": expected '%s', presented %s",
			 t->want_host, t->presented);
	} else if (verify == X509_V_ERR_APPLICATION_VERIFICATION) {
		used = (size_t)snprintf(buf, len, ": not in the authz "
					"list: expected ");
		for (i = 0; i < c->nauthz && used < len; i++)
			used += (size_t)snprintf(buf + used, len - used,
						 "%s'%s'", i ? " or " : "",
						 c->authz[i]);
		if (used < len)
			snprintf(buf + used, len - used,
				 ", presented %s", t->presented);
	} else if (t->presented[0]) {
		snprintf(buf, len, ": presented %s", t->presented);
	} else {
		buf[0] = '\0';
	}
}

static int handshake_failed(struct tls_xport *t, int ret, int sys, char *err,
			    size_t errlen)
{
	long verify = SSL_get_verify_result(t->ssl);
	int e = SSL_get_error(t->ssl, ret), r = -EPROTO;
	char why[256], detail[1024];

	if (e == SSL_ERROR_SSL || ERR_peek_error()) {
		ssl_reason(why, sizeof(why));
	} else if (e == SSL_ERROR_SYSCALL && sys) {
		snprintf(why, sizeof(why), "%s", strerror(sys));
		r = -sys;
	} else {
		snprintf(why, sizeof(why), "connection closed by peer");
		r = -ECONNRESET;
	}
	identity_detail(t, verify, detail, sizeof(detail));
	if (verify != X509_V_OK)
		snprintf(err, errlen, "TLS handshake with %s failed: %s (%s)%s",
			 t->x.peer, why, X509_verify_cert_error_string(verify),
			 detail);
	else
		snprintf(err, errlen, "TLS handshake with %s failed: %s",
			 t->x.peer, why);
	return r;
}

/* The identity in the form --tls-authz takes, so an operator can copy it. */
static void log_established(struct tls_xport *t)
{
	X509 *cert = SSL_get1_peer_certificate(t->ssl);
	char who[512] = "no certificate";

	if (cert) {
		tls_id_describe(cert, who, sizeof(who));
		X509_free(cert);
	}
	log_info("%s with %s established, peer %s (%s)",
		 SSL_get_version(t->ssl), t->x.peer, who,
		 SSL_get_cipher_name(t->ssl));
}

static int expect_host(struct tls_xport *t, const char *host, char *err,
		       size_t errlen)
{
	char why[256];

	if ((size_t)snprintf(t->want_host, sizeof(t->want_host), "%s", host) >=
	    sizeof(t->want_host)) {
		snprintf(err, errlen, "TLS with %s: peer name too long: %s",
			 t->x.peer, host);
		return -ENAMETOOLONG;
	}
	ERR_clear_error();
	if (tls_id_expect_host(t->ssl, host) == 0)
		return 0;
	ssl_reason(why, sizeof(why));
	snprintf(err, errlen, "TLS with %s: cannot expect peer name '%s': %s",
		 t->x.peer, host, why);
	return -EINVAL;
}

struct xport *xport_tls_start(struct xport_tls_ctx *ctx, int fd,
			      const char *host, char *err, size_t errlen)
{
	struct tls_xport *t;
	int r;

	t = calloc(1, sizeof(*t));
	r = t ? xport_init(&t->x, &tls_ops, fd) : -ENOMEM;
	if (r) {
		snprintf(err, errlen, "TLS on fd %d: %s", fd, strerror(-r));
		free(t);
		close(fd);
		return NULL;
	}
	ERR_clear_error();
	t->ssl = SSL_new(ctx->ssl_ctx);
	if (!t->ssl || SSL_set_fd(t->ssl, fd) != 1) {
		char why[256];

		ssl_reason(why, sizeof(why));
		snprintf(err, errlen, "TLS with %s: SSL_new/SSL_set_fd: %s",
			 t->x.peer, why);
		ERR_clear_error();
		xport_free(&t->x);
		return NULL;
	}
	t->ctx = ctx;
	SSL_set_app_data(t->ssl, t);
	if (host && expect_host(t, host, err, errlen)) {
		xport_free(&t->x);
		return NULL;
	}
	if (ctx->role == XPORT_TLS_SERVER)
		SSL_set_accept_state(t->ssl);
	else
		SSL_set_connect_state(t->ssl);
	return &t->x;
}

int xport_tls_handshake(struct xport *x, char *err, size_t errlen)
{
	struct tls_xport *t = to_tls(x);
	int ret, e, sys;

	ERR_clear_error();
	errno = 0;
	x->wait_for = 0;
	ret = SSL_do_handshake(t->ssl);
	sys = errno;
	if (ret == 1) {
		log_established(t);
		return 0;
	}
	e = SSL_get_error(t->ssl, ret);
	if (e == SSL_ERROR_WANT_READ) {
		x->wait_for = POLLIN;
		return -EAGAIN;
	}
	if (e == SSL_ERROR_WANT_WRITE) {
		x->wait_for = POLLOUT;
		return -EAGAIN;
	}
	ret = handshake_failed(t, ret, sys, err, errlen);
	ERR_clear_error();
	return ret;
}

struct xport *xport_tls_new(struct xport_tls_ctx *ctx, int fd,
			    const char *host, int timeout_ms, char *err,
			    size_t errlen)
{
	long long deadline = (long long)evloop_now_ms() +
			     (timeout_ms > 0 ? timeout_ms : INT_MAX);
	struct xport *x = xport_tls_start(ctx, fd, host, err, errlen);
	int r;

	if (!x)
		return NULL;
	while ((r = xport_tls_handshake(x, err, errlen)) == -EAGAIN) {
		r = xport_wait(x, deadline);
		if (r == -ETIMEDOUT)
			snprintf(err, errlen, "TLS handshake with %s failed: "
				 "timed out after %d ms", x->peer, timeout_ms);
		else if (r < 0)
			snprintf(err, errlen, "TLS handshake with %s: %s",
				 x->peer, strerror(-r));
		if (r < 0)
			break;
	}
	if (r == 0)
		return x;
	xport_free(x);
	return NULL;
}
