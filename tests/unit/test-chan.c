// SPDX-License-Identifier: MIT
/*
 * The guest channel: messages of every size survive the trip, split reads
 * reassemble at every byte, a non-blocking sender still sends everything,
 * pipes work, malformed headers are refused with -EPROTO, and messages
 * appended go out together at a flush.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chan.h"
#include "tap.h"

#define HDR 48          /* the wire header, fixed by chan.c */
#define OFF_TYPE 0
#define OFF_LEN 40

static void pattern(uint8_t *p, size_t n, uint32_t salt)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + salt);
}

static void check_msg(const struct chan_msg *got, const struct chan_msg *want)
{
	CHECK_EQ(got->type, want->type);
	CHECK_EQ(got->conn, want->conn);
	CHECK_EQ(got->seq, want->seq);
	CHECK_EQ(got->a, want->a);
	CHECK_EQ(got->b, want->b);
	CHECK_EQ(got->c, want->c);
	CHECK_EQ(got->len, want->len);
	CHECK(want->len == 0 || memcmp(got->data, want->data, want->len) == 0);
}

static const size_t sizes[] = { 0, 1, 47, 48, 4096, 65535, 65536, 300000,
				CHAN_MAX_DATA };
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

struct sender {
	int fd;
	uint8_t *data;
};

static void *send_all(void *arg)
{
	struct sender *s = arg;

	for (size_t i = 0; i < NSIZES; i++) {
		struct chan_msg m = {
			.type = CHAN_OUTPUT, .conn = (uint32_t)i, .seq = i * 3,
			.a = ~0ULL, .b = i, .c = 7, .len = (uint32_t)sizes[i],
			.data = s->data,
		};
		CHECK_EQ(chan_send(s->fd, &m), 0);
	}
	close(s->fd);
	return NULL;
}

/* Every size through a socket whose sender is non-blocking and so hits
 * EAGAIN with a full buffer: chan_send has to wait and go on. */
