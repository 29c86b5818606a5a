// SPDX-License-Identifier: MIT
/*
 * Decoding a proc_image (proc-image-wire.h has the layout). The bytes
 * come from the peer, so nothing in them is trusted: every count is
 * checked against its limit and against the bytes left (at the smallest
 * size one element can have) before anything is allocated for it, and
 * what apply relies on (order, alignment, bounds) is checked here, once.
 * The first thing wrong stops the decode and becomes the reason.
 *
 * The decoder is strict enough that an image it accepts encodes back to
 * the same bytes: booleans are 0 or 1, reserved fields 0, nothing
 * trails the last connection.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "proc-idle.h"
#include "proc-image-wire-int.h"
#include "proc-image-wire.h"

/* Pages are copied this much at a time, the daemon's heartbeat between. */
#define COPY_STEP (16u << 20)

/* The smallest encoding of one element of each list, in bytes. */
#define VMA_MIN (3 * 8 + 4 + 1 + 1 + 2)
#define RUN_MIN (8 + 8 + WIRE_PAGE)
#define THREAD_MIN (4 + WIRE_GP_REGS * 8 + 8 + 4)
#define END_SIZE (2 + 16 + 2)
#define FD_MIN (4 + 1 + 4 + 1 + 1 + 8 + 8 + 4 + 2 * END_SIZE + 3 * 4 + 4 + \
		8 + 8)
#define ITEM_SIZE (4 + 4 + 8)
#define CONN_MIN (4 + 2 + 8 + 8)
#define RANGE_SIZE (8 + 8)

struct reader {
	const uint8_t *p, *end;
	bool bad;
	char at[48];            /* the part being read, for the reason */
	char *why;
	size_t why_len;
};

