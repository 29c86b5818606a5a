// SPDX-License-Identifier: MIT
/*
 * The PVM: the primary's copy of the guest. Events go in (and, in colo
 * state, to the secondary with the same sequence number); output comes back
 * and goes to the comparator, or straight to the client when unprotected.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "evloop.h"
#include "internal.h"
#include "log.h"
#include "xport.h"

#define GUEST_START_TIMEOUT_MS 10000
#define BARRIER_TIMEOUT_MS 30000

static void pvm_died(struct primary *p)
{
	log_error("the PVM (pid %d) went away; stopping", (int)p->pvm.pid);
	evloop_del(p->loop, p->pvm.chan_fd);
	guestproc_stop(&p->pvm);
	p->stop = true;
}

int pvm_start(struct primary *p)
{
	int ret;

	ret = guestproc_spawn(&p->pvm, p->opts.guest, &p->ram, false,
			      GUEST_START_TIMEOUT_MS);
	if (ret < 0)
		return ret;
	ret = dirtylog_open(&p->dlog, p->pvm.pid);
	if (ret < 0)
		return ret;
	ret = ram_state_init(&p->rs, &p->ram, &p->dlog,
			     p->opts.clear_bitmap_shift);
	if (ret < 0)
		return ret;
	ret = pthread_create(&p->hint_thread, NULL, pvm_hint_thread, p);
	if (ret)
		return -ret;
	p->hint_thread_started = true;
	return evloop_add(p->loop, p->pvm.chan_fd, EV_READ, pvm_on_readable, p);
}

int pvm_send_event(struct primary *p, uint32_t type, uint32_t conn,
		   uint64_t arg, const void *data, size_t len)
{
	struct chan_msg ev = {
		.type = type, .conn = conn, .seq = ++p->input_seq,
		.a = arg, .len = (uint32_t)len, .data = data,
	};
	int ret;

	if (p->pvm.pid < 0)
		return -ECHILD;
	ret = chan_send(p->pvm.chan_fd, &ev);
	if (ret < 0) {
		pvm_died(p);
		return ret;
	}
	if (p->state == COLO_STATE_COLO) {
		static const uint32_t kinds[CHAN__MAX] = {
			[CHAN_EV_OPEN] = PROTO_IN_OPEN,
			[CHAN_EV_DATA] = PROTO_IN_DATA,
			[CHAN_EV_CLOSE] = PROTO_IN_CLOSE,
			[CHAN_EV_TICK] = PROTO_IN_TICK,
		};
		struct proto_msg m = { .type = PROTO_INPUT };

		m.input.seq = ev.seq;
		m.input.conn = conn;
		m.input.kind = kinds[type];
		m.input.arg = arg;
		m.input.len = (uint32_t)len;
		m.input.data = data;
		ret = proto_send(p->link, &m);
		if (ret == 0)
			ret = xport_flush(p->link);
		if (ret < 0)
			link_lost(p, strerror(-ret));
	}
	return 0;
}

static void handle_guest_msg(struct primary *p, const struct chan_msg *m,
			     uint64_t *barrier_done)
{
	int ret;

	switch (m->type) {
	case CHAN_OUTPUT:
		if (p->state != COLO_STATE_COLO) {
			proxy_release(p, m->conn, m->data, m->len);
			break;
		}
		ret = cmp_push_pvm(p->cmp, m->conn, m->data, m->len,
				   evloop_now_ms());
		if (ret == CMP_MISMATCH) {
			log_debug("conn %u: output differs, checkpoint", m->conn);
			if (!p->ckpt_requested)
				p->mismatch_ckpts++;
			p->ckpt_requested = true;
		}
		break;
	case CHAN_CLOSE:
		proxy_guest_closed(p, m->conn);
		break;
	case CHAN_BARRIER_DONE:
		if (barrier_done)
			*barrier_done = m->a;
		break;
	default:
		log_warn("PVM sent an unexpected message type %u", m->type);
	}
}

/* Drain what the PVM has written. Returns -ECONNRESET once it is gone. */
static int pvm_drain(struct primary *p, uint64_t *barrier_done)
{
	struct chan_msg m;
	int ret;

	for (;;) {
		while ((ret = chan_next(&p->pvm.rd, &m)) == 1)
			handle_guest_msg(p, &m, barrier_done);
		if (ret < 0) {
			log_error("PVM channel: malformed message");
			return ret;
		}
		ret = chan_fill(&p->pvm.rd);
		if (ret == -EAGAIN || ret == -EINTR)
			return 0;
		if (ret <= 0)
			return ret == 0 ? -ECONNRESET : ret;
	}
}

void pvm_on_readable(struct evloop *l, int fd, uint32_t events, void *opaque)
{
	struct primary *p = opaque;

	(void)l;
	(void)fd;
	(void)events;
	if (pvm_drain(p, NULL) < 0)
		pvm_died(p);
}

/*
 * Bring the PVM to a safe point: after it answers the barrier it has handled
 * every event sent before, and waits in its loop for the next one.
 */
int pvm_barrier(struct primary *p)
{
	uint64_t id = ++p->barrier_id, done = 0;
	uint64_t deadline = evloop_now_ms() + BARRIER_TIMEOUT_MS;
	struct chan_msg ev = { .type = CHAN_EV_BARRIER, .a = id };
	int ret;

	if (p->pvm.pid < 0)
		return -ECHILD;
	ret = chan_send(p->pvm.chan_fd, &ev);
	while (ret >= 0 && done != id) {
		struct pollfd pfd = { .fd = p->pvm.chan_fd, .events = POLLIN };
		uint64_t now = evloop_now_ms();

		if (now >= deadline) {
			log_error("PVM did not reach a safe point in %d ms",
				  BARRIER_TIMEOUT_MS);
			return -ETIMEDOUT;
		}
		if (poll(&pfd, 1, (int)(deadline - now)) < 0 && errno != EINTR)
			return -errno;
		ret = pvm_drain(p, &done);
	}
	if (ret < 0) {
		pvm_died(p);
		return ret;
	}
	return 0;
}

/*
 * Free page hints arrive on their own socket and are answered here, so that
 * a guest freeing memory waits only for bitmap_mutex, never for the event
 * loop. The guest reuses the pages only after the answer (I3).
 */
void *pvm_hint_thread(void *opaque)
{
	struct primary *p = opaque;
	struct chan_reader rd;
	struct chan_msg m;

	if (chan_reader_init(&rd, p->pvm.hint_fd) < 0)
		return NULL;
	while (chan_recv(&rd, &m) == 0) {
		struct chan_msg ack = { .type = CHAN_HINT_ACK };
		int ret = -EPROTO;

		if (m.type == CHAN_HINT)
			ret = ram_discard_hint(&p->rs, (uint32_t)m.a, m.b, m.c);
		if (ret < 0)
			log_warn("free page hint %#llx+%#llx refused: %s",
				 (unsigned long long)m.b,
				 (unsigned long long)m.c, strerror(-ret));
		ack.a = (uint64_t)(int64_t)ret;
		if (chan_send(p->pvm.hint_fd, &ack) < 0)
			break;
	}
	chan_reader_deinit(&rd);
	return NULL;
}
