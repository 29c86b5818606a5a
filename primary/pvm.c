// SPDX-License-Identifier: MIT
/*
 * The PVM: the primary's copy of the guest. Events go in (and, in colo
 * state, to the secondary with the same sequence number); output comes back
 * and goes to the comparator, or straight to the client when unprotected.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "evloop.h"
#include "primary-int.h"
#include "log.h"
#include "xport.h"

#define GUEST_START_TIMEOUT_MS 10000
#define BARRIER_TIMEOUT_MS 30000

static void watch(struct primary *p);

static void pvm_died(struct primary *p)
{
	log_error("the PVM (pid %d) went away; stopping", (int)p->pvm.pid);
	evloop_del(p->loop, p->pvm.chan_fd);
	/* The hint thread reads hint_fd: end it before the fd is closed
	 * (and its number possibly reused). */
	if (p->hint_thread_started) {
		shutdown(p->pvm.hint_fd, SHUT_RDWR);
		pthread_join(p->hint_thread, NULL);
		p->hint_thread_started = false;
	}
	guestproc_stop(&p->pvm);
	p->stop = true;
}

/* Watch a running guest: dirty log, migration state, hints, channel. */
static int pvm_attach(struct primary *p)
{
	int ret;

	ret = dirtylog_open(&p->dlog, p->pvm.pid);
	if (ret < 0)
		return ret;
	ret = ram_state_init(&p->rs, &p->ram, &p->dlog,
			     p->opts.clear_bitmap_shift);
	if (ret < 0)
		return ret;
	/* Until live sync starts (migration_start), nobody wants discards. */
	ram_state_unprotected(&p->rs);
	ret = pthread_create(&p->hint_thread, NULL, pvm_hint_thread, p);
	if (ret)
		return -ret;
	p->hint_thread_started = true;
	return evloop_add(p->loop, p->pvm.chan_fd, guestproc_events(&p->pvm),
			  pvm_on_readable, p);
}

int pvm_start(struct primary *p)
{
	int ret;

	ret = guestproc_spawn(&p->pvm, p->opts.guest, p->opts.guest_args,
			      &p->ram, false, GUEST_START_TIMEOUT_MS, NULL,
			      NULL);
	return ret < 0 ? ret : pvm_attach(p);
}

int pvm_adopt(struct primary *p, struct guestproc *gp)
{
	p->pvm = *gp;
	gp->pid = -1;
	return pvm_attach(p);
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
	ret = guestproc_send(&p->pvm, &ev);
	if (ret < 0) {
		pvm_died(p);
		return ret;
	}
	watch(p);
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
		link_queue(p, &m);
	}
	return 0;
}

static int on_pvm_msg(void *opaque, const struct chan_msg *m)
{
	struct primary *p = opaque;
	int ret;

	switch (m->type) {
	case CHAN_OUTPUT:
		if (p->state != COLO_STATE_COLO) {
			proxy_release(&p->proxy, m->conn, m->data, m->len);
			break;
		}
		if (proxy_output_over(&p->proxy, m->conn, m->len))
			break;
		ret = cmp_push_pvm(p->cmp, m->conn, m->data, m->len,
				   evloop_now_ms());
		if (ret == CMP_MISMATCH) {
			log_debug("conn %u: output differs, checkpoint", m->conn);
			colo_mismatch(p);
		}
		colo_check_held(p);
		break;
	case CHAN_CLOSE:
		if (!proxy_guest_closed(&p->proxy, m->conn))
			break;
		/* Unprotected, the close goes out as output does. */
		if (p->state != COLO_STATE_COLO) {
			proxy_release_close(&p->proxy, m->conn);
			break;
		}
		ret = cmp_close_pvm(p->cmp, m->conn, evloop_now_ms());
		if (ret == CMP_MISMATCH) {
			log_debug("conn %u: closed out of step, checkpoint",
				  m->conn);
			colo_mismatch(p);
		}
		break;
	default:
		log_warn("PVM sent an unexpected message type %u", m->type);
	}
	return 0;
}

static void watch(struct primary *p)
{
	if (p->pvm.pid >= 0)
		evloop_mod(p->loop, p->pvm.chan_fd, guestproc_events(&p->pvm));
}

void pvm_on_readable(struct evloop *l, int fd, uint32_t events, void *opaque)
{
	struct primary *p = opaque;

	(void)l;
	(void)fd;
	(void)events;
	if (guestproc_pump(&p->pvm, NULL, on_pvm_msg, p) < 0)
		pvm_died(p);
	else
		watch(p);
}

/*
 * Bring the PVM to a safe point: after it answers the barrier it has handled
 * every event sent before, and waits in its loop for the next one.
 */
int pvm_barrier(struct primary *p)
{
	int ret;

	if (p->pvm.pid < 0)
		return -ECHILD;
	ret = guestproc_barrier(&p->pvm, ++p->barrier_id, BARRIER_TIMEOUT_MS,
				on_pvm_msg, link_heartbeat_idle, p);
	/* A barrier that timed out or was called off by a stop request
	 * leaves a live guest behind. */
	if (ret < 0 && ret != -ETIMEDOUT && ret != -ECANCELED)
		pvm_died(p);
	else
		watch(p);
	return ret;
}

/*
 * Free page hints arrive on their own socket and are answered here, so that
 * a guest freeing memory waits only for bitmap_mutex, never for the event
 * loop. The guest reuses the pages only after the answer (I3).
 */
void *pvm_hint_thread(void *opaque)
{
	struct primary *p = opaque;
	struct chan_msg m;

	/* Only this thread reads hint_rd while it runs. */
	while (chan_recv(&p->pvm.hint_rd, &m) == 0) {
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
	return NULL;
}
