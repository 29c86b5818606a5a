// SPDX-License-Identifier: MIT
/*
 * The buffered transport layer over plain TCP on loopback: a stream of
 * random-sized writes read back in random-sized pieces, the write buffer
 * holding data until a flush or until it fills, EOF and timeouts reported as
 * the header promises, and the socket helpers' error strings.
 *
 * The non-blocking calls: two ends in one thread each queue far more than
 * both socket buffers hold towards the other (a blocking flush of it times
 * out, which is the deadlock the daemons used to have) and get every byte
 * across, in order, by flushing and reading as poll() allows.
 *
 * SIGPIPE keeps its default action here on purpose: a write to a closed peer
 * must come back as an error (MSG_NOSIGNAL), not kill the test.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "log.h"
#include "tap.h"
#include "xport-crossfire.h"
#include "xport.h"

#define STREAM_LEN (3 * 1024 * 1024 + 4321)

/* Listen on a random loopback port, retrying on clashes with other runs. */
static int listen_loopback(char *hostport, size_t len)
{
	uint64_t seed = ((uint64_t)getpid() << 32) ^ (uint64_t)now_ms() ^ 1;
	char err[256];
	int i, fd;

	for (i = 0; i < 100; i++) {
		snprintf(hostport, len, "127.0.0.1:%u",
			 (unsigned)(20000 + test_rand(&seed) % 40000));
		fd = net_listen(hostport, err, sizeof(err));
		if (fd >= 0)
			return fd;
		CHECK_EQ(fd, -EADDRINUSE);
	}
	CHECK(!"no free loopback port");
	return -1;
}

/* A connected pair: *c is the client's end, *s the server's. */
static void make_pair(struct xport **c, struct xport **s)
{
	char hp[64], peer[64], err[256];
	int lfd, cfd, sfd;

	lfd = listen_loopback(hp, sizeof(hp));
	cfd = net_connect(hp, 2000, err, sizeof(err));
	if (cfd < 0)
		fprintf(stderr, "net_connect: %s\n", err);
	CHECK(cfd >= 0);
	sfd = net_accept(lfd, peer, sizeof(peer));
	CHECK(sfd >= 0);
	CHECK(!strncmp(peer, "127.0.0.1:", 10));
	close(lfd);
	*c = xport_tcp_new(cfd);
	*s = xport_tcp_new(sfd);
	CHECK(*c && *s);
	CHECK(!strcmp((*c)->peer, hp));
	CHECK(!strcmp((*s)->peer, peer));
}

struct writer {
	struct xport *x;
	uint64_t seed;
	int ret;
};

static void *write_stream(void *arg)
{
	struct writer *w = arg;
	static const size_t sizes[] = { 1, 7, 100, 4096, 65535, 65536, 300000 };
	uint8_t *buf = malloc(300000);
	size_t off = 0, n, i;

	CHECK(buf);
	while (off < STREAM_LEN) {
		n = sizes[test_rand(&w->seed) % 7];
		if (n > STREAM_LEN - off)
			n = STREAM_LEN - off;
		for (i = 0; i < n; i++)
			buf[i] = pattern(off + i);
		w->ret = xport_write(w->x, buf, n);
		if (w->ret)
			break;
		off += n;
	}
	if (!w->ret)
		w->ret = xport_flush(w->x);
	free(buf);
	return NULL;
}

static void test_stream(void)
{
	struct writer w = { .seed = 0x9e3779b97f4a7c15ull };
	uint64_t seed = 42;
	struct xport *c, *s;
	uint8_t *buf = malloc(200000);
	size_t off = 0, n, i;
	pthread_t th;

	CHECK(buf);
	make_pair(&c, &s);
	w.x = c;
	CHECK_EQ(xport_set_timeout(s, 10000), 0);
	CHECK_EQ(pthread_create(&th, NULL, write_stream, &w), 0);
	while (off < STREAM_LEN) {
		n = 1 + test_rand(&seed) % (test_rand(&seed) & 1 ? 16 : 200000);
		if (n > STREAM_LEN - off)
			n = STREAM_LEN - off;
		CHECK_EQ(xport_read_full(s, buf, n), 0);
		for (i = 0; i < n; i++)
			if (buf[i] != pattern(off + i))
				CHECK_EQ(buf[i], pattern(off + i));
		off += n;
	}
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK_EQ(w.ret, 0);
	CHECK(!xport_has_buffered(s));
	xport_free(c);
	xport_free(s);
	free(buf);
}

