// SPDX-License-Identifier: MIT
/*
 * The buffered layer every transport shares. Implementations only move bytes
 * without blocking (ops->read, ops->write, returning a count or -errno, raw
 * -EAGAIN and -EINTR included); this file retries interrupted calls, turns
 * -EAGAIN into a poll() bounded by the caller's timeout for the blocking
 * calls, and batches small writes so that a burst of page headers becomes
 * one syscall (or one TLS record run) instead of hundreds.
 *
 * Output is a queue, [wstart, wlen) of wbuf: a partial write advances
 * wstart, so whatever stopped a flush (-EAGAIN, a timeout) the unsent rest
 * is still at the head, and TLS gets the very bytes it asked to be retried
 * with. The buffer may move (compaction, growth) between calls; the TLS
 * transport allows that with SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER.
 *
 * A timeout of the blocking calls means this long without progress, as
 * SO_RCVTIMEO did before: a slow but live peer keeps a long transfer going.
 * An xport_read or xport_flush that times out loses nothing, so a caller may
 * wait again. A large xport_write goes out from the caller's memory; if that
 * fails half way the stream is broken, and every later write says so.
 */
#include "evloop.h"
#include "xport.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "net-addr.h"
#include "xport-rdma.h"

#define XPORT_WBUF_SIZE (64 * 1024)	/* xport_write flushes at this */
#define XPORT_RBUF_SIZE (64 * 1024)
/* An empty queue shrinks above this. A checkpoint, or a live sync's
 * ram_save_iterate, queues up to ram-save's budget (4 MiB) and a message
 * more: a buffer given back after each would be faulted in afresh at the
 * next, a thousand page faults a time (a primary's CPU for a 900 MiB live
 * sync: 1.7-2.0 s with it given back, 1.1-1.2 s kept). */
#define XPORT_WBUF_KEEP (8 * 1024 * 1024)
#define XPORT_DEFAULT_TIMEOUT_MS 15000

int xport_init(struct xport *x, const struct xport_ops *ops, int fd)
{
	int flags;

	x->ops = ops;
	x->fd = fd;
	x->timeout_ms = XPORT_DEFAULT_TIMEOUT_MS;
	x->werr = 0;
	x->wait_for = 0;
	x->cancel_fd = -1;
	if (net_peer_name(fd, x->peer, sizeof(x->peer)) < 0)
		snprintf(x->peer, sizeof(x->peer), "fd %d", fd);
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		int r = -errno;

		log_error("fcntl(O_NONBLOCK) for %s: %s", x->peer,
			  strerror(-r));
		return r;
	}
	x->wbuf = malloc(XPORT_WBUF_SIZE);
	x->rbuf = malloc(XPORT_RBUF_SIZE);
	if (!x->wbuf || !x->rbuf) {
		free(x->wbuf);
		free(x->rbuf);
		x->wbuf = NULL;
		x->rbuf = NULL;
		return -ENOMEM;
	}
	x->wstart = 0;
	x->wlen = 0;
	x->wcap = XPORT_WBUF_SIZE;
	x->rstart = 0;
	x->rend = 0;
	x->rcap = XPORT_RBUF_SIZE;
	return 0;
}


/* When a blocking call that has just made progress gives up; -1: never. */
static long long deadline_from_now(const struct xport *x)
{
	return x->timeout_ms > 0 ? (long long)evloop_now_ms() + x->timeout_ms : -1;
}

/*
 * Wait until fd is ready for events (or for what the implementation asked
 * for instead). Returns the revents (> 0), -ETIMEDOUT past the deadline,
 * -ECANCELED once the cancel fd is readable, or -errno. POLLERR and POLLHUP
 * count as ready: the next call reports them.
 */
static int wait_ready(struct xport *x, short events, long long deadline)
{
	struct pollfd pfd[2] = {
		{ .fd = x->fd, .events = events },
		{ .fd = x->cancel_fd, .events = POLLIN },
	};
	long long left;
	int r;

	for (;;) {
		left = deadline < 0 ? -1 : deadline - (long long)evloop_now_ms();
		if (deadline >= 0 && left <= 0)
			return -ETIMEDOUT;
		r = poll(pfd, x->cancel_fd >= 0 ? 2 : 1,
			 left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0)
			break;
		if (r < 0 && errno != EINTR) {
			r = -errno;
			log_error("poll on %s: %s", x->peer, strerror(-r));
			return r;
		}
	}
	if (x->cancel_fd >= 0 && pfd[1].revents)
		return -ECANCELED;
	if (pfd[0].revents & POLLNVAL)
		return -EBADF;
	return pfd[0].revents;
}

