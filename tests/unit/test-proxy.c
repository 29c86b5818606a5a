// SPDX-License-Identifier: MIT
/*
 * The proxy with real clients on loopback and a fake PVM (its to_guest
 * callback records the events; the test plays the guest's input offsets
 * and the comparator's releases):
 *
 *  - a client's connect and bytes become OPEN and DATA events in order;
 *  - unprotected, released output is written to the client at once;
 *    protected, output the comparator holds is not written until the SVM's
 *    matches it;
 *  - a client over --client-output-limit is disconnected (reset) with its
 *    log line, and the guest hears its CLOSE;
 *  - a client whose input the guest is behind on is not read, and is read
 *    again once the guest caught up;
 *  - a half-closed client gets a CLOSE event, is still written to, and is
 *    closed once the guest's close is released and its output written.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chan.h"
#include "compare.h"
#include "evloop.h"
#include "proto.h"
#include "proxy.h"
#include "tap.h"

#define MAX_EVENTS 256

struct event {
	uint32_t type, conn;
	size_t len;
};

struct fake {
	struct proxy px;
	struct evloop *loop;
	struct cmp *cmp;
	bool protected;
	uint64_t queued_end, read;      /* the guest's input offsets */
	struct event ev[MAX_EVENTS];
	size_t nev;
	size_t data_bytes;              /* DATA bytes of all events */
	int port;
};

static int to_guest(void *opaque, uint32_t type, uint32_t conn,
		    const void *data, size_t len)
{
	struct fake *f = opaque;

	(void)data;
	CHECK(f->nev < MAX_EVENTS);
	f->ev[f->nev++] = (struct event){ type, conn, len };
	if (type == CHAN_EV_DATA)
		f->data_bytes += len;
	f->queued_end += 16 + len;      /* a header, then the bytes */
	return 0;
}

static uint64_t input_queued_end(void *opaque)
{
	return ((struct fake *)opaque)->queued_end;
}

static uint64_t input_read(void *opaque)
{
	return ((struct fake *)opaque)->read;
}

static size_t link_backlog(void *opaque)
{
	(void)opaque;
	return 0;
}

static bool is_protected(void *opaque)
{
	return ((struct fake *)opaque)->protected;
}

static struct cmp *comparator(void *opaque)
{
	return ((struct fake *)opaque)->cmp;
}

static const struct proxy_ops ops = {
	.to_guest = to_guest,
	.input_queued_end = input_queued_end,
	.input_read = input_read,
	.link_backlog = link_backlog,
	.protected = is_protected,
	.comparator = comparator,
};

static void fake_init(struct fake *f, const struct proxy_limits *lim)
{
	uint64_t seed = ((uint64_t)getpid() << 32) ^ evloop_now_ms() ^ 1;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	char service[32];
	int i, ret = -1;

	memset(f, 0, sizeof(*f));
	f->px.listen_fd = -1;
	f->loop = evloop_new();
	CHECK(f->loop);
	f->cmp = cmp_new(proxy_release, proxy_release_close, &f->px);
	CHECK(f->cmp);
	/* A random loopback port, again on a clash with another run. */
	for (i = 0; i < 100; i++) {
		snprintf(service, sizeof(service), "127.0.0.1:%u",
			 (unsigned)(20000 + test_rand(&seed) % 40000));
		ret = proxy_init(&f->px, f->loop, service, lim, &ops, f);
		if (ret == 0)
			break;
		CHECK_EQ(ret, -EADDRINUSE);
	}
	CHECK_EQ(ret, 0);
	CHECK(getsockname(f->px.listen_fd, (struct sockaddr *)&sa, &sl) == 0);
	f->port = ntohs(sa.sin_port);
}

static void fake_deinit(struct fake *f)
{
	proxy_deinit(&f->px);
	cmp_free(f->cmp);
	evloop_free(f->loop);
}

/* One round of the primary's loop: events, then its after-round work. */
static void spin(struct fake *f, int ms)
{
	CHECK(evloop_run_once(f->loop, ms) >= 0);
	proxy_flush_closing(&f->px);
	proxy_tick(&f->px);
}

/* Spin until n events arrived (or fail after 5 s). */
static void wait_events(struct fake *f, size_t n)
{
	uint64_t end = evloop_now_ms() + 5000;

	while (f->nev < n) {
		CHECK(evloop_now_ms() < end);
		spin(f, 50);
	}
}

static void wait_data(struct fake *f, size_t bytes)
{
	uint64_t end = evloop_now_ms() + 5000;

	while (f->data_bytes < bytes) {
		CHECK(evloop_now_ms() < end);
		spin(f, 50);
	}
}

