// SPDX-License-Identifier: MIT
/*
 * The RDMA transport over a real device: soft-RoCE in the rdma suite's VM
 * (tests/rdma/vm-run.sh, which exports COLO_RDMA_ADDR). Without a device,
 * or in a build without RDMA, it prints SKIP and exits 77.
 *
 * Setup: a request with the right token is accepted, one with a wrong
 * token is rejected and its client told why, and the daemons' way (token
 * exported from a TLS session on both ends, each side's TLS connection
 * guarding its RDMA one) works end to end; requests whose private data
 * is not a hello are rejected by the listener, which goes on serving.
 * The stream: a crossfire of many MiB each way at once (both ends write,
 * neither deadlocks), and a reader that stalls for a while holding the
 * writer back by credits alone, losing nothing. Placement: pages placed
 * before a message are in the exposed region when the message is read; a
 * placement after a message is not seen before the reader has handled
 * that message (it overwrites the page; the placement must win); places
 * that cannot happen say 0. Endings: a peer that closes gives EOF after
 * its last bytes, a peer killed with SIGKILL gives EOF or an error well
 * inside the timeout, a guard (TLS) connection that ends ends the RDMA
 * one, and a peer sending a malformed header is cut off with -EPROTO.
 * Registration under a memlock limit too low says so.
 * Last, the stream's and placement's rates, for the report.
 * COLO_RDMA_STREAM_MIB (64) and COLO_RDMA_RATE_MIB (16) size the last two.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>
#include <rdma/rdma_verbs.h>

#include "log.h"
#include "tap.h"
#include "xport-crossfire.h"
#include "xport-rdma-int.h"
#include "xport-rdma.h"
#include "xport.h"

#define WAIT_MS 20000

static char host[64], port[16], hp[96];
static struct xport_rdma_listener *lis;

static void random_token(uint8_t t[XPORT_RDMA_TOKEN_LEN], uint64_t *seed)
{
	for (int i = 0; i < XPORT_RDMA_TOKEN_LEN; i++)
		t[i] = (uint8_t)test_rand(seed);
}

/* --- connection helpers --------------------------------------------------- */

struct dial {
	uint8_t token[XPORT_RDMA_TOKEN_LEN];
	struct xport *x;
	char err[256];
};

static void *dial_thread(void *arg)
{
	struct dial *d = arg;

	d->x = xport_rdma_connect(hp, d->token, NULL, WAIT_MS, d->err,
				  sizeof(d->err));
	return NULL;
}

/* The next request, waiting for it: 1, or 0 when none came in ms. */
static int next_req(struct xport_rdma_request **req,
		    uint8_t token[XPORT_RDMA_TOKEN_LEN], int ms)
{
	struct pollfd pfd = { .fd = xport_rdma_listener_fd(lis),
			      .events = POLLIN };
	long long deadline = now_ms() + ms;
	int r;

	for (;;) {
		r = xport_rdma_next(lis, req, token);
		CHECK(r >= 0);
		if (r == 1)
			return 1;
		if (now_ms() >= deadline)
			return 0;
		poll(&pfd, 1, 100);
	}
}

/* A connected pair, c the client, s the server's accepted end. */
static void make_pair(struct xport **c, struct xport **s, uint64_t *seed)
{
	uint8_t got[XPORT_RDMA_TOKEN_LEN];
	struct xport_rdma_request *req;
	struct dial d = { 0 };
	char err[256];
	pthread_t th;

	random_token(d.token, seed);
	CHECK_EQ(pthread_create(&th, NULL, dial_thread, &d), 0);
	CHECK_EQ(next_req(&req, got, WAIT_MS), 1);
	CHECK(!memcmp(got, d.token, sizeof(got)));
	*s = xport_rdma_accept(req, NULL, err, sizeof(err));
	if (!*s)
		fprintf(stderr, "accept: %s\n", err);
	CHECK(*s);
	CHECK_EQ(pthread_join(th, NULL), 0);
	if (!d.x)
		fprintf(stderr, "connect: %s\n", d.err);
	CHECK(d.x);
	*c = d.x;
	CHECK_EQ(xport_set_timeout(*c, WAIT_MS), 0);
	CHECK_EQ(xport_set_timeout(*s, WAIT_MS), 0);
}

/* --- setup ---------------------------------------------------------------- */

static void test_connect(uint64_t *seed)
{
	struct xport *c, *s;
	char buf[16];

	make_pair(&c, &s, seed);
	CHECK(!strcmp(c->ops->name, "rdma"));
	CHECK(strchr(c->peer, ':') && strchr(s->peer, ':'));
	/* The server's first write may wait for ESTABLISHED: fine. */
	CHECK_EQ(xport_write(s, "hello", 5), 0);
	CHECK_EQ(xport_flush(s), 0);
	CHECK_EQ(xport_read_full(c, buf, 5), 0);
	CHECK(!memcmp(buf, "hello", 5));
	CHECK_EQ(xport_write(c, "world!", 6), 0);
	CHECK_EQ(xport_flush(c), 0);
	CHECK_EQ(xport_read_full(s, buf, 6), 0);
	CHECK(!memcmp(buf, "world!", 6));
	xport_free(c);
	xport_free(s);
	fprintf(stderr, "ok connect + accept\n");
}

