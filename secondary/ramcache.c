// SPDX-License-Identifier: MIT
#include "ramcache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "dirtylog.h"
#include "log.h"

int ramcache_init(struct ramcache *rc, struct ram_layout *ram)
{
	uint32_t i;

	memset(rc, 0, sizeof(*rc));
	pthread_mutex_init(&rc->bitmap_mutex, NULL);
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
	pthread_mutex_destroy(&rc->bitmap_mutex);
	rc->ram = NULL;
}

void ramcache_lock(struct ramcache *rc)
{
	pthread_mutex_lock(&rc->bitmap_mutex);
	atomic_store(&rc->mutex_owner, (unsigned long)pthread_self());
}

void ramcache_unlock(struct ramcache *rc)
{
	atomic_store(&rc->mutex_owner, 0UL);
	pthread_mutex_unlock(&rc->bitmap_mutex);
}

void ramcache_assert_locked(struct ramcache *rc)
{
	if (atomic_load(&rc->mutex_owner) != (unsigned long)pthread_self()) {
		log_error("ramcache bitmap_mutex is not held by this thread");
		abort();
	}
}

int ramcache_store(struct ramcache *rc, uint32_t block, uint64_t first,
		   uint64_t count, const uint8_t *data)
{
	uint8_t *dst;
	uint64_t pages;

	if (block >= rc->ram->nblocks)
		return -ERANGE;
	pages = ramblock_pages(&rc->ram->blocks[block]);
	if (first > pages || count > pages - first)
		return -ERANGE;
	dst = rc->cache[block] + (first << RAM_PAGE_SHIFT);
	if (data)
		memcpy(dst, data, count << RAM_PAGE_SHIFT);
	else
		memset(dst, 0, count << RAM_PAGE_SHIFT);
	/* Once per message, not per page. */
	ramcache_lock(rc);
	bitmap_set_range(&rc->dirty[block], first, count);
	rc->received_pages += count;
	ramcache_unlock(rc);
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

int64_t colo_flush_ram_cache(struct ramcache *rc)
{
	int64_t copied = 0, ret;
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

int ramcache_load_all(struct ramcache *rc)
{
	uint32_t i;

	ramcache_lock(rc);
	for (i = 0; i < rc->ram->nblocks; i++) {
		memcpy(rc->ram->blocks[i].alias, rc->cache[i],
		       rc->ram->blocks[i].size);
		bitmap_zero(&rc->dirty[i]);
	}
	ramcache_unlock(rc);
	return 0;
}
