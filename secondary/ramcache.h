/* SPDX-License-Identifier: MIT */
/*
 * The secondary's RAM cache, as in QEMU's COLO: a full copy of the PVM's RAM
 * as of the last checkpoint, plus whatever pages of the next one have
 * arrived. Incoming pages only ever go here; the SVM's RAM changes only in
 * colo_flush_ram_cache, after a whole checkpoint has arrived (I7).
 *
 * bitmap_mutex guards the per-block dirty bitmaps: pages received since the
 * last flush, to which the flush adds the pages the SVM itself wrote (I4).
 */
#ifndef COLO_RAMCACHE_H
#define COLO_RAMCACHE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bitmap.h"
#include "owned-mutex.h"
#include "ramblock.h"

struct dirtylog;

/*
 * Threads: the event loop makes every call here (the flush too:
 * flush_tick below runs on it), except during a live sync over several
 * channels (chan-rx.h), when each channel's receiver thread calls
 * ramcache_store for its own pages beside the loop. Those pages are
 * disjoint (each 2 MiB chunk travels one channel), the bitmaps and stats
 * are under bitmap_mutex, taken once per message, and the receivers are
 * joined before the first checkpoint changes anything else
 * (ramcache_svm_start).
 */
struct ramcache {
	struct owned_mutex bitmap_mutex;

	struct ram_layout *ram;            /* the SVM's RAM (alias views) */
	uint8_t *cache[RAM_MAX_BLOCKS];    /* same size as each block */
	int cache_fd[RAM_MAX_BLOCKS];      /* the memfd each is a map of */
	/* Guarded by bitmap_mutex: the bitmaps, the stats and dlog. */
	struct bitmap dirty[RAM_MAX_BLOCKS];
	uint64_t received_pages;           /* stats */
	uint64_t flushed_pages;
	uint64_t flush_runs;               /* memcpy calls of the flushes */
	/* The SVM's dirty log; NULL until the SVM runs. Set by the owner
	 * under bitmap_mutex (ramcache_lock). */
	struct dirtylog *dlog;
	/* Until the SVM first runs there is no SVM to protect: pages also go
	 * straight into its RAM, so that starting it copies nothing. Written
	 * under bitmap_mutex; ramcache_store reads it unlocked, which holds
	 * only while stores and ramcache_svm_start share a thread (a store
	 * thread would have to take the lock for it). */
	bool svm_started;
	/* The cache is registered for the peer's RDMA WRITEs (set by the
	 * owner once it is exposed): its pages are pinned where they are,
	 * and zero pages must be written as zero, never punched out of the
	 * memfd, which would leave the registration on the old pages and
	 * every later WRITE there unseen. */
	bool pinned;
	/* Set at init (may stay NULL): runs every 64 MiB copied by a
	 * flush, on the flushing thread, so that a large checkpoint keeps
	 * the daemon's heartbeats going while it is applied. Must not take
	 * bitmap_mutex. */
	void (*flush_tick)(void *opaque);
	void *flush_tick_opaque;
};

int ramcache_init(struct ramcache *rc, struct ram_layout *ram);
void ramcache_deinit(struct ramcache *rc);

void ramcache_lock(struct ramcache *rc);
void ramcache_unlock(struct ramcache *rc);
void ramcache_assert_locked(struct ramcache *rc);

/* Store count pages at first (data NULL: zero pages). The range must have
 * been checked against the layout (proto_check_range); -ERANGE otherwise. */
int ramcache_store(struct ramcache *rc, uint32_t block, uint64_t first,
		   uint64_t count, const uint8_t *data);

/*
 * count pages at first as deltas against the cache's copies (a PAGES
 * DELTA message's data, which the decoder checked whole: applying cannot
 * fail half-way). Before the SVM first runs, the results go into its RAM
 * too, as ramcache_store does. Range as for ramcache_store.
 */
int ramcache_apply_delta(struct ramcache *rc, uint32_t block, uint64_t first,
			 uint64_t count, const uint8_t *delta);

/*
 * count pages at first arrived in the cache by RDMA WRITE (the peer placed
 * them; the transport ordered them before the message saying so): mark
 * them received, and before the SVM first runs copy them into its RAM too,
 * as ramcache_store does. Range as for ramcache_store.
 */
int ramcache_mark_placed(struct ramcache *rc, uint32_t block, uint64_t first,
			 uint64_t count);

/*
 * Caller holds bitmap_mutex: add the pages the SVM wrote since the last
 * flush to the dirty bitmaps and re-protect them. Pages found or -errno.
 */
int64_t ramblock_sync_dirty_bitmap(struct ramcache *rc);

/*
 * Make the SVM's RAM equal to the cache: under bitmap_mutex, sync the SVM's
 * dirty log, copy every page either side dirtied from the cache, in
 * contiguous runs, and clear the bitmaps. The SVM must be at a safe point.
 * Pages copied or -errno.
 */
int64_t colo_flush_ram_cache(struct ramcache *rc);

/* Before the SVM first runs: copy all of the cache into its RAM (for RAM
 * that may differ from the cache; ramcache_svm_start is the usual way). */
int ramcache_load_all(struct ramcache *rc);

/* The SVM is about to run on RAM equal to the cache (every page stored so
 * far went to both): from now on pages go to the cache only, and reach the
 * SVM in colo_flush_ram_cache (I7). */
void ramcache_svm_start(struct ramcache *rc);

#endif