static void test_roundtrip(int type, bool nonblock)
{
	struct sender s = { .data = malloc(CHAN_MAX_DATA) };
	struct chan_reader r;
	struct chan_msg got;
	pthread_t t;
	int sv[2];

	CHECK(s.data);
	pattern(s.data, CHAN_MAX_DATA, 5);
	CHECK_EQ(socketpair(AF_UNIX, type, 0, sv), 0);
	if (nonblock)
		CHECK_EQ(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	s.fd = sv[0];
	CHECK_EQ(pthread_create(&t, NULL, send_all, &s), 0);
	CHECK_EQ(chan_reader_init(&r, sv[1]), 0);
	for (size_t i = 0; i < NSIZES; i++) {
		struct chan_msg want = {
			.type = CHAN_OUTPUT, .conn = (uint32_t)i, .seq = i * 3,
			.a = ~0ULL, .b = i, .c = 7, .len = (uint32_t)sizes[i],
			.data = s.data,
		};
		CHECK_EQ(chan_recv(&r, &got), 0);
		check_msg(&got, &want);
	}
	CHECK_EQ(chan_recv(&r, &got), -ECONNRESET);
	pthread_join(t, NULL);
	chan_reader_deinit(&r);
	close(sv[1]);
	free(s.data);
}

/* Reads back what chan_send wrote, as raw bytes. */
static size_t encode(const struct chan_msg *m, uint8_t *out, size_t cap)
{
	int p[2];
	ssize_t n;

	CHECK_EQ(pipe(p), 0);     /* also covers the writev fallback */
	CHECK_EQ(chan_send(p[1], m), 0);
	close(p[1]);
	n = read(p[0], out, cap);
	CHECK(n > 0);
	close(p[0]);
	return (size_t)n;
}

/* A stream cut at every point comes back whole, and only once. */
static void test_split_points(void)
{
	uint8_t data[100], wire[2 * (HDR + 100)];
	struct chan_msg a = { .type = CHAN_EV_DATA, .conn = 9, .seq = 1,
			      .len = 100, .data = data };
	struct chan_msg b = { .type = CHAN_EV_BARRIER, .seq = 2, .a = 77 };
	size_t la, lb;

	pattern(data, sizeof(data), 1);
	la = encode(&a, wire, sizeof(wire));
	lb = encode(&b, wire + la, sizeof(wire) - la);
	CHECK_EQ(la, HDR + 100);
	CHECK_EQ(lb, HDR);
	for (size_t cut = 0; cut <= la + lb; cut++) {
		struct chan_reader r;
		struct chan_msg m;
		int sv[2], got = 0;

		CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		CHECK_EQ(chan_reader_init(&r, sv[1]), 0);
		CHECK_EQ(write(sv[0], wire, cut), (ssize_t)cut);
		if (cut)
			CHECK_EQ(chan_fill(&r), (int)cut);
		while (chan_next(&r, &m) == 1)
			check_msg(&m, got++ ? &b : &a);
		CHECK_EQ(got, (cut >= la + lb) + (cut >= la));
		CHECK_EQ(write(sv[0], wire + cut, la + lb - cut),
			 (ssize_t)(la + lb - cut));
		close(sv[0]);
		while (chan_recv(&r, &m) == 0)
			check_msg(&m, got++ ? &b : &a);
		CHECK_EQ(got, 2);
		chan_reader_deinit(&r);
		close(sv[1]);
	}
}

static int feed_raw(const uint8_t *wire, size_t len)
{
	struct chan_reader r;
	struct chan_msg m;
	int sv[2], ret;

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	CHECK_EQ(chan_reader_init(&r, sv[1]), 0);
	CHECK_EQ(write(sv[0], wire, len), (ssize_t)len);
	close(sv[0]);
	ret = chan_recv(&r, &m);
	chan_reader_deinit(&r);
	close(sv[1]);
	return ret;
}

static void test_bad_input(void)
{
	struct chan_msg m = { .type = CHAN_EV_TICK, .a = 1 };
	uint8_t wire[HDR], bad[HDR];
	uint32_t v;

	CHECK_EQ(encode(&m, wire, sizeof(wire)), HDR);
	CHECK_EQ(feed_raw(wire, HDR), 0);
	CHECK_EQ(feed_raw(wire, HDR - 1), -ECONNRESET);   /* cut short */

	const uint32_t bad_types[] = { 0, CHAN__MAX, 0xffffffffu };
	for (size_t i = 0; i < 3; i++) {
		memcpy(bad, wire, HDR);
		memcpy(bad + OFF_TYPE, &bad_types[i], 4);
		CHECK_EQ(feed_raw(bad, HDR), -EPROTO);
	}
	memcpy(bad, wire, HDR);
	v = CHAN_MAX_DATA + 1;
	memcpy(bad + OFF_LEN, &v, 4);
	CHECK_EQ(feed_raw(bad, HDR), -EPROTO);

	m.len = CHAN_MAX_DATA + 1;
	CHECK_EQ(chan_send(1, &m), -EMSGSIZE);
}

/*
 * Batching: appended messages stay queued until a flush, which writes them
 * all at once; a read that finds less than it had room for says the
 * socket was drained, one that fills its room does not.
 */
static void test_batch(void)
{
	struct chan_msg m = { .type = CHAN_EV_DATA, .conn = 1 }, got;
	static uint8_t big[3 * 65536];
	struct chan_writer w;
	struct chan_reader r;
	int sv[2], i;

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	CHECK_EQ(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	CHECK_EQ(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
	CHECK_EQ(chan_writer_init(&w, sv[0]), 0);
	CHECK_EQ(chan_reader_init(&r, sv[1]), 0);
	m.data = (const uint8_t *)"abc";
	m.len = 3;
	for (i = 0; i < 3; i++) {
		m.seq = (uint64_t)i + 1;
		CHECK_EQ(chan_append(&w, &m), 0);
	}
	CHECK_EQ(chan_queued(&w), 3 * (HDR + 3));
	CHECK_EQ(w.written, 0);
	CHECK_EQ(chan_fill(&r), -EAGAIN);       /* nothing went out */
	CHECK_EQ(chan_flush_wait(&w), 0);
	CHECK_EQ(chan_queued(&w), 0);
	CHECK_EQ(w.written, 3 * (HDR + 3));
	CHECK_EQ(chan_fill(&r), 3 * (HDR + 3));  /* all three in one read */
	CHECK(r.drained);
	for (i = 0; i < 3; i++) {
		CHECK_EQ(chan_next(&r, &got), 1);
		CHECK_EQ(got.seq, (uint64_t)i + 1);
		CHECK_EQ(got.len, 3);
	}
	CHECK_EQ(chan_next(&r, &got), 0);

	/* More than a read's room: not drained until the last read. */
	pattern(big, sizeof(big), 7);
	m.data = big;
	m.len = sizeof(big);
	CHECK_EQ(chan_append(&w, &m), 0);
	CHECK_EQ(chan_flush(&w) >= 0, 1);
	CHECK(chan_fill(&r) > 0);
	CHECK(!r.drained);
	while (chan_next(&r, &got) == 0) {
		if (chan_queued(&w))
			CHECK(chan_flush(&w) >= 0);
		if (chan_fill(&r) == -EAGAIN)
			CHECK(chan_queued(&w) > 0);
	}
	CHECK_EQ(got.len, sizeof(big));
	CHECK(!memcmp(got.data, big, sizeof(big)));
	chan_writer_deinit(&w);
	chan_reader_deinit(&r);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	test_roundtrip(SOCK_STREAM, false);
	test_roundtrip(SOCK_STREAM, true);
	test_split_points();
	test_bad_input();
	test_batch();
	return 0;
}
