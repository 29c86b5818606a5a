// SPDX-License-Identifier: MIT
/*
 * The primary's link against a fake secondary: the other end of a
 * socketpair, written and read by this test directly with proto_send and
 * proto_recv.
 *
 *  - link_expect returns the awaited message and hands everything else the
 *    secondary may send unasked to the table primary.c would give it
 *    (OUTPUT here), answering heartbeats itself;
 *  - a type with no handler, or a handler's error, ends the wait;
 *  - a silent secondary ends it after the link's timeout;
 *  - during live sync (link_sync_liveness) our heartbeats go out every
 *    heartbeat interval, silence past the failover timeout is detected and
 *    anything but a heartbeat is a protocol error;
 *  - in colo state (watched in a loop) queued messages reach the
 *    secondary, its OUTPUT reaches the handler, heartbeats go out when
 *    due, and silence or a closed connection is reported through lost.
 */
#include <errno.h>
#include <sys/socket.h>

#include "evloop.h"
#include "link.h"
#include "proto.h"
#include "tap.h"
#include "xport.h"

struct fake {
	struct link l;                  /* the primary's end */
	struct xport *peer;             /* the secondary's end */
	struct proto_rxbuf peer_rx;
};

/* What the OUTPUT handler saw, and what it answers. */
static unsigned outputs;
static uint32_t output_bytes;
static int output_ret;

static int on_output(void *opaque, const struct proto_msg *m)
{
	CHECK(opaque == &outputs);
	CHECK_EQ(m->type, PROTO_OUTPUT);
	CHECK_EQ(m->output.conn, 7);
	CHECK(!memcmp(m->output.data, "pong", m->output.len));
	outputs++;
	output_bytes += m->output.len;
	return output_ret;
}

static const link_handler_fn handlers[PROTO__MAX] = {
	[PROTO_OUTPUT] = on_output,
};

static void fake_init(struct fake *f)
{
	int sv[2];

	memset(f, 0, sizeof(*f));
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	f->l.x = xport_tcp_new(sv[0]);
	f->peer = xport_tcp_new(sv[1]);
	CHECK(f->l.x && f->peer);
	CHECK_EQ(xport_set_timeout(f->l.x, 2000), 0);
	CHECK_EQ(xport_set_timeout(f->peer, 2000), 0);
	f->l.peer = "fake-secondary:1";
	link_set_handlers(&f->l, handlers, &outputs);
	outputs = output_bytes = 0;
	output_ret = 0;
}

static void fake_deinit(struct fake *f)
{
	xport_free(f->l.x);
	xport_free(f->peer);
	proto_rxbuf_free(&f->l.rx);
	proto_rxbuf_free(&f->peer_rx);
}

static void peer_send(struct fake *f, enum proto_type type)
{
	struct proto_msg m = { .type = type };

	switch (type) {
	case PROTO_OUTPUT:
		m.output.conn = 7;
		m.output.kind = PROTO_OUT_DATA;
		m.output.data = (const uint8_t *)"pong";
		m.output.len = 4;
		break;
	case PROTO_CKPT_ACK:
		m.ckpt_ack.id = 5;
		break;
	case PROTO_HEARTBEAT:
		m.heartbeat.time_ms = evloop_now_ms();
		break;
	default:
		break;
	}
	CHECK_EQ(proto_send(f->peer, &m), 0);
	CHECK_EQ(xport_flush(f->peer), 0);
}

/* Interleaved traffic before the ack: outputs to the handler, heartbeats
 * swallowed, the ack returned. */
