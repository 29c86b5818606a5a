// SPDX-License-Identifier: MIT
/*
 * Encoding a proc_image (proc-image-wire.h has the layout). The encoder
 * runs the same writer twice: once without a buffer, only adding up the
 * length, then into a buffer of exactly that length, so page data is
 * copied once and nothing is reallocated. The decoder is
 * proc-image-wire-decode.c; what both share, proc-image-wire-int.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proc-idle.h"
#include "proc-image-wire-int.h"
#include "proc-image-wire.h"

/* Where the bytes go; without p, only how many there would be. */
struct writer {
	uint8_t *p;
	size_t len;
	int err;        /* the idle hook's, while copying pages */
};

/* Pages are copied this much at a time, the daemon's heartbeat between. */
#define COPY_STEP (16u << 20)

static void put_bytes(struct writer *w, const void *src, size_t n)
{
	if (w->p && n)
		memcpy(w->p + w->len, src, n);
	w->len += n;
}

static void put8(struct writer *w, uint8_t v)
{
	put_bytes(w, &v, 1);
}

static void put16(struct writer *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	put_bytes(w, b, sizeof(b));
}

static void put32(struct writer *w, uint32_t v)
{
	put16(w, (uint16_t)(v >> 16));
	put16(w, (uint16_t)v);
}

static void put64(struct writer *w, uint64_t v)
{
	put32(w, (uint32_t)(v >> 32));
	put32(w, (uint32_t)v);
}

static void put_str(struct writer *w, const char *s)
{
	size_t n = strlen(s);

	put16(w, (uint16_t)n);
	put_bytes(w, s, n);
}

static void put_maps(struct writer *w, const struct proc_maps *m)
{
	put32(w, (uint32_t)m->n);
	for (size_t i = 0; i < m->n; i++) {
		const struct proc_vma *v = &m->vma[i];

		put64(w, v->start);
		put64(w, v->end);
		put64(w, v->offset);
		put32(w, (uint32_t)v->prot);
		put8(w, v->shared);
		put8(w, (uint8_t)v->kind);
		put_str(w, v->path ? v->path : "");
	}
}

static void put_runs(struct writer *w, const struct proc_image *img)
{
	put32(w, (uint32_t)img->n_runs);
	for (size_t i = 0; i < img->n_runs; i++) {
		const struct proc_image_run *run = &img->runs[i];

		size_t len = run->pages * WIRE_PAGE;

		put64(w, run->addr);
		put64(w, run->pages);
		for (size_t at = 0; at < len; at += COPY_STEP) {
			put_bytes(w, run->data + at,
				  len - at < COPY_STEP ? len - at : COPY_STEP);
			if (w->p && !w->err)
				w->err = proc_idle_tick();
		}
	}
}

static void put_threads(struct writer *w, const struct proc_image *img)
{
	put32(w, (uint32_t)img->n_threads);
	for (size_t i = 0; i < img->n_threads; i++) {
		const struct proc_regs *r = img->threads[i].regs;
		uint64_t gp[WIRE_GP_REGS];

		memcpy(gp, &r->gp, sizeof(gp));
		put32(w, (uint32_t)img->threads[i].ns_tid);
		for (size_t k = 0; k < WIRE_GP_REGS; k++)
			put64(w, gp[k]);
		put64(w, r->sigmask);
		put32(w, (uint32_t)r->xstate_len);
		put_bytes(w, r->xstate, r->xstate_len);
	}
}

static void put_end(struct writer *w, const struct proc_tcp_end *e)
{
	put16(w, (uint16_t)e->family);
	put_bytes(w, e->addr, sizeof(e->addr));
	put16(w, e->port);
}