/* Writes wait in the buffer until it fills or is flushed. */
static void test_buffering_and_timeout(void)
{
	uint8_t out[70000], in[70000];
	struct xport *c, *s;
	long long t0, dt;
	size_t i;

	for (i = 0; i < sizeof(out); i++)
		out[i] = pattern(i + 7);
	make_pair(&c, &s);
	CHECK_EQ(xport_set_timeout(s, 200), 0);

	CHECK_EQ(xport_write(c, out, 10), 0);
	t0 = now_ms();
	CHECK_EQ(xport_read(s, in, 10), -ETIMEDOUT);
	dt = now_ms() - t0;
	CHECK(dt >= 150 && dt < 3000);
	CHECK_EQ(xport_flush(c), 0);
	CHECK_EQ(xport_read_full(s, in, 10), 0);
	CHECK(!memcmp(in, out, 10));

	/* 100-byte writes: the first 64 KiB go out when the buffer fills. */
	for (i = 0; i < sizeof(out); i += 100)
		CHECK_EQ(xport_write(c, out + i, 100), 0);
	CHECK_EQ(xport_read_full(s, in, 65536), 0);
	CHECK(!memcmp(in, out, 65536));
	CHECK_EQ(xport_read(s, in, 1), -ETIMEDOUT);
	CHECK_EQ(xport_flush(c), 0);
	CHECK_EQ(xport_read_full(s, in + 65536, sizeof(in) - 65536), 0);
	CHECK(!memcmp(in, out, sizeof(in)));

	/* Bytes in our read buffer are what poll() cannot report. */
	CHECK_EQ(xport_write(c, out, 1000), 0);
	CHECK_EQ(xport_flush(c), 0);
	CHECK_EQ(poll(&(struct pollfd){ .fd = xport_fd(s), .events = POLLIN },
		      1, 2000), 1);
	usleep(20000);
	CHECK_EQ(xport_read(s, in, 10), 10);
	CHECK(xport_has_buffered(s));
	CHECK_EQ(xport_read_full(s, in + 10, 990), 0);
	CHECK(!memcmp(in, out, 1000));
	CHECK(!xport_has_buffered(s));
	xport_free(c);
	xport_free(s);
}

static void test_eof(void)
{
	uint8_t buf[200] = { 0 };
	struct xport *c, *s;

	make_pair(&c, &s);
	CHECK_EQ(xport_set_timeout(s, 5000), 0);
	CHECK_EQ(xport_write(c, buf, 100), 0);
	CHECK_EQ(xport_flush(c), 0);
	/* Unflushed bytes are dropped by free, not sent. */
	CHECK_EQ(xport_write(c, buf, 50), 0);
	xport_free(c);
	CHECK_EQ(xport_read_full(s, buf, 200), -ECONNRESET);
	CHECK_EQ(xport_read(s, buf, 1), 0);
	CHECK_EQ(xport_read_full(s, buf, 1), -ECONNRESET);
	xport_free(s);

	/* A peer that is gone: an error, not SIGPIPE. */
	make_pair(&c, &s);
	xport_free(s);
	CHECK_EQ(xport_set_timeout(c, 5000), 0);
	for (int i = 0; i < 100; i++) {
		int r = xport_write(c, buf, sizeof(buf));

		if (!r)
			r = xport_flush(c);
		if (r) {
			CHECK(r == -EPIPE || r == -ECONNRESET);
			break;
		}
		CHECK(i < 99);
		usleep(10000);
	}
	xport_free(c);
}

/* --- non-blocking ------------------------------------------------------ */

#define CROSS_LEN (16 * 1024 * 1024 + 999)	/* > both socket buffers */

