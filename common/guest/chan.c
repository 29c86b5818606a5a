// SPDX-License-Identifier: MIT
/*
 * The guest <-> daemon channel: a fixed header in native byte order followed
 * by len bytes of data. Both ends run on one host, so there is no byte-order
 * or padding question to settle; the header is still a packed-by-hand struct
 * of fixed-width fields so that its size does not depend on the compiler.
 */
#include "chan.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

struct chan_hdr {
	uint32_t type;
	uint32_t conn;
	uint64_t seq;
	uint64_t a, b, c;
	uint32_t len;
	uint32_t pad;
};

_Static_assert(sizeof(struct chan_hdr) == 48, "chan header layout");

#define CHAN_READ_CHUNK (64u * 1024)

/* Blocks until fd is writable; used when the daemon made it non-blocking. */
static int wait_writable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	for (;;) {
		int n = poll(&p, 1, -1);

		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

static ssize_t write_iov(int fd, struct iovec *iov, int cnt, bool *is_sock)
{
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)cnt };
	ssize_t n;

	/* MSG_NOSIGNAL keeps a vanished peer from killing us with SIGPIPE;
	 * a pipe has no such flag, so fall back to writev there. */
	if (*is_sock) {
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (n >= 0 || errno != ENOTSOCK)
			return n;
		*is_sock = false;
	}
	return writev(fd, iov, cnt);
}

int chan_send(int fd, const struct chan_msg *m)
{
	struct chan_hdr h = {
		.type = m->type, .conn = m->conn, .seq = m->seq,
		.a = m->a, .b = m->b, .c = m->c, .len = m->len,
	};
	struct iovec iov[2] = {
		{ .iov_base = &h, .iov_len = sizeof(h) },
		{ .iov_base = (void *)m->data, .iov_len = m->len },
	};
	struct iovec *cur = iov;
	int cnt = m->len ? 2 : 1;
	bool is_sock = true;

	if (m->len > CHAN_MAX_DATA)
		return -EMSGSIZE;
	while (cnt > 0) {
		ssize_t n = write_iov(fd, cur, cnt, &is_sock);

		if (n < 0) {
			int err = errno;

			if (err == EINTR)
				continue;
			if (err == EAGAIN || err == EWOULDBLOCK) {
				err = -wait_writable(fd);
				if (err)
					return -err;
				continue;
			}
			return -err;
		}
		/* Short write: step past what went out and go on. */
		while (cnt > 0 && (size_t)n >= cur->iov_len) {
			n -= (ssize_t)cur->iov_len;
			cur++;
			cnt--;
		}
		if (cnt > 0) {
			cur->iov_base = (uint8_t *)cur->iov_base + n;
			cur->iov_len -= (size_t)n;
		}
	}
	return 0;
}

int chan_writer_init(struct chan_writer *w, int fd)
{
	w->fd = fd;
	w->start = w->end = 0;
	w->written = 0;
	w->cap = CHAN_READ_CHUNK;
	w->buf = malloc(w->cap);
	return w->buf ? 0 : -ENOMEM;
}

void chan_writer_deinit(struct chan_writer *w)
{
	free(w->buf);
	w->buf = NULL;
	w->start = w->end = w->cap = 0;
}

ssize_t chan_flush(struct chan_writer *w)
{
	while (w->start < w->end) {
		ssize_t n = send(w->fd, w->buf + w->start, w->end - w->start,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -errno;
		}
		w->start += (size_t)n;
		w->written += (uint64_t)n;
	}
	if (w->start == w->end)
		w->start = w->end = 0;
	return (ssize_t)(w->end - w->start);
}

int chan_append(struct chan_writer *w, const struct chan_msg *m)
{
	struct chan_hdr h = {
		.type = m->type, .conn = m->conn, .seq = m->seq,
		.a = m->a, .b = m->b, .c = m->c, .len = m->len,
	};
	size_t need = sizeof(h) + m->len;

	if (m->len > CHAN_MAX_DATA)
		return -EMSGSIZE;
	if (w->start && w->end + need > w->cap) {
		memmove(w->buf, w->buf + w->start, w->end - w->start);
		w->end -= w->start;
		w->start = 0;
	}
	if (w->end + need > w->cap) {
		size_t cap = w->cap;
		uint8_t *nb;

		while (cap < w->end + need)
			cap *= 2;
		nb = realloc(w->buf, cap);
		if (!nb)
			return -ENOMEM;
		w->buf = nb;
		w->cap = cap;
	}
	memcpy(w->buf + w->end, &h, sizeof(h));
	if (m->len)
		memcpy(w->buf + w->end + sizeof(h), m->data, m->len);
	w->end += need;
	return 0;
}