static void test_expect_passes_traffic(void)
{
	struct proto_msg m;
	struct fake f;

	fake_init(&f);
	peer_send(&f, PROTO_HEARTBEAT);
	peer_send(&f, PROTO_OUTPUT);
	peer_send(&f, PROTO_HEARTBEAT);
	peer_send(&f, PROTO_OUTPUT);
	peer_send(&f, PROTO_CKPT_ACK);
	peer_send(&f, PROTO_OUTPUT);
	CHECK_EQ(link_expect(&f.l, PROTO_CKPT_ACK, &m), 0);
	CHECK_EQ(m.type, PROTO_CKPT_ACK);
	CHECK_EQ(m.ckpt_ack.id, 5);
	CHECK_EQ(outputs, 2);
	CHECK_EQ(output_bytes, 8);
	CHECK(f.l.rx_ms > 0);
	/* The output after the ack was not read yet: it is the next one. */
	CHECK_EQ(link_expect(&f.l, PROTO_OUTPUT, &m), 0);
	CHECK_EQ(outputs, 2);
	fake_deinit(&f);
	printf("ok 1 - link_expect hands other traffic to the handlers\n");
}

/* Either of two types: the first to come. */
static void test_expect_any(void)
{
	struct proto_msg m;
	struct fake f;

	fake_init(&f);
	peer_send(&f, PROTO_OUTPUT);
	peer_send(&f, PROTO_CKPT_ACK);
	CHECK_EQ(link_expect_any(&f.l, LINK_MSG(PROTO_VERIFY) |
				 LINK_MSG(PROTO_CKPT_ACK), &m), 0);
	CHECK_EQ(m.type, PROTO_CKPT_ACK);
	CHECK_EQ(outputs, 1);
	fake_deinit(&f);
	printf("ok 2 - link_expect_any returns the first wanted type\n");
}

/* A reply out of turn, or a handler that gives up, ends the wait. */
static void test_expect_errors(void)
{
	struct proto_msg m;
	struct fake f;

	fake_init(&f);
	peer_send(&f, PROTO_VERIFY);
	peer_send(&f, PROTO_CKPT_ACK);
	CHECK_EQ(link_expect(&f.l, PROTO_CKPT_ACK, &m), -EPROTO);
	fake_deinit(&f);

	fake_init(&f);
	output_ret = -EIO;
	peer_send(&f, PROTO_OUTPUT);
	peer_send(&f, PROTO_CKPT_ACK);
	CHECK_EQ(link_expect(&f.l, PROTO_CKPT_ACK, &m), -EIO);
	CHECK_EQ(outputs, 1);
	fake_deinit(&f);
	printf("ok 3 - unexpected types and handler errors end the wait\n");
}

/* A silent secondary: the wait ends after the link's timeout. */
static void test_expect_silence(void)
{
	struct proto_msg m;
	struct fake f;
	uint64_t t0;

	fake_init(&f);
	CHECK_EQ(xport_set_timeout(f.l.x, 200), 0);
	t0 = evloop_now_ms();
	CHECK_EQ(link_expect(&f.l, PROTO_CKPT_ACK, &m), -ETIMEDOUT);
	CHECK(evloop_now_ms() - t0 >= 150);
	fake_deinit(&f);
	printf("ok 4 - a silent secondary times the wait out\n");
}

static bool peer_has_data(struct fake *f)
{
	return xport_has_buffered(f->peer) ||
	       evloop_fd_readable(xport_fd(f->peer));
}