static int client_connect(struct fake *f)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	sa.sin_port = htons((uint16_t)f->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	return fd;
}

/* What the client can read within ms while the proxy's loop runs: the
 * byte count, or -errno for a broken connection; *eof on end of stream. */
static ssize_t client_read(struct fake *f, int fd, char *buf, size_t cap,
			   int ms, bool *eof)
{
	uint64_t end = evloop_now_ms() + (uint64_t)ms;
	size_t got = 0;

	*eof = false;
	while (got < cap && evloop_now_ms() < end) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		spin(f, 10);
		if (poll(&pfd, 1, 10) <= 0)
			continue;
		n = recv(fd, buf + got, cap - got, MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) {
			*eof = true;
			break;
		}
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static const struct proxy_limits roomy = {
	.client_output_limit = 1 << 20,
	.client_input_limit = 1 << 20,
	.max_held_output = 1 << 20,
	.max_clients = 16,
};

static void test_events_and_release(void)
{
	struct fake f;
	char buf[64];
	bool eof;
	int fd;

	fake_init(&f, &roomy);
	fd = client_connect(&f);
	wait_events(&f, 1);
	CHECK_EQ(f.ev[0].type, CHAN_EV_OPEN);
	CHECK_EQ(proxy_nclients(&f.px), 1);
	CHECK(send(fd, "hello", 5, 0) == 5);
	wait_data(&f, 5);
	CHECK_EQ(f.ev[1].type, CHAN_EV_DATA);
	CHECK_EQ(f.ev[1].conn, f.ev[0].conn);

	/* Unprotected: what the guest says goes straight out. */
	proxy_release(&f.px, f.ev[0].conn, (const uint8_t *)"world", 5);
	CHECK_EQ(client_read(&f, fd, buf, 5, 2000, &eof), 5);
	CHECK(memcmp(buf, "world", 5) == 0);

	/* The client leaves: the guest hears of it. */
	close(fd);
	wait_events(&f, 3);
	CHECK_EQ(f.ev[2].type, CHAN_EV_CLOSE);
	CHECK_EQ(proxy_nclients(&f.px), 1);     /* still written to */
	fake_deinit(&f);
}

/* Ids stay below the device state's flag bit: past it they wrap to the
 * lowest id no open client holds. */
static void test_conn_id_wrap(void)
{
	struct fake f;
	int a, b;

	fake_init(&f, &roomy);
	f.px.next_conn_id = PROTO_CONN_SHUT - 2;
	a = client_connect(&f);
	wait_events(&f, 1);
	CHECK_EQ(f.ev[0].conn, PROTO_CONN_SHUT - 1);
	f.px.next_conn_id = PROTO_CONN_SHUT - 1;
	b = client_connect(&f);
	wait_events(&f, 2);
	CHECK_EQ(f.ev[1].conn, 1);
	close(a);
	close(b);
	fake_deinit(&f);
}

static void test_held_output(void)
{
	struct fake f;
	uint32_t conn;
	char buf[64];
	bool eof;
	int fd;

	fake_init(&f, &roomy);
	f.protected = true;
	fd = client_connect(&f);
	wait_events(&f, 1);
	conn = f.ev[0].conn;
	/* The accept opened it in the comparator: the PVM's output is held
	 * there, and not written, until the SVM's matches. */
	CHECK_EQ(cmp_push_pvm(f.cmp, conn, "abc", 3, evloop_now_ms()), 0);
	CHECK_EQ(cmp_held(f.cmp, conn), 3);
	CHECK_EQ(client_read(&f, fd, buf, 3, 300, &eof), 0);
	CHECK(!eof);
	CHECK(cmp_push_svm(f.cmp, conn, "abc", 3) >= 0);
	CHECK_EQ(client_read(&f, fd, buf, 3, 2000, &eof), 3);
	CHECK(memcmp(buf, "abc", 3) == 0);
	close(fd);
	fake_deinit(&f);
}

/* Runs fn with stderr in a file; true when the log has needle. */
static bool logs(void (*fn)(struct fake *), struct fake *f,
		 const char *needle)
{
	char path[] = "/tmp/test-proxy-log-XXXXXX";
	int saved = dup(2), tmp = mkstemp(path);
	char text[4096];
	ssize_t n;

	CHECK(saved >= 0 && tmp >= 0);
	unlink(path);
	CHECK(dup2(tmp, 2) == 2);
	fn(f);
	CHECK(dup2(saved, 2) == 2);
	close(saved);
	n = pread(tmp, text, sizeof(text) - 1, 0);
	close(tmp);
	CHECK(n >= 0);
	text[n] = 0;
	fprintf(stderr, "%s", text);
	return strstr(text, needle) != NULL;
}

static void release_too_much(struct fake *f)
{
	static uint8_t big[3000];

	proxy_release(&f->px, f->ev[0].conn, big, 1000);
	proxy_release(&f->px, f->ev[0].conn, big, sizeof(big));
}

static void test_output_limit(void)
{
	struct proxy_limits lim = roomy;
	struct fake f;
	char buf[8192];
	ssize_t n;
	bool eof;
	int fd;

	lim.client_output_limit = 2048;
	fake_init(&f, &lim);
	fd = client_connect(&f);
	wait_events(&f, 1);
	/* 1000 bytes fit (the kernel takes them), 3000 more at once are over
	 * the limit, which counts what the proxy keeps plus what it gets. */
	CHECK(logs(release_too_much, &f, "over --client-output-limit 2048"));
	spin(&f, 10);
	CHECK_EQ(proxy_nclients(&f.px), 0);
	CHECK_EQ(f.ev[f.nev - 1].type, CHAN_EV_CLOSE);
	n = client_read(&f, fd, buf, sizeof(buf), 2000, &eof);
	/* A reset, after at most the first 1000 bytes; never the 3000. */
	CHECK(n == -ECONNRESET || (eof && n <= 1000));
	close(fd);
	fake_deinit(&f);
}

static void test_backpressure(void)
{
	struct proxy_limits lim = roomy;
	char data[200] = { 0 };
	struct fake f;
	size_t before;
	int fd;

	lim.client_input_limit = 100;
	fake_init(&f, &lim);
	fd = client_connect(&f);
	wait_events(&f, 1);
	CHECK(send(fd, data, sizeof(data), 0) == (ssize_t)sizeof(data));
	wait_data(&f, 1);
	spin(&f, 50);
	/* The guest read nothing: the client is paused, not read. */
	CHECK_EQ(f.px.npaused, 1);
	before = f.data_bytes;
	CHECK(send(fd, data, sizeof(data), 0) == (ssize_t)sizeof(data));
	for (int i = 0; i < 10; i++)
		spin(&f, 20);
	CHECK_EQ(f.data_bytes, before);

	/* The guest caught up: read again, and the bytes come in. */
	f.read = f.queued_end;
	proxy_tick(&f.px);
	CHECK_EQ(f.px.npaused, 0);
	wait_data(&f, 2 * sizeof(data));
	CHECK_EQ(f.data_bytes, 2 * sizeof(data));
	close(fd);
	fake_deinit(&f);
}

static void test_half_close(void)
{
	struct fake f;
	uint32_t conn;
	char buf[64];
	bool eof;
	int fd;

	fake_init(&f, &roomy);
	fd = client_connect(&f);
	wait_events(&f, 1);
	conn = f.ev[0].conn;
	CHECK(send(fd, "q", 1, 0) == 1);
	CHECK(shutdown(fd, SHUT_WR) == 0);
	wait_events(&f, 3);
	CHECK_EQ(f.ev[1].type, CHAN_EV_DATA);
	CHECK_EQ(f.ev[2].type, CHAN_EV_CLOSE);
	CHECK_EQ(f.ev[2].conn, conn);

	/* The guest answers after the client's EOF, then closes. */
	proxy_release(&f.px, conn, (const uint8_t *)"bye", 3);
	CHECK(proxy_guest_closed(&f.px, conn));
	CHECK(!proxy_guest_closed(&f.px, conn));        /* a second close */
	CHECK_EQ(client_read(&f, fd, buf, 3, 2000, &eof), 3);
	CHECK(memcmp(buf, "bye", 3) == 0);
	CHECK(!eof);
	CHECK_EQ(proxy_nclients(&f.px), 1);
	proxy_release_close(&f.px, conn);
	CHECK_EQ(client_read(&f, fd, buf, sizeof(buf), 2000, &eof), 0);
	CHECK(eof);
	CHECK_EQ(proxy_nclients(&f.px), 0);
	CHECK_EQ(f.nev, 3);                     /* no second CLOSE */
	close(fd);
	fake_deinit(&f);
}

int main(void)
{
	test_events_and_release();
	test_conn_id_wrap();
	test_held_output();
	test_output_limit();
	test_backpressure();
	test_half_close();
	return 0;
}
