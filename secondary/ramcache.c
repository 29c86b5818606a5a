// SPDX-License-Identifier: MIT
#include "ramcache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "dirtylog.h"
#include "log.h"

int ramcache_init(struct ramcache *rc, struct ram_layout *ram)
{
	uint32_t i;

	memset(rc, 0, sizeof(*rc));
	owned_mutex_init(&rc->bitmap_mutex);
	rc->ram = ram;
	for (i = 0; i < ram->nblocks; i++) {
		void *c = mmap(NULL, ram->blocks[i].size,
			       PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			       -1, 0);

		if (c == MAP_FAILED) {
			ramcache_deinit(rc);
			return -ENOMEM;
		}
		rc->cache[i] = c;
		if (bitmap_init(&rc->dirty[i], ramblock_pages(&ram->blocks[i]))) {
			ramcache_deinit(rc);
			return -ENOMEM;
		}
	}
	return 0;
}

void ramcache_deinit(struct ramcache *rc)
{
	uint32_t i;

	if (!rc->ram)
		return;
	for (i = 0; i < rc->ram->nblocks; i++) {
		if (rc->cache[i])
			munmap(rc->cache[i], rc->ram->blocks[i].size);
		rc->cache[i] = NULL;
		bitmap_deinit(&rc->dirty[i]);
	}
	owned_mutex_destroy(&rc->bitmap_mutex);
	rc->ram = NULL;
}

void ramcache_lock(struct ramcache *rc)
{
	owned_mutex_lock(&rc->bitmap_mutex);
}

void ramcache_unlock(struct ramcache *rc)
{
	owned_mutex_unlock(&rc->bitmap_mutex);
}

void ramcache_assert_locked(struct ramcache *rc)
{
	owned_mutex_assert_held(&rc->bitmap_mutex, "ramcache bitmap_mutex");
}

static int check_range(const struct ramcache *rc, uint32_t block,
		       uint64_t first, uint64_t count)
{
	uint64_t pages;

	if (block >= rc->ram->nblocks)
		return -ERANGE;
	pages = ramblock_pages(&rc->ram->blocks[block]);
	if (first > pages || count > pages - first)
		return -ERANGE;
	return 0;
}

/* Once per message, not per page. */
static void mark_received(struct ramcache *rc, uint32_t block,
			  uint64_t first, uint64_t count)
{
	ramcache_lock(rc);
	bitmap_set_range(&rc->dirty[block], first, count);
	rc->received_pages += count;
	ramcache_unlock(rc);
}

int ramcache_store(struct ramcache *rc, uint32_t block, uint64_t first,
		   uint64_t count, const uint8_t *data)
{
	uint8_t *dst;

	if (check_range(rc, block, first, count) < 0)
		return -ERANGE;
	dst = rc->cache[block] + (first << RAM_PAGE_SHIFT);
	if (data)
		memcpy(dst, data, count << RAM_PAGE_SHIFT);
	else if (rc->pinned ||
		 madvise(dst, count << RAM_PAGE_SHIFT, MADV_DONTNEED) < 0)
		/* The cache is private anonymous memory: dropping the pages
		 * makes them read as zero without allocating anything (unless
		 * RDMA pinned them: then they stay, zeroed). */
		memset(dst, 0, count << RAM_PAGE_SHIFT);
	if (!rc->svm_started) {
		const struct ramblock *rb = &rc->ram->blocks[block];
		uint64_t off = first << RAM_PAGE_SHIFT;

		if (data)
			memcpy(rb->alias + off, data, count << RAM_PAGE_SHIFT);
		else if (fallocate(rb->memfd, FALLOC_FL_PUNCH_HOLE |
				   FALLOC_FL_KEEP_SIZE, (off_t)off,
				   (off_t)(count << RAM_PAGE_SHIFT)) < 0)
			memset(rb->alias + off, 0, count << RAM_PAGE_SHIFT);
	}
	mark_received(rc, block, first, count);
	return 0;
}

/*
 * The bytes are in the cache already: only the SVM's copy before it runs
 * is left to do (I7 holds as for a store: after the start, the SVM gets
 * them in colo_flush_ram_cache).
 */
