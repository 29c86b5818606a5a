// SPDX-License-Identifier: MIT
/*
 * colo_alloc() and friends over the heaps of guest RAM, one per block, tried
 * in block order, and the free page hint round trip to the daemon.
 */
#include "guest-priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/*
 * Tells the daemon that [addr, addr + len) was zeroed and is free, and waits
 * for its answer: only then may the allocator hand the pages out again, or
 * a write to them could race with the daemon dropping them from migration.
 */
int guest_hint_pages(void *arg, void *addr, size_t len)
{
	struct colo_guest *g = arg;
	uint64_t a = (uint64_t)(uintptr_t)addr;
	struct chan_msg m = { .type = CHAN_HINT, .c = len };
	uint32_t i;
	int err;

	if (g->hint_fd < 0)
		return 0;
	for (i = 0; i < g->nblocks; i++)
		if (a >= g->blk[i].addr && a - g->blk[i].addr < g->blk[i].size)
			break;
	if (i == g->nblocks)
		return -EFAULT;
	m.a = i;
	m.b = a - g->blk[i].addr;
	err = chan_send(g->hint_fd, &m);
	if (err)
		return err;
	err = chan_recv(&g->hints, &m);
	if (err)
		return err;
	if (m.type != CHAN_HINT_ACK)
		return -EPROTO;
	return (int)(int64_t)m.a;
}

static struct heap *heap_of(struct colo_guest *g, const void *p)
{
	uint32_t i;

	for (i = 0; i < g->nblocks; i++)
		if (heap_contains(&g->blk[i].heap, p))
			return &g->blk[i].heap;
	log_error("colo_free: %p is not in guest RAM", p);
	abort();
}

void *colo_alloc(struct colo_guest *g, size_t size)
{
	uint32_t i;
	void *p;

	for (i = 0; i < g->nblocks; i++) {
		p = heap_alloc(&g->blk[i].heap, size);
		if (p)
			return p;
	}
	return NULL;
}

void *colo_calloc(struct colo_guest *g, size_t n, size_t size)
{
	void *p;

	if (size && n > SIZE_MAX / size)
		return NULL;
	/* Free pages are zeroed when freed, but a resumed SVM's free pages
	 * hold whatever its cache had: never count on them being zero. */
	p = colo_alloc(g, n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}

void *colo_realloc(struct colo_guest *g, void *p, size_t size)
{
	struct heap *h;
	size_t old;
	void *q;

	if (!p)
		return colo_alloc(g, size);
	h = heap_of(g, p);
	q = heap_realloc(h, p, size);
	if (q || g->nblocks == 1)
		return q;
	/* Its own block is full: move it to another. */
	q = colo_alloc(g, size);
	if (!q)
		return NULL;
	old = heap_usable_size(h, p);
	memcpy(q, p, old < size ? old : size);
	heap_free(h, p);
	return q;
}

void colo_free(struct colo_guest *g, void *p)
{
	if (p)
		heap_free(heap_of(g, p), p);
}

void colo_heap_stats(const struct colo_guest *g, struct colo_heap_stats *st)
{
	uint32_t i;

	memset(st, 0, sizeof(*st));
	for (i = 0; i < g->nblocks; i++) {
		st->ram_bytes += g->blk[i].size;
		st->used_bytes += g->blk[i].heap.m->used_bytes;
		st->hinted_pages += g->blk[i].heap.m->hinted_pages;
	}
}