int xport_wait(struct xport *x, long long deadline)
{
	int r = wait_ready(x, x->wait_for ? x->wait_for : POLLIN, deadline);

	return r < 0 ? r : 0;
}

/* The events a call that got -EAGAIN waits for. */
static short wanted(const struct xport *x, short natural)
{
	return x->wait_for ? x->wait_for : natural;
}

/* One ops->read, retried while interrupted. */
static ssize_t read_op(struct xport *x, void *buf, size_t len)
{
	ssize_t n;

	do {
		x->wait_for = 0;
		n = x->ops->read(x, buf, len);
	} while (n == -EINTR);
	return n == -EWOULDBLOCK ? -EAGAIN : n;
}

/* One ops->write, retried while interrupted; 0 bytes is no progress. */
static ssize_t write_op(struct xport *x, const void *buf, size_t len)
{
	ssize_t n;

	do {
		x->wait_for = 0;
		n = x->ops->write(x, buf, len);
	} while (n == -EINTR);
	if (n == -EWOULDBLOCK)
		return -EAGAIN;
	/* send() never returns 0 for len > 0; don't spin if it did. */
	if (n == 0) {
		log_error("%s write to %s made no progress", x->ops->name,
			  x->peer);
		return -EIO;
	}
	return n;
}

ssize_t xport_read_nb(struct xport *x, void *buf, size_t len)
{
	size_t avail = x->rend - x->rstart;
	ssize_t n;

	if (!len)
		return 0;
	if (!avail) {
		/* A read as big as our buffer gains nothing from a copy. */
		if (len >= x->rcap)
			return read_op(x, buf, len);
		n = read_op(x, x->rbuf, x->rcap);
		if (n <= 0)
			return n;
		x->rstart = 0;
		x->rend = (size_t)n;
		avail = (size_t)n;
	}
	if (len > avail)
		len = avail;
	memcpy(buf, x->rbuf + x->rstart, len);
	x->rstart += len;
	return (ssize_t)len;
}

ssize_t xport_fill_nb(struct xport *x)
{
	ssize_t n;

	if (x->rend > x->rstart)
		return (ssize_t)(x->rend - x->rstart);
	n = read_op(x, x->rbuf, x->rcap);
	if (n <= 0)
		return n;
	x->rstart = 0;
	x->rend = (size_t)n;
	return n;
}

ssize_t xport_read(struct xport *x, void *buf, size_t len)
{
	long long deadline = deadline_from_now(x);
	size_t queued;
	short events;
	ssize_t n;
	int r;

	for (;;) {
		n = xport_read_nb(x, buf, len);
		if (n != -EAGAIN)
			return n;
		events = wanted(x, POLLIN);
		/*
		 * Keep our output moving: the peer may be waiting for it. A
		 * write error is the next write's to report (it is sticky);
		 * this read goes on with what the socket still delivers.
		 */
		queued = xport_queued(x);
		if (queued && !x->werr) {
			xport_flush_nb(x);
			if (xport_queued(x) < queued)
				deadline = deadline_from_now(x);
		}
		if (xport_queued(x) && !x->werr)
			events |= wanted(x, POLLOUT);
		r = wait_ready(x, events, deadline);
		if (r == -ETIMEDOUT)
			log_warn("%s read from %s timed out", x->ops->name,
				 x->peer);
		if (r < 0)
			return r;
	}
}

int xport_read_full(struct xport *x, void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = xport_read(x, p + done, len - done);
		if (n < 0)
			return (int)n;
		if (n == 0) {
			if (done)
				log_warn("%s closed the connection after %zu of %zu bytes",
					 x->peer, done, len);
			else
				log_info("%s closed the connection", x->peer);
			return -ECONNRESET;
		}
		done += (size_t)n;
	}
	return 0;
}

size_t xport_queued(const struct xport *x)
{
	return x->wlen - x->wstart;
}

int xport_queue(struct xport *x, const void *buf, size_t len)
{
	size_t need, cap;
	unsigned char *p;

	if (x->werr)
		return x->werr;
	if (!len)
		return 0;
	if (len > x->wcap - x->wlen && x->wstart) {
		memmove(x->wbuf, x->wbuf + x->wstart, x->wlen - x->wstart);
		x->wlen -= x->wstart;
		x->wstart = 0;
	}
	if (len > x->wcap - x->wlen) {
		if (len > SIZE_MAX / 2 - x->wlen)
			return -ENOMEM;
		need = x->wlen + len;
		for (cap = x->wcap * 2; cap < need; cap *= 2)
			;
		p = realloc(x->wbuf, cap);
		if (!p) {
			log_error("output queue to %s: %zu bytes: %s", x->peer,
				  cap, strerror(ENOMEM));
			return -ENOMEM;
		}
		x->wbuf = p;
		x->wcap = cap;
	}
	memcpy(x->wbuf + x->wlen, buf, len);
	x->wlen += len;
	return 0;
}

