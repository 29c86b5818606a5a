// SPDX-License-Identifier: MIT
/*
 * The SVM: the secondary's copy of the guest. It starts from the RAM cache
 * after live sync, then gets the primary's input events in order; its
 * output goes back to the primary's comparator.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "evloop.h"
#include "log.h"
#include "proc-guest.h"
#include "ramblock.h"
#include "svm-exec.h"

#define GUEST_START_TIMEOUT_MS 10000
#define BARRIER_TIMEOUT_MS 30000

void svm_init(struct svm *v, struct evloop *loop, const char *guest,
	      const char *const *guest_args, const struct svm_ops *ops)
{
	memset(v, 0, sizeof(*v));
	v->loop = loop;
	v->guest = guest;
	v->guest_args = guest_args;
	v->ops = *ops;
	v->proc.pid = -1;
	v->proc.chan_fd = -1;
	v->proc.hint_fd = -1;
	v->proc.rd.fd = v->proc.wr.fd = v->proc.hint_rd.fd = -1;
	v->dlog.pagemap_fd = -1;
}

int svm_use_exec(struct svm *v, uint16_t port)
{
	v->is_exec = true;
	v->exec_port = port;
	return svm_exec_init(v);
}

void svm_deinit(struct svm *v)
{
	svm_stop(v);
	free(v->exec);
	v->exec = NULL;
	free(v->conns);
	v->conns = NULL;
	v->nconns = v->conns_cap = 0;
}

bool svm_running(const struct svm *v)
{
	if (v->is_exec)
		return svm_exec_running(v);
	return v->proc.pid > 0;
}

void svm_conns_add(struct svm *v, uint32_t id)
{
	if (id > v->max_conn_id)
		v->max_conn_id = id;
	if (v->nconns == v->conns_cap) {
		size_t cap = v->conns_cap ? v->conns_cap * 2 : 64;
		uint32_t *c = realloc(v->conns, cap * sizeof(*c));

		if (!c)
			return;   /* only costs a stale connection after takeover */
		v->conns = c;
		v->conns_cap = cap;
	}
	v->conns[v->nconns++] = id;
}

void svm_conns_remove(struct svm *v, uint32_t id)
{
	size_t i;

	for (i = 0; i < v->nconns; i++) {
		if (v->conns[i] == id) {
			v->conns[i] = v->conns[--v->nconns];
			return;
		}
	}
}

int svm_conns_replace(struct svm *v, const uint32_t *ids, size_t n)
{
	size_t i;

	v->nconns = 0;
	for (i = 0; i < n; i++)
		svm_conns_add(v, ids[i]);
	return v->nconns == n ? 0 : -ENOMEM;
}

void svm_conns_clear(struct svm *v)
{
	v->nconns = 0;
	v->max_conn_id = 0;
}

static void watch(struct svm *v)
{
	if (v->proc.pid >= 0)
		evloop_mod(v->loop, v->proc.chan_fd, guestproc_events(&v->proc));
}

/* The input events of one loop round (a link read's worth) go to the SVM
 * in one write, at the end of the round (evloop_defer). */
static void flush_events(void *opaque)
{
	struct svm *v = opaque;

	if (v->is_exec || v->proc.pid < 0)
		return;
	if (guestproc_flush(&v->proc) < 0) {
		v->ops.gone(v->ops.opaque, "the SVM went away");
		return;
	}
	watch(v);
}

/* guestproc hands one opaque to both of its callbacks: ours. */
static int idle(void *opaque)
{
	struct svm *v = opaque;

	return v->ops.idle ? v->ops.idle(v->ops.opaque) : 0;
}

static int forward_output(void *opaque, const struct chan_msg *m)
{
	struct svm *v = opaque;
	struct proto_msg out = { .type = PROTO_OUTPUT };

	if (m->type != CHAN_OUTPUT && m->type != CHAN_CLOSE) {
		log_warn("SVM sent an unexpected message type %u", m->type);
		return 0;
	}
	if (m->type == CHAN_CLOSE)
		svm_conns_remove(v, m->conn);
	out.output.conn = m->conn;
	out.output.kind = m->type == CHAN_OUTPUT ? PROTO_OUT_DATA :
						   PROTO_OUT_CLOSE;
	out.output.len = m->type == CHAN_OUTPUT ? m->len : 0;
	out.output.data = m->data;
	v->ops.output(v->ops.opaque, &out);
	return 0;
}

static void on_readable(struct evloop *l, int fd, uint32_t events,
			void *opaque)
{
	struct svm *v = opaque;
	int ret;

	(void)l;
	(void)fd;
	(void)events;
	ret = guestproc_pump(&v->proc, NULL, forward_output, v);
	if (ret < 0) {
		log_error("SVM channel: %s", strerror(-ret));
		v->ops.gone(v->ops.opaque, "the SVM went away");
		return;
	}
	watch(v);
}

/*
 * The secondary sends nothing between checkpoints, so a hint needs no work
 * here: the next checkpoint overwrites whatever the SVM freed. The SVM
 * waits for the answer, so it comes from the loop and from a barrier's
 * wait alike (one thread answers both).
 */
