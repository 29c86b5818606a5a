// SPDX-License-Identifier: MIT
/*
 * TLS transport against credentials made by deploy/gen-certs.sh: a good
 * mutual handshake (TLS 1.3, data both ways), certificates from a foreign CA
 * on either side refused, a client without a certificate refused, missing
 * or mismatched files reported by name, and peers that send garbage or stall
 * costing no more than the handshake timeout. Peer identity beyond the CA:
 * a server certificate that does not name the host the client expects, or
 * a peer outside either side's authz list, is refused with both the
 * expected and the presented identity in the message.
 *
 * Two CAs, "a" and "b"; mixed directories take the CA of one and the
 * certificate of the other, so only the side under test has a reason to
 * refuse. The server side of each handshake runs in a thread.
 *
 * The non-blocking calls over TLS: both ends in one thread send each other
 * more than the socket buffers hold, flushing and reading as poll() allows,
 * after a blocking flush has timed out half way through a record. That
 * drives SSL_write into WANT_WRITE with its record pending while SSL_read
 * runs, and retries it from a queue that has since moved.
 *
 * The RDMA binding token: both ends of one session export the same 32
 * bytes, another session exports others, and a non-TLS xport has none.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "log.h"
#include "tap.h"
#include "xport-crossfire.h"
#include "xport-rdma.h"
#include "xport.h"

#define GEN_CERTS TEST_SRCDIR "/../../deploy/gen-certs.sh"
#define HS_TIMEOUT 5000

struct dirs {
	char a[64], b[64];
	char a_ca_b_client[64];	/* trusts a, presents b's client cert */
	char a_ca_b_server[64];	/* trusts a, presents b's server cert */
	char scratch[64];
};

static void make_dir(char *path)
{
	strcpy(path, "/tmp/colo-tls-XXXXXX");
	CHECK(mkdtemp(path));
}

static void gen_certs(const char *dir, const char *suffix)
{
	char cmd[PATH_MAX * 2];

	snprintf(cmd, sizeof(cmd), "bash '%s' --suffix %s '%s' 2>&1", GEN_CERTS,
		 suffix, dir);
	CHECK_EQ(system(cmd), 0);
}

static void copy_file(const char *from_dir, const char *to_dir,
		      const char *name)
{
	char from[PATH_MAX], to[PATH_MAX], buf[8192];
	int in, out;
	ssize_t n;

	snprintf(from, sizeof(from), "%s/%s", from_dir, name);
	snprintf(to, sizeof(to), "%s/%s", to_dir, name);
	in = open(from, O_RDONLY);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(in >= 0 && out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		CHECK_EQ(write(out, buf, (size_t)n), n);
	CHECK_EQ(n, 0);
	close(in);
	close(out);
}

static void setup_dirs(struct dirs *d)
{
	static const char *const all[] = {
		"ca-cert.pem", "server-cert.pem", "server-key.pem",
		"client-cert.pem", "client-key.pem",
	};
	size_t i;

	make_dir(d->a);
	make_dir(d->b);
	make_dir(d->a_ca_b_client);
	make_dir(d->a_ca_b_server);
	make_dir(d->scratch);
	gen_certs(d->a, "a");
	gen_certs(d->b, "b");
	for (i = 0; i < 5; i++) {
		copy_file(i ? d->b : d->a, d->a_ca_b_client, all[i]);
		copy_file(i ? d->b : d->a, d->a_ca_b_server, all[i]);
		copy_file(d->a, d->scratch, all[i]);
	}
}

static void cleanup_dirs(const struct dirs *d)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s' '%s' '%s' '%s'", d->a,
		 d->b, d->a_ca_b_client, d->a_ca_b_server, d->scratch);
	CHECK_EQ(system(cmd), 0);
}

static struct xport_tls_ctx *ctx_new(const char *dir, enum xport_tls_role r)
{
	struct xport_tls_ctx *ctx;
	char err[512];

	ctx = xport_tls_ctx_new(dir, r, err, sizeof(err));
	if (!ctx)
		fprintf(stderr, "xport_tls_ctx_new(%s): %s\n", dir, err);
	CHECK(ctx);
	return ctx;
}