static void test_wrong_token(uint64_t *seed)
{
	uint8_t got[XPORT_RDMA_TOKEN_LEN], want[XPORT_RDMA_TOKEN_LEN];
	struct xport_rdma_request *req;
	struct dial d = { 0 };
	pthread_t th;

	random_token(want, seed);
	random_token(d.token, seed);
	CHECK_EQ(pthread_create(&th, NULL, dial_thread, &d), 0);
	CHECK_EQ(next_req(&req, got, WAIT_MS), 1);
	CHECK(memcmp(got, want, sizeof(got)) != 0);
	xport_rdma_reject(req);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK(!d.x);
	fprintf(stderr, "client told: %s\n", d.err);
	CHECK(strstr(d.err, "token unknown"));
	fprintf(stderr, "ok wrong token rejected\n");
}

/* A client speaking raw librdmacm (synchronous), with private data of
 * our choice; NULL when refused. */
static struct rdma_cm_id *raw_connect(const void *pd, uint8_t pdlen)
{
	struct rdma_addrinfo hints = { .ai_port_space = RDMA_PS_TCP }, *res;
	struct ibv_qp_init_attr qa = {
		.cap = { .max_send_wr = 4, .max_recv_wr = 4,
			 .max_send_sge = 1, .max_recv_sge = 1 },
		.sq_sig_all = 1, .qp_type = IBV_QPT_RC,
	};
	struct rdma_conn_param cp = { .private_data = pd,
				      .private_data_len = pdlen,
				      .retry_count = 7 };
	struct rdma_cm_id *id;

	CHECK_EQ(rdma_getaddrinfo(host, port, &hints, &res), 0);
	CHECK_EQ(rdma_create_ep(&id, res, NULL, &qa), 0);
	rdma_freeaddrinfo(res);
	if (rdma_connect(id, &cp) < 0) {
		rdma_destroy_ep(id);
		return NULL;
	}
	return id;
}

struct raw {
	const void *pd;
	uint8_t pdlen;
	struct rdma_cm_id *id;
	volatile int done;
};