/* All of the queue is out: start again at the front, and let a queue that
 * a burst grew go back to its usual size. */
static void queue_empty(struct xport *x)
{
	unsigned char *p;

	x->wstart = 0;
	x->wlen = 0;
	if (x->wcap > XPORT_WBUF_KEEP) {
		p = realloc(x->wbuf, XPORT_WBUF_SIZE);
		if (p) {
			x->wbuf = p;
			x->wcap = XPORT_WBUF_SIZE;
		}
	}
}

int xport_flush_nb(struct xport *x)
{
	ssize_t n;

	if (x->werr)
		return x->werr;
	while (x->wstart < x->wlen) {
		n = write_op(x, x->wbuf + x->wstart, x->wlen - x->wstart);
		if (n == -EAGAIN)
			return -EAGAIN;
		if (n < 0) {
			x->werr = (int)n;
			return (int)n;
		}
		x->wstart += (size_t)n;
	}
	queue_empty(x);
	return 0;
}

static int write_timed_out(struct xport *x)
{
	log_warn("%s write to %s timed out", x->ops->name, x->peer);
	return -ETIMEDOUT;
}

int xport_flush(struct xport *x)
{
	long long deadline = deadline_from_now(x);
	size_t queued;
	int r;

	for (;;) {
		queued = xport_queued(x);
		r = xport_flush_nb(x);
		if (r != -EAGAIN)
			return r;
		if (xport_queued(x) < queued)
			deadline = deadline_from_now(x);
		r = wait_ready(x, wanted(x, POLLOUT), deadline);
		if (r == -ETIMEDOUT)
			return write_timed_out(x);
		if (r < 0)
			return r;
	}
}

/* All of p, blocking, straight from the caller's memory (queue empty). */
static int write_direct(struct xport *x, const unsigned char *p, size_t len)
{
	long long deadline = deadline_from_now(x);
	ssize_t n;
	int r;

	while (len) {
		n = write_op(x, p, len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			deadline = deadline_from_now(x);
			continue;
		}
		if (n != -EAGAIN) {
			r = (int)n;
			goto broken;
		}
		r = wait_ready(x, wanted(x, POLLOUT), deadline);
		if (r == -ETIMEDOUT)
			r = write_timed_out(x);
		if (r < 0)
			goto broken;
	}
	return 0;
broken:
	/* Part of p may be out, or held by TLS for a retry that won't come. */
	x->werr = r;
	return r;
}

int xport_write(struct xport *x, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t queued, room;
	int r;

	if (x->werr)
		return x->werr;
	while (len) {
		queued = xport_queued(x);
		/* Data as big as the buffer goes straight out, uncopied. */
		if (!queued && len >= XPORT_WBUF_SIZE)
			return write_direct(x, p, len);
		if (queued >= XPORT_WBUF_SIZE) {
			r = xport_flush(x);
			if (r)
				return r;
			continue;
		}
		room = XPORT_WBUF_SIZE - queued;
		if (room > len)
			room = len;
		r = xport_queue(x, p, room);
		if (r)
			return r;
		p += room;
		len -= room;
	}
	return 0;
}

bool xport_has_buffered(const struct xport *x)
{
	if (x->rend > x->rstart)
		return true;
	return x->ops->pending && x->ops->pending(x);
}

/* Only a transport that can write into the peer's memory places; the
 * others say 0 and the caller sends the bytes in the stream. */
int xport_place(struct xport *x, uint32_t region, uint64_t offset,
		const void *src, size_t len)
{
	if (!x->ops->place)
		return 0;
	if (x->werr)
		return x->werr;
	return x->ops->place(x, region, offset, src, len);
}

void xport_place_harmless(struct xport *x)
{
	if (x->ops->place_harmless)
		x->ops->place_harmless(x);
}

void xport_set_cancel(struct xport *x, int fd)
{
	x->cancel_fd = fd;
}

int xport_set_timeout(struct xport *x, int ms)
{
	x->timeout_ms = ms > 0 ? ms : -1;
	return 0;
}

void xport_free(struct xport *x)
{
	int fd;

	if (!x)
		return;
	fd = x->fd;
	free(x->wbuf);
	free(x->rbuf);
	/* destroy releases the implementation's state and the struct. */
	x->ops->destroy(x);
	if (fd >= 0)
		close(fd);
}
