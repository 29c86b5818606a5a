/* SPDX-License-Identifier: MIT */
/*
 * The secondary's copy of the PVM's own pages (proc-image.h), kept from
 * one checkpoint to the next and keyed by address, as QEMU's COLO keeps
 * its RAM cache: a full image fills it, each delta updates it, and the
 * SVM is made equal to it at the flush (proc_image_apply_cached).
 *
 * Pages are kept in chunks of PROC_CACHE_CHUNK_PAGES aligned pages, each
 * with a bitmap of the pages held, so that a delta costs the pages it
 * carries and the chunks it touches, never the whole cache.
 *
 * One caller at a time; no thread of its own.
 */
#ifndef COLO_PROC_CACHE_H
#define COLO_PROC_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "proc-image.h"

#define PROC_CACHE_CHUNK_PAGES 512      /* 2 MiB */

struct proc_cache;

/* An empty cache, or NULL (out of memory). */
struct proc_cache *proc_cache_new(void);
void proc_cache_free(struct proc_cache *c);

/*
 * Makes the cache the PVM's own pages as of img. A full image replaces
 * everything; a delta's present list says which pages are held after it,
 * each taking its bytes from the delta's runs where they are, else
 * keeping the cache's. Checked before anything changes: a delta on an
 * empty cache, or a present page in neither the delta nor the cache, is
 * -EPROTO with a one-line reason in why (why may be NULL) and the cache
 * as it was. -ENOMEM may leave it half-made: the caller drops it.
 */
int proc_cache_update(struct proc_cache *c, const struct proc_image *img,
		      char *why, size_t why_len);

/*
 * Live sync: img's pages (a full image of pages only, one window of the
 * address space) held too, each replacing what was held there; nothing
 * is released (the first checkpoint's delta, with its list of every own
 * page, does that). 0, -EINVAL for a delta, or -ENOMEM (the caller drops
 * the cache).
 */
int proc_cache_add(struct proc_cache *c, const struct proc_image *img);

/* The 4096 bytes held for the page at addr, or NULL if none is held. */
const uint8_t *proc_cache_page(const struct proc_cache *c, uint64_t addr);

/*
 * The held pages as ranges in address order: fn is called for each run
 * of consecutive held pages (at most one chunk long) with its first
 * address, page count and bytes; a nonzero return stops the walk and is
 * returned.
 */
int proc_cache_walk(const struct proc_cache *c,
		    int (*fn)(void *opaque, uint64_t addr, size_t pages,
			      const uint8_t *data),
		    void *opaque);

/* Pages held, and whether anything is (a delta needs a filled cache). */
uint64_t proc_cache_pages(const struct proc_cache *c);
bool proc_cache_filled(const struct proc_cache *c);

#endif