static void *raw_thread(void *arg)
{
	struct raw *r = arg;

	r->id = raw_connect(r->pd, r->pdlen);
	__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Serves the listener until the raw client is done: no request may come
 * out of it. */
static void serve_until_done(struct raw *r)
{
	uint8_t got[XPORT_RDMA_TOKEN_LEN];
	struct xport_rdma_request *req;
	long long deadline = now_ms() + WAIT_MS;

	while (!__atomic_load_n(&r->done, __ATOMIC_ACQUIRE)) {
		CHECK(now_ms() < deadline);
		CHECK_EQ(next_req(&req, got, 50), 0);
	}
}

static void test_malformed_hello(uint64_t *seed)
{
	struct rdma_hello bad_version;
	uint8_t junk[40];
	struct raw r[3] = { 0 };
	struct xport *c, *s;
	uint8_t tok[XPORT_RDMA_TOKEN_LEN] = { 0 };
	pthread_t th;
	int i;

	memset(junk, 0x5a, sizeof(junk));
	rdma_hello_fill(&bad_version, tok);
	bad_version.version = 99;
	r[0] = (struct raw){ .pd = junk, .pdlen = sizeof(junk) };
	r[1] = (struct raw){ .pd = junk, .pdlen = 3 };
	r[2] = (struct raw){ .pd = &bad_version,
			     .pdlen = sizeof(bad_version) };
	for (i = 0; i < 3; i++) {
		CHECK_EQ(pthread_create(&th, NULL, raw_thread, &r[i]), 0);
		/* The listener rejects it itself and hands nothing out. */
		serve_until_done(&r[i]);
		CHECK_EQ(pthread_join(th, NULL), 0);
		CHECK(!r[i].id);
	}
	make_pair(&c, &s, seed);
	xport_free(c);
	xport_free(s);
	fprintf(stderr, "ok malformed hellos rejected, listener serves on\n");
}

/* A peer that sends hdr: the transport cuts it off with -EPROTO. */
static void malformed_header(const struct rdma_msg_hdr *hdr, size_t len,
			     const char *what)
{
	struct rdma_hello hello;
	uint8_t tok[XPORT_RDMA_TOKEN_LEN] = { 0 }, got[XPORT_RDMA_TOKEN_LEN];
	struct xport_rdma_request *req;
	struct raw r = { 0 };
	struct ibv_wc wc;
	struct ibv_mr *mr;
	struct xport *s;
	char err[256];
	uint8_t buf[64];
	pthread_t th;
	long long t0;

	rdma_hello_fill(&hello, tok);
	r = (struct raw){ .pd = &hello, .pdlen = sizeof(hello) };
	CHECK_EQ(pthread_create(&th, NULL, raw_thread, &r), 0);
	CHECK_EQ(next_req(&req, got, WAIT_MS), 1);
	s = xport_rdma_accept(req, NULL, err, sizeof(err));
	CHECK(s);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK(r.id);
	memcpy(buf, hdr, len);
	mr = rdma_reg_msgs(r.id, buf, sizeof(buf));
	CHECK(mr);
	CHECK_EQ(rdma_post_send(r.id, NULL, buf, len, mr, 0), 0);
	CHECK_EQ(rdma_get_send_comp(r.id, &wc), 1);
	CHECK_EQ(wc.status, IBV_WC_SUCCESS);
	CHECK_EQ(xport_set_timeout(s, WAIT_MS), 0);
	t0 = now_ms();
	CHECK_EQ(xport_read(s, buf, 1), -EPROTO);
	CHECK(now_ms() - t0 < WAIT_MS);
	xport_free(s);
	rdma_dereg_mr(mr);
	rdma_disconnect(r.id);
	rdma_destroy_ep(r.id);
	fprintf(stderr, "ok malformed header (%s): -EPROTO\n", what);
}

/* A header followed by one payload byte, as one message. */
static void with_one_byte(const struct rdma_msg_hdr *h, const char *what)
{
	uint8_t m[sizeof(*h) + 1] = { 0 };

	memcpy(m, h, sizeof(*h));
	malformed_header((const void *)m, sizeof(m), what);
}

static void test_malformed_headers(uint64_t *seed)
{
	struct rdma_msg_hdr h;
	struct xport *c, *s;

	h = (struct rdma_msg_hdr){ .type = 9 };
	malformed_header(&h, sizeof(h), "unknown type");
	h = (struct rdma_msg_hdr){ .type = RDMA_MSG_DATA, .len = 1,
				   .credits = 1000 };
	with_one_byte(&h, "credits beyond the ring");
	h = (struct rdma_msg_hdr){ .type = RDMA_MSG_REGION, .len = 24 };
	{
		uint8_t m[sizeof(h) + 24] = { 0 };
		struct rdma_msg_region reg = { .region = 64, .len = 4096,
					       .addr = 4096 };

		memcpy(m, &h, sizeof(h));
		memcpy(m + sizeof(h), &reg, sizeof(reg));
		malformed_header((const void *)m, sizeof(m),
				 "region out of range");
	}
	h = (struct rdma_msg_hdr){ .type = RDMA_MSG_DATA, .len = 5 };
	with_one_byte(&h, "length disagrees");
	make_pair(&c, &s, seed);
	xport_free(c);
	xport_free(s);
}

/* --- the stream ----------------------------------------------------------- */

/*
 * xport-crossfire.h's loop, as an RDMA event loop must run it: the fd
 * only ever says POLLIN (completions), so output is flushed whenever
 * there is some, not on POLLOUT. One reader is slow to start.
 */
static void crossfire_rdma(struct end *e, size_t total)
{
	uint8_t *tmp = malloc(CHUNK_MAX);
	long long deadline = now_ms() + 300000;
	long long slow_until = now_ms() + 1000;
	size_t stalled_out = 0, stalled_in = 0;
	bool stalled = true;
	struct pollfd pfd[2];
	int i, r;

	CHECK(tmp);
	while (e[0].got < total || e[1].got < total) {
		CHECK(now_ms() < deadline);
		for (i = 0; i < 2; i++) {
			while (e[i].queued < total &&
			       xport_queued(e[i].x) < 6 * 1024 * 1024)
				queue_chunk(&e[i], total, tmp);
			if (xport_queued(e[i].x)) {
				r = xport_flush_nb(e[i].x);
				CHECK(r == 0 || r == -EAGAIN);
				e[i].flush_again += r == -EAGAIN;
			}
			pfd[i] = (struct pollfd){
				.fd = xport_fd(e[i].x),
				.events = i == 1 && stalled ? 0 : POLLIN,
			};
		}
		r = poll(pfd, 2, xport_has_buffered(e[0].x) ||
				 (!stalled && xport_has_buffered(e[1].x)) ?
				 0 : 100);
		CHECK(r >= 0);
		for (i = 0; i < 2; i++) {
			/* e[1] reads nothing for a while: e[0]'s writes
			 * stall on credits while e[1]'s flow on. */
			if (i == 1 && stalled)
				continue;
			if (pfd[i].revents || xport_has_buffered(e[i].x))
				drain(&e[i], total, tmp);
		}
		if (stalled) {
			/* what e[0] got out to the stalled reader, and what
			 * the stalled one's writes brought e[0] meanwhile:
			 * the stall lasts a second at least, and until more
			 * than two rings' worth came (at most 20 s) */
			stalled_out = e[0].queued - xport_queued(e[0].x);
			stalled_in = e[0].got;
			stalled = now_ms() < slow_until ||
				  (stalled_in <= (2u << 20) &&
				   now_ms() < slow_until + 19000);
		}
	}
	fprintf(stderr, "crossfire: while one reader stalled, %zu bytes went "
		"to it and %zu came from it\n", stalled_out, stalled_in);
	CHECK(stalled_out <= (1u << 20));
	CHECK(stalled_in > (2u << 20));
	for (i = 0; i < 2; i++) {
		CHECK_EQ(e[i].queued, total);
		CHECK_EQ(xport_queued(e[i].x), 0);
		CHECK(!xport_has_buffered(e[i].x));
	}
	free(tmp);
}

static void test_crossfire(uint64_t *seed, size_t mib)
{
	struct end e[2] = { 0 };
	struct xport *c, *s;
	long long t0;

	make_pair(&c, &s, seed);
	e[0] = (struct end){ .x = c, .tx_salt = 0x11, .rx_salt = 0x22,
			     .seed = 1 };
	e[1] = (struct end){ .x = s, .tx_salt = 0x22, .rx_salt = 0x11,
			     .seed = 2 };
	t0 = now_ms();
	crossfire_rdma(e, mib << 20);
	fprintf(stderr, "ok crossfire: %zu MiB each way in %lld ms\n", mib,
		now_ms() - t0);
	xport_free(c);
	xport_free(s);
}

struct reader {
	struct xport *x;
	size_t len;
	uint8_t *buf;
	int r;
};

static void *read_all(void *arg)
{
	struct reader *rd = arg;

	rd->r = xport_read_full(rd->x, rd->buf, rd->len);
	return NULL;
}

/* The reader stalls: the writer is held by credits (most of what it
 * queued stays queued), then everything arrives intact. */
static void test_slow_reader(uint64_t *seed)
{
	size_t len = 8u << 20, i;
	uint8_t *out = malloc(len), *in = malloc(len);
	struct reader rd;
	struct xport *c, *s;
	long long end;
	pthread_t th;
	size_t held;

	CHECK(out && in);
	make_pair(&c, &s, seed);
	for (i = 0; i < len; i++)
		out[i] = pattern(i) ^ 0x33;
	CHECK_EQ(xport_queue(c, out, len), 0);
	end = now_ms() + 1500;
	while (now_ms() < end) {
		int r = xport_flush_nb(c);

		CHECK_EQ(r, -EAGAIN);
		usleep(50 * 1000);
	}
	held = xport_queued(c);
	fprintf(stderr, "reader stalled: %zu of %zu bytes held back\n", held,
		len);
	/* The ring holds 32 messages of 32 KiB: 1 MiB at most went out. */
	CHECK(held >= len - (1u << 20) - (1u << 16));
	rd = (struct reader){ .x = s, .len = len, .buf = in };
	CHECK_EQ(pthread_create(&th, NULL, read_all, &rd), 0);
	CHECK_EQ(xport_flush(c), 0);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK_EQ(rd.r, 0);
	CHECK(!memcmp(in, out, len));
	xport_free(c);
	xport_free(s);
	free(out);
	free(in);
	fprintf(stderr, "ok slow reader\n");
}

/* --- placement ------------------------------------------------------------ */

#define REGION_LEN (4u << 20)
#define PAGE 4096

struct place_srv {
	struct xport *x;
	uint8_t *region;
	int step_ok[4];
};

/* The receiver of test_place: exposes, says ready, then checks what each
 * message finds in the region. */
static void *place_server(void *arg)
{
	struct place_srv *p = arg;
	char err[256], msg[8];
	size_t i;
	bool ok;

	CHECK_EQ(xport_rdma_expose(p->x, 3, p->region, REGION_LEN, err,
				   sizeof(err)), 0);
	CHECK_EQ(xport_write(p->x, "ready", 5), 0);
	CHECK_EQ(xport_flush(p->x), 0);
	/* 1: all pages placed before "one" are there. */
	CHECK_EQ(xport_read_full(p->x, msg, 3), 0);
	CHECK(!memcmp(msg, "one", 3));
	for (ok = true, i = 0; i < REGION_LEN; i++)
		ok &= p->region[i] == (uint8_t)(pattern(i) ^ 0x44);
	p->step_ok[0] = ok;
	/* 2: "two" says overwrite page 5 (as a DISCARD would); the page
	 * placed after "two" must not land before we did, however slowly. */
	CHECK_EQ(xport_read_full(p->x, msg, 3), 0);
	CHECK(!memcmp(msg, "two", 3));
	usleep(300 * 1000);
	for (ok = true, i = 0; i < PAGE; i++)
		ok &= p->region[5 * PAGE + i] ==
		      (uint8_t)(pattern(5 * PAGE + i) ^ 0x44);
	p->step_ok[1] = ok;     /* not yet overwritten by the placement */
	memset(p->region + 5 * PAGE, 0xee, PAGE);
	/* 3: "six" follows the placement: it won. */
	CHECK_EQ(xport_read_full(p->x, msg, 3), 0);
	CHECK(!memcmp(msg, "six", 3));
	for (ok = true, i = 0; i < PAGE; i++)
		ok &= p->region[5 * PAGE + i] == 0x77;
	p->step_ok[2] = ok;
	return NULL;
}

static void test_place(uint64_t *seed)
{
	/* One page more than the region: the source of the late placement
	 * (a posted WRITE reads its source when it runs, so the pages sent
	 * before must stay as they are). */
	uint8_t *src = aligned_alloc(PAGE, REGION_LEN + PAGE);
	uint8_t *unreg = malloc(PAGE);
	struct place_srv p = { 0 };
	struct xport *c, *s, *plain;
	int fds[2];
	char err[256], msg[8];
	pthread_t th;
	size_t i;

	p.region = aligned_alloc(PAGE, REGION_LEN);
	CHECK(src && p.region && unreg);
	memset(p.region, 0, REGION_LEN);
	for (i = 0; i < REGION_LEN; i++)
		src[i] = (uint8_t)(pattern(i) ^ 0x44);
	make_pair(&c, &s, seed);
	p.x = s;
	CHECK_EQ(xport_rdma_source(c, src, REGION_LEN + PAGE, err,
				   sizeof(err)), 0);
	/* Before the peer's region is known: nothing to place into. */
	CHECK_EQ(xport_place(c, 3, 0, src, PAGE), 0);
	CHECK_EQ(pthread_create(&th, NULL, place_server, &p), 0);
	CHECK_EQ(xport_read_full(c, msg, 5), 0);
	CHECK(!memcmp(msg, "ready", 5));

	/* Out of bounds, unknown region, memory not a source: 0. */
	CHECK_EQ(xport_place(c, 3, REGION_LEN - PAGE + 1, src, PAGE), 0);
	CHECK_EQ(xport_place(c, 3, (uint64_t)-PAGE, src, 2 * PAGE), 0);
	CHECK_EQ(xport_place(c, 4, 0, src, PAGE), 0);
	CHECK_EQ(xport_place(c, 64, 0, src, PAGE), 0);
	CHECK_EQ(xport_place(c, 3, 0, unreg, PAGE), 0);
	CHECK_EQ(xport_place(c, 3, 0, src + REGION_LEN, 2 * PAGE), 0);

	/* Pages in reverse order (no merging), then the message. */
	for (i = REGION_LEN / PAGE; i-- > 0;)
		CHECK_EQ(xport_place(c, 3, i * PAGE, src + i * PAGE, PAGE), 1);
	CHECK_EQ(xport_write(c, "one", 3), 0);
	CHECK_EQ(xport_flush(c), 0);
	CHECK_EQ(xport_write(c, "two", 3), 0);
	/* Queued after "two": page 5 from a page of 0x77s. */
	memset(src + REGION_LEN, 0x77, PAGE);
	CHECK_EQ(xport_place(c, 3, 5 * PAGE, src + REGION_LEN, PAGE), 1);
	CHECK_EQ(xport_write(c, "six", 3), 0);
	CHECK_EQ(xport_flush(c), 0);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK(p.step_ok[0]);
	CHECK(p.step_ok[1]);
	CHECK(p.step_ok[2]);
	xport_free(c);
	xport_free(s);

	/* A transport without placement says 0. */
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	plain = xport_tcp_new(fds[0]);
	CHECK(plain);
	CHECK_EQ(xport_place(plain, 3, 0, src, PAGE), 0);
	CHECK_EQ(xport_rdma_expose(plain, 0, src, PAGE, err, sizeof(err)),
		 -EINVAL);
	xport_free(plain);
	close(fds[1]);
	free(src);
	free(unreg);
	free(p.region);
	fprintf(stderr, "ok placement order and bounds\n");
}

/*
 * xport_place_harmless: a placement after a message declared harmless does
 * not wait for the reader (the server sees it while it reads nothing); one
 * byte queued after the declaration voids it, and that placement waits.
 */
static bool page_is(const uint8_t *page, uint8_t v)
{
	size_t i;

	for (i = 0; i < PAGE; i++)
		if (page[i] != v)
			return false;
	return true;
}

static void *harmless_server(void *arg)
{
	struct place_srv *p = arg;
	char err[256], msg[16];
	long long end;

	CHECK_EQ(xport_rdma_expose(p->x, 3, p->region, REGION_LEN, err,
				   sizeof(err)), 0);
	CHECK_EQ(xport_write(p->x, "ready", 5), 0);
	CHECK_EQ(xport_flush(p->x), 0);
	/* Not reading: pages 7 and 8 arrive all the same. */
	end = now_ms() + 10000;
	while (now_ms() < end && !page_is(p->region + 8 * PAGE, 0x66))
		usleep(10 * 1000);
	p->step_ok[0] = page_is(p->region + 7 * PAGE, 0x55) &&
			page_is(p->region + 8 * PAGE, 0x66);
	/* Page 9 waits for us to have read "hdr", "mid" and "!". */
	usleep(300 * 1000);
	p->step_ok[1] = page_is(p->region + 9 * PAGE, 0);
	CHECK_EQ(xport_read_full(p->x, msg, 10), 0);
	CHECK(!memcmp(msg, "hdrmid!fin", 10));
	p->step_ok[2] = page_is(p->region + 9 * PAGE, 0x77);
	return NULL;
}

static void test_place_harmless(uint64_t *seed)
{
	uint8_t *src = aligned_alloc(PAGE, 3 * PAGE);
	struct place_srv p = { 0 };
	struct xport *c, *s;
	char err[256], msg[8];
	pthread_t th;

	p.region = aligned_alloc(PAGE, REGION_LEN);
	CHECK(src && p.region);
	memset(p.region, 0, REGION_LEN);
	memset(src, 0x55, PAGE);
	memset(src + PAGE, 0x66, PAGE);
	memset(src + 2 * PAGE, 0x77, PAGE);
	make_pair(&c, &s, seed);
	p.x = s;
	CHECK_EQ(xport_rdma_source(c, src, 3 * PAGE, err, sizeof(err)), 0);
	CHECK_EQ(pthread_create(&th, NULL, harmless_server, &p), 0);
	CHECK_EQ(xport_read_full(c, msg, 5), 0);
	CHECK(!memcmp(msg, "ready", 5));

	CHECK_EQ(xport_place(c, 3, 7 * PAGE, src, PAGE), 1);
	CHECK_EQ(xport_queue(c, "hdr", 3), 0);
	xport_place_harmless(c);
	CHECK_EQ(xport_place(c, 3, 8 * PAGE, src + PAGE, PAGE), 1);
	CHECK_EQ(xport_queue(c, "mid", 3), 0);
	xport_place_harmless(c);
	CHECK_EQ(xport_queue(c, "!", 1), 0);     /* voids the declaration */
	CHECK_EQ(xport_place(c, 3, 9 * PAGE, src + 2 * PAGE, PAGE), 1);
	CHECK_EQ(xport_queue(c, "fin", 3), 0);
	CHECK_EQ(xport_flush(c), 0);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK(p.step_ok[0]);
	CHECK(p.step_ok[1]);
	CHECK(p.step_ok[2]);
	xport_free(c);
	xport_free(s);
	free(src);
	free(p.region);
	fprintf(stderr, "ok placement after harmless messages\n");
}

/* --- endings -------------------------------------------------------------- */

static void test_close(uint64_t *seed)
{
	size_t len = (4u << 20) + 3;
	uint8_t *big = malloc(len), *in = malloc(len);
	struct reader rd;
	struct xport *c, *s;
	pthread_t th;
	char buf[8];

	CHECK(big && in);
	for (size_t i = 0; i < len; i++)
		big[i] = pattern(i);
	make_pair(&c, &s, seed);
	/* The last bytes before the close arrive, then EOF: the close waits
	 * for the messages still in flight. */
	rd = (struct reader){ .x = c, .len = len, .buf = in };
	CHECK_EQ(pthread_create(&th, NULL, read_all, &rd), 0);
	CHECK_EQ(xport_write(s, big, len - 3), 0);
	CHECK_EQ(xport_write(s, big + len - 3, 3), 0);
	CHECK_EQ(xport_flush(s), 0);
	xport_free(s);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK_EQ(rd.r, 0);
	CHECK(!memcmp(in, big, len));
	CHECK_EQ(xport_read(c, buf, 1), 0);
	/* Writing to it now fails. */
	CHECK_EQ(xport_write(c, "x", 1), 0);
	CHECK(xport_flush(c) < 0);
	xport_free(c);
	free(big);
	free(in);
	fprintf(stderr, "ok peer closed: EOF after its last bytes\n");
}

static void test_killed(uint64_t *seed)
{
	uint8_t tok[XPORT_RDMA_TOKEN_LEN], got[XPORT_RDMA_TOKEN_LEN];
	struct xport_rdma_request *req;
	struct xport *s;
	char err[256], buf[8];
	long long t0;
	ssize_t n;
	pid_t pid;
	int st;

	random_token(tok, seed);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* A fresh process: a forked child would share our verbs and
		 * CM files, and its death would end nothing. */
		char hex[2 * XPORT_RDMA_TOKEN_LEN + 1];

		for (int i = 0; i < XPORT_RDMA_TOKEN_LEN; i++)
			sprintf(hex + 2 * i, "%02x", tok[i]);
		execl("/proc/self/exe", "test-xport-rdma", "--peer", hp, hex,
		      (char *)NULL);
		_exit(127);
	}
	CHECK_EQ(next_req(&req, got, WAIT_MS), 1);
	CHECK(!memcmp(got, tok, sizeof(tok)));
	s = xport_rdma_accept(req, NULL, err, sizeof(err));
	CHECK(s);
	CHECK_EQ(xport_set_timeout(s, WAIT_MS), 0);
	CHECK_EQ(xport_read_full(s, buf, 2), 0);
	CHECK(!memcmp(buf, "hi", 2));
	CHECK_EQ(kill(pid, SIGKILL), 0);
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	t0 = now_ms();
	n = xport_read(s, buf, 1);
	fprintf(stderr, "killed peer: read gave %zd after %lld ms\n", n,
		now_ms() - t0);
	CHECK(n == 0 || (n < 0 && n != -ETIMEDOUT));
	CHECK(now_ms() - t0 < WAIT_MS);
	xport_free(s);
	fprintf(stderr, "ok killed peer\n");
}

