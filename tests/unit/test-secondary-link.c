// SPDX-License-Identifier: MIT
/*
 * The secondary's link against a fake primary on a socketpair: messages go
 * to the handler registered for their type and to nothing else; a type
 * without a handler, a bad frame, a closed socket and a silent primary
 * each end the connection, reported once through ended with the right
 * verdict (lost or not); heartbeats start only with the accepted hello.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "evloop.h"
#include "last-error.h"
#include "sec-link.h"
#include "log.h"
#include "tap.h"
#include "xport.h"

struct fake {
	struct evloop *loop;
	struct sec_link link;
	struct xport *primary;          /* the fake primary's end */
	struct proto_rxbuf rx;
	int inputs;                     /* PROTO_INPUT handled */
	uint64_t last_seq;
	int connected;
	int ended;
	int ended_err;
	bool ended_lost;
	char ended_why[128];
};

static int on_input(void *opaque, const struct proto_msg *m)
{
	struct fake *f = opaque;

	f->inputs++;
	f->last_seq = m->input.seq;
	return 0;
}

static int on_heartbeat(void *opaque, const struct proto_msg *m)
{
	(void)opaque;
	(void)m;
	return 0;
}

/* A handler that fails as ours would (an apply error): not a lost primary. */
static int on_ckpt_end(void *opaque, const struct proto_msg *m)
{
	(void)opaque;
	(void)m;
	return -ENOMEM;
}

static const sec_link_handler handlers[PROTO__MAX] = {
	[PROTO_INPUT] = on_input,
	[PROTO_HEARTBEAT] = on_heartbeat,
	[PROTO_CKPT_END] = on_ckpt_end,
};

static void connected(void *opaque)
{
	((struct fake *)opaque)->connected++;
}

static void ended(void *opaque, int err, const char *why, bool lost)
{
	struct fake *f = opaque;

	f->ended++;
	f->ended_err = err;
	f->ended_lost = lost;
	snprintf(f->ended_why, sizeof(f->ended_why), "%s", why ? why : "");
	sec_link_close(&f->link);
}

static void setup(struct fake *f, unsigned heartbeat_ms, unsigned timeout_ms)
{
	struct sec_link_cfg cfg = {
		.cancel_fd = -1, .heartbeat_ms = heartbeat_ms,
		.timeout_ms = timeout_ms,
	};
	const struct sec_link_ops ops = {
		.handlers = handlers, .handler_opaque = f,
		.connected = connected, .ended = ended, .opaque = f,
	};
	struct xport *x;
	int sv[2];

	memset(f, 0, sizeof(*f));
	f->loop = evloop_new();
	CHECK(f->loop);
	cfg.loop = f->loop;
	sec_link_init(&f->link, &cfg, &ops);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	x = xport_tcp_new(sv[0]);
	f->primary = xport_tcp_new(sv[1]);
	CHECK(x && f->primary);
	xport_set_timeout(f->primary, 2000);
	CHECK_EQ(sec_link_adopt(&f->link, x), 0);
	CHECK_EQ(f->connected, 1);
	CHECK(sec_link_connected(&f->link));
}

static void teardown(struct fake *f)
{
	sec_link_deinit(&f->link);
	xport_free(f->primary);
	proto_rxbuf_free(&f->rx);
	evloop_free(f->loop);
}

static void primary_send(struct fake *f, const struct proto_msg *m)
{
	CHECK_EQ(proto_send(f->primary, m), 0);
	CHECK_EQ(xport_flush(f->primary), 0);
}

/* Loop turns, as secondary_run does, for at most ms or until it ended. */
static void spin(struct fake *f, unsigned ms)
{
	uint64_t end = evloop_now_ms() + ms;

	while (!f->ended && evloop_now_ms() < end) {
		evloop_run_once(f->loop, 10);
		sec_link_resume(&f->link);
		sec_link_tick(&f->link);
	}
}