/* Two ends of a loopback TCP connection; *hp gets the server's address. */
static void tcp_pair(int *cfd, int *sfd, char *hp, size_t hplen)
{
	uint64_t seed = ((uint64_t)getpid() << 32) ^ (uint64_t)now_ms() ^ 1;
	char err[256], peer[64];
	int lfd = -1, i;

	for (i = 0; i < 100 && lfd < 0; i++) {
		snprintf(hp, hplen, "127.0.0.1:%u",
			 (unsigned)(20000 + test_rand(&seed) % 40000));
		lfd = net_listen(hp, err, sizeof(err));
		CHECK(lfd >= 0 || lfd == -EADDRINUSE);
	}
	CHECK(lfd >= 0);
	*cfd = net_connect(hp, 2000, err, sizeof(err));
	CHECK(*cfd >= 0);
	*sfd = net_accept(lfd, peer, sizeof(peer));
	CHECK(*sfd >= 0);
	close(lfd);
}

struct side {
	struct xport_tls_ctx *ctx;
	const char *host;	/* the name the peer's certificate must carry */
	int fd;
	int timeout_ms;
	struct xport *x;
	char err[512];
	long long ms;		/* how long the handshake took */
};

static void *handshake_side(void *arg)
{
	struct side *s = arg;
	long long t0 = now_ms();

	s->err[0] = 0;
	s->x = xport_tls_new(s->ctx, s->fd, s->host, s->timeout_ms, s->err,
			     sizeof(s->err));
	s->ms = now_ms() - t0;
	return NULL;
}

/* Handshake sctx against cctx, the client expecting host (NULL: no name);
 * the server side runs in a thread. */
static void handshake_named(struct side *srv, struct side *cli,
			    struct xport_tls_ctx *sctx,
			    struct xport_tls_ctx *cctx, const char *host,
			    char *hp, size_t hplen)
{
	pthread_t th;

	*srv = (struct side){ .ctx = sctx, .timeout_ms = HS_TIMEOUT };
	*cli = (struct side){ .ctx = cctx, .host = host,
			      .timeout_ms = HS_TIMEOUT };
	tcp_pair(&cli->fd, &srv->fd, hp, hplen);
	CHECK_EQ(pthread_create(&th, NULL, handshake_side, srv), 0);
	handshake_side(cli);
	CHECK_EQ(pthread_join(th, NULL), 0);
	if (srv->err[0])
		fprintf(stderr, "server: %s\n", srv->err);
	if (cli->err[0])
		fprintf(stderr, "client: %s\n", cli->err);
}

static void handshake_pair(struct side *srv, struct side *cli,
			   struct xport_tls_ctx *sctx,
			   struct xport_tls_ctx *cctx, char *hp, size_t hplen)
{
	handshake_named(srv, cli, sctx, cctx, NULL, hp, hplen);
}

#define DATA_LEN (1024 * 1024 + 17)

/* Server: read the client's data, send it back transformed, then a tail. */
static void *echo_side(void *arg)
{
	struct xport *x = arg;
	uint8_t *buf = malloc(DATA_LEN);
	size_t i;

	CHECK(buf);
	CHECK_EQ(xport_read_full(x, buf, DATA_LEN), 0);
	for (i = 0; i < DATA_LEN; i++) {
		CHECK(buf[i] == pattern(i));
		buf[i] ^= 0x5a;
	}
	CHECK_EQ(xport_write(x, buf, DATA_LEN), 0);
	CHECK_EQ(xport_write(x, buf, 1000), 0);
	CHECK_EQ(xport_flush(x), 0);
	free(buf);
	return NULL;
}