/* The guard (the TLS session the token came from; any xport will do)
 * ends: the RDMA connection ends with it, read gives EOF, though the
 * RDMA peer never disconnected. */
static void test_guard(uint64_t *seed)
{
	uint8_t got[XPORT_RDMA_TOKEN_LEN];
	struct xport_rdma_request *req;
	struct dial d = { 0 };
	struct xport *s, *g;
	int fds[2];
	char err[256], buf[4];
	pthread_t th;
	long long t0;

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	g = xport_tcp_new(fds[0]);
	CHECK(g);
	random_token(d.token, seed);
	CHECK_EQ(pthread_create(&th, NULL, dial_thread, &d), 0);
	CHECK_EQ(next_req(&req, got, WAIT_MS), 1);
	s = xport_rdma_accept(req, g, err, sizeof(err));
	CHECK(s);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK(d.x);
	CHECK_EQ(xport_set_timeout(s, WAIT_MS), 0);
	CHECK_EQ(xport_write(d.x, "abc", 3), 0);
	CHECK_EQ(xport_flush(d.x), 0);
	CHECK_EQ(xport_read_full(s, buf, 3), 0);
	/* Bytes on the guard are not news (TLS tickets come that way). */
	CHECK_EQ(write(fds[1], "x", 1), 1);
	CHECK_EQ(xport_read_nb(s, buf, 1), -EAGAIN);
	close(fds[1]);
	t0 = now_ms();
	CHECK_EQ(xport_read(s, buf, 1), 0);
	CHECK(now_ms() - t0 < WAIT_MS);
	xport_free(s);          /* frees the guard too */
	xport_free(d.x);
	fprintf(stderr, "ok guard's end ends the connection\n");
}