static void test_dispatch(void)
{
	struct fake f;
	struct proto_msg m = { .type = PROTO_INPUT };
	int i;

	setup(&f, 100, 5000);
	m.input.kind = PROTO_IN_TICK;
	for (i = 1; i <= 5; i++) {
		m.input.seq = (uint64_t)i;
		primary_send(&f, &m);
	}
	while (f.inputs < 5 && !f.ended)
		spin(&f, 50);
	CHECK_EQ(f.inputs, 5);
	CHECK_EQ(f.last_seq, 5);
	CHECK_EQ(f.ended, 0);
	/* Our own message type has no handler: refused, the primary is not
	 * lost (I6). */
	m.type = PROTO_CKPT_ACK;
	primary_send(&f, &m);
	spin(&f, 1000);
	CHECK_EQ(f.ended, 1);
	CHECK_EQ(f.ended_err, -EPROTO);
	CHECK(!f.ended_lost);
	CHECK(!sec_link_connected(&f.link));
	CHECK_EQ(f.inputs, 5);
	teardown(&f);
}

/* A handler's failure ends the connection as ours, not a lost primary. */
static void test_handler_failure(void)
{
	struct fake f;
	struct proto_msg m = { .type = PROTO_CKPT_END };

	setup(&f, 100, 5000);
	primary_send(&f, &m);
	spin(&f, 1000);
	CHECK_EQ(f.ended, 1);
	CHECK_EQ(f.ended_err, -ENOMEM);
	CHECK(!f.ended_lost);
	teardown(&f);
}

static void test_peer_closes(void)
{
	struct fake f;

	setup(&f, 100, 5000);
	xport_free(f.primary);
	f.primary = NULL;
	spin(&f, 1000);
	CHECK_EQ(f.ended, 1);
	CHECK(f.ended_lost);
	CHECK(!strcmp(f.ended_why, "connection closed"));
	teardown(&f);
}

/* A primary that says nothing is dropped once the timeout has passed,
 * and not before. */
static void test_silent_primary(void)
{
	struct fake f;
	uint64_t t0;

	setup(&f, 50, 300);
	t0 = evloop_now_ms();
	spin(&f, 150);
	CHECK_EQ(f.ended, 0);
	spin(&f, 2000);
	CHECK_EQ(f.ended, 1);
	CHECK(evloop_now_ms() - t0 >= 300);
	CHECK(f.ended_lost);
	CHECK_EQ(f.ended_err, -ETIMEDOUT);
	CHECK(strstr(f.ended_why, "no message for"));
	CHECK(!sec_link_connected(&f.link));
	teardown(&f);
}

/* Before the hello is accepted the primary waits for HELLO_ACK or REFUSE
 * and nothing else: no heartbeat; after it, they come. */
static void test_heartbeats(void)
{
	struct fake f;
	struct proto_msg hb = { .type = PROTO_HEARTBEAT }, got;
	ssize_t n;
	char c;

	setup(&f, 20, 5000);
	spin(&f, 100);
	n = recv(xport_fd(f.primary), &c, 1, MSG_DONTWAIT);
	CHECK_EQ(n, -1);                     /* nothing was sent */
	sec_link_start_heartbeats(&f.link);
	spin(&f, 100);
	CHECK_EQ(proto_recv(f.primary, &f.rx, &got), 0);
	CHECK_EQ(got.type, PROTO_HEARTBEAT);
	/* The primary's heartbeats keep it alive past the timeout. */
	primary_send(&f, &hb);
	CHECK_EQ(f.ended, 0);
	teardown(&f);
}

/* One primary at a time. */
static void test_one_primary(void)
{
	struct fake f;
	int sv[2];

	setup(&f, 100, 5000);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	CHECK_EQ(sec_link_adopt(&f.link, xport_tcp_new(sv[0])), -EBUSY);
	CHECK_EQ(f.connected, 1);
	close(sv[1]);
	teardown(&f);
}

/* A client of lfd: connected, the first n bytes of token sent, and
 * extra more bytes after them. */