int ramcache_mark_placed(struct ramcache *rc, uint32_t block, uint64_t first,
			 uint64_t count)
{
	uint64_t off = first << RAM_PAGE_SHIFT;

	if (check_range(rc, block, first, count) < 0)
		return -ERANGE;
	if (!rc->svm_started)
		memcpy(rc->ram->blocks[block].alias + off, rc->cache[block] + off,
		       count << RAM_PAGE_SHIFT);
	mark_received(rc, block, first, count);
	return 0;
}

int64_t ramblock_sync_dirty_bitmap(struct ramcache *rc)
{
	int64_t total = 0;
	uint32_t i;

	ramcache_assert_locked(rc);
	if (!rc->dlog)
		return 0;
	for (i = 0; i < rc->ram->nblocks; i++) {
		const struct ramblock *rb = &rc->ram->blocks[i];
		int64_t n = dirtylog_sync_and_clear(rc->dlog, rb->guest_addr,
						    rb->size, &rc->dirty[i], 0);

		if (n < 0)
			return n;
		total += n;
	}
	return total;
}

/* 64 MiB: a few ms of memcpy, well inside any heartbeat interval. */
#define FLUSH_TICK_PAGES ((64 << 20) >> RAM_PAGE_SHIFT)

int64_t colo_flush_ram_cache(struct ramcache *rc)
{
	int64_t copied = 0, ret, ticked = 0;
	uint32_t i;

	ramcache_lock(rc);
	ret = ramblock_sync_dirty_bitmap(rc);
	if (ret < 0)
		goto out;
	for (i = 0; i < rc->ram->nblocks; i++) {
		const struct ramblock *rb = &rc->ram->blocks[i];
		struct bitmap *bm = &rc->dirty[i];
		uint64_t p = bitmap_next_set(bm, 0);

		while (p < bm->nbits) {
			uint64_t q = bitmap_next_clear(bm, p);

			memcpy(ramblock_page(rb, p),
			       rc->cache[i] + (p << RAM_PAGE_SHIFT),
			       (q - p) << RAM_PAGE_SHIFT);
			copied += (int64_t)(q - p);
			rc->flush_runs++;
			if (rc->flush_tick &&
			    copied - ticked >= FLUSH_TICK_PAGES) {
				rc->flush_tick(rc->flush_tick_opaque);
				ticked = copied;
			}
			p = bitmap_next_set(bm, q);
		}
		bitmap_zero(bm);
	}
	rc->flushed_pages += (uint64_t)copied;
	ret = copied;
out:
	ramcache_unlock(rc);
	return ret;
}

/* Punch the SVM's memfd back to all zero, then copy only the pages of the
 * cache that are not zero. Reading the cache's untouched pages costs
 * nothing (they are the zero page); copying them would allocate them. */
int ramcache_load_all(struct ramcache *rc)
{
	uint32_t i;
	uint64_t p;

	ramcache_lock(rc);
	for (i = 0; i < rc->ram->nblocks; i++) {
		const struct ramblock *rb = &rc->ram->blocks[i];

		if (fallocate(rb->memfd, FALLOC_FL_PUNCH_HOLE |
			      FALLOC_FL_KEEP_SIZE, 0, (off_t)rb->size) < 0)
			memset(rb->alias, 0, rb->size);
		for (p = 0; p < ramblock_pages(rb); p++) {
			const uint8_t *src = rc->cache[i] + (p << RAM_PAGE_SHIFT);

			if (!ram_page_is_zero(src))
				memcpy(ramblock_page(rb, p), src, RAM_PAGE_SIZE);
		}
		bitmap_zero(&rc->dirty[i]);
	}
	rc->svm_started = true;
	ramcache_unlock(rc);
	return 0;
}

void ramcache_svm_start(struct ramcache *rc)
{
	uint32_t i;

	ramcache_lock(rc);
	for (i = 0; i < rc->ram->nblocks; i++)
		bitmap_zero(&rc->dirty[i]);
	rc->svm_started = true;
	ramcache_unlock(rc);
}