/* --- bound to a TLS session ----------------------------------------------- */

#define GEN_CERTS TEST_SRCDIR "/../../deploy/gen-certs.sh"

struct tls_side {
	struct xport_tls_ctx *ctx;
	int fd;
	struct xport *x;
	char err[256];
};

static void *tls_handshake(void *arg)
{
	struct tls_side *t = arg;

	t->x = xport_tls_new(t->ctx, t->fd, NULL, WAIT_MS, t->err,
			     sizeof(t->err));
	return NULL;
}

struct tls_dial {
	uint8_t token[XPORT_RDMA_TOKEN_LEN];
	struct xport *guard, *x;
	char err[256];
};

static void *tls_dial_thread(void *arg)
{
	struct tls_dial *d = arg;

	d->x = xport_rdma_connect(hp, d->token, d->guard, WAIT_MS, d->err,
				  sizeof(d->err));
	return NULL;
}

/*
 * The daemons' way: a TLS session first, the token exported on both ends,
 * the client's request carrying it, the server accepting because its own
 * session exported the same bytes; each RDMA xport owns its TLS guard.
 */
static void test_tls_bound(void)
{
	char dir[] = "/tmp/colo-rdma-tls-XXXXXX", cmd[512], thp[96], peer[64];
	uint8_t stok[XPORT_RDMA_TOKEN_LEN], got[XPORT_RDMA_TOKEN_LEN];
	struct tls_side srv = { 0 }, cli = { 0 };
	struct xport_rdma_request *req;
	struct tls_dial d = { 0 };
	struct xport *s;
	char err[256], buf[8];
	pthread_t th;
	int lfd;

	CHECK(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "bash '%s' '%s' >/dev/null 2>&1",
		 GEN_CERTS, dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "skipped the TLS-bound case: gen-certs.sh "
			"failed (no openssl?)\n");
		return;
	}
	srv.ctx = xport_tls_ctx_new(dir, XPORT_TLS_SERVER, err, sizeof(err));
	cli.ctx = xport_tls_ctx_new(dir, XPORT_TLS_CLIENT, err, sizeof(err));
	CHECK(srv.ctx && cli.ctx);
	snprintf(thp, sizeof(thp), "%s:%d", host, atoi(port) + 1);
	lfd = net_listen(thp, err, sizeof(err));
	CHECK(lfd >= 0);
	cli.fd = net_connect(thp, WAIT_MS, err, sizeof(err));
	CHECK(cli.fd >= 0);
	srv.fd = net_accept(lfd, peer, sizeof(peer));
	CHECK(srv.fd >= 0);
	close(lfd);
	CHECK_EQ(pthread_create(&th, NULL, tls_handshake, &srv), 0);
	tls_handshake(&cli);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK(srv.x && cli.x);

	CHECK_EQ(xport_tls_export_token(srv.x, stok), 0);
	CHECK_EQ(xport_tls_export_token(cli.x, d.token), 0);
	d.guard = cli.x;
	CHECK_EQ(pthread_create(&th, NULL, tls_dial_thread, &d), 0);
	CHECK_EQ(next_req(&req, got, WAIT_MS), 1);
	CHECK(!memcmp(got, stok, sizeof(got)));
	s = xport_rdma_accept(req, srv.x, err, sizeof(err));
	CHECK(s);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK(d.x);
	CHECK_EQ(xport_set_timeout(s, WAIT_MS), 0);
	CHECK_EQ(xport_set_timeout(d.x, WAIT_MS), 0);
	CHECK_EQ(xport_write(d.x, "bound", 5), 0);
	CHECK_EQ(xport_flush(d.x), 0);
	CHECK_EQ(xport_read_full(s, buf, 5), 0);
	CHECK(!memcmp(buf, "bound", 5));
	CHECK_EQ(xport_write(s, "ok", 2), 0);
	CHECK_EQ(xport_flush(s), 0);
	CHECK_EQ(xport_read_full(d.x, buf, 2), 0);
	/* The client goes, its TLS session with it: the server sees EOF. */
	xport_free(d.x);
	CHECK_EQ(xport_read(s, buf, 1), 0);
	xport_free(s);
	xport_tls_ctx_free(srv.ctx);
	xport_tls_ctx_free(cli.ctx);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK_EQ(system(cmd), 0);
	fprintf(stderr, "ok bound to a TLS session\n");
}