static void test_good(const struct dirs *d)
{
	struct xport_tls_ctx *sctx = ctx_new(d->a, XPORT_TLS_SERVER);
	struct xport_tls_ctx *cctx = ctx_new(d->a, XPORT_TLS_CLIENT);
	uint8_t *buf = malloc(DATA_LEN);
	struct side srv, cli;
	char hp[64];
	pthread_t th;
	size_t i;

	CHECK(buf);
	handshake_pair(&srv, &cli, sctx, cctx, hp, sizeof(hp));
	CHECK(srv.x && cli.x);
	CHECK_EQ(xport_tls_version(srv.x), TLS1_3_VERSION);
	CHECK_EQ(xport_tls_version(cli.x), TLS1_3_VERSION);
	CHECK(!strcmp(cli.x->peer, hp));
	CHECK_EQ(xport_set_timeout(srv.x, 10000), 0);
	CHECK_EQ(xport_set_timeout(cli.x, 10000), 0);

	CHECK_EQ(pthread_create(&th, NULL, echo_side, srv.x), 0);
	for (i = 0; i < DATA_LEN; i++)
		buf[i] = pattern(i);
	CHECK_EQ(xport_write(cli.x, buf, 100), 0);
	CHECK_EQ(xport_write(cli.x, buf + 100, DATA_LEN - 100), 0);
	CHECK_EQ(xport_flush(cli.x), 0);
	memset(buf, 0, DATA_LEN);
	CHECK_EQ(xport_read_full(cli.x, buf, DATA_LEN), 0);
	for (i = 0; i < DATA_LEN; i++)
		CHECK(buf[i] == (pattern(i) ^ 0x5a));
	CHECK_EQ(pthread_join(th, NULL), 0);
	/* The 1000-byte tail: one record, so 990 bytes stay buffered. */
	CHECK_EQ(xport_read(cli.x, buf, 10), 10);
	CHECK(xport_has_buffered(cli.x));
	CHECK_EQ(xport_read_full(cli.x, buf + 10, 990), 0);
	CHECK(!xport_has_buffered(cli.x));

	/* The server goes away: EOF, reported as such to read_full. */
	xport_free(srv.x);
	CHECK_EQ(xport_read_full(cli.x, buf, 1), -ECONNRESET);
	xport_free(cli.x);
	xport_tls_ctx_free(sctx);
	xport_tls_ctx_free(cctx);
	free(buf);
}

/*
 * Reading ahead: three records that reached the socket together are read
 * by one read(), and once the first is consumed the socket is no longer
 * readable. The other two must still show as buffered: the event loops go
 * to sleep otherwise, holding a message.
 */
static void test_read_ahead(const struct dirs *d)
{
	struct xport_tls_ctx *sctx = ctx_new(d->a, XPORT_TLS_SERVER);
	struct xport_tls_ctx *cctx = ctx_new(d->a, XPORT_TLS_CLIENT);
	struct pollfd pfd;
	struct side srv, cli;
	char hp[64], buf[64];

	handshake_pair(&srv, &cli, sctx, cctx, hp, sizeof(hp));
	CHECK(srv.x && cli.x);
	for (int i = 0; i < 3; i++) {           /* a record each */
		CHECK_EQ(xport_write(srv.x, "record-", 7), 0);
		CHECK_EQ(xport_flush(srv.x), 0);
	}
	usleep(100 * 1000);                     /* all three arrived */
	CHECK_EQ(xport_read(cli.x, buf, 7), 7);
	pfd = (struct pollfd){ .fd = xport_fd(cli.x), .events = POLLIN };
	CHECK_EQ(poll(&pfd, 1, 0), 0);          /* read ahead, all of it */
	for (int i = 1; i < 3; i++) {
		CHECK(xport_has_buffered(cli.x));
		CHECK_EQ(xport_read_nb(cli.x, buf, sizeof(buf)), 7);
		CHECK(!memcmp(buf, "record-", 7));
	}
	CHECK(!xport_has_buffered(cli.x));
	CHECK_EQ(xport_read_nb(cli.x, buf, sizeof(buf)), -EAGAIN);
	xport_free(srv.x);
	xport_free(cli.x);
	xport_tls_ctx_free(sctx);
	xport_tls_ctx_free(cctx);
	printf("ok - records read ahead show as buffered\n");
}

/* --- the RDMA binding token --------------------------------------------- */

