// SPDX-License-Identifier: MIT
/*
 * Each connection's input to the program: the queue not yet written, and
 * the history of what was written since the owner last trimmed it. The
 * history is what lets a checkpoint give the twin the bytes the program
 * has not consumed: the kernel says how many (SIOCINQ, SIOCOUTQ), the
 * history says which.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proc-guest-conn.h"

/* A trimmed history keeps its buffer unless it would waste more than
 * this much over what it holds. */
#define HISTORY_SLACK (1u << 20)

size_t proc_conn_queued(const struct proc_conn *c)
{
	return c->end - c->start;
}

int proc_conn_queue(struct proc_conn *c, const void *data, size_t len)
{
	if (!len)
		return 0;
	if (c->start && c->end + len > c->cap) {
		memmove(c->buf, c->buf + c->start, proc_conn_queued(c));
		c->end -= c->start;
		c->start = 0;
	}
	if (c->end + len > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;
		uint8_t *n;

		while (cap < c->end + len)
			cap *= 2;
		n = realloc(c->buf, cap);
		if (!n)
			return -ENOMEM;
		c->buf = n;
		c->cap = cap;
	}
	memcpy(c->buf + c->end, data, len);
	c->end += len;
	return 0;
}

size_t proc_conn_writable(const struct proc_guest *g,
			  const struct proc_conn *c)
{
	size_t queued = proc_conn_queued(c), room;

	if (!g->history_cap || g->history_window)
		return queued;
	room = c->hist_len < g->history_cap ? g->history_cap - c->hist_len : 0;
	return queued < room ? queued : room;
}

/* Grows the history to hold want bytes. */
static int history_grow(struct proc_conn *c, size_t want)
{
	size_t cap = c->hist_cap ? c->hist_cap : 4096;
	uint8_t *n;

	if (want <= c->hist_cap)
		return 0;
	while (cap < want)
		cap *= 2;
	n = realloc(c->hist, cap);
	if (!n)
		return -ENOMEM;
	c->hist = n;
	c->hist_cap = cap;
	return 0;
}

int proc_conn_reserve(const struct proc_guest *g, struct proc_conn *c,
		      size_t n)
{
	if (!g->history_cap)
		return 0;
	/* A window drops the oldest bytes instead of holding writes back. */
	if (g->history_window && c->hist_len + n > g->history_window) {
		size_t keep = n < g->history_window ?
			      g->history_window - n : 0;

		if (keep < c->hist_len) {
			memmove(c->hist, c->hist + c->hist_len - keep, keep);
			c->hist_len = keep;
		}
	}
	return history_grow(c, c->hist_len + n);
}

void proc_conn_taken(struct proc_guest *g, struct proc_conn *c, size_t n)
{
	if (g->history_cap) {
		memcpy(c->hist + c->hist_len, c->buf + c->start, n);
		c->hist_len += n;
	}
	c->start += n;
	g->written += n;
	if (c->start == c->end)
		c->start = c->end = 0;
}

void proc_conn_free_input(struct proc_conn *c)
{
	free(c->buf);
	free(c->hist);
	c->buf = c->hist = NULL;
	c->start = c->end = c->cap = 0;
	c->hist_len = c->hist_cap = 0;
}

size_t proc_guest_conns(const struct proc_guest *g, uint32_t *ids, int *fds,
			size_t max)
{
	size_t open = 0;

	for (size_t i = 0; i < g->nconns; i++) {
		const struct proc_conn *c = g->conns[i];

		if (c->fd < 0)
			continue;
		if (open < max && ids)
			ids[open] = c->id;
		if (open < max && fds)
			fds[open] = c->fd;
		open++;
	}
	return open;
}

int proc_guest_input_tail(const struct proc_guest *g, uint32_t conn,
			  uint64_t unconsumed, uint8_t **out, size_t *out_len)
{
	const struct proc_conn *c = proc_conn_find(g, conn);
	size_t queued, len;
	uint8_t *buf;

	if (!c)
		return -ENOENT;
	if (unconsumed > c->hist_len)
		return -EPROTO;
	queued = proc_conn_queued(c);
	len = (size_t)unconsumed + queued;
	buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	if (unconsumed)
		memcpy(buf, c->hist + c->hist_len - unconsumed,
		       (size_t)unconsumed);
	if (queued)
		memcpy(buf + unconsumed, c->buf + c->start, queued);
	*out = buf;
	*out_len = len;
	return 0;
}

int proc_guest_conn_by_port(const struct proc_guest *g, uint16_t port,
			    uint32_t *id, int *fd)
{
	for (size_t i = 0; i < g->nconns; i++) {
		const struct proc_conn *c = g->conns[i];

		if (c->fd >= 0 && proc_conn_port(c->id) == port) {
			*id = c->id;
			*fd = c->fd;
			return 0;
		}
	}
	return -ENOENT;
}

bool proc_guest_conn_shut(const struct proc_guest *g, uint32_t conn)
{
	const struct proc_conn *c = proc_conn_find(g, conn);

	return c && c->shut_wanted;
}

void proc_guest_trim_history(struct proc_guest *g, uint32_t conn,
			     uint64_t keep)
{
	struct proc_conn *c = proc_conn_find(g, conn);

	if (!c || keep >= c->hist_len)
		return;
	memmove(c->hist, c->hist + c->hist_len - keep, (size_t)keep);
	c->hist_len = (size_t)keep;
	if (c->hist_cap - c->hist_len > HISTORY_SLACK) {
		uint8_t *n = realloc(c->hist, c->hist_len ? c->hist_len : 1);

		if (n) {
			c->hist = n;
			c->hist_cap = c->hist_len ? c->hist_len : 1;
		}
	}
	/* Room again: the queue the cap held back may go on. */
	proc_conn_push(g, c);
}

int proc_guest_reset_input(struct proc_guest *g, uint32_t conn,
			   const uint8_t *written, size_t wlen,
			   const uint8_t *queued, size_t qlen)
{
	struct proc_conn *c = proc_conn_find(g, conn);
	size_t old_start, old_end;

	if (!c)
		return -ENOENT;
	if (history_grow(c, wlen) < 0)
		return -ENOMEM;
	/* A queue that cannot be made leaves the old one as it was: the
	 * append writes nothing when its allocation fails. */
	old_start = c->start;
	old_end = c->end;
	c->start = c->end = 0;
	if (proc_conn_queue(c, queued, qlen) < 0) {
		c->start = old_start;
		c->end = old_end;
		return -ENOMEM;
	}
	if (wlen)
		memcpy(c->hist, written, wlen);
	c->hist_len = wlen;
	g->written += old_end - old_start;
	g->queued_end += qlen;
	proc_conn_push(g, c);
	return 0;
}