/* Live sync: heartbeats out on time, silence and stray messages caught. */
static void test_sync_liveness(void)
{
	const unsigned hb = 50, timeout = 300;
	char err[256] = "";
	struct proto_msg m;
	struct fake f;
	uint64_t now;

	fake_init(&f);
	now = evloop_now_ms();

	/* Nothing due: nothing sent. */
	f.l.rx_ms = f.l.hb_ms = now;
	CHECK_EQ(link_sync_liveness(&f.l, hb, timeout, err, sizeof(err)), 0);
	CHECK_EQ(xport_flush(f.l.x), 0);
	CHECK(!peer_has_data(&f));

	/* A heartbeat interval since ours: one goes out. */
	f.l.hb_ms = now - 60;
	CHECK_EQ(link_sync_liveness(&f.l, hb, timeout, err, sizeof(err)), 0);
	CHECK(f.l.hb_ms >= now);
	/* Queued: the next ram_save_iterate writes it out with the pages. */
	CHECK_EQ(xport_flush(f.l.x), 0);
	CHECK_EQ(proto_recv(f.peer, &f.peer_rx, &m), 0);
	CHECK_EQ(m.type, PROTO_HEARTBEAT);

	/* Theirs count as the secondary being alive. */
	f.l.rx_ms = now - 250;
	peer_send(&f, PROTO_HEARTBEAT);
	CHECK_EQ(link_sync_liveness(&f.l, hb, timeout, err, sizeof(err)), 0);
	CHECK(f.l.rx_ms >= now);

	/* Silent past the failover timeout: lost, and said why. */
	f.l.rx_ms = evloop_now_ms() - timeout - 1;
	CHECK_EQ(link_sync_liveness(&f.l, hb, timeout, err, sizeof(err)),
		 -ETIMEDOUT);
	CHECK(strstr(err, "fake-secondary:1 silent"));

	/* Anything but a heartbeat during live sync. */
	f.l.rx_ms = evloop_now_ms();
	err[0] = '\0';
	peer_send(&f, PROTO_OUTPUT);
	CHECK_EQ(link_sync_liveness(&f.l, hb, timeout, err, sizeof(err)),
		 -EPROTO);
	CHECK(strstr(err, "OUTPUT during live sync"));
	fake_deinit(&f);
	printf("ok 5 - live-sync heartbeats, silence and stray messages\n");
}

/* What lost was told; like primary.c's, it ends the link. */
static struct fake *lost_fake;
static struct evloop *lost_loop;
static int lost_calls;
static char lost_why[128];

static void on_lost(void *opaque, const char *why)
{
	CHECK(opaque == &outputs);
	lost_calls++;
	snprintf(lost_why, sizeof(lost_why), "%s", why);
	evloop_del(lost_loop, xport_fd(lost_fake->l.x));
	xport_free(lost_fake->l.x);
	lost_fake->l.x = NULL;
}

static void colo_init(struct fake *f, struct evloop **loop)
{
	fake_init(f);
	*loop = evloop_new();
	CHECK(*loop);
	link_set_loop(&f->l, *loop, on_lost);
	CHECK_EQ(evloop_add(*loop, xport_fd(f->l.x), EV_READ,
			    link_on_readable, &f->l), 0);
	lost_fake = f;
	lost_loop = *loop;
	lost_calls = 0;
	lost_why[0] = '\0';
	f->l.rx_ms = f->l.hb_ms = evloop_now_ms();
}

