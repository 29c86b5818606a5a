// SPDX-License-Identifier: MIT
/*
 * The SVM: the secondary's copy of the guest. It starts from the RAM cache
 * after live sync, then gets the primary's input events in order; its
 * output goes back to the primary's comparator.
 */
#include <errno.h>
#include <string.h>

#include "evloop.h"
#include "secondary-int.h"
#include "log.h"
#include "xport.h"

#define GUEST_START_TIMEOUT_MS 10000
#define BARRIER_TIMEOUT_MS 30000

static void watch(struct secondary *s);

int svm_start(struct secondary *s)
{
	int ret;

	/* The primary waits for our ack meanwhile: heartbeats go on. */
	ret = guestproc_spawn(&s->svm, s->opts.guest, s->opts.guest_args,
			      &s->ram, true, GUEST_START_TIMEOUT_MS,
			      sec_link_heartbeat_idle, s);
	if (ret < 0)
		return ret;
	ret = dirtylog_open(&s->dlog, s->svm.pid);
	if (ret < 0)
		return ret;
	ramcache_lock(&s->cache);
	s->cache.dlog = &s->dlog;
	ramcache_unlock(&s->cache);
	ret = evloop_add(s->loop, s->svm.chan_fd, EV_READ, svm_on_readable, s);
	if (ret == 0)
		ret = evloop_add(s->loop, s->svm.hint_fd, EV_READ, svm_on_hint,
				 s);
	return ret;
}

void svm_stop(struct secondary *s)
{
	if (s->svm.pid < 0)
		return;
	evloop_del(s->loop, s->svm.chan_fd);
	evloop_del(s->loop, s->svm.hint_fd);
	if (s->have_ram) {
		ramcache_lock(&s->cache);
		s->cache.dlog = NULL;
		ramcache_unlock(&s->cache);
	}
	dirtylog_close(&s->dlog);
	guestproc_stop(&s->svm);
}

int svm_feed(struct secondary *s, const struct proto_input *in)
{
	static const uint32_t types[PROTO_IN__MAX] = {
		[PROTO_IN_OPEN] = CHAN_EV_OPEN,
		[PROTO_IN_DATA] = CHAN_EV_DATA,
		[PROTO_IN_CLOSE] = CHAN_EV_CLOSE,
		[PROTO_IN_TICK] = CHAN_EV_TICK,
	};
	struct chan_msg ev = {
		.conn = in->conn, .seq = in->seq, .a = in->arg,
		.len = in->len, .data = in->data,
	};
	int ret;

	if (in->seq != s->input_seq + 1) {
		log_error("input event %llu from %s, expected %llu",
			  (unsigned long long)in->seq, s->peer,
			  (unsigned long long)(s->input_seq + 1));
		return -EPROTO;
	}
	ev.type = types[in->kind];
	s->input_seq = in->seq;
	if (in->kind == PROTO_IN_OPEN)
		conns_add(s, in->conn);
	else if (in->kind == PROTO_IN_CLOSE)
		conns_remove(s, in->conn);
	ret = guestproc_send(&s->svm, &ev);
	watch(s);
	return ret;
}

static int forward_output(void *opaque, const struct chan_msg *m)
{
	struct secondary *s = opaque;
	struct proto_msg out = { .type = PROTO_OUTPUT };

	if (m->type != CHAN_OUTPUT && m->type != CHAN_CLOSE) {
		log_warn("SVM sent an unexpected message type %u", m->type);
		return 0;
	}
	if (m->type == CHAN_CLOSE)
		conns_remove(s, m->conn);
	out.output.conn = m->conn;
	out.output.kind = m->type == CHAN_OUTPUT ? PROTO_OUT_DATA :
						   PROTO_OUT_CLOSE;
	out.output.len = m->type == CHAN_OUTPUT ? m->len : 0;
	out.output.data = m->data;
	/* A broken link is for on_link and secondary_tick to report (the
	 * primary is lost); it must never pass for the SVM's death. */
	if (s->link)
		sec_link_send(s, &out);
	return 0;
}

static void watch(struct secondary *s)
{
	if (s->svm.pid >= 0)
		evloop_mod(s->loop, s->svm.chan_fd, guestproc_events(&s->svm));
}

void svm_on_readable(struct evloop *l, int fd, uint32_t events, void *opaque)
{
	struct secondary *s = opaque;
	int ret;

	(void)l;
	(void)fd;
	(void)events;
	ret = guestproc_pump(&s->svm, NULL, forward_output, s);
	if (ret < 0) {
		log_error("SVM channel: %s", strerror(-ret));
		incoming_reset(s, "the SVM went away");
		return;
	}
	watch(s);
}

/* The secondary sends nothing between checkpoints, so a hint needs no work
 * here: the next checkpoint overwrites whatever the SVM freed. */
void svm_on_hint(struct evloop *l, int fd, uint32_t events, void *opaque)
{
	struct secondary *s = opaque;
	struct chan_msg m, ack = { .type = CHAN_HINT_ACK };

	(void)l;
	(void)fd;
	(void)events;
	if (chan_recv(&s->svm.hint_rd, &m) == 0 && m.type == CHAN_HINT)
		chan_send(s->svm.hint_fd, &ack);
	else
		incoming_reset(s, "the SVM's hint channel closed");
}

int svm_barrier(struct secondary *s)
{
	int ret = guestproc_barrier(&s->svm, ++s->barrier_id,
				    BARRIER_TIMEOUT_MS, forward_output,
				    sec_link_heartbeat_idle, s);

	watch(s);
	return ret;
}