static void test_export_token(const struct dirs *d)
{
	struct xport_tls_ctx *sctx = ctx_new(d->a, XPORT_TLS_SERVER);
	struct xport_tls_ctx *cctx = ctx_new(d->a, XPORT_TLS_CLIENT);
	uint8_t ts[2][XPORT_RDMA_TOKEN_LEN], tc[2][XPORT_RDMA_TOKEN_LEN];
	uint8_t zero[XPORT_RDMA_TOKEN_LEN] = { 0 };
	struct side srv, cli;
	struct xport *plain;
	char hp[64];
	int i, fds[2];

	for (i = 0; i < 2; i++) {
		handshake_pair(&srv, &cli, sctx, cctx, hp, sizeof(hp));
		CHECK(srv.x && cli.x);
		memset(ts[i], 0, sizeof(ts[i]));
		memset(tc[i], 0xff, sizeof(tc[i]));
		CHECK_EQ(xport_tls_export_token(srv.x, ts[i]), 0);
		CHECK_EQ(xport_tls_export_token(cli.x, tc[i]), 0);
		CHECK(!memcmp(ts[i], tc[i], XPORT_RDMA_TOKEN_LEN));
		CHECK(memcmp(ts[i], zero, XPORT_RDMA_TOKEN_LEN) != 0);
		xport_free(srv.x);
		xport_free(cli.x);
	}
	CHECK(memcmp(ts[0], ts[1], XPORT_RDMA_TOKEN_LEN) != 0);

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	plain = xport_tcp_new(fds[0]);
	CHECK(plain);
	CHECK_EQ(xport_tls_export_token(plain, tc[0]), -EINVAL);
	CHECK_EQ(xport_tls_export_token(NULL, tc[0]), -EINVAL);
	xport_free(plain);
	close(fds[1]);
	xport_tls_ctx_free(sctx);
	xport_tls_ctx_free(cctx);
}

/* --- non-blocking ------------------------------------------------------ */

static void test_crossfire(const struct dirs *d)
{
	struct xport_tls_ctx *sctx = ctx_new(d->a, XPORT_TLS_SERVER);
	struct xport_tls_ctx *cctx = ctx_new(d->a, XPORT_TLS_CLIENT);
	struct side srv, cli;
	size_t total;
	uint64_t seed = ((uint64_t)getpid() << 20) ^ (uint64_t)now_ms();
	uint8_t after[5];
	char hp[64];
	int round;

	for (round = 0; round < 3; round++) {
		struct end e[2] = {
			{ .tx_salt = 0x00, .rx_salt = 0x3c },
			{ .tx_salt = 0x3c, .rx_salt = 0x00 },
		};

		e[0].seed = test_rand(&seed) | 1;
		e[1].seed = test_rand(&seed) | 1;
		total = 12 * 1024 * 1024 + test_rand(&seed) % 100000;
		handshake_pair(&srv, &cli, sctx, cctx, hp, sizeof(hp));
		CHECK(srv.x && cli.x);
		e[0].x = cli.x;
		e[1].x = srv.x;
		/* Round 1 cuts both ways; round 2 only the client's side. */
		if (round)
			shrink_buffers(xport_fd(cli.x));
		if (round == 1)
			shrink_buffers(xport_fd(srv.x));

		stall_blocking_flush(e, total, total / 2);
		crossfire(e, total);
		fprintf(stderr, "crossfire %d (seed %llx): %lu and %lu flushes had to wait\n",
			round, (unsigned long long)e[0].seed,
			e[0].flush_again, e[1].flush_again);

		/* Blocking calls still work on the same pair. */
		CHECK_EQ(xport_write(e[1].x, "after", 5), 0);
		CHECK_EQ(xport_flush(e[1].x), 0);
		CHECK_EQ(xport_read_full(e[0].x, after, 5), 0);
		CHECK(!memcmp(after, "after", 5));
		CHECK_EQ(xport_read_nb(e[0].x, after, 1), -EAGAIN);
		xport_free(srv.x);
		xport_free(cli.x);
	}
	xport_tls_ctx_free(sctx);
	xport_tls_ctx_free(cctx);
}

#define HALF_DONE_LEN (8 * 1024 * 1024)

static void *read_half_done(void *arg)
{
	struct xport *x = arg;
	uint8_t *buf = malloc(HALF_DONE_LEN);
	size_t i;

	CHECK(buf);
	CHECK_EQ(xport_read_full(x, buf, HALF_DONE_LEN), 0);
	for (i = 0; i < HALF_DONE_LEN; i++)
		CHECK(buf[i] == (uint8_t)(pattern(i) ^ 0x77));
	free(buf);
	return NULL;
}

/*
 * Records and the non-blocking read: what poll cannot see is reported; and
 * a blocking flush finishes what a non-blocking one left half done.
 */