static void test_colo(void)
{
	struct proto_msg m = { .type = PROTO_INPUT };
	struct evloop *loop;
	struct fake f;
	int i;

	colo_init(&f, &loop);
	m.input.seq = 9;
	m.input.conn = 7;
	m.input.kind = PROTO_IN_DATA;
	m.input.data = (const uint8_t *)"ping";
	m.input.len = 4;
	CHECK_EQ(link_queue(&f.l, &m), 0);
	m.input.seq = 10;
	CHECK_EQ(link_queue(&f.l, &m), 0);
	/* Queued for the end of the loop round, both written then. */
	CHECK(!evloop_fd_readable(xport_fd(f.peer)));
	CHECK(xport_queued(f.l.x) > 0);
	CHECK(evloop_run_once(loop, 0) >= 0);
	CHECK_EQ(xport_queued(f.l.x), 0);
	CHECK_EQ(proto_recv(f.peer, &f.peer_rx, &m), 0);
	CHECK_EQ(m.type, PROTO_INPUT);
	CHECK_EQ(m.input.seq, 9);
	CHECK_EQ(proto_recv(f.peer, &f.peer_rx, &m), 0);
	CHECK_EQ(m.input.seq, 10);

	/* The secondary's output, read by the loop, goes to the handler. */
	peer_send(&f, PROTO_OUTPUT);
	for (i = 0; i < 50 && !outputs; i++)
		CHECK(evloop_run_once(loop, 20) >= 0);
	CHECK_EQ(outputs, 1);
	CHECK(!link_has_buffered(&f.l));

	/* Not due yet: no heartbeat; due: one. */
	link_tick(&f.l, 60000, 60000);
	CHECK(!evloop_fd_readable(xport_fd(f.peer)));
	f.l.hb_ms = 0;
	link_tick(&f.l, 1000, 60000);
	CHECK_EQ(proto_recv(f.peer, &f.peer_rx, &m), 0);
	CHECK_EQ(m.type, PROTO_HEARTBEAT);
	CHECK_EQ(lost_calls, 0);

	/* Silent past the failover timeout: lost, once. */
	f.l.rx_ms = evloop_now_ms() - 5000;
	link_tick(&f.l, 1000, 2000);
	CHECK_EQ(lost_calls, 1);
	CHECK(strstr(lost_why, "no message for"));
	CHECK(!f.l.x);
	link_tick(&f.l, 1000, 2000);
	CHECK_EQ(lost_calls, 1);
	fake_deinit(&f);
	evloop_free(loop);

	/* The secondary closes: lost, "connection closed". */
	colo_init(&f, &loop);
	xport_free(f.peer);
	f.peer = NULL;
	for (i = 0; i < 50 && !lost_calls; i++)
		CHECK(evloop_run_once(loop, 20) >= 0);
	CHECK_EQ(lost_calls, 1);
	CHECK(strstr(lost_why, "connection closed"));
	fake_deinit(&f);
	evloop_free(loop);
	printf("ok 6 - colo state: queue, dispatch, heartbeats, lost\n");
}

/*
 * An fd that is readable without a byte (an RDMA completion, faked here by
 * calling the callback on a quiet socket) must not hold the loop until the
 * secondary next speaks; and output queued past what the socket takes
 * moves on EV_READ too (an RDMA fd never says writable).
 */
static void test_colo_wakeups(void)
{
	static uint8_t chunk[60000];
	struct proto_msg m = { .type = PROTO_INPUT };
	struct evloop *loop;
	uint64_t t0;
	size_t before;
	struct fake f;
	int i;

	colo_init(&f, &loop);
	t0 = evloop_now_ms();
	link_on_readable(loop, xport_fd(f.l.x), EV_READ, &f.l);
	CHECK(evloop_now_ms() - t0 < 500);       /* not the 2 s timeout */
	CHECK_EQ(lost_calls, 0);
	CHECK(f.l.x);

	m.input.conn = 7;
	m.input.kind = PROTO_IN_DATA;
	m.input.data = chunk;
	m.input.len = sizeof(chunk);
	for (i = 0; i < 40; i++) {
		m.input.seq = (uint64_t)i + 1;
		CHECK_EQ(link_queue(&f.l, &m), 0);
	}
	before = xport_queued(f.l.x);
	CHECK(before > 0);                       /* the socket is full */
	/* The secondary takes all the socket holds. */
	while (xport_read_nb(f.peer, chunk, sizeof(chunk)) > 0)
		;
	link_on_readable(loop, xport_fd(f.l.x), EV_READ, &f.l);
	CHECK(xport_queued(f.l.x) < before);
	CHECK_EQ(lost_calls, 0);
	fake_deinit(&f);
	evloop_free(loop);
	printf("ok 7 - colo state: a wake-up without a byte returns, EV_READ flushes\n");
}

int main(void)
{
	printf("1..7\n");
	test_expect_passes_traffic();
	test_expect_any();
	test_expect_errors();
	test_expect_silence();
	test_sync_liveness();
	test_colo();
	test_colo_wakeups();
	return 0;
}