static void put_fd(struct writer *w, const struct proc_fd *f)
{
	put32(w, (uint32_t)f->fd);
	put8(w, (uint8_t)f->kind);
	put32(w, (uint32_t)f->flags);
	put8(w, f->cloexec);
	put8(w, f->target != NULL);
	if (f->target)
		put_str(w, f->target);
	put64(w, f->ino);
	put64(w, f->pos);
	put32(w, (uint32_t)f->tcp_state);
	put_end(w, &f->local);
	put_end(w, &f->remote);
	put32(w, f->pending);
	put32(w, f->unread);
	put32(w, f->unsent);
	put32(w, (uint32_t)f->n_items);
	for (size_t k = 0; k < f->n_items; k++) {
		put32(w, (uint32_t)f->items[k].tfd);
		put32(w, f->items[k].events);
		put64(w, f->items[k].data);
	}
	put64(w, f->count);
	put64(w, f->sigmask);
}

static void put_conns(struct writer *w, const struct proc_image *img)
{
	put32(w, (uint32_t)img->n_conns);
	for (size_t i = 0; i < img->n_conns; i++) {
		const struct proc_image_conn *c = &img->conns[i];
		size_t len = c->input ? c->input_len : 0;

		put32(w, (uint32_t)c->fd);
		put16(w, c->daemon_port);
		put64(w, c->unconsumed);
		put64(w, len);
		put_bytes(w, c->input, len);
	}
}

static void put_present(struct writer *w, const struct proc_image *img)
{
	put32(w, (uint32_t)img->n_present);
	for (size_t i = 0; i < img->n_present; i++) {
		put64(w, img->present[i].addr);
		put64(w, img->present[i].pages);
	}
}

static void put_image(struct writer *w, const struct proc_image *img)
{
	put_bytes(w, WIRE_MAGIC, WIRE_MAGIC_LEN);
	put16(w, PROC_WIRE_VERSION);
	put16(w, img->delta ? WIRE_FLAG_DELTA : 0);
	put_maps(w, &img->maps);
	put_runs(w, img);
	put_threads(w, img);
	put32(w, (uint32_t)img->fds.n);
	for (size_t i = 0; i < img->fds.n; i++)
		put_fd(w, &img->fds.fds[i]);
	put_conns(w, img);
	if (img->delta)
		put_present(w, img);
}

static bool str_fits(const char *s)
{
	return !s || strnlen(s, PROC_WIRE_MAX_STR + 1) <= PROC_WIRE_MAX_STR;
}

/* The limits decode holds, so that nothing encoded is refused there. */
static bool fits(const struct proc_image *img)
{
	if (img->maps.n > PROC_WIRE_MAX_COUNT ||
	    img->n_threads > PROC_WIRE_MAX_COUNT ||
	    img->fds.n > PROC_WIRE_MAX_COUNT ||
	    img->n_conns > PROC_WIRE_MAX_COUNT || img->n_runs > UINT32_MAX ||
	    (img->delta && img->n_present > PROC_WIRE_MAX_COUNT))
		return false;
	for (size_t i = 0; i < img->maps.n; i++)
		if (!str_fits(img->maps.vma[i].path))
			return false;
	for (size_t i = 0; i < img->n_threads; i++)
		if (img->threads[i].regs->xstate_len > PROC_XSTATE_MAX)
			return false;
	for (size_t i = 0; i < img->fds.n; i++)
		if (!str_fits(img->fds.fds[i].target) ||
		    img->fds.fds[i].n_items > PROC_WIRE_MAX_COUNT)
			return false;
	return true;
}

int proc_image_encode(const struct proc_image *img, uint8_t **out,
		      size_t *out_len)
{
	struct writer w = { 0 };
	size_t len;

	*out = NULL;
	*out_len = 0;
	if (!fits(img))
		return -E2BIG;
	put_image(&w, img);
	len = w.len;
	w = (struct writer){ .p = malloc(len) };
	if (!w.p)
		return -ENOMEM;
	put_image(&w, img);
	if (w.err) {
		free(w.p);
		return w.err;
	}
	*out = w.p;
	*out_len = len;
	return 0;
}