static void test_nonblocking(const struct dirs *d)
{
	struct xport_tls_ctx *sctx = ctx_new(d->a, XPORT_TLS_SERVER);
	struct xport_tls_ctx *cctx = ctx_new(d->a, XPORT_TLS_CLIENT);
	struct side srv, cli;
	uint8_t out[1000], in[1000], *big;
	struct pollfd pfd;
	pthread_t th;
	char hp[64];
	size_t i;

	for (i = 0; i < sizeof(out); i++)
		out[i] = pattern(i + 5);
	handshake_pair(&srv, &cli, sctx, cctx, hp, sizeof(hp));
	CHECK(srv.x && cli.x);
	CHECK_EQ(xport_read_nb(cli.x, in, 10), -EAGAIN);
	CHECK(!xport_has_buffered(cli.x));

	/* One 1000-byte record, read 10 bytes at a time without blocking. */
	CHECK_EQ(xport_queue(srv.x, out, sizeof(out)), 0);
	CHECK_EQ(xport_queued(srv.x), sizeof(out));
	CHECK_EQ(xport_flush_nb(srv.x), 0);
	CHECK_EQ(xport_queued(srv.x), 0);
	pfd = (struct pollfd){ .fd = xport_fd(cli.x), .events = POLLIN };
	CHECK_EQ(poll(&pfd, 1, 2000), 1);
	for (i = 0; i < sizeof(in); i += 10) {
		CHECK_EQ(xport_read_nb(cli.x, in + i, 10), 10);
		CHECK_EQ(xport_has_buffered(cli.x), i + 10 < sizeof(in));
	}
	CHECK(!memcmp(in, out, sizeof(in)));
	CHECK_EQ(xport_read_nb(cli.x, in, 10), -EAGAIN);

	big = malloc(HALF_DONE_LEN);
	CHECK(big);
	for (i = 0; i < HALF_DONE_LEN; i++)
		big[i] = (uint8_t)(pattern(i) ^ 0x77);
	CHECK_EQ(xport_queue(srv.x, big, HALF_DONE_LEN), 0);
	CHECK_EQ(xport_flush_nb(srv.x), -EAGAIN);
	CHECK(xport_queued(srv.x) < HALF_DONE_LEN);
	CHECK_EQ(xport_set_timeout(srv.x, 10000), 0);
	CHECK_EQ(xport_set_timeout(cli.x, 10000), 0);
	CHECK_EQ(pthread_create(&th, NULL, read_half_done, cli.x), 0);
	CHECK_EQ(xport_flush(srv.x), 0);
	CHECK_EQ(xport_queued(srv.x), 0);
	CHECK_EQ(pthread_join(th, NULL), 0);
	free(big);

	/* EOF is 0 here too. */
	xport_free(srv.x);
	CHECK_EQ(poll(&pfd, 1, 2000), 1);
	CHECK_EQ(xport_read_nb(cli.x, in, 10), 0);
	xport_free(cli.x);
	xport_tls_ctx_free(sctx);
	xport_tls_ctx_free(cctx);
}

/* A refused handshake: one side names the peer and the reason. */
static void check_refused(const struct side *refuser, const char *hp_or_null,
			  const char *reason)
{
	CHECK(!refuser->x);
	CHECK(strstr(refuser->err, "TLS handshake with 127.0.0.1:"));
	if (hp_or_null)
		CHECK(strstr(refuser->err, hp_or_null));
	CHECK(strstr(refuser->err, reason));
	CHECK(refuser->ms < HS_TIMEOUT);
}

/*
 * In TLS 1.3 the client finishes before the server has judged its
 * certificate; the refusal reaches it as an alert on its first read.
 */
static void check_client_told(struct side *cli)
{
	uint8_t b;

	if (!cli->x)
		return;
	CHECK_EQ(xport_set_timeout(cli->x, HS_TIMEOUT), 0);
	CHECK_EQ(xport_read_full(cli->x, &b, 1), -EPROTO);
	xport_free(cli->x);
	cli->x = NULL;
}