static void test_crossfire(void)
{
	int round;

	for (round = 0; round < 2; round++) {
		struct end e[2] = {
			{ .tx_salt = 0x00, .rx_salt = 0xa5, .seed = 11 },
			{ .tx_salt = 0xa5, .rx_salt = 0x00, .seed = 12 },
		};

		make_pair(&e[0].x, &e[1].x);
		if (round) {
			shrink_buffers(xport_fd(e[0].x));
			shrink_buffers(xport_fd(e[1].x));
		}
		stall_blocking_flush(e, CROSS_LEN, 8 * 1024 * 1024);
		crossfire(e, CROSS_LEN);
		fprintf(stderr, "crossfire %d: %lu and %lu flushes had to wait\n",
			round, e[0].flush_again, e[1].flush_again);
		xport_free(e[0].x);
		xport_free(e[1].x);
	}
}

/* A reader that answers only once it has the whole request. */
static void *answer(void *arg)
{
	struct xport *x = arg;
	uint8_t *buf = malloc(CROSS_LEN / 4);
	size_t i;

	CHECK(buf);
	CHECK_EQ(xport_read_full(x, buf, CROSS_LEN / 4), 0);
	for (i = 0; i < CROSS_LEN / 4; i++)
		CHECK(buf[i] == pattern(i));
	CHECK_EQ(xport_write(x, "done", 4), 0);
	CHECK_EQ(xport_flush(x), 0);
	free(buf);
	return NULL;
}

/* Read, queue and flush without blocking; and a blocking read pushes out a
 * queued request while it waits for the answer. */
static void test_nonblocking(void)
{
	uint8_t out[1000], in[1000], *big;
	struct xport *c, *s;
	struct pollfd pfd;
	long long t0;
	pthread_t th;
	size_t i;

	for (i = 0; i < sizeof(out); i++)
		out[i] = pattern(i + 3);
	make_pair(&c, &s);
	CHECK(fcntl(xport_fd(s), F_GETFL) & O_NONBLOCK);

	/* Nothing there: -EAGAIN at once, even with no timeout set. */
	CHECK_EQ(xport_set_timeout(s, 0), 0);
	t0 = now_ms();
	CHECK_EQ(xport_read_nb(s, in, 10), -EAGAIN);
	CHECK(now_ms() - t0 < 100);
	CHECK(!xport_has_buffered(s));

	/* xport_queue only queues, however much; flush_nb sends it. */
	CHECK_EQ(xport_queued(c), 0);
	CHECK_EQ(xport_flush_nb(c), 0);
	for (i = 0; i < 200; i++)
		CHECK_EQ(xport_queue(c, out, sizeof(out)), 0);
	CHECK_EQ(xport_queued(c), 200 * sizeof(out));
	CHECK_EQ(xport_read_nb(s, in, 10), -EAGAIN);
	CHECK_EQ(xport_flush_nb(c), 0);
	CHECK_EQ(xport_queued(c), 0);
	for (i = 0; i < 200; i++) {
		pfd = (struct pollfd){ .fd = xport_fd(s), .events = POLLIN };
		if (!xport_has_buffered(s))
			CHECK_EQ(poll(&pfd, 1, 2000), 1);
		CHECK_EQ(xport_read_full(s, in, sizeof(in)), 0);
		CHECK(!memcmp(in, out, sizeof(out)));
	}
	CHECK_EQ(xport_read_nb(s, in, 10), -EAGAIN);

	/* Buffered above the socket: has_buffered tells, read_nb delivers. */
	CHECK_EQ(xport_queue(c, out, 100), 0);
	CHECK_EQ(xport_write(c, out + 100, 100), 0);	/* 200 queued */
	CHECK_EQ(xport_queued(c), 200);
	CHECK_EQ(xport_flush(c), 0);
	pfd = (struct pollfd){ .fd = xport_fd(s), .events = POLLIN };
	CHECK_EQ(poll(&pfd, 1, 2000), 1);
	usleep(20000);
	CHECK_EQ(xport_read_nb(s, in, 50), 50);
	CHECK(xport_has_buffered(s));
	CHECK_EQ(xport_read_nb(s, in + 50, 1000), 150);
	CHECK(!memcmp(in, out, 200));
	CHECK(!xport_has_buffered(s));
	CHECK_EQ(xport_read_nb(s, in, 1), -EAGAIN);

	/* A queued request of 4 MiB, then a blocking wait for the answer. */
	big = malloc(CROSS_LEN / 4);
	CHECK(big);
	for (i = 0; i < CROSS_LEN / 4; i++)
		big[i] = pattern(i);
	CHECK_EQ(xport_set_timeout(s, 10000), 0);
	CHECK_EQ(xport_set_timeout(c, 10000), 0);
	CHECK_EQ(pthread_create(&th, NULL, answer, s), 0);
	CHECK_EQ(xport_queue(c, big, CROSS_LEN / 4), 0);
	CHECK_EQ(xport_read_full(c, in, 4), 0);
	CHECK(!memcmp(in, "done", 4));
	CHECK_EQ(xport_queued(c), 0);
	CHECK_EQ(pthread_join(th, NULL), 0);

	/* EOF is 0 here too; a write to a closed peer fails and stays so. */
	xport_free(s);
	pfd = (struct pollfd){ .fd = xport_fd(c), .events = POLLIN };
	CHECK_EQ(poll(&pfd, 1, 2000), 1);
	CHECK_EQ(xport_read_nb(c, in, 1), 0);
	for (i = 0; i < 100; i++) {
		int r;

		CHECK_EQ(xport_queue(c, out, sizeof(out)), 0);
		r = xport_flush_nb(c);
		if (r) {
			CHECK(r == -EPIPE || r == -ECONNRESET);
			CHECK_EQ(xport_flush_nb(c), r);
			CHECK_EQ(xport_queue(c, out, 1), r);
			CHECK_EQ(xport_write(c, out, 1), r);
			break;
		}
		CHECK(i < 99);
		usleep(10000);
	}
	xport_free(c);
	free(big);
}

