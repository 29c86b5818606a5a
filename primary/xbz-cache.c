// SPDX-License-Identifier: MIT
/*
 * The delta cache (xbz-cache.h). The data is an anonymous mapping,
 * populated when it is made: faulted in lazily, each checkpoint's first
 * use of thousands of slots cost a fault and a page zeroed apiece, in the
 * pause (the primary's CPU for a checkpoint of 2,200 pages went from about
 * 11 ms without deltas to 17 with them, over the first few checkpoints).
 */
#include "xbz-cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ramblock.h"

/* Page indexes fit in 48 bits (a block is far below 2^60 bytes). */
static uint64_t key(uint32_t block, uint64_t page)
{
	return ((uint64_t)block << 48 | page) + 1;
}

/* Neighbouring pages in neighbouring slots (a checkpoint's runs stay
 * apart), blocks spread so that their first pages do not collide. */
static uint64_t slot(const struct xbz_cache *c, uint32_t block, uint64_t page)
{
	return (page + (uint64_t)block * 0x9e3779b97f4a7c15ull) % c->nslots;
}

int xbz_cache_init(struct xbz_cache *c, uint64_t bytes)
{
	memset(c, 0, sizeof(*c));
	if (bytes < RAM_PAGE_SIZE)
		return 0;
	c->nslots = bytes >> RAM_PAGE_SHIFT;
	c->tags = calloc(c->nslots, sizeof(*c->tags));
	c->data = mmap(NULL, c->nslots << RAM_PAGE_SHIFT,
		       PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (!c->tags || c->data == MAP_FAILED) {
		if (c->data == MAP_FAILED)
			c->data = NULL;
		xbz_cache_deinit(c);
		return -ENOMEM;
	}
	return 0;
}

void xbz_cache_deinit(struct xbz_cache *c)
{
	free(c->tags);
	if (c->data)
		munmap(c->data, c->nslots << RAM_PAGE_SHIFT);
	memset(c, 0, sizeof(*c));
}

uint8_t *xbz_cache_lookup(const struct xbz_cache *c, uint32_t block,
			  uint64_t page)
{
	uint64_t s;

	if (!c->nslots)
		return NULL;
	s = slot(c, block, page);
	if (c->tags[s] != key(block, page))
		return NULL;
	return c->data + (s << RAM_PAGE_SHIFT);
}

void xbz_cache_insert(struct xbz_cache *c, uint32_t block, uint64_t page,
		      const uint8_t *bytes)
{
	uint64_t s;

	if (!c->nslots)
		return;
	s = slot(c, block, page);
	if (!c->tags[s])
		c->nvalid++;
	c->tags[s] = key(block, page);
	memcpy(c->data + (s << RAM_PAGE_SHIFT), bytes, RAM_PAGE_SIZE);
}

void xbz_cache_invalidate(struct xbz_cache *c, uint32_t block, uint64_t first,
			  uint64_t count)
{
	uint64_t p, s;

	if (!c->nvalid)
		return;
	/* A range larger than the cache: every slot is cheaper to look at
	 * than every page (a discard can name a whole block). */
	if (count >= c->nslots) {
		for (s = 0; s < c->nslots; s++) {
			uint64_t k = c->tags[s];

			if (k && (k - 1) >> 48 == block &&
			    ((k - 1) & ((1ull << 48) - 1)) - first < count) {
				c->tags[s] = 0;
				c->nvalid--;
			}
		}
		return;
	}
	for (p = first; p < first + count; p++) {
		s = slot(c, block, p);
		if (c->tags[s] == key(block, p)) {
			c->tags[s] = 0;
			c->nvalid--;
		}
	}
}

void xbz_cache_invalidate_all(struct xbz_cache *c)
{
	if (!c->nvalid)
		return;
	memset(c->tags, 0, c->nslots * sizeof(*c->tags));
	c->nvalid = 0;
}
