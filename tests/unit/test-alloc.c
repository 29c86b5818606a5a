// SPDX-License-Identifier: MIT
/*
 * The guest allocator against a naive model: random alloc/free/realloc
 * sequences on two heaps at different addresses, checking that live objects
 * never overlap, keep their contents, that both heaps stay byte-identical
 * (determinism, and no address leaking into the metadata), that a copy of
 * a heap attached elsewhere goes on identically (a resumed SVM), and that
 * every hinted range is page aligned, zeroed and really free.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "tap.h"

#define HEAP_BYTES (8u << 20)
#define MAX_LIVE 2048

struct obj {
	size_t off;     /* from the heap base; the same in every heap */
	size_t size;
	uint8_t tag;
};

struct model {
	struct obj live[MAX_LIVE];
	unsigned int n;
	uint64_t hinted_pages;
};

struct side {
	struct heap h;
	uint8_t *buf;
	struct model *model;
};

static int on_hint(void *arg, void *addr, size_t len)
{
	struct side *s = arg;
	size_t off = (size_t)((uint8_t *)addr - s->buf);
	unsigned int i;

	CHECK(off % HEAP_PAGE == 0);
	CHECK(len % HEAP_PAGE == 0 && len > 0);
	CHECK(off + len <= HEAP_BYTES);
	for (size_t k = 0; k < len; k++)
		CHECK(((uint8_t *)addr)[k] == 0);
	/* The object was dropped from the model before heap_free: no live
	 * object may touch the hinted range. */
	for (i = 0; i < s->model->n; i++) {
		const struct obj *o = &s->model->live[i];

		CHECK(o->off + o->size <= off || o->off >= off + len);
	}
	s->model->hinted_pages += len / HEAP_PAGE;
	return 0;
}

static void fill(uint8_t *p, size_t size, uint8_t tag)
{
	for (size_t k = 0; k < size; k++)
		p[k] = (uint8_t)(tag + k * 7);
}

static bool intact(const uint8_t *p, size_t size, uint8_t tag)
{
	for (size_t k = 0; k < size; k++)
		if (p[k] != (uint8_t)(tag + k * 7))
			return false;
	return true;
}