static void test_foreign_certs(const struct dirs *d)
{
	struct xport_tls_ctx *sa = ctx_new(d->a, XPORT_TLS_SERVER);
	struct xport_tls_ctx *ca = ctx_new(d->a, XPORT_TLS_CLIENT);
	struct xport_tls_ctx *cb = ctx_new(d->a_ca_b_client, XPORT_TLS_CLIENT);
	struct xport_tls_ctx *sb = ctx_new(d->a_ca_b_server, XPORT_TLS_SERVER);
	struct side srv, cli;
	char hp[64];

	/* Client certificate from CA b: the server refuses it. */
	handshake_pair(&srv, &cli, sa, cb, hp, sizeof(hp));
	check_refused(&srv, NULL, "certificate verify failed");
	CHECK(strstr(srv.err, "unable to get local issuer certificate"));
	check_client_told(&cli);

	/* Server certificate from CA b: the client refuses it. */
	handshake_pair(&srv, &cli, sb, ca, hp, sizeof(hp));
	check_refused(&cli, hp, "certificate verify failed");
	CHECK(strstr(cli.err, "unable to get local issuer certificate"));
	CHECK(!srv.x);
	CHECK(strstr(srv.err, "alert"));

	xport_tls_ctx_free(sa);
	xport_tls_ctx_free(ca);
	xport_tls_ctx_free(cb);
	xport_tls_ctx_free(sb);
}

