/* SPDX-License-Identifier: MIT */
/*
 * The non-blocking transport calls under load, for any transport: two ends
 * in one thread each queue far more than both socket buffers hold towards
 * the other and get every byte across, in order, by flushing and reading as
 * poll() allows. Each direction carries pattern() XORed with a salt of its
 * own, so bytes that cross over or arrive out of place do not match.
 *
 * Header-only (static inline) because the unit test build compiles each
 * test-<name>.c on its own; test-xport-tcp.c and test-xport-tls.c use it.
 */
#ifndef COLO_TEST_XPORT_CROSSFIRE_H
#define COLO_TEST_XPORT_CROSSFIRE_H

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "tap.h"
#include "xport.h"

#define CHUNK_MAX 300000

/* Test data: byte i of a stream. */
static inline uint8_t pattern(size_t i)
{
	return (uint8_t)((i * 2654435761u) >> 11 ^ i >> 16);
}

static inline long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One end of a crossfire: what it has queued, and what it has checked. */
struct end {
	struct xport *x;
	size_t queued, got;
	uint8_t tx_salt, rx_salt;
	unsigned long flush_again;	/* -EAGAIN from xport_flush_nb */
	uint64_t seed;
};

static inline void queue_chunk(struct end *e, size_t total, uint8_t *tmp)
{
	size_t n = 1 + test_rand(&e->seed) % CHUNK_MAX, i;

	if (n > total - e->queued)
		n = total - e->queued;
	for (i = 0; i < n; i++)
		tmp[i] = pattern(e->queued + i) ^ e->tx_salt;
	CHECK_EQ(xport_queue(e->x, tmp, n), 0);
	e->queued += n;
}

/* Read what is there now, up to a random budget, in random pieces,
 * checking each byte. */
static inline void drain(struct end *e, size_t total, uint8_t *tmp)
{
	size_t budget = 1 + test_rand(&e->seed) % (1024 * 1024), want, i;
	ssize_t n;

	while (budget) {
		want = 1 + test_rand(&e->seed) %
			   (test_rand(&e->seed) & 1 ? 100 : CHUNK_MAX);
		n = xport_read_nb(e->x, tmp, want);
		if (n == -EAGAIN)
			return;
		CHECK(n > 0);
		CHECK(e->got + (size_t)n <= total);
		for (i = 0; i < (size_t)n; i++)
			if (tmp[i] != (pattern(e->got + i) ^ e->rx_salt))
				CHECK_EQ(tmp[i], pattern(e->got + i) ^ e->rx_salt);
		e->got += (size_t)n;
		budget -= (size_t)n < budget ? (size_t)n : budget;
	}
}

/* Small socket buffers: many short writes, records cut anywhere. */
static inline void shrink_buffers(int fd)
{
	int size = 8192;

	CHECK_EQ(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)), 0);
}

/*
 * What the daemons used to do: e[0] queues all total bytes and e[1] the
 * first peer_bytes, then e[0] flushes them, blocking, while neither reads.
 * The flush can only time out; what it could not send stays queued,
 * nothing lost. Leaves e[0] with a 10 s timeout.
 */
static inline void stall_blocking_flush(struct end *e, size_t total,
					size_t peer_bytes)
{
	uint8_t *tmp = malloc(CHUNK_MAX);
	size_t before;

	CHECK(tmp);
	while (e[0].queued < total)
		queue_chunk(&e[0], total, tmp);
	while (e[1].queued < peer_bytes)
		queue_chunk(&e[1], total, tmp);
	CHECK_EQ(xport_queued(e[0].x), total);
	CHECK_EQ(xport_flush_nb(e[1].x), -EAGAIN);
	CHECK_EQ(xport_set_timeout(e[0].x, 300), 0);
	before = xport_queued(e[0].x);
	CHECK_EQ(xport_flush(e[0].x), -ETIMEDOUT);
	CHECK(xport_queued(e[0].x) > 0 && xport_queued(e[0].x) < before);
	fprintf(stderr, "blocking flush stalled with %zu of %zu bytes queued\n",
		xport_queued(e[0].x), before);
	CHECK_EQ(xport_set_timeout(e[0].x, 10000), 0);
	free(tmp);
}

/*
 * Both ends send total bytes to each other from this one thread, queueing
 * more whenever less than a few MiB wait, flushing on POLLOUT and reading on
 * POLLIN (or while xport_has_buffered). Returns when all arrived.
 */
static inline void crossfire(struct end *e, size_t total)
{
	uint8_t *tmp = malloc(CHUNK_MAX);
	long long deadline = now_ms() + 120000;
	struct pollfd pfd[2];
	int i, r;

	CHECK(tmp);
	while (e[0].got < total || e[1].got < total) {
		CHECK(now_ms() < deadline);
		for (i = 0; i < 2; i++) {
			while (e[i].queued < total &&
			       xport_queued(e[i].x) < 6 * 1024 * 1024)
				queue_chunk(&e[i], total, tmp);
			pfd[i] = (struct pollfd){
				.fd = xport_fd(e[i].x),
				.events = (short)(POLLIN |
					  (xport_queued(e[i].x) ? POLLOUT : 0)),
			};
		}
		/* Bytes buffered above the socket (decrypted ones in
		 * OpenSSL, say) are invisible to poll. */
		r = poll(pfd, 2, xport_has_buffered(e[0].x) ||
				 xport_has_buffered(e[1].x) ? 0 : 10000);
		CHECK(r >= 0);
		for (i = 0; i < 2; i++) {
			if (pfd[i].revents & (POLLOUT | POLLERR)) {
				r = xport_flush_nb(e[i].x);
				CHECK(r == 0 || r == -EAGAIN);
				e[i].flush_again += r == -EAGAIN;
			}
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR) ||
			    xport_has_buffered(e[i].x))
				drain(&e[i], total, tmp);
		}
	}
	for (i = 0; i < 2; i++) {
		CHECK_EQ(e[i].queued, total);
		CHECK_EQ(xport_queued(e[i].x), 0);
		CHECK(!xport_has_buffered(e[i].x));
	}
	free(tmp);
}

#endif