int chan_queue(struct chan_writer *w, const struct chan_msg *m)
{
	ssize_t left;
	int ret = chan_append(w, m);

	if (ret)
		return ret;
	left = chan_flush(w);
	return left < 0 ? (int)left : 0;
}

int chan_flush_wait(struct chan_writer *w)
{
	for (;;) {
		ssize_t left = chan_flush(w);
		int ret;

		if (left <= 0)
			return (int)left;
		ret = wait_writable(w->fd);
		if (ret)
			return ret;
	}
}

int chan_reader_init(struct chan_reader *r, int fd)
{
	r->fd = fd;
	r->cap = CHAN_READ_CHUNK;
	r->start = r->end = 0;
	r->drained = false;
	r->buf = malloc(r->cap);
	return r->buf ? 0 : -ENOMEM;
}

void chan_reader_deinit(struct chan_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = r->start = r->end = 0;
}

/* Bytes the buffered message at start needs in all, or 0 when unknown. */
static size_t pending_size(const struct chan_reader *r)
{
	struct chan_hdr h;

	if (r->end - r->start < sizeof(h))
		return 0;
	memcpy(&h, r->buf + r->start, sizeof(h));
	if (h.len > CHAN_MAX_DATA)
		return 0;       /* chan_next reports it */
	return sizeof(h) + h.len;
}

/* Makes room for a read chunk past the buffered bytes, and for the whole
 * pending message, which may be up to CHAN_MAX_DATA long. */
static int make_room(struct chan_reader *r)
{
	size_t have = r->end - r->start;
	size_t want = pending_size(r);
	uint8_t *nb;
	size_t cap;

	if (want < have + CHAN_READ_CHUNK)
		want = have + CHAN_READ_CHUNK;
	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, have);
		r->start = 0;
		r->end = have;
	}
	if (r->cap >= want)
		return 0;
	cap = r->cap;
	while (cap < want)
		cap *= 2;
	nb = realloc(r->buf, cap);
	if (!nb)
		return -ENOMEM;
	r->buf = nb;
	r->cap = cap;
	return 0;
}

int chan_fill(struct chan_reader *r)
{
	ssize_t n;
	int err;

	if (r->start == r->end)
		r->start = r->end = 0;
	if (r->cap - r->end < CHAN_READ_CHUNK) {
		err = make_room(r);
		if (err)
			return err;
	}
	n = read(r->fd, r->buf + r->end, r->cap - r->end);
	if (n < 0)
		return -errno;
	/* A stream socket gives what it holds, up to the room asked for:
	 * less means it held no more just then. */
	r->drained = (size_t)n < r->cap - r->end;
	r->end += (size_t)n;
	return (int)n;
}

int chan_next(struct chan_reader *r, struct chan_msg *m)
{
	struct chan_hdr h;

	if (r->end - r->start < sizeof(h))
		return 0;
	memcpy(&h, r->buf + r->start, sizeof(h));
	if (h.type < CHAN_EV_OPEN || h.type >= CHAN__MAX ||
	    h.len > CHAN_MAX_DATA)
		return -EPROTO;
	if (r->end - r->start < sizeof(h) + h.len)
		return 0;
	m->type = h.type;
	m->conn = h.conn;
	m->seq = h.seq;
	m->a = h.a;
	m->b = h.b;
	m->c = h.c;
	m->len = h.len;
	m->data = r->buf + r->start + sizeof(h);
	r->start += sizeof(h) + h.len;
	return 1;
}

int chan_recv(struct chan_reader *r, struct chan_msg *m)
{
	for (;;) {
		int n = chan_next(r, m);

		if (n != 0)
			return n < 0 ? n : 0;
		n = chan_fill(r);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0 && n != -EINTR)
			return n;
	}
}