/* A client that trusts the CA but has no certificate of its own. */
static void test_no_client_cert(const struct dirs *d)
{
	struct xport_tls_ctx *sctx = ctx_new(d->a, XPORT_TLS_SERVER);
	struct timeval tv = { .tv_sec = HS_TIMEOUT / 1000 };
	char ca[PATH_MAX], hp[64], b;
	struct side srv = { .ctx = sctx, .timeout_ms = HS_TIMEOUT };
	SSL_CTX *sc;
	pthread_t th;
	SSL *ssl;
	int cfd;

	snprintf(ca, sizeof(ca), "%s/ca-cert.pem", d->a);
	sc = SSL_CTX_new(TLS_client_method());
	CHECK(sc);
	CHECK_EQ(SSL_CTX_load_verify_locations(sc, ca, NULL), 1);
	SSL_CTX_set_verify(sc, SSL_VERIFY_PEER, NULL);
	tcp_pair(&cfd, &srv.fd, hp, sizeof(hp));
	CHECK_EQ(setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	CHECK_EQ(pthread_create(&th, NULL, handshake_side, &srv), 0);
	ssl = SSL_new(sc);
	CHECK(ssl && SSL_set_fd(ssl, cfd) == 1);
	/* Either the handshake or the first read must fail. */
	if (SSL_connect(ssl) == 1) {
		CHECK_EQ(SSL_version(ssl), TLS1_3_VERSION);
		CHECK(SSL_read(ssl, &b, 1) <= 0);
	}
	CHECK_EQ(pthread_join(th, NULL), 0);
	fprintf(stderr, "server: %s\n", srv.err);
	check_refused(&srv, NULL, "peer did not return a certificate");
	SSL_free(ssl);
	SSL_CTX_free(sc);
	close(cfd);
	xport_tls_ctx_free(sctx);
}

static void expect_ctx_error(const char *dir, enum xport_tls_role role,
			     const char *what)
{
	struct xport_tls_ctx *ctx;
	char err[512] = "";

	ctx = xport_tls_ctx_new(dir, role, err, sizeof(err));
	fprintf(stderr, "expected: %s\n", err);
	CHECK(!ctx);
	CHECK(strstr(err, what));
}

static void test_bad_files(const struct dirs *d)
{
	static const char *const server[] = {
		"ca-cert.pem", "server-cert.pem", "server-key.pem"
	};
	static const char *const client[] = {
		"ca-cert.pem", "client-cert.pem", "client-key.pem"
	};
	char path[PATH_MAX], away[PATH_MAX + 8];
	int role, i;
	FILE *f;

	for (role = 0; role < 2; role++) {
		for (i = 0; i < 3; i++) {
			const char *name = role ? server[i] : client[i];

			snprintf(path, sizeof(path), "%s/%s", d->scratch, name);
			snprintf(away, sizeof(away), "%s.away", path);
			CHECK_EQ(rename(path, away), 0);
			expect_ctx_error(d->scratch, role ? XPORT_TLS_SERVER
							  : XPORT_TLS_CLIENT,
					 path);
			CHECK_EQ(rename(away, path), 0);
		}
	}
	expect_ctx_error("/nonexistent/creds", XPORT_TLS_CLIENT,
			 "/nonexistent/creds/ca-cert.pem");

	/* A key that belongs to another certificate. */
	copy_file(d->b, d->scratch, "server-key.pem");
	expect_ctx_error(d->scratch, XPORT_TLS_SERVER, "does not match");
	copy_file(d->a, d->scratch, "server-key.pem");

	/* A file that is there but is not PEM. */
	snprintf(path, sizeof(path), "%s/ca-cert.pem", d->scratch);
	f = fopen(path, "w");
	CHECK(f);
	fputs("not a certificate\n", f);
	fclose(f);
	expect_ctx_error(d->scratch, XPORT_TLS_CLIENT, path);
	copy_file(d->a, d->scratch, "ca-cert.pem");

	/* Everything restored: the directory loads again. */
	xport_tls_ctx_free(ctx_new(d->scratch, XPORT_TLS_SERVER));
	xport_tls_ctx_free(ctx_new(d->scratch, XPORT_TLS_CLIENT));
}

/*
 * One end runs the TLS handshake, the other (raw) sends junk and keeps the
 * connection open: the handshake must give up by itself, in time.
 */
static void garbage_case(struct xport_tls_ctx *ctx, bool tls_is_server,
			 const void *junk, size_t len, int timeout_ms,
			 const char *reason)
{
	struct side tls = { .ctx = ctx, .timeout_ms = timeout_ms };
	char hp[64];
	pthread_t th;
	int raw, a, b;

	tcp_pair(&a, &b, hp, sizeof(hp));
	tls.fd = tls_is_server ? b : a;
	raw = tls_is_server ? a : b;
	CHECK_EQ(pthread_create(&th, NULL, handshake_side, &tls), 0);
	CHECK_EQ(send(raw, junk, len, MSG_NOSIGNAL), (ssize_t)len);
	CHECK_EQ(pthread_join(th, NULL), 0);
	fprintf(stderr, "%s side: %s (%lld ms)\n",
		tls_is_server ? "server" : "client", tls.err, tls.ms);
	CHECK(!tls.x);
	CHECK(strstr(tls.err, "TLS handshake with 127.0.0.1:"));
	CHECK(strstr(tls.err, reason));
	CHECK(tls.ms < timeout_ms + 1000);
	close(raw);
}

static void test_garbage(const struct dirs *d)
{
	struct xport_tls_ctx *sctx = ctx_new(d->a, XPORT_TLS_SERVER);
	struct xport_tls_ctx *cctx = ctx_new(d->a, XPORT_TLS_CLIENT);
	static const char http[] = "GET / HTTP/1.1\r\nHost: colo\r\n\r\n";
	/* A handshake record header promising 512 bytes, then silence. */
	static const uint8_t stall[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01 };
	uint8_t junk[256];
	uint64_t seed = 7;
	long long t0;
	size_t i;

	garbage_case(sctx, true, http, sizeof(http) - 1, HS_TIMEOUT,
		     "failed: ");
	t0 = now_ms();
	garbage_case(sctx, true, stall, sizeof(stall), 300, "timed out");
	CHECK(now_ms() - t0 >= 250);

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)test_rand(&seed);
	junk[0] = 0x99;	/* not a record type: refused, not waited on */
	garbage_case(cctx, false, junk, sizeof(junk), HS_TIMEOUT, "failed: ");
	garbage_case(cctx, false, stall, sizeof(stall), 300, "timed out");
	xport_tls_ctx_free(sctx);
	xport_tls_ctx_free(cctx);
}

/* --- peer identity: tls-hostname and tls-authz -------------------------- */

/* The client expects host; the server certificate of CA a names localhost,
 * 127.0.0.1 and ::1 (deploy/gen-certs.sh) and nothing else. */
