// SPDX-License-Identifier: MIT
/*
 * The guest's event loop. Events arrive in one ordered stream and are
 * handled one at a time to completion, so a barrier answered here means
 * every earlier event is done and the guest holds no state outside guest
 * RAM: the safe point a checkpoint needs.
 */
#include "guest-priv.h"

#include <errno.h>
#include <string.h>

#include "log.h"

/* Queued output beyond this is written before the next event: a guest
 * answering a long backlog keeps its client (and the comparator) fed. */
#define OUT_FLUSH_AT (64u * 1024)

/* Queue one message for the daemon; write the queue once it is large. */
static int out_queue(struct colo_guest *g, const struct chan_msg *m)
{
	int err = chan_append(&g->out, m);

	if (!err && chan_queued(&g->out) >= OUT_FLUSH_AT)
		err = chan_flush_wait(&g->out);
	return err;
}

static int dispatch(struct colo_guest *g, const struct colo_guest_ops *ops,
		    void *app, const struct chan_msg *m)
{
	struct chan_msg done = { .type = CHAN_BARRIER_DONE };
	int err;

	g->seq = m->seq;
	switch (m->type) {
	case CHAN_EV_OPEN:
		if (ops->on_open)
			ops->on_open(g, app, m->conn);
		return 0;
	case CHAN_EV_DATA:
		if (ops->on_data)
			ops->on_data(g, app, m->conn, m->data, m->len);
		return 0;
	case CHAN_EV_CLOSE:
		if (ops->on_close)
			ops->on_close(g, app, m->conn);
		/* The client's input ended. Close our side after whatever the
		 * guest said so far: a client that only half-closed is still
		 * reading, and the daemon ends the connection (on both hosts,
		 * compared) only once it knows no more output comes. */
		return colo_close(g, m->conn);
	case CHAN_EV_TICK:
		if (ops->on_tick)
			ops->on_tick(g, app, m->a);
		return 0;
	case CHAN_EV_BARRIER:
		/* Behind all the output of the events before it, and written
		 * now: the daemon waits for it. */
		done.a = m->a;
		done.seq = m->seq;
		err = chan_append(&g->out, &done);
		return err ? err : chan_flush_wait(&g->out);
	default:
		log_warn("guest: unexpected message type %u on the event channel",
			 m->type);
		return -EPROTO;
	}
}

/*
 * The next event. Events come in batches (the daemon writes a loop round's
 * worth at once); the output of a batch is written when the batch is done,
 * just before the loop would wait for more. 0, -ECONNRESET when the daemon
 * closed the channel, or -errno.
 */
static int next_event(struct colo_guest *g, struct chan_msg *m)
{
	for (;;) {
		int n = chan_next(&g->events, m);

		if (n != 0)
			return n < 0 ? n : 0;
		n = chan_flush_wait(&g->out);
		if (n)
			return n;
		n = chan_fill(&g->events);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0 && n != -EINTR)
			return n;
	}
}

int colo_guest_run(struct colo_guest *g, const struct colo_guest_ops *ops,
		   void *app)
{
	struct chan_msg m;
	int err;

	if (g->chan_fd < 0)
		return -ENOTCONN;
	for (;;) {
		err = next_event(g, &m);
		if (err == -ECONNRESET)
			return 0;
		if (!err)
			err = dispatch(g, ops, app, &m);
		if (err) {
			log_error("guest: event channel: %s", strerror(-err));
			return err;
		}
	}
}

int colo_send(struct colo_guest *g, uint32_t conn, const void *buf,
	      size_t len)
{
	struct chan_msg m = { .type = CHAN_OUTPUT, .conn = conn, .seq = g->seq };
	const uint8_t *p = buf;
	int err;

	if (g->chan_fd < 0)
		return -ENOTCONN;
	while (len) {
		m.len = len < CHAN_MAX_DATA ? (uint32_t)len : CHAN_MAX_DATA;
		m.data = p;
		err = out_queue(g, &m);
		if (err)
			return err;
		p += m.len;
		len -= m.len;
	}
	return 0;
}

int colo_close(struct colo_guest *g, uint32_t conn)
{
	struct chan_msg m = { .type = CHAN_CLOSE, .conn = conn, .seq = g->seq };

	if (g->chan_fd < 0)
		return -ENOTCONN;
	return out_queue(g, &m);
}