static void test_socket_errors(void)
{
	char hp[64], hp2[64], err[256];
	int lfd, fd;

	err[0] = 0;
	CHECK_EQ(net_listen("no-port-here", err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "no-port-here"));
	CHECK_EQ(net_listen("127.0.0.1:99999", err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "127.0.0.1:99999"));
	/* TEST-NET-1 is never a local address: bind must fail. */
	CHECK(net_listen("192.0.2.1:4000", err, sizeof(err)) < 0);
	CHECK(strstr(err, "bind 192.0.2.1:4000"));

	lfd = listen_loopback(hp, sizeof(hp));
	CHECK_EQ(net_listen(hp, err, sizeof(err)), -EADDRINUSE);
	CHECK(strstr(err, hp) && strstr(err, "in use"));
	close(lfd);

	/* Connecting to a closed port names the address and the reason. */
	lfd = listen_loopback(hp2, sizeof(hp2));
	close(lfd);
	fd = net_connect(hp2, 2000, err, sizeof(err));
	CHECK_EQ(fd, -ECONNREFUSED);
	CHECK(strstr(err, hp2) && strstr(err, "refused"));
	CHECK(net_connect("[::1", 1000, err, sizeof(err)) < 0);
	CHECK(strstr(err, "[::1"));
}

/*
 * A listener that never accepts: once its backlog is full the kernel drops
 * further SYNs, so the next connect can only end by our timeout.
 */
static void test_connect_timeout(void)
{
	int fds[64], n, lfd, fd = 0;
	char hp[64], err[256];
	long long t0, dt = 0;

	lfd = listen_loopback(hp, sizeof(hp));
	for (n = 0; n < 64; n++) {
		t0 = now_ms();
		fd = net_connect(hp, 300, err, sizeof(err));
		dt = now_ms() - t0;
		if (fd < 0)
			break;
		fds[n] = fd;
	}
	fprintf(stderr, "connect #%d: %s (%lld ms)\n", n, err, dt);
	CHECK_EQ(fd, -ETIMEDOUT);
	CHECK(strstr(err, hp) && strstr(err, "timed out"));
	CHECK(dt >= 250 && dt < 3000);
	while (n--)
		close(fds[n]);
	close(lfd);
}

int main(void)
{
	log_init("test-xport-tcp", LOG_LVL_INFO);
	test_stream();
	test_buffering_and_timeout();
	test_eof();
	test_nonblocking();
	test_crossfire();
	test_socket_errors();
	test_connect_timeout();
	return 0;
}