static void fail(struct reader *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The first failure is the reason; after it every read returns 0. */
static void fail(struct reader *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (r->bad)
		return;
	r->bad = true;
	if (!r->why || !r->why_len)
		return;
	n = snprintf(r->why, r->why_len, "%s: ", r->at);
	if (n < 0 || (size_t)n >= r->why_len)
		return;
	va_start(ap, fmt);
	vsnprintf(r->why + n, r->why_len - (size_t)n, fmt, ap);
	va_end(ap);
}

static void at(struct reader *r, const char *what, size_t i)
{
	snprintf(r->at, sizeof(r->at), "%s %zu", what, i);
}

static size_t left(const struct reader *r)
{
	return (size_t)(r->end - r->p);
}

/* The next n bytes, or NULL (and the reader failed) if they are not there. */
static const uint8_t *take(struct reader *r, size_t n)
{
	const uint8_t *p = r->p;

	if (r->bad)
		return NULL;
	if (n > left(r)) {
		fail(r, "truncated: %zu bytes needed, %zu left", n, left(r));
		return NULL;
	}
	r->p += n;
	return p;
}

static uint64_t get_be(struct reader *r, size_t n)
{
	const uint8_t *p = take(r, n);
	uint64_t v = 0;

	for (size_t i = 0; p && i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static uint8_t get8(struct reader *r)
{
	return (uint8_t)get_be(r, 1);
}

static uint16_t get16(struct reader *r)
{
	return (uint16_t)get_be(r, 2);
}

static uint32_t get32(struct reader *r)
{
	return (uint32_t)get_be(r, 4);
}

static uint64_t get64(struct reader *r)
{
	return get_be(r, 8);
}

static bool get_bool(struct reader *r, const char *what)
{
	uint8_t v = get8(r);

	if (v > 1)
		fail(r, "%s is %u, not 0 or 1", what, v);
	return v == 1;
}

/*
 * A count of elements (what, for the reason) of at least min bytes each:
 * at most limit, and no more than the bytes left can hold. 0 when it is
 * neither.
 */
static size_t get_count(struct reader *r, const char *what, uint64_t limit,
			size_t min)
{
	uint64_t n = get32(r);

	if (n > limit)
		fail(r, "%llu %s, more than %llu", (unsigned long long)n, what,
		     (unsigned long long)limit);
	else if (n > left(r) / min)
		fail(r, "%llu %s cannot fit in the %zu bytes left",
		     (unsigned long long)n, what, left(r));
	return r->bad ? 0 : (size_t)n;
}

/* The section about to be read, for the reason. */
static void section(struct reader *r, const char *name)
{
	snprintf(r->at, sizeof(r->at), "%s", name);
}

/* An array of n elements of size each, zeroed; the reader fails if not. */
static void *alloc(struct reader *r, size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		fail(r, "out of memory for %zu elements", n);
	return p;
}

/* A bounded string without NUL, malloc'd; NULL (and failed) otherwise. */
static char *get_str(struct reader *r, const char *what)
{
	size_t n = get16(r);
	const uint8_t *p;
	char *s;

	if (n > PROC_WIRE_MAX_STR) {
		fail(r, "%s of %zu bytes, more than %d", what, n,
		     PROC_WIRE_MAX_STR);
		return NULL;
	}
	p = take(r, n);
	if (!p)
		return NULL;
	if (memchr(p, 0, n)) {
		fail(r, "%s holds a NUL byte", what);
		return NULL;
	}
	s = malloc(n + 1);
	if (!s) {
		fail(r, "out of memory for %s", what);
		return NULL;
	}
	memcpy(s, p, n);
	s[n] = 0;
	return s;
}

/* The header; whether the image is a delta. */
static bool get_header(struct reader *r)
{
	const uint8_t *magic;
	uint16_t version, flags;

	section(r, "header");
	magic = take(r, WIRE_MAGIC_LEN);
	if (magic && memcmp(magic, WIRE_MAGIC, WIRE_MAGIC_LEN))
		fail(r, "not a process image (bad magic)");
	version = get16(r);
	if (!r->bad && version != PROC_WIRE_VERSION)
		fail(r, "version %u, this build reads %d", version,
		     PROC_WIRE_VERSION);
	flags = get16(r);
	if (flags & ~WIRE_FLAG_DELTA)
		fail(r, "flags %#x, this build knows %#x", flags,
		     WIRE_FLAG_DELTA);
	return flags & WIRE_FLAG_DELTA;
}

static void get_vma(struct reader *r, struct proc_vma *v, uint64_t prev_end)
{
	uint32_t prot;
	uint8_t kind;

	v->start = get64(r);
	v->end = get64(r);
	v->offset = get64(r);
	prot = get32(r);
	v->shared = get_bool(r, "shared");
	kind = get8(r);
	v->path = get_str(r, "path");
	if (r->bad)
		return;
	if (v->start >= v->end || (v->start | v->end) % WIRE_PAGE)
		fail(r, "[%#llx, %#llx) is not a page-aligned range",
		     (unsigned long long)v->start, (unsigned long long)v->end);
	else if (v->start < prev_end)
		fail(r, "starts at %#llx, before the VMA before it ends",
		     (unsigned long long)v->start);
	else if (prot & ~(uint32_t)(PROT_READ | PROT_WRITE | PROT_EXEC))
		fail(r, "protection %#x", prot);
	else if (kind > PROC_VMA_OTHER)
		fail(r, "kind %u", kind);
	v->prot = (int)prot;
	v->kind = (enum proc_vma_kind)kind;
}

static void get_maps(struct reader *r, struct proc_maps *m)
{
	size_t n;

	section(r, "maps");
	n = get_count(r, "VMAs", PROC_WIRE_MAX_COUNT, VMA_MIN);

	m->vma = alloc(r, n, sizeof(*m->vma));
	for (size_t i = 0; i < n && !r->bad; i++) {
		at(r, "vma", i);
		get_vma(r, &m->vma[i], i ? m->vma[i - 1].end : 0);
		m->n++;
	}
}

static void get_run(struct reader *r, struct proc_image_run *run,
		    uint64_t prev_end)
{
	uint64_t pages;
	const uint8_t *data;

	run->addr = get64(r);
	pages = get64(r);
	if (r->bad)
		return;
	if (run->addr % WIRE_PAGE || !pages ||
	    pages > (UINT64_MAX - run->addr) / WIRE_PAGE) {
		fail(r, "%llu pages at %#llx", (unsigned long long)pages,
		     (unsigned long long)run->addr);
		return;
	}
	if (run->addr < prev_end) {
		fail(r, "at %#llx, overlapping or before the run before it",
		     (unsigned long long)run->addr);
		return;
	}
	if (pages > left(r) / WIRE_PAGE) {
		fail(r, "truncated: %llu pages, %zu bytes left",
		     (unsigned long long)pages, left(r));
		return;
	}
	data = take(r, pages * WIRE_PAGE);
	run->data = malloc(pages * WIRE_PAGE);
	if (!run->data) {
		fail(r, "out of memory for %llu pages",
		     (unsigned long long)pages);
		return;
	}
	for (size_t at = 0; at < pages * WIRE_PAGE; at += COPY_STEP) {
		size_t n = pages * WIRE_PAGE - at;

		memcpy(run->data + at, data + at, n < COPY_STEP ? n : COPY_STEP);
		(void)proc_idle_tick();         /* a heartbeat only */
	}
	run->pages = pages;
}

static void get_runs(struct reader *r, struct proc_image *img)
{
	size_t n;

	section(r, "runs");
	n = get_count(r, "runs", UINT32_MAX, RUN_MIN);

	img->runs = alloc(r, n, sizeof(*img->runs));
	for (size_t i = 0; i < n && !r->bad; i++) {
		const struct proc_image_run *prev = i ? &img->runs[i - 1] : NULL;

		at(r, "run", i);
		get_run(r, &img->runs[i],
			prev ? prev->addr + prev->pages * WIRE_PAGE : 0);
		img->n_runs++;
	}
}

static void get_thread(struct reader *r, struct proc_image_thread *t)
{
	uint64_t gp[WIRE_GP_REGS];
	uint32_t tid = get32(r), xlen;
	const uint8_t *xstate;

	for (size_t k = 0; k < WIRE_GP_REGS; k++)
		gp[k] = get64(r);
	t->regs->sigmask = get64(r);
	xlen = get32(r);
	if (!r->bad && (tid == 0 || tid > INT32_MAX))
		fail(r, "thread id %u", tid);
	if (!r->bad && xlen > PROC_XSTATE_MAX)
		fail(r, "xstate of %u bytes, more than %d", xlen,
		     PROC_XSTATE_MAX);
	xstate = take(r, xlen);
	if (!xstate)
		return;
	t->ns_tid = (pid_t)tid;
	memcpy(&t->regs->gp, gp, sizeof(gp));
	memcpy(t->regs->xstate, xstate, xlen);
	t->regs->xstate_len = xlen;
}

static void get_threads(struct reader *r, struct proc_image *img)
{
	size_t n;

	section(r, "threads");
	n = get_count(r, "threads", PROC_WIRE_MAX_COUNT, THREAD_MIN);

	img->threads = alloc(r, n, sizeof(*img->threads));
	for (size_t i = 0; i < n && !r->bad; i++) {
		struct proc_image_thread *t = &img->threads[i];

		at(r, "thread", i);
		t->regs = malloc(sizeof(*t->regs));
		if (!t->regs) {
			fail(r, "out of memory");
			break;
		}
		img->n_threads++;
		get_thread(r, t);
	}
}

static void get_end(struct reader *r, struct proc_tcp_end *e)
{
	const uint8_t *addr;

	e->family = get16(r);
	addr = take(r, sizeof(e->addr));
	e->port = get16(r);
	if (r->bad)
		return;
	memcpy(e->addr, addr, sizeof(e->addr));
	if (e->family != 0 && e->family != AF_INET && e->family != AF_INET6)
		fail(r, "address family %d", e->family);
}

static void get_items(struct reader *r, struct proc_fd *f)
{
	size_t n = get_count(r, "epoll items", PROC_WIRE_MAX_COUNT, ITEM_SIZE);

	if (r->bad)
		return;
	f->items = n ? alloc(r, n, sizeof(*f->items)) : NULL;
	for (size_t k = 0; k < n && f->items && !r->bad; k++) {
		uint32_t tfd = get32(r);

		if (tfd > INT32_MAX)
			fail(r, "epoll target fd %u", tfd);
		f->items[k].tfd = (int)tfd;
		f->items[k].events = get32(r);
		f->items[k].data = get64(r);
		f->n_items++;
	}
}

static void get_fd(struct reader *r, struct proc_fd *f, int prev_fd)
{
	uint32_t fd = get32(r);
	uint8_t kind = get8(r);

	f->fd = (int)fd;
	f->flags = (int)get32(r);
	f->cloexec = get_bool(r, "cloexec");
	if (get_bool(r, "target present"))
		f->target = get_str(r, "target");
	f->ino = get64(r);
	f->pos = get64(r);
	f->tcp_state = (int)get32(r);
	get_end(r, &f->local);
	get_end(r, &f->remote);
	f->pending = get32(r);
	f->unread = get32(r);
	f->unsent = get32(r);
	get_items(r, f);
	f->count = get64(r);
	f->sigmask = get64(r);
	if (r->bad)
		return;
	if (fd > INT32_MAX || (int)fd <= prev_fd)
		fail(r, "fd %u, not after fd %d", fd, prev_fd);
	else if (kind >= PROC_FD__MAX)
		fail(r, "kind %u", kind);
	f->kind = (enum proc_fd_kind)kind;
}

static void get_fds(struct reader *r, struct proc_fd_table *t)
{
	size_t n;

	section(r, "fds");
	n = get_count(r, "fds", PROC_WIRE_MAX_COUNT, FD_MIN);

	t->fds = alloc(r, n, sizeof(*t->fds));
	for (size_t i = 0; i < n && !r->bad; i++) {
		at(r, "fd entry", i);
		get_fd(r, &t->fds[i], i ? t->fds[i - 1].fd : -1);
		t->n++;
	}
}

static void get_conn(struct reader *r, struct proc_image_conn *c,
		     const struct proc_fd_table *fds)
{
	uint32_t fd = get32(r);
	uint64_t len;
	const uint8_t *input;
	const struct proc_fd *f;

	c->fd = (int)fd;
	c->daemon_port = get16(r);
	c->unconsumed = get64(r);
	len = get64(r);
	if (r->bad)
		return;
	f = fd <= INT32_MAX ? proc_fds_find(fds, (int)fd) : NULL;
	if (!f || f->kind != PROC_FD_TCP_CONN) {
		fail(r, "fd %u is no TCP connection of the fd table", fd);
		return;
	}
	if (len > left(r)) {
		fail(r, "truncated: %llu bytes of input, %zu left",
		     (unsigned long long)len, left(r));
		return;
	}
	if (len && len < c->unconsumed) {
		fail(r, "%llu bytes of input, fewer than the %llu unconsumed",
		     (unsigned long long)len,
		     (unsigned long long)c->unconsumed);
		return;
	}
	input = take(r, len);
	if (!len)
		return;
	c->input = malloc(len);
	if (!c->input) {
		fail(r, "out of memory for its input");
		return;
	}
	memcpy(c->input, input, len);
	c->input_len = len;
}

static void get_conns(struct reader *r, struct proc_image *img)
{
	size_t n;

	section(r, "conns");
	n = get_count(r, "connections", PROC_WIRE_MAX_COUNT, CONN_MIN);

	img->conns = alloc(r, n, sizeof(*img->conns));
	for (size_t i = 0; i < n && !r->bad; i++) {
		at(r, "conn", i);
		get_conn(r, &img->conns[i], &img->fds);
		img->n_conns++;
	}
}

/* Whether every page of [start, end) lies in carried VMAs of m. */
static bool carried(const struct proc_maps *m, uint64_t start, uint64_t end)
{
	ssize_t i = proc_maps_find(m, start);

	for (; i >= 0 && (size_t)i < m->n && start < end; i++) {
		const struct proc_vma *v = &m->vma[i];

		if (v->start > start || !proc_image_carries(v))
			return false;
		start = v->end;
	}
	return start >= end;
}

static void get_range(struct reader *r, struct proc_image_range *p,
		      const struct proc_maps *m, uint64_t prev_end)
{
	p->addr = get64(r);
	p->pages = get64(r);
	if (r->bad)
		return;
	if (p->addr % WIRE_PAGE || !p->pages ||
	    p->pages > (UINT64_MAX - p->addr) / WIRE_PAGE)
		fail(r, "%llu pages at %#llx", (unsigned long long)p->pages,
		     (unsigned long long)p->addr);
	else if (prev_end && p->addr <= prev_end)
		fail(r, "at %#llx, touching or before the range before it",
		     (unsigned long long)p->addr);
	else if (!carried(m, p->addr, p->addr + p->pages * WIRE_PAGE))
		fail(r, "%#llx+%llu pages outside the carried VMAs",
		     (unsigned long long)p->addr,
		     (unsigned long long)p->pages);
}

/* A delta's present list, and its runs inside it. */
static void get_present(struct reader *r, struct proc_image *img)
{
	size_t n, k = 0;

	section(r, "present");
	n = get_count(r, "present ranges", PROC_WIRE_MAX_COUNT, RANGE_SIZE);
	img->present = alloc(r, n, sizeof(*img->present));
	for (size_t i = 0; i < n && !r->bad; i++) {
		const struct proc_image_range *prev =
			i ? &img->present[i - 1] : NULL;

		at(r, "present range", i);
		get_range(r, &img->present[i], &img->maps,
			  prev ? prev->addr + prev->pages * WIRE_PAGE : 0);
		img->n_present++;
	}
	/* Runs and ranges are both in order: one pass over the two. */
	for (size_t i = 0; i < img->n_runs && !r->bad; i++) {
		const struct proc_image_run *run = &img->runs[i];
		uint64_t end = run->addr + run->pages * WIRE_PAGE;

		while (k < img->n_present &&
		       img->present[k].addr + img->present[k].pages *
		       WIRE_PAGE <= run->addr)
			k++;
		at(r, "run", i);
		if (k == img->n_present || img->present[k].addr > run->addr ||
		    img->present[k].addr + img->present[k].pages *
		    WIRE_PAGE < end)
			fail(r, "%#llx+%zu pages not inside a present range",
			     (unsigned long long)run->addr, run->pages);
	}
}

int proc_image_decode(const uint8_t *buf, size_t len, struct proc_image *out,
		      char *why, size_t why_len)
{
	static const uint8_t none[1];
	struct reader r = { .why = why, .why_len = why_len };

	if (!buf)               /* NULL + 0 is undefined */
		buf = none, len = 0;
	r.p = buf;
	r.end = buf + len;

	*out = (struct proc_image){ 0 };
	if (why && why_len)
		why[0] = 0;
	out->delta = get_header(&r);
	get_maps(&r, &out->maps);
	get_runs(&r, out);
	get_threads(&r, out);
	get_fds(&r, &out->fds);
	get_conns(&r, out);
	if (out->delta)
		get_present(&r, out);
	section(&r, "end");
	if (!r.bad && left(&r))
		fail(&r, "%zu bytes after the last %s", left(&r),
		     out->delta ? "present range" : "connection");
	if (r.bad) {
		proc_image_free(out);
		return -EPROTO;
	}
	return 0;
}