/* --- rates ---------------------------------------------------------------- */

struct rate_srv {
	struct xport *x;
	uint8_t *region;
	size_t stream_len;
	int rounds;
};

static void *rate_server(void *arg)
{
	struct rate_srv *r = arg;
	uint8_t *buf = malloc(r->stream_len);
	char err[256], m;

	CHECK(buf);
	CHECK_EQ(xport_rdma_expose(r->x, 0, r->region, REGION_LEN, err,
				   sizeof(err)), 0);
	CHECK_EQ(xport_write(r->x, "r", 1), 0);
	CHECK_EQ(xport_flush(r->x), 0);
	CHECK_EQ(xport_read_full(r->x, buf, r->stream_len), 0);
	for (int i = 0; i < r->rounds; i++)
		CHECK_EQ(xport_read_full(r->x, &m, 1), 0);
	free(buf);
	return NULL;
}

static void test_rates(uint64_t *seed, size_t mib)
{
	struct rate_srv r = { 0 };
	struct xport *c, *s;
	uint8_t *src = aligned_alloc(PAGE, REGION_LEN), m;
	long long t0, t_stream, t_place;
	pthread_t th;
	char err[256];
	size_t i;

	r.region = aligned_alloc(PAGE, REGION_LEN);
	CHECK(src && r.region);
	memset(src, 0x5c, REGION_LEN);
	r.stream_len = mib << 20;
	r.rounds = (int)(r.stream_len / REGION_LEN);
	make_pair(&c, &s, seed);
	r.x = s;
	CHECK_EQ(xport_rdma_source(c, src, REGION_LEN, err, sizeof(err)), 0);
	CHECK_EQ(pthread_create(&th, NULL, rate_server, &r), 0);
	CHECK_EQ(xport_read_full(c, &m, 1), 0);
	t0 = now_ms();
	for (i = 0; i < r.stream_len / REGION_LEN; i++)
		CHECK_EQ(xport_write(c, src, REGION_LEN), 0);
	CHECK_EQ(xport_flush(c), 0);
	t_stream = now_ms() - t0;
	t0 = now_ms();
	for (int k = 0; k < r.rounds; k++) {
		for (i = 0; i < REGION_LEN / PAGE; i++)
			CHECK_EQ(xport_place(c, 0, i * PAGE, src + i * PAGE,
					     PAGE), 1);
		CHECK_EQ(xport_write(c, "p", 1), 0);
		CHECK_EQ(xport_flush(c), 0);
	}
	CHECK_EQ(pthread_join(th, NULL), 0);
	t_place = now_ms() - t0;
	CHECK_EQ(r.region[REGION_LEN - 1], 0x5c);
	fprintf(stderr, "rates: stream %zu MiB in %lld ms (%.1f MiB/s), "
		"place %zu MiB in %lld ms (%.1f MiB/s): place/stream %.2f\n",
		mib, t_stream, mib * 1000.0 / (t_stream ? t_stream : 1), mib,
		t_place, mib * 1000.0 / (t_place ? t_place : 1),
		(double)t_stream / (t_place ? t_place : 1));
	xport_free(c);
	xport_free(s);
	free(src);
	free(r.region);
}

