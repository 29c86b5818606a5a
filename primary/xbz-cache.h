/* SPDX-License-Identifier: MIT */
/*
 * The primary's copy of what it last sent for some pages, so that a
 * checkpoint can send those pages as deltas (page-delta.h), as QEMU's
 * XBZRLE cache does for migration. Direct-mapped: a page has one slot,
 * chosen from its block and index, and a page sent later takes the slot
 * from whoever held it.
 *
 * The rule that makes a delta correct: a valid entry equals the
 * secondary's RAM cache copy of that page. So an entry is written only
 * with the exact bytes a checkpoint sent, and dropped whenever the page
 * reaches the secondary any other way (live sync, zero pages, discards,
 * RDMA placement) or the secondary may hold something else (a new pair).
 *
 * Not locked: its owner (struct ram_state) uses it under bitmap_mutex.
 */
#ifndef COLO_XBZ_CACHE_H
#define COLO_XBZ_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct xbz_cache {
	uint64_t nslots;           /* 0: off */
	uint64_t *tags;            /* per slot: page key + 1; 0 is empty */
	uint8_t *data;             /* nslots pages, mapped lazily */
	uint64_t nvalid;           /* slots in use (invalidate_all's shortcut) */
};

/* bytes rounded down to whole pages; 0 (or less than a page) is off. The
 * memory is taken at once (populated), not as slots fill. 0 or -ENOMEM. */
int xbz_cache_init(struct xbz_cache *c, uint64_t bytes);
void xbz_cache_deinit(struct xbz_cache *c);

static inline bool xbz_cache_enabled(const struct xbz_cache *c)
{
	return c->nslots != 0;
}

/* The bytes last sent for the page, or NULL when the cache has none. The
 * caller may update them in place to what it sends next (a delta applied
 * to its entry writes only the bytes that changed). */
uint8_t *xbz_cache_lookup(const struct xbz_cache *c, uint32_t block,
			  uint64_t page);
/* The page was just sent as these bytes: they become its entry. */
void xbz_cache_insert(struct xbz_cache *c, uint32_t block, uint64_t page,
		      const uint8_t *bytes);
/* The pages reached the secondary another way: forget them. */
void xbz_cache_invalidate(struct xbz_cache *c, uint32_t block, uint64_t first,
			  uint64_t count);
/* The secondary's cache is no longer known: forget everything. */
void xbz_cache_invalidate_all(struct xbz_cache *c);

#endif
