// SPDX-License-Identifier: MIT
/*
 * A consistency walk over a heap, for tests and for a resumed guest that
 * wants to know its RAM is sane before trusting it: every page belongs to
 * exactly one run, tags agree, the lists hold exactly the runs and slabs
 * they should, no two free runs touch, and used_bytes adds up.
 */
#include "heap.h"

#include <errno.h>

#include "heap-slab.h"
#include "log.h"

#define FAIL(...)                                 \
	do {                                      \
		log_error("heap check: " __VA_ARGS__); \
		return -EUCLEAN;                  \
	} while (0)

struct walk {
	uint64_t free_runs, free_pages, partial, used;
};

static int walk_runs(const struct heap *h, struct walk *w)
{
	uint32_t i = h->m->first_page, len;
	bool prev_free = false;

	while (i < h->m->npages) {
		const struct heap_page *p = &h->pages[i];
		uint32_t slots;

		switch (p->kind) {
		case HP_FREE:
			len = p->len;
			if (!len || len > h->m->npages - i)
				FAIL("free run at %u has length %u", i, len);
			if (len > 1 && (h->pages[i + len - 1].kind != HP_FREE_TAIL ||
					h->pages[i + len - 1].len != i))
				FAIL("free run at %u: bad tail tag", i);
			if (prev_free)
				FAIL("free run at %u follows another", i);
			w->free_runs++;
			w->free_pages += len;
			prev_free = true;
			break;
		case HP_LARGE:
			len = p->len;
			if (!len || len > h->m->npages - i)
				FAIL("run at %u has length %u", i, len);
			if (len > 1 && h->pages[i + len - 1].kind != HP_LARGE_TAIL)
				FAIL("run at %u: bad tail tag", i);
			w->used += (uint64_t)len << HEAP_PAGE_SHIFT;
			prev_free = false;
			break;
		case HP_SLAB:
			if (p->cls >= HEAP_NCLASS)
				FAIL("slab at %u has class %u", i, p->cls);
			len = 1;
			slots = HEAP_PAGE / heap_class_size(p->cls);
			if (p->inuse > p->slab.bump || p->slab.bump > slots)
				FAIL("slab at %u: inuse %u bump %u", i, p->inuse,
				     p->slab.bump);
			if (p->inuse < slots)
				w->partial++;
			w->used += (uint64_t)p->inuse * heap_class_size(p->cls);
			prev_free = false;
			break;
		default:
			FAIL("page %u starts no run (kind %u)", i, p->kind);
		}
		i += len;
	}
	return 0;
}

static int walk_lists(const struct heap *h, const struct walk *w)
{
	uint64_t runs = 0, slabs = 0, steps;
	uint32_t b, i;
	int c;

	for (b = 0; b < HEAP_NBINS; b++) {
		steps = 0;
		for (i = h->m->bins[b]; i != HEAP_NONE; i = h->pages[i].next) {
			if (i >= h->m->npages || h->pages[i].kind != HP_FREE ||
			    31u - (uint32_t)__builtin_clz(h->pages[i].len) != b)
				FAIL("bin %u holds page %u", b, i);
			if (++steps > w->free_runs)
				FAIL("bin %u loops", b);
			runs++;
		}
	}
	for (c = 0; c < HEAP_NCLASS; c++) {
		steps = 0;
		for (i = h->m->partial[c]; i != HEAP_NONE; i = h->pages[i].next) {
			if (i >= h->m->npages || h->pages[i].kind != HP_SLAB ||
			    h->pages[i].cls != c)
				FAIL("class %d list holds page %u", c, i);
			if (++steps > w->partial)
				FAIL("class %d list loops", c);
			slabs++;
		}
	}
	if (runs != w->free_runs)
		FAIL("%llu free runs, %llu in bins",
		     (unsigned long long)w->free_runs, (unsigned long long)runs);
	if (slabs != w->partial)
		FAIL("%llu slabs with room, %llu listed",
		     (unsigned long long)w->partial, (unsigned long long)slabs);
	return 0;
}

int heap_check(const struct heap *h, uint64_t *free_pages)
{
	struct walk w = { 0 };
	int err;

	err = walk_runs(h, &w);
	if (!err)
		err = walk_lists(h, &w);
	if (err)
		return err;
	if (w.used != h->m->used_bytes)
		FAIL("used_bytes %llu, objects add up to %llu",
		     (unsigned long long)h->m->used_bytes,
		     (unsigned long long)w.used);
	if (free_pages)
		*free_pages = w.free_pages;
	return 0;
}