/* The killed peer of test_killed: connects, says hi, waits for its end. */
static int peer_main(const char *addr, const char *hex)
{
	uint8_t tok[XPORT_RDMA_TOKEN_LEN];
	struct xport *c;
	char err[256];
	unsigned v;

	for (int i = 0; i < XPORT_RDMA_TOKEN_LEN; i++) {
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return 2;
		tok[i] = (uint8_t)v;
	}
	c = xport_rdma_connect(addr, tok, NULL, WAIT_MS, err, sizeof(err));
	if (!c) {
		fprintf(stderr, "peer: %s\n", err);
		return 3;
	}
	if (xport_write(c, "hi", 2) || xport_flush(c))
		return 4;
	for (;;)
		pause();
}

/* Without CAP_IPC_LOCK and with a 64 KiB memlock limit, registering the
 * rings fails: the error must name the limit. 0 when it did. */
static int memlock_main(const char *addr)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[2];
	struct rlimit rl = { 64 * 1024, 64 * 1024 };
	uint8_t tok[XPORT_RDMA_TOKEN_LEN] = { 0 };
	struct xport *c;
	char err[256];

	if (syscall(SYS_capget, &h, d) < 0)
		return 2;
	d[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
	d[CAP_IPC_LOCK / 32].permitted &= ~(1u << (CAP_IPC_LOCK % 32));
	if (syscall(SYS_capset, &h, d) < 0 ||
	    setrlimit(RLIMIT_MEMLOCK, &rl) < 0)
		return 2;
	c = xport_rdma_connect(addr, tok, NULL, WAIT_MS, err, sizeof(err));
	if (c)
		return 3;
	fprintf(stderr, "memlock: %s\n", err);
	return strstr(err, "memlock limit (ulimit -l) too low for") ? 0 : 4;
}