static void expect_name(const struct dirs *d, const char *host, bool good)
{
	struct xport_tls_ctx *sctx = ctx_new(d->a, XPORT_TLS_SERVER);
	struct xport_tls_ctx *cctx = ctx_new(d->a, XPORT_TLS_CLIENT);
	struct side srv, cli;
	char hp[64], want[300];

	handshake_named(&srv, &cli, sctx, cctx, host, hp, sizeof(hp));
	if (good) {
		CHECK(srv.x && cli.x);
	} else {
		/* Both names in the one line: what we asked, what it has. */
		snprintf(want, sizeof(want), "expected '%s'", host);
		check_refused(&cli, hp, "certificate verify failed");
		CHECK(strstr(cli.err, "mismatch"));
		CHECK(strstr(cli.err, want));
		CHECK(strstr(cli.err, "presented subject CN=colo server a"));
		CHECK(strstr(cli.err, "DNS:localhost"));
		CHECK(strstr(cli.err, "IP:127.0.0.1"));
		CHECK(!srv.x);
	}
	xport_free(srv.x);
	xport_free(cli.x);
	xport_tls_ctx_free(sctx);
	xport_tls_ctx_free(cctx);
}

static void test_hostname(const struct dirs *d)
{
	expect_name(d, "localhost", true);
	expect_name(d, "LocalHost", true);
	expect_name(d, "127.0.0.1", true);
	expect_name(d, "::1", true);
	/* The right CA, the wrong name: another member posing as this one. */
	expect_name(d, "hostb.example", false);
	expect_name(d, "10.201.1.2", false);
	expect_name(d, "localhost.evil", false);
}

/* Server (checking the client) or client (checking the server) with an
 * authz list of one identity. */
static void expect_authz(const struct dirs *d, bool on_server, const char *id,
			 const char *presented, bool good)
{
	struct xport_tls_ctx *sctx = ctx_new(d->a, XPORT_TLS_SERVER);
	struct xport_tls_ctx *cctx = ctx_new(d->a, XPORT_TLS_CLIENT);
	const char *ids[] = { "CN=nobody", id };
	struct side srv, cli, *refuser;
	char hp[64], want[300];

	CHECK_EQ(xport_tls_ctx_set_authz(on_server ? sctx : cctx, ids, 2), 0);
	handshake_named(&srv, &cli, sctx, cctx, NULL, hp, sizeof(hp));
	refuser = on_server ? &srv : &cli;
	if (good) {
		CHECK(srv.x && cli.x);
		xport_free(srv.x);
		xport_free(cli.x);
	} else {
		check_refused(refuser, NULL, "certificate verify failed");
		snprintf(want, sizeof(want), "expected 'CN=nobody' or '%s'",
			 id);
		CHECK(strstr(refuser->err, want));
		snprintf(want, sizeof(want), "presented subject %s",
			 presented);
		CHECK(strstr(refuser->err, want));
		if (on_server)
			check_client_told(&cli);
		else
			xport_free(srv.x);
	}
	xport_tls_ctx_free(sctx);
	xport_tls_ctx_free(cctx);
}

static void test_authz(const struct dirs *d)
{
	/* The server lists the client it accepts. */
	expect_authz(d, true, "CN=colo client a", NULL, true);
	expect_authz(d, true, "CN=colo server a", "CN=colo client a", false);
	expect_authz(d, true, "CN=colo client", "CN=colo client a", false);
	/* The client lists the server: by subject, or by a SAN DNS name. */
	expect_authz(d, false, "CN=colo server a", NULL, true);
	expect_authz(d, false, "LOCALHOST", NULL, true);
	expect_authz(d, false, "/CN=colo server a", "CN=colo server a", false);
	expect_authz(d, false, "hostb.example", "CN=colo server a", false);
}

int main(void)
{
	struct dirs d;

	if (system("openssl version >/dev/null 2>&1") != 0)
		SKIP("the openssl command is needed to make test certificates");
	log_init("test-xport-tls", LOG_LVL_INFO);
	/* As in the daemons: OpenSSL writes with write(), not send(). */
	signal(SIGPIPE, SIG_IGN);
	setup_dirs(&d);
	test_good(&d);
	test_read_ahead(&d);
	test_export_token(&d);
	test_nonblocking(&d);
	test_crossfire(&d);
	test_foreign_certs(&d);
	test_no_client_cert(&d);
	test_bad_files(&d);
	test_garbage(&d);
	test_hostname(&d);
	test_authz(&d);
	cleanup_dirs(&d);
	return 0;
}