static int cmp_obj(const void *a, const void *b)
{
	const struct obj *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

static void check_model(struct side *s)
{
	struct model *m = s->model;
	struct obj sorted[MAX_LIVE];

	memcpy(sorted, m->live, m->n * sizeof(sorted[0]));
	qsort(sorted, m->n, sizeof(sorted[0]), cmp_obj);
	for (unsigned int i = 0; i < m->n; i++) {
		CHECK(intact(s->buf + sorted[i].off, sorted[i].size,
			     sorted[i].tag));
		CHECK(heap_usable_size(&s->h, s->buf + sorted[i].off) >=
		      sorted[i].size);
		if (i + 1 < m->n)
			CHECK(sorted[i].off + sorted[i].size <= sorted[i + 1].off);
	}
	CHECK_EQ(heap_check(&s->h, NULL), 0);
}

static size_t rand_size(uint64_t *seed)
{
	uint64_t r = test_rand(seed);

	switch (r % 10) {
	case 0:
		return (r >> 8) % 3;               /* 0..2 */
	case 1: case 2: case 3: case 4: case 5:
		return (r >> 8) % 300;
	case 6: case 7:
		return (r >> 8) % 2100;            /* around the class edge */
	case 8:
		return (r >> 8) % 40000;
	default:
		return (r >> 8) % (600u << 10);    /* may run the heap full */
	}
}

/* One random step on both sides (b may be NULL): the same call each. */
static void step(struct side *a, struct side *b, uint64_t *seed)
{
	struct model *m = a->model;
	uint64_t r = test_rand(seed);
	unsigned int op = (unsigned int)(r % 3), i;
	size_t size = rand_size(seed);
	uint8_t *pa, *pb = NULL;
	struct obj o;

	if (m->n == 0 || (op == 0 && m->n < MAX_LIVE)) {
		pa = heap_alloc(&a->h, size);
		if (b)
			pb = heap_alloc(&b->h, size);
		if (!pa) {
			CHECK(!b || !pb);
			return;
		}
		o = (struct obj){ (size_t)(pa - a->buf), size, (uint8_t)r };
		if (b)
			CHECK_EQ(pb - b->buf, o.off);
		fill(pa, size, o.tag);
		if (b)
			fill(pb, size, o.tag);
		m->live[m->n++] = o;
		return;
	}
	i = (unsigned int)((r >> 8) % m->n);
	o = m->live[i];
	if (op == 1) {
		/* Drop from the model first: the hint check looks at it. */
		m->live[i] = m->live[--m->n];
		heap_free(&a->h, a->buf + o.off);
		if (b)
			heap_free(&b->h, b->buf + o.off);
		return;
	}
	m->live[i] = m->live[--m->n];
	pa = heap_realloc(&a->h, a->buf + o.off, size);
	if (b)
		pb = heap_realloc(&b->h, b->buf + o.off, size);
	if (!pa) {
		CHECK(!b || !pb);
		m->live[m->n++] = o;    /* a failed realloc keeps the old one */
		return;
	}
	if (b)
		CHECK_EQ(pb - b->buf, pa - a->buf);
	CHECK(intact(pa, o.size < size ? o.size : size, o.tag));
	o.off = (size_t)(pa - a->buf);
	o.size = size;
	o.tag = (uint8_t)(r >> 16);
	fill(pa, size, o.tag);
	if (b)
		fill(pb, size, o.tag);
	m->live[m->n++] = o;
}

static uint8_t *new_buf(void)
{
	uint8_t *p = aligned_alloc(HEAP_PAGE, HEAP_BYTES);

	CHECK(p);
	memset(p, 0xa5, HEAP_BYTES);    /* nothing may rely on zeroed RAM */
	return p;
}

static void test_random(uint64_t seed)
{
	static struct model ma;
	/* Offsets are equal on every side, so one model serves them all. */
	struct side a = { .buf = new_buf(), .model = &ma };
	struct side b = { .buf = new_buf(), .model = &ma };
	struct side c = { .buf = new_buf(), .model = &ma };
	uint64_t free_pages;
	int i;

	memset(&ma, 0, sizeof(ma));
	CHECK_EQ(heap_format(&a.h, a.buf, HEAP_BYTES, on_hint, &a), 0);
	CHECK_EQ(heap_format(&b.h, b.buf, HEAP_BYTES, on_hint, &b), 0);
	for (i = 0; i < 20000; i++) {
		step(&a, &b, &seed);
		if (i % 2000 == 0) {
			check_model(&a);
			CHECK(memcmp(a.buf, b.buf, HEAP_BYTES) == 0);
		}
	}
	check_model(&a);
	CHECK(memcmp(a.buf, b.buf, HEAP_BYTES) == 0);
	CHECK(ma.hinted_pages > 0);

	/* A copy attached at another address continues exactly like a. */
	memcpy(c.buf, a.buf, HEAP_BYTES);
	CHECK_EQ(heap_attach(&c.h, c.buf, HEAP_BYTES, on_hint, &c), 0);
	for (i = 0; i < 5000; i++)
		step(&a, &c, &seed);
	check_model(&a);
	CHECK(memcmp(a.buf, c.buf, HEAP_BYTES) == 0);

	/* Freeing everything gives every page back but the kept slabs. */
	while (ma.n) {
		struct obj o = ma.live[--ma.n];

		heap_free(&a.h, a.buf + o.off);
	}
	CHECK_EQ(a.h.m->used_bytes, 0);
	CHECK_EQ(heap_check(&a.h, &free_pages), 0);
	CHECK(free_pages + HEAP_NCLASS >=
	      a.h.m->npages - a.h.m->first_page);
	free(a.buf);
	free(b.buf);
	free(c.buf);
}

static void test_basics(void)
{
	static struct model m;
	uint8_t *buf = new_buf();
	struct side s = { .buf = buf, .model = &m };
	uint8_t *p, *q;

	memset(&m, 0, sizeof(m));
	CHECK_EQ(heap_format(&s.h, buf + 1, HEAP_BYTES - 4096, NULL, NULL),
		 -EINVAL);
	CHECK_EQ(heap_format(&s.h, buf, 4096, NULL, NULL), -ENOSPC);
	CHECK_EQ(heap_attach(&s.h, buf, HEAP_BYTES, NULL, NULL), -EINVAL);
	CHECK_EQ(heap_format(&s.h, buf, HEAP_BYTES, on_hint, &s), 0);

	/* Small objects of one class are packed into one page. */
	p = heap_alloc(&s.h, 16);
	q = heap_alloc(&s.h, 10);
	CHECK(p && q && q == p + 16);
	CHECK_EQ(heap_usable_size(&s.h, p), 16);
	/* A large object is a page-aligned run; freeing it hints it whole. */
	p = heap_alloc(&s.h, 3 * HEAP_PAGE + 1);
	CHECK(p && (uintptr_t)p % HEAP_PAGE == 0);
	memset(p, 1, 3 * HEAP_PAGE + 1);
	heap_free(&s.h, p);
	CHECK_EQ(m.hinted_pages, 4);
	/* Shrinking a run in place hints its tail. */
	p = heap_alloc(&s.h, 8 * HEAP_PAGE);
	CHECK(heap_realloc(&s.h, p, 2 * HEAP_PAGE) == p);
	CHECK_EQ(m.hinted_pages, 10);
	/* Growing in place when the next pages are free. */
	CHECK(heap_realloc(&s.h, p, 5 * HEAP_PAGE) == p);
	/* Out of memory is NULL, not a crash. */
	CHECK(heap_alloc(&s.h, HEAP_BYTES) == NULL);
	CHECK_EQ(heap_check(&s.h, NULL), 0);
	free(buf);
}

int main(void)
{
	test_basics();
	test_random(1);
	test_random(0x9e3779b97f4a7c15ULL);
	return 0;
}
