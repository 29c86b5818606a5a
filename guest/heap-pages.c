// SPDX-License-Identifier: MIT
/*
 * Runs of whole pages: the free-run bins, boundary tags, coalescing, and the
 * zero-then-hint step that every page goes through on its way back to free.
 *
 * A free run of len pages at head is tagged HP_FREE (len) at head and, when
 * len >= 2, HP_FREE_TAIL (head) at its last page; pages in between are not
 * looked at. Allocated runs tag their last page HP_LARGE_TAIL (a slab page
 * is its own head and tail), so a page's left neighbour tells at once
 * whether a free run ends there.
 */
#include "heap-pages.h"

#include <string.h>

#include "log.h"

static unsigned int bin_of(uint32_t len)
{
	unsigned int b = 31 - (unsigned int)__builtin_clz(len);

	return b < HEAP_NBINS ? b : HEAP_NBINS - 1;
}

static void bin_unlink(struct heap *h, uint32_t head)
{
	struct heap_page *p = &h->pages[head];

	if (p->prev != HEAP_NONE)
		h->pages[p->prev].next = p->next;
	else
		h->m->bins[bin_of(p->len)] = p->next;
	if (p->next != HEAP_NONE)
		h->pages[p->next].prev = p->prev;
	p->next = p->prev = HEAP_NONE;
}

void heap_free_run_insert(struct heap *h, uint32_t head, uint32_t len)
{
	struct heap_page *p = &h->pages[head];
	uint32_t *bin = &h->m->bins[bin_of(len)];

	p->kind = HP_FREE;
	p->len = len;
	if (len > 1) {
		h->pages[head + len - 1].kind = HP_FREE_TAIL;
		h->pages[head + len - 1].len = head;
	}
	p->prev = HEAP_NONE;
	p->next = *bin;
	if (*bin != HEAP_NONE)
		h->pages[*bin].prev = head;
	*bin = head;
}

/* Marks [head, head + n) allocated: head HP_LARGE, tail HP_LARGE_TAIL. */
static void mark_large(struct heap *h, uint32_t head, uint32_t n)
{
	h->pages[head].kind = HP_LARGE;
	h->pages[head].len = n;
	h->pages[head].next = h->pages[head].prev = HEAP_NONE;
	if (n > 1)
		h->pages[head + n - 1].kind = HP_LARGE_TAIL;
}

/* Takes n pages from the front of free run head, giving back the rest. */
static void carve(struct heap *h, uint32_t head, uint32_t n)
{
	uint32_t len = h->pages[head].len;

	bin_unlink(h, head);
	if (len > n)
		heap_free_run_insert(h, head + n, len - n);
	mark_large(h, head, n);
}

uint32_t heap_pages_alloc(struct heap *h, uint32_t n)
{
	unsigned int b = bin_of(n);
	uint32_t i;

	/* The first bin may hold runs shorter than n: first fit there. Any
	 * run in a higher bin is long enough, so take its first. */
	for (i = h->m->bins[b]; i != HEAP_NONE; i = h->pages[i].next) {
		if (h->pages[i].len >= n) {
			carve(h, i, n);
			return i;
		}
	}
	for (b++; b < HEAP_NBINS; b++) {
		i = h->m->bins[b];
		if (i != HEAP_NONE) {
			carve(h, i, n);
			return i;
		}
	}
	return HEAP_NONE;
}

/* Zeroes and hints freshly freed pages: the daemon must drop them from
 * migration before they can be handed out again (DESIGN.md I3). */
static void zero_and_hint(struct heap *h, uint32_t head, uint32_t n)
{
	void *addr = heap_page_addr(h, head);
	size_t len = (size_t)n << HEAP_PAGE_SHIFT;
	int err;

	memset(addr, 0, len);
	h->m->hinted_pages += n;
	if (!h->hint)
		return;
	err = h->hint(h->hint_arg, addr, len);
	if (err)
		log_warn("heap: free page hint for %u pages at page %u: %s",
			 n, head, strerror(-err));
}

void heap_pages_free(struct heap *h, uint32_t head, uint32_t n)
{
	uint32_t end = head + n;

	zero_and_hint(h, head, n);

	/* Coalesce with a free run ending just before us... */
	if (head > h->m->first_page) {
		uint32_t left = head - 1;
		struct heap_page *lp = &h->pages[left];

		if (lp->kind == HP_FREE_TAIL)
			left = lp->len;
		if (h->pages[left].kind == HP_FREE &&
		    left + h->pages[left].len == head) {
			bin_unlink(h, left);
			head = left;
		}
	}
	/* ...and with one starting just after. */
	if (end < h->m->npages && h->pages[end].kind == HP_FREE) {
		uint32_t rlen = h->pages[end].len;

		bin_unlink(h, end);
		end += rlen;
	}
	heap_free_run_insert(h, head, end - head);
}

bool heap_pages_grow(struct heap *h, uint32_t head, uint32_t n, uint32_t m)
{
	uint32_t next = head + n;
	uint32_t rlen;

	if (next >= h->m->npages || h->pages[next].kind != HP_FREE)
		return false;
	rlen = h->pages[next].len;
	if (n + rlen < m)
		return false;
	bin_unlink(h, next);
	if (n + rlen > m)
		heap_free_run_insert(h, head + m, n + rlen - m);
	if (n > 1)
		h->pages[head + n - 1].kind = HP_UNUSED;
	mark_large(h, head, m);
	return true;
}
