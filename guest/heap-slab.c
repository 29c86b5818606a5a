// SPDX-License-Identifier: MIT
/*
 * Small objects: one-page slabs, one size class each. A slab's bookkeeping
 * sits in its page descriptor, not in the page, so all 4096 bytes hold
 * objects. Slots are handed out from a bump index first (so a new slab is
 * not written all over just to build a free list), then from a free list
 * threaded through the freed slots as 16-bit slot numbers.
 *
 * A slab that empties goes back to the page runs (zeroed and hinted) unless
 * it is its class's only slab with room: keeping that one spares a hint
 * round trip for a workload that allocates and frees one object over and
 * over.
 */
#include "heap-slab.h"

#include <stdlib.h>
#include <string.h>

#include "heap-pages.h"
#include "log.h"

static const uint16_t class_size[HEAP_NCLASS] = {
	16, 32, 48, 64, 80, 96, 112, 128,
	160, 192, 224, 256, 320, 384, 448, 512,
	640, 768, 896, 1024, 1280, 1536, 1792, 2048,
};

_Static_assert(HEAP_SMALL_MAX == 2048, "the last class is HEAP_SMALL_MAX");

int heap_size_class(size_t size)
{
	int c;

	if (size <= 128)
		return size ? (int)((size + 15) / 16) - 1 : 0;
	for (c = 8; c < HEAP_NCLASS; c++)
		if (size <= class_size[c])
			return c;
	return -1;
}

uint32_t heap_class_size(int cls)
{
	return class_size[cls];
}

static uint16_t slots_per_slab(int cls)
{
	return (uint16_t)(HEAP_PAGE / class_size[cls]);
}

static void partial_push(struct heap *h, uint32_t page)
{
	struct heap_page *p = &h->pages[page];
	uint32_t *head = &h->m->partial[p->cls];

	p->prev = HEAP_NONE;
	p->next = *head;
	if (*head != HEAP_NONE)
		h->pages[*head].prev = page;
	*head = page;
}

static void partial_unlink(struct heap *h, uint32_t page)
{
	struct heap_page *p = &h->pages[page];

	if (p->prev != HEAP_NONE)
		h->pages[p->prev].next = p->next;
	else
		h->m->partial[p->cls] = p->next;
	if (p->next != HEAP_NONE)
		h->pages[p->next].prev = p->prev;
	p->next = p->prev = HEAP_NONE;
}

static uint32_t slab_new(struct heap *h, int cls)
{
	uint32_t page = heap_pages_alloc(h, 1);
	struct heap_page *p;

	if (page == HEAP_NONE)
		return HEAP_NONE;
	p = &h->pages[page];
	p->kind = HP_SLAB;
	p->cls = (uint8_t)cls;
	p->inuse = 0;
	p->slab.bump = 0;
	p->slab.freelist = 0;
	partial_push(h, page);
	return page;
}

void *heap_slab_alloc(struct heap *h, int cls)
{
	uint32_t page = h->m->partial[cls];
	uint32_t size = class_size[cls];
	struct heap_page *p;
	uint8_t *obj;
	uint16_t slot;

	if (page == HEAP_NONE) {
		page = slab_new(h, cls);
		if (page == HEAP_NONE)
			return NULL;
	}
	p = &h->pages[page];
	if (p->slab.freelist) {
		slot = p->slab.freelist - 1;
		obj = (uint8_t *)heap_page_addr(h, page) + slot * size;
		memcpy(&p->slab.freelist, obj, sizeof(uint16_t));
	} else {
		slot = p->slab.bump++;
		obj = (uint8_t *)heap_page_addr(h, page) + slot * size;
	}
	if (++p->inuse == slots_per_slab(cls))
		partial_unlink(h, page);
	h->m->used_bytes += size;
	return obj;
}

void heap_slab_free(struct heap *h, uint32_t page, void *ptr)
{
	struct heap_page *p = &h->pages[page];
	uint32_t size = class_size[p->cls];
	size_t off = (size_t)((uint8_t *)ptr - (uint8_t *)heap_page_addr(h, page));
	uint16_t slot = (uint16_t)(off / size);

	if (off % size || slot >= p->slab.bump || !p->inuse) {
		log_error("heap: free of %p: not an object of its slab", ptr);
		abort();
	}
	if (p->inuse == slots_per_slab(p->cls))
		partial_push(h, page);
	memcpy(ptr, &p->slab.freelist, sizeof(uint16_t));
	p->slab.freelist = slot + 1;
	p->inuse--;
	h->m->used_bytes -= size;
	if (p->inuse)
		return;
	if (h->m->partial[p->cls] == page && p->next == HEAP_NONE)
		return;         /* the class's last slab with room: keep it */
	partial_unlink(h, page);
	heap_pages_free(h, page, 1);
}