static int answer_hint(void *opaque)
{
	struct svm *v = opaque;
	struct chan_msg m, ack = { .type = CHAN_HINT_ACK };
	int ret = chan_recv(&v->proc.hint_rd, &m);

	if (ret == 0 && m.type != CHAN_HINT)
		ret = -EPROTO;
	if (ret == 0)
		ret = chan_send(v->proc.hint_fd, &ack);
	return ret;
}

static void on_hint(struct evloop *l, int fd, uint32_t events, void *opaque)
{
	struct svm *v = opaque;

	(void)l;
	(void)fd;
	(void)events;
	if (answer_hint(v) < 0)
		v->ops.gone(v->ops.opaque, "the SVM's hint channel closed");
}

int svm_watch(struct svm *v)
{
	int ret;

	/* A program's fds stay in the loop while it runs (proc-guest). */
	if (v->is_exec)
		return 0;
	ret = evloop_add(v->loop, v->proc.chan_fd, EV_READ, on_readable, v);

	if (ret == 0)
		ret = evloop_add(v->loop, v->proc.hint_fd, EV_READ, on_hint, v);
	return ret;
}

void svm_unwatch(struct svm *v)
{
	if (v->is_exec)
		return;
	evloop_defer_cancel(v->loop, flush_events, v);
	evloop_del(v->loop, v->proc.chan_fd);
	evloop_del(v->loop, v->proc.hint_fd);
}

int svm_start(struct svm *v, struct ram_layout *ram, uint64_t input_seq)
{
	int ret;

	v->input_seq = input_seq;
	if (v->is_exec)
		return svm_exec_start(v);
	/* The primary waits for our ack meanwhile: heartbeats go on. */
	ret = guestproc_spawn(&v->proc, v->guest, v->guest_args, ram, true,
			      GUEST_START_TIMEOUT_MS, idle, v);
	if (ret < 0)
		return ret;
	ret = dirtylog_open(&v->dlog, v->proc.pid);
	if (ret < 0)
		return ret;
	return svm_watch(v);
}

void svm_stop(struct svm *v)
{
	if (v->is_exec) {
		if (v->exec)
			svm_exec_stop(v);
		return;
	}
	if (v->proc.pid < 0)
		return;
	svm_unwatch(v);
	dirtylog_close(&v->dlog);
	guestproc_stop(&v->proc);
}

void svm_move(struct svm *dst, struct svm *src)
{
	/* Events queued for the guest follow it to dst. */
	if (src->loop)
		evloop_defer_cancel(src->loop, flush_events, src);
	*dst = *src;
	if (dst->loop && chan_queued(&dst->proc.wr))
		evloop_defer(dst->loop, flush_events, dst);
	memset(&src->dlog, 0, sizeof(src->dlog));
	src->dlog.pagemap_fd = -1;
	src->proc.pid = -1;
	src->conns = NULL;
	src->nconns = src->conns_cap = 0;
	src->max_conn_id = 0;
	/* The program's callbacks name the SVM that holds it. */
	src->exec = NULL;
	src->exec_cache = NULL;
	src->exec_track = NULL;
	src->exec_twin_is_cache = false;
	if (dst->exec)
		dst->exec->opaque = dst;
}

int svm_cache_image(struct svm *v, const struct proc_image *img)
{
	return v->is_exec ? svm_exec_cache_add(v, img) : -EINVAL;
}

void svm_drop_cache(struct svm *v)
{
	if (v->is_exec)
		svm_exec_drop_cache(v);
}

int svm_apply_image(struct svm *v, const struct proc_image *img,
		    const uint32_t *conns, size_t nconns,
		    struct svm_image_digests *dg)
{
	if (!v->is_exec || !svm_exec_running(v))
		return -ECHILD;
	return svm_exec_apply(v, img, conns, nconns, dg);
}

int svm_feed(struct svm *v, const struct proto_input *in)
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

	if (in->seq != v->input_seq + 1) {
		log_error("input event %llu, expected %llu",
			  (unsigned long long)in->seq,
			  (unsigned long long)(v->input_seq + 1));
		return -EPROTO;
	}
	ev.type = types[in->kind];
	v->input_seq = in->seq;
	if (in->kind == PROTO_IN_OPEN)
		svm_conns_add(v, in->conn);
	else if (in->kind == PROTO_IN_CLOSE)
		svm_conns_remove(v, in->conn);
	if (v->is_exec)
		return svm_exec_feed(v, in);
	ret = guestproc_send(&v->proc, &ev);
	if (ret == 0)
		evloop_defer(v->loop, flush_events, v);
	return ret;
}

int svm_barrier(struct svm *v)
{
	const struct guestproc_wait_ops ops = {
		.on_msg = forward_output, .on_hint = answer_hint, .idle = idle,
		.opaque = v,
	};
	int ret;

	/* Its input is queued in order already; applying the image stops
	 * it wherever it is, and its output since the last checkpoint is
	 * dropped then (I5). */
	if (v->is_exec)
		return svm_exec_running(v) ? 0 : -ECHILD;
	ret = guestproc_barrier(&v->proc, ++v->barrier_id,
				    BARRIER_TIMEOUT_MS, &ops);

	watch(v);
	return ret;
}