static int client(int lfd, const uint8_t *token, size_t n, size_t extra)
{
	struct sockaddr_storage a;
	socklen_t alen = sizeof(a);
	uint8_t junk[16] = { 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	CHECK(getsockname(lfd, (struct sockaddr *)&a, &alen) == 0);
	CHECK(connect(fd, (struct sockaddr *)&a, alen) == 0);
	CHECK(write(fd, token, n) == (ssize_t)n);
	CHECK(extra <= sizeof(junk));
	CHECK(write(fd, junk, extra) == (ssize_t)extra);
	return fd;
}

/*
 * --insecure --transport rdma, up to the RDMA request (which needs a
 * device: the rdma suite's): a connection's token in clear puts it in the
 * pending table awaiting its request, not on the link; one that sends
 * more, or closes before its token, is dropped at once; one whose request
 * never comes is dropped at its deadline, and last_error asks whether the
 * primary runs with --transport rdma.
 */
static void test_rdma_pending(void)
{
	struct last_error le = { "" };
	struct sec_link_cfg cfg = {
		.cancel_fd = -1, .heartbeat_ms = 100, .timeout_ms = 1000,
		.rdma = true, .last_error = &le,
	};
	struct sec_link_ops ops = {
		.handlers = handlers, .connected = connected, .ended = ended,
	};
	struct sockaddr_in a = { .sin_family = AF_INET };
	uint8_t token[SEC_TOKEN_LEN];
	struct fake f;
	int lfd, c1, c2, c3;
	size_t i;

	memset(&f, 0, sizeof(f));
	ops.handler_opaque = ops.opaque = &f;
	f.loop = evloop_new();
	CHECK(f.loop);
	cfg.loop = f.loop;
	sec_link_init(&f.link, &cfg, &ops);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(lfd >= 0);
	CHECK(bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0);
	CHECK(listen(lfd, 8) == 0);
	CHECK_EQ(evloop_add(f.loop, lfd, EV_READ, sec_link_on_accept,
			    &f.link), 0);
	for (i = 0; i < sizeof(token); i++)
		token[i] = (uint8_t)(i * 37 + 1);

	c1 = client(lfd, token, 20, 0);             /* the token in two parts */
	spin(&f, 100);
	CHECK(sec_link_busy(&f.link) && !sec_link_connected(&f.link));
	CHECK_EQ(f.link.pending[0].phase, SEC_TOKEN);
	CHECK(write(c1, token + 20, sizeof(token) - 20) == 12);
	spin(&f, 100);
	CHECK_EQ(f.link.pending[0].phase, SEC_AWAIT_RDMA);
	CHECK(!memcmp(f.link.pending[0].token, token, sizeof(token)));
	CHECK(!sec_link_connected(&f.link) && f.connected == 0);

	c2 = client(lfd, token, sizeof(token), 8);  /* speaks after it */
	spin(&f, 150);
	CHECK(strstr(le.text, "spoke on the TCP connection"));
	c3 = client(lfd, token, 5, 0);
	close(c3);
	spin(&f, 150);
	CHECK(strstr(le.text, "closed before its RDMA token"));
	/* c1 is still waiting, alone. */
	CHECK(f.link.pending[0].x);
	for (i = 1; i < SEC_PENDING_MAX; i++)
		CHECK(!f.link.pending[i].x);
	spin(&f, 1200);
	CHECK(!sec_link_busy(&f.link));
	CHECK(strstr(le.text, "no RDMA connection request in time"));
	CHECK(strstr(le.text, "is the primary started with --transport rdma?"));
	CHECK_EQ(f.connected, 0);
	close(c1);
	close(c2);
	evloop_del(f.loop, lfd);
	close(lfd);
	sec_link_deinit(&f.link);
	evloop_free(f.loop);
}

int main(void)
{
	log_init("test-secondary-link", LOG_LVL_ERROR);
	test_dispatch();
	test_handler_failure();
	test_peer_closes();
	test_silent_primary();
	test_heartbeats();
	test_one_primary();
	test_rdma_pending();
	printf("link: all checks passed\n");
	return 0;
}
