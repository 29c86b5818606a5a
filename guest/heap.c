// SPDX-License-Identifier: MIT
/*
 * The allocator's front: laying out and attaching a heap, and routing each
 * call to the slabs (small) or the page runs (large). See heap.h.
 */
#include "heap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "heap-pages.h"
#include "heap-slab.h"
#include "log.h"

static size_t pages_for(size_t bytes)
{
	return (bytes + HEAP_PAGE - 1) >> HEAP_PAGE_SHIFT;
}

static void handle_init(struct heap *h, void *base, heap_hint_fn hint,
			void *hint_arg)
{
	h->base = base;
	h->m = base;
	h->pages = (struct heap_page *)((uint8_t *)base +
					sizeof(struct heap_meta));
	h->hint = hint;
	h->hint_arg = hint_arg;
}

static int geometry(void *base, size_t size, uint32_t *npages,
		    uint32_t *first)
{
	size_t n = size >> HEAP_PAGE_SHIFT;
	size_t meta;

	if ((uintptr_t)base % HEAP_PAGE)
		return -EINVAL;
	if (n >= HEAP_NONE)
		return -EINVAL;
	meta = pages_for(sizeof(struct heap_meta) +
			 n * sizeof(struct heap_page));
	if (n < meta + 1)
		return -ENOSPC;
	*npages = (uint32_t)n;
	*first = (uint32_t)meta;
	return 0;
}

int heap_format(struct heap *h, void *base, size_t size, heap_hint_fn hint,
		void *hint_arg)
{
	uint32_t npages, first, i;
	int err;

	err = geometry(base, size, &npages, &first);
	if (err)
		return err;
	handle_init(h, base, hint, hint_arg);
	memset(base, 0, (size_t)first << HEAP_PAGE_SHIFT);
	h->m->magic = HEAP_MAGIC;
	h->m->version = HEAP_VERSION;
	h->m->npages = npages;
	h->m->first_page = first;
	for (i = 0; i < HEAP_NBINS; i++)
		h->m->bins[i] = HEAP_NONE;
	for (i = 0; i < HEAP_NCLASS; i++)
		h->m->partial[i] = HEAP_NONE;
	for (i = 0; i < first; i++)
		h->pages[i].kind = HP_META;
	heap_free_run_insert(h, first, npages - first);
	return 0;
}

int heap_attach(struct heap *h, void *base, size_t size, heap_hint_fn hint,
		void *hint_arg)
{
	const struct heap_meta *m = base;
	uint32_t npages, first;
	int err;

	err = geometry(base, size, &npages, &first);
	if (err)
		return err;
	if (m->magic != HEAP_MAGIC || m->version != HEAP_VERSION ||
	    m->npages != npages || m->first_page != first)
		return -EINVAL;
	handle_init(h, base, hint, hint_arg);
	return 0;
}

bool heap_contains(const struct heap *h, const void *p)
{
	const uint8_t *b = p;

	return b >= (uint8_t *)heap_page_addr(h, h->m->first_page) &&
	       b < (uint8_t *)heap_page_addr(h, h->m->npages);
}

static uint32_t page_of(const struct heap *h, const void *p)
{
	return (uint32_t)(((const uint8_t *)p - h->base) >> HEAP_PAGE_SHIFT);
}

void *heap_alloc(struct heap *h, size_t size)
{
	int cls = heap_size_class(size);
	size_t n;
	uint32_t head;

	if (cls >= 0)
		return heap_slab_alloc(h, cls);
	n = pages_for(size);
	if (n >= h->m->npages)
		return NULL;
	head = heap_pages_alloc(h, (uint32_t)n);
	if (head == HEAP_NONE)
		return NULL;
	h->m->used_bytes += n << HEAP_PAGE_SHIFT;
	return heap_page_addr(h, head);
}

/* The page of a live object, or abort: a bad free would corrupt the heap
 * on both hosts alike, and no later error could be traced back to it. */
static uint32_t owner_page(const struct heap *h, const void *p)
{
	uint32_t page;

	if (!heap_contains(h, p))
		goto bad;
	page = page_of(h, p);
	if (h->pages[page].kind == HP_SLAB)
		return page;
	if (h->pages[page].kind == HP_LARGE && p == heap_page_addr(h, page))
		return page;
bad:
	log_error("heap: %p is not an allocated object", p);
	abort();
}

void heap_free(struct heap *h, void *p)
{
	uint32_t page, n;

	if (!p)
		return;
	page = owner_page(h, p);
	if (h->pages[page].kind == HP_SLAB) {
		heap_slab_free(h, page, p);
		return;
	}
	n = h->pages[page].len;
	h->m->used_bytes -= (uint64_t)n << HEAP_PAGE_SHIFT;
	heap_pages_free(h, page, n);
}

size_t heap_usable_size(const struct heap *h, const void *p)
{
	uint32_t page = owner_page(h, p);

	if (h->pages[page].kind == HP_SLAB)
		return heap_class_size(h->pages[page].cls);
	return (size_t)h->pages[page].len << HEAP_PAGE_SHIFT;
}

/* Resizes a large run in place: shrink gives back its tail, growth takes
 * from a free run right after it. */
static bool resize_run(struct heap *h, uint32_t page, size_t size)
{
	uint32_t n = h->pages[page].len;
	size_t m = pages_for(size);

	if (m == n)
		return true;
	if (m < n) {
		h->pages[page].len = (uint32_t)m;
		if (m > 1)
			h->pages[page + m - 1].kind = HP_LARGE_TAIL;
		h->pages[page + n - 1].kind = HP_UNUSED;
		h->m->used_bytes -= (uint64_t)(n - m) << HEAP_PAGE_SHIFT;
		heap_pages_free(h, page + (uint32_t)m, n - (uint32_t)m);
		return true;
	}
	if (m >= h->m->npages || !heap_pages_grow(h, page, n, (uint32_t)m))
		return false;
	h->m->used_bytes += (uint64_t)(m - n) << HEAP_PAGE_SHIFT;
	return true;
}

void *heap_realloc(struct heap *h, void *p, size_t size)
{
	uint32_t page;
	size_t old;
	void *q;
	int cls;

	if (!p)
		return heap_alloc(h, size);
	page = owner_page(h, p);
	cls = heap_size_class(size);
	if (h->pages[page].kind == HP_SLAB) {
		if (cls == h->pages[page].cls)
			return p;
		old = heap_class_size(h->pages[page].cls);
	} else {
		if (cls < 0 && resize_run(h, page, size))
			return p;
		old = (size_t)h->pages[page].len << HEAP_PAGE_SHIFT;
	}
	q = heap_alloc(h, size);
	if (!q)
		return NULL;
	memcpy(q, p, old < size ? old : size);
	heap_free(h, p);
	return q;
}