static void test_memlock(void)
{
	pid_t pid = fork();
	int st;

	CHECK(pid >= 0);
	if (pid == 0) {
		execl("/proc/self/exe", "test-xport-rdma", "--memlock", hp,
		      (char *)NULL);
		_exit(127);
	}
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK(WIFEXITED(st));
	CHECK_EQ(WEXITSTATUS(st), 0);
	fprintf(stderr, "ok memlock limit named\n");
}

static size_t env_mib(const char *name, size_t dflt)
{
	const char *v = getenv(name);

	return v && atoi(v) > 0 ? (size_t)atoi(v) : dflt;
}

int main(int argc, char **argv)
{
	struct ibv_device **devs;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	const char *addr = getenv("COLO_RDMA_ADDR");
	char err[256];
	int n = 0;

	if (argc == 4 && !strcmp(argv[1], "--peer"))
		return peer_main(argv[2], argv[3]);
	if (argc == 3 && !strcmp(argv[1], "--memlock"))
		return memlock_main(argv[2]);
	if (!xport_rdma_built())
		SKIP("colo was built without RDMA");
	devs = ibv_get_device_list(&n);
	if (!devs || n == 0)
		SKIP("no RDMA device (run it through tests/rdma/vm-run.sh)");
	ibv_free_device_list(devs);
	if (!addr || !*addr)
		SKIP("COLO_RDMA_ADDR is not set (vm-run.sh sets it)");
	log_init("test-xport-rdma", LOG_LVL_INFO);
	signal(SIGPIPE, SIG_IGN);
	snprintf(host, sizeof(host), "%s", addr);
	snprintf(port, sizeof(port), "%d", 20000 + getpid() % 20000);
	snprintf(hp, sizeof(hp), "%s:%s", host, port);
	lis = xport_rdma_listen(hp, err, sizeof(err));
	if (!lis)
		fprintf(stderr, "listen: %s\n", err);
	CHECK(lis);

	test_connect(&seed);
	test_wrong_token(&seed);
	test_malformed_hello(&seed);
	test_malformed_headers(&seed);
	test_memlock();
	test_place(&seed);
	test_place_harmless(&seed);
	test_close(&seed);
	test_killed(&seed);
	test_guard(&seed);
	test_tls_bound();
	test_slow_reader(&seed);
	test_crossfire(&seed, env_mib("COLO_RDMA_STREAM_MIB", 64));
	test_rates(&seed, env_mib("COLO_RDMA_RATE_MIB", 16));
	xport_rdma_listener_free(lis);
	return 0;
}
