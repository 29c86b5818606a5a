// SPDX-License-Identifier: MIT
/*
 * The buffered layer every transport shares. Implementations only move bytes
 * (ops->read, ops->write, returning a count or -errno, raw -EAGAIN and -EINTR
 * included); this file retries interrupted calls, turns the -EAGAIN of a
 * blocking socket whose SO_RCVTIMEO/SO_SNDTIMEO expired into -ETIMEDOUT, and
 * batches small writes so that a burst of page headers becomes one syscall
 * (or one TLS record run) instead of hundreds.
 *
 * An xport_read that times out loses nothing, so a caller may wait again.
 * After any other error (or a read_full cut short) the transport is fit only
 * for xport_free: a write may have stopped in the middle of a record or a
 * message.
 */
#include "xport.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "log.h"

#define XPORT_WBUF_SIZE (64 * 1024)
#define XPORT_RBUF_SIZE (64 * 1024)

int xport_init(struct xport *x, const struct xport_ops *ops, int fd)
{
	x->ops = ops;
	x->fd = fd;
	x->wbuf = malloc(XPORT_WBUF_SIZE);
	x->rbuf = malloc(XPORT_RBUF_SIZE);
	if (!x->wbuf || !x->rbuf) {
		free(x->wbuf);
		free(x->rbuf);
		x->wbuf = NULL;
		x->rbuf = NULL;
		return -ENOMEM;
	}
	x->wlen = 0;
	x->wcap = XPORT_WBUF_SIZE;
	x->rstart = 0;
	x->rend = 0;
	x->rcap = XPORT_RBUF_SIZE;
	if (net_peer_name(fd, x->peer, sizeof(x->peer)) < 0)
		snprintf(x->peer, sizeof(x->peer), "fd %d", fd);
	return 0;
}

/* One ops->read with the retry and timeout policy applied. */
static ssize_t read_once(struct xport *x, void *buf, size_t len)
{
	ssize_t n;

	do
		n = x->ops->read(x, buf, len);
	while (n == -EINTR);
	if (n == -EAGAIN || n == -EWOULDBLOCK) {
		log_warn("%s read from %s timed out", x->ops->name, x->peer);
		return -ETIMEDOUT;
	}
	return n;
}

ssize_t xport_read(struct xport *x, void *buf, size_t len)
{
	size_t avail = x->rend - x->rstart;
	ssize_t n;

	if (!len)
		return 0;
	if (!avail) {
		/* A read as big as our buffer gains nothing from a copy. */
		if (len >= x->rcap)
			return read_once(x, buf, len);
		n = read_once(x, x->rbuf, x->rcap);
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

/* Hand all of p to the implementation; it may take it in pieces. */
static int write_all(struct xport *x, const unsigned char *p, size_t len)
{
	ssize_t n;

	while (len) {
		n = x->ops->write(x, p, len);
		if (n == -EINTR)
			continue;
		if (n == -EAGAIN || n == -EWOULDBLOCK) {
			log_warn("%s write to %s timed out", x->ops->name,
				 x->peer);
			return -ETIMEDOUT;
		}
		if (n < 0)
			return (int)n;
		/* send() never returns 0 for len > 0; don't spin if it did. */
		if (n == 0) {
			log_error("%s write to %s made no progress",
				  x->ops->name, x->peer);
			return -EIO;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int xport_flush(struct xport *x)
{
	int r;

	if (!x->wlen)
		return 0;
	r = write_all(x, x->wbuf, x->wlen);
	if (!r)
		x->wlen = 0;
	return r;
}

int xport_write(struct xport *x, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t room;
	int r;

	while (len) {
		/* Data as big as the buffer goes straight out, uncopied. */
		if (!x->wlen && len >= x->wcap)
			return write_all(x, p, len);
		room = x->wcap - x->wlen;
		if (!room) {
			r = xport_flush(x);
			if (r)
				return r;
			continue;
		}
		if (room > len)
			room = len;
		memcpy(x->wbuf + x->wlen, p, room);
		x->wlen += room;
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

int xport_set_timeout(struct xport *x, int ms)
{
	struct timeval tv = { 0 };
	int r;

	/* ms <= 0 leaves the socket blocking without a limit. */
	if (ms > 0) {
		tv.tv_sec = ms / 1000;
		tv.tv_usec = (ms % 1000) * 1000;
	}
	if (setsockopt(x->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(x->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		r = -errno;
		log_error("setsockopt(SO_RCVTIMEO/SO_SNDTIMEO) for %s: %s",
			  x->peer, strerror(-r));
		return r;
	}
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
