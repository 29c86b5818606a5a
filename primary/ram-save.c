// SPDX-License-Identifier: MIT
/*
 * Sending guest RAM to the secondary. The shape follows QEMU's
 * migration/ram.c: a migration bitmap of pages still to send, a dirty log
 * read from the kernel by migration_bitmap_sync, and a clear bitmap so that
 * re-protecting written pages happens lazily, a chunk at a time, just before
 * the chunk's first page goes out.
 *
 * Why the clear happens right before sending and never after: clearing
 * re-arms write tracking for the pages we are about to read. A guest write
 * that lands after the clear is logged again and sent by a later pass. Were
 * the clear to come after a page was read, a write between the read and the
 * clear would be forgotten.
 *
 * Pages go into the transport's output queue by copy, under bitmap_mutex;
 * the copy is the read the paragraph above speaks of. The wait for the
 * socket to take them comes after the unlock (see ram-save.h).
 */
#include "evloop.h"
#include "ram-save.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dirtylog.h"
#include "log.h"
#include "page-delta.h"
#include "proto.h"
#include "tunables.h"
#include "xport-rdma.h"
#include "xport.h"


int ram_state_init(struct ram_state *rs, struct ram_layout *ram,
		   struct dirtylog *dlog, unsigned clear_shift)
{
	uint32_t i;

	memset(rs, 0, sizeof(*rs));
	if (tunable_check(&tunables[TUNABLE_CLEAR_BITMAP_SHIFT], clear_shift))
		return -EINVAL;
	owned_mutex_init(&rs->bitmap_mutex);
	rs->dlog = dlog;
	rs->queue_budget = RAM_SAVE_QUEUE_BUDGET;
	rs->clear_shift = clear_shift;
	rs->protecting = true;
	rs->maybe_holes = true;
	rs->nblocks = ram->nblocks;
	for (i = 0; i < ram->nblocks; i++) {
		struct ram_block_state *bs = &rs->blocks[i];
		uint64_t pages = ramblock_pages(&ram->blocks[i]);
		uint64_t chunks = ((pages - 1) >> clear_shift) + 1;

		bs->rb = &ram->blocks[i];
		if (bitmap_init(&bs->bmap, pages) ||
		    bitmap_init(&bs->clear_bmap, chunks)) {
			ram_state_deinit(rs);
			return -ENOMEM;
		}
		bitmap_fill(&bs->bmap);
		bitmap_fill(&bs->clear_bmap);
		rs->dirty_pages += pages;
	}
	return 0;
}

void ram_state_deinit(struct ram_state *rs)
{
	uint32_t i;

	for (i = 0; i < rs->nblocks; i++) {
		bitmap_deinit(&rs->blocks[i].bmap);
		bitmap_deinit(&rs->blocks[i].clear_bmap);
	}
	free(rs->discards);
	rs->discards = NULL;
	xbz_cache_deinit(&rs->xbz);
	free(rs->delta_buf);
	rs->delta_buf = NULL;
	rs->nblocks = 0;
	owned_mutex_destroy(&rs->bitmap_mutex);
}

int ram_state_set_delta_cache(struct ram_state *rs, uint64_t bytes)
{
	int ret;

	ram_state_lock(rs);
	xbz_cache_deinit(&rs->xbz);
	free(rs->delta_buf);
	rs->delta_buf = NULL;
	ret = xbz_cache_init(&rs->xbz, bytes);
	if (ret == 0 && xbz_cache_enabled(&rs->xbz)) {
		rs->delta_buf = malloc(PROTO_MAX_PAGES_PER_MSG *
				       (size_t)PAGE_DELTA_MAX);
		if (!rs->delta_buf) {
			xbz_cache_deinit(&rs->xbz);
			ret = -ENOMEM;
		}
	}
	ram_state_unlock(rs);
	return ret;
}

void ram_state_forget_sent(struct ram_state *rs)
{
	ram_state_lock(rs);
	xbz_cache_invalidate_all(&rs->xbz);
	ram_state_unlock(rs);
}

void ram_state_reset_dirty(struct ram_state *rs)
{
	uint32_t i;

	ram_state_assert_locked(rs);
	rs->dirty_pages = 0;
	for (i = 0; i < rs->nblocks; i++) {
		bitmap_fill(&rs->blocks[i].bmap);
		bitmap_fill(&rs->blocks[i].clear_bmap);
		rs->dirty_pages += rs->blocks[i].bmap.nbits;
	}
	rs->ndiscards = 0;
	rs->cur_block = 0;
	rs->cur_page = 0;
	rs->protecting = true;
	rs->maybe_holes = true;
	xbz_cache_invalidate_all(&rs->xbz);
}

void ram_state_unprotected(struct ram_state *rs)
{
	ram_state_lock(rs);
	rs->protecting = false;
	rs->ndiscards = 0;
	xbz_cache_invalidate_all(&rs->xbz);
	ram_state_unlock(rs);
}

void ram_state_lock(struct ram_state *rs)
{
	owned_mutex_lock(&rs->bitmap_mutex);
}

void ram_state_unlock(struct ram_state *rs)
{
	owned_mutex_unlock(&rs->bitmap_mutex);
}

void ram_state_assert_locked(struct ram_state *rs)
{
	owned_mutex_assert_held(&rs->bitmap_mutex, "bitmap_mutex");
}

int64_t migration_bitmap_sync(struct ram_state *rs)
{
	uint64_t t0 = evloop_now_us();
	uint32_t i;

	ram_state_assert_locked(rs);
	for (i = 0; i < rs->nblocks; i++) {
		struct ram_block_state *bs = &rs->blocks[i];
		int64_t n = dirtylog_sync(rs->dlog, bs->rb->guest_addr,
					  bs->rb->size, &bs->bmap, 0);

		if (n < 0)
			return n;
		bitmap_fill(&bs->clear_bmap);
	}
	rs->dirty_pages = 0;
	for (i = 0; i < rs->nblocks; i++)
		rs->dirty_pages += bitmap_count(&rs->blocks[i].bmap);
	rs->stats.syncs++;
	rs->stats.sync_us += evloop_now_us() - t0;
	return (int64_t)rs->dirty_pages;
}

/*
 * A checkpoint's sync: the guest is stopped, so reading and re-protecting
 * at once loses nothing, and saves the per-run clears (one ioctl for each
 * run of dirty pages, thousands for a scattered checkpoint) that the lazy
 * clear_bmap would make. Bits already set stay set: a page queued by live
 * sync but not sent yet is still sent.
 */
int64_t migration_bitmap_sync_paused(struct ram_state *rs)
{
	uint64_t t0 = evloop_now_us();
	uint32_t i;

	ram_state_assert_locked(rs);
	for (i = 0; i < rs->nblocks; i++) {
		struct ram_block_state *bs = &rs->blocks[i];
		int64_t n = dirtylog_sync_and_clear(rs->dlog,
						    bs->rb->guest_addr,
						    bs->rb->size, &bs->bmap, 0);

		if (n < 0)
			return n;
		bitmap_zero(&bs->clear_bmap);
	}
	rs->dirty_pages = 0;
	for (i = 0; i < rs->nblocks; i++)
		rs->dirty_pages += bitmap_count(&rs->blocks[i].bmap);
	rs->stats.syncs++;
	rs->stats.sync_us += evloop_now_us() - t0;
	return (int64_t)rs->dirty_pages;
}

/*
 * Re-protect, in the chunk, exactly the pages whose bits are set: those are
 * the ones about to be sent. A page written since the last sync but not in
 * the bitmap keeps its logged state, so the next sync still finds it.
 */
static int clear_chunk_log(struct ram_state *rs, struct ram_block_state *bs,
			   uint64_t chunk)
{
	uint64_t start = chunk << rs->clear_shift;
	uint64_t end = start + (1ULL << rs->clear_shift);
	uint64_t p;

	if (end > bs->bmap.nbits)
		end = bs->bmap.nbits;
	for (p = bitmap_next_set(&bs->bmap, start); p < end;) {
		uint64_t q = bitmap_next_clear(&bs->bmap, p);
		int ret;

		if (q > end)
			q = end;
		ret = dirtylog_clear(rs->dlog,
				     bs->rb->guest_addr + (p << RAM_PAGE_SHIFT),
				     (q - p) << RAM_PAGE_SHIFT);
		if (ret < 0)
			return ret;
		rs->stats.log_clears++;
		p = bitmap_next_set(&bs->bmap, q);
	}
	return 0;
}

bool migration_bitmap_clear_dirty(struct ram_state *rs, uint32_t block,
				  uint64_t page)
{
	struct ram_block_state *bs = &rs->blocks[block];
	uint64_t chunk = page >> rs->clear_shift;

	ram_state_assert_locked(rs);
	if (bitmap_test_and_clear(&bs->clear_bmap, chunk)) {
		int ret = clear_chunk_log(rs, bs, chunk);

		if (ret < 0)
			log_error("clearing the dirty log of chunk %llu: %s",
				  (unsigned long long)chunk, strerror(-ret));
	}
	if (!bitmap_test_and_clear(&bs->bmap, page))
		return false;
	rs->dirty_pages--;
	return true;
}

/*
 * Pages of [page, end) that are holes in the memfd, counted from page: they
 * read as zero, but reading them through the alias would allocate them.
 */
static uint64_t hole_until(const struct ramblock *rb, uint64_t page,
			   uint64_t end)
{
	off_t data = lseek(rb->memfd, (off_t)(page << RAM_PAGE_SHIFT),
			   SEEK_DATA);

	if (data < 0)
		return errno == ENXIO ? end : page;  /* ENXIO: no data after */
	data >>= RAM_PAGE_SHIFT;
	return (uint64_t)data < end ? (uint64_t)data : end;
}

/* Under the lock the socket gets only what it takes at once: pushed once
 * this much is queued, one write per 64 KiB or more, as xport_write did. */
#define PUSH_AT (64 * 1024)

/* The queue holds the budget: stop queueing and let the caller drain it.
 * Over several channels, the budget is each one's, counted together. */
static bool queue_full(const struct ram_state *rs, const struct xport *x)
{
	size_t queued = 0;
	unsigned i;

	if (!rs->chans)
		return xport_queued(x) >= rs->queue_budget;
	for (i = 0; i < rs->chans->n; i++)
		queued += xport_queued(rs->chans->x[i]);
	return queued >= rs->queue_budget * rs->chans->n;
}

/* Which channel a page travels (ram-save.h): x, the link, unless live
 * sync runs over several. */
static unsigned channel_of(const struct ram_state *rs, uint64_t page)
{
	return rs->chans ? (unsigned)((page >> PROTO_CHANNEL_CHUNK_SHIFT) %
				      rs->chans->n) : 0;
}

static struct xport *channel_x(struct ram_state *rs, struct xport *x,
			       uint64_t page)
{
	return rs->chans ? rs->chans->x[channel_of(rs, page)] : x;
}

/* Write what the socket takes now; never waits for it. 0 or -errno. */
static int push_nb(struct xport *x)
{
	int ret;

	if (xport_queued(x) < PUSH_AT)
		return 0;
	ret = xport_flush_nb(x);
	return ret == -EAGAIN ? 0 : ret;
}

/*
 * A checkpoint's run of non-zero pages, each as a delta against its cache
 * entry when it has one and that is smaller, else whole; every page's
 * bytes become its entry. The guest is paused: the bytes encoded are the
 * bytes cached. A run with no delta in it goes as plain pages (the same
 * bytes, 3 fewer a page). Returns 0 or -errno; *queued says whether it
 * queued the message (else the caller sends the run plainly).
 */
static int queue_delta(struct ram_state *rs, struct xport *x, uint32_t block,
		       uint64_t first, uint32_t count, bool *queued)
{
	struct proto_msg m = { .type = PROTO_PAGES };
	const struct ramblock *rb = rs->blocks[block].rb;
	uint32_t i, ndelta = 0;
	size_t len = 0, dbytes = 0;
	int ret;

	*queued = false;
	for (i = 0; i < count; i++) {
		const uint8_t *page = ramblock_page(rb, first + i);
		uint8_t *old = xbz_cache_lookup(&rs->xbz, block, first + i);
		/* Capped below a page: a delta as large is not worth the
		 * receiver's work. */
		size_t n = old ? page_delta_encode(old, page,
						   rs->delta_buf + len,
						   RAM_PAGE_SIZE - 1) : 0;

		/* The entry becomes what was sent: the delta applied to it,
		 * which writes only the changed bytes, or the whole page. */
		if (n) {
			ndelta++;
			dbytes += n;
			page_delta_apply(old, rs->delta_buf + len);
		} else {
			n = page_delta_whole(page, rs->delta_buf + len);
			xbz_cache_insert(&rs->xbz, block, first + i, page);
		}
		len += n;
	}
	if (!ndelta)
		return 0;
	m.pages.block = block;
	m.pages.first = first;
	m.pages.count = count;
	m.pages.flags = PROTO_PAGES_DELTA;
	m.pages.delta_len = (uint32_t)len;
	m.pages.data = rs->delta_buf;
	ret = proto_queue(x, &m);
	if (ret < 0)
		return ret;
	*queued = true;
	rs->stats.pages_sent += count;
	rs->stats.delta_pages += ndelta;
	rs->stats.delta_bytes += dbytes;
	rs->stats.bytes_sent += len;
	return 0;
}

/*
 * Queue count pages starting at first, which are all zero or all not. The
 * bytes are copied into the queue here (or read by the RDMA WRITE when it
 * is posted), after the chunk's log clear, so a queued page is a sent page
 * for I2: a later guest write is logged again. paused: a checkpoint's
 * (ram_save_complete), whose non-zero pages may go as deltas; any other
 * way a page goes drops its delta cache entry.
 */
static int queue_pages(struct ram_state *rs, struct xport *x, uint32_t block,
		       uint64_t first, uint32_t count, bool zero, bool paused)
{
	struct proto_msg m = { .type = PROTO_PAGES };
	const uint8_t *data = ramblock_page(rs->blocks[block].rb, first);
	int placed = 0;
	int ret;

	/* No deltas over RDMA: its pages go by WRITE into the cache, where
	 * no delta is needed, and mixing the two ways is not worth the
	 * care. Live sync reads pages while the guest writes them: what it
	 * sends is not known exactly, so it is never cached. */
	if (!zero && paused && xbz_cache_enabled(&rs->xbz) &&
	    !xport_can_place(x)) {
		bool queued;

		ret = queue_delta(rs, x, block, first, count, &queued);
		if (ret < 0 || queued)
			return ret;
		/* No delta in the run: plain pages, now cached. */
	} else {
		xbz_cache_invalidate(&rs->xbz, block, first, count);
	}

	/* Over RDMA the bytes go by WRITE straight into the secondary's
	 * cache, ordered before the message that names them; anywhere
	 * else (or when the transport cannot place now) in the stream. */
	if (!zero) {
		placed = xport_place(x, block, first << RAM_PAGE_SHIFT, data,
				     (size_t)count << RAM_PAGE_SHIFT);
		if (placed < 0)
			return placed;
	}
	m.pages.block = block;
	m.pages.first = first;
	m.pages.count = count;
	m.pages.flags = zero ? PROTO_PAGES_ZERO :
			placed ? PROTO_PAGES_PLACED : 0;
	m.pages.data = zero || placed ? NULL : data;
	if (rs->chans)
		rs->chans->pages[channel_of(rs, first)] += count;
	ret = proto_queue(channel_x(rs, x, first), &m);
	if (ret < 0)
		return ret;
	/* Naming pages already in the cache writes nothing there: the
	 * next run's WRITEs need not wait for the secondary to read it. */
	if (placed)
		xport_place_harmless(x);
	rs->stats.pages_sent += count;
	if (zero)
		rs->stats.zero_pages += count;
	else if (placed)
		rs->stats.placed_pages += count;
	else
		rs->stats.bytes_sent += (uint64_t)count << RAM_PAGE_SHIFT;
	return 0;
}

/*
 * Queue the dirty run that starts at page: clear each page's bit, then
 * queue the run split into zero and non-zero stretches. A run stays inside
 * one clear chunk and one message. Returns pages handled or -errno.
 */
static int64_t queue_run(struct ram_state *rs, struct xport *x,
			 uint32_t block, uint64_t page, bool paused)
{
	struct ram_block_state *bs = &rs->blocks[block];
	uint64_t chunk_end = ((page >> rs->clear_shift) + 1) << rs->clear_shift;
	uint64_t end = bitmap_next_clear(&bs->bmap, page);
	uint64_t p, start;
	int ret;

	if (end > chunk_end)
		end = chunk_end;
	if (end - page > PROTO_MAX_PAGES_PER_MSG)
		end = page + PROTO_MAX_PAGES_PER_MSG;
	if (rs->chans) {
		/* A run stays on one channel: inside one 2 MiB chunk. */
		uint64_t ch_end = proto_channel_chunk_end(page);

		if (end > ch_end)
			end = ch_end;
	}
	for (p = page; p < end; p++)
		migration_bitmap_clear_dirty(rs, block, p);

	start = page;
	while (start < end) {
		uint64_t hole_end = rs->maybe_holes ?
				    hole_until(bs->rb, start, end) : start;
		bool zero;

		if (hole_end > start) {
			/* Never written: zero, and not worth faulting in. */
			ret = queue_pages(rs, x, block, start,
					  (uint32_t)(hole_end - start), true,
					  paused);
			if (ret < 0)
				return ret;
			start = hole_end;
			continue;
		}
		zero = ram_page_is_zero(ramblock_page(bs->rb, start));
		for (p = start + 1; p < end; p++)
			if (ram_page_is_zero(ramblock_page(bs->rb, p)) != zero)
				break;
		ret = queue_pages(rs, x, block, start, (uint32_t)(p - start),
				  zero, paused);
		if (ret < 0)
			return ret;
		start = p;
	}
	return (int64_t)(end - page);
}

/*
 * One hinted range as DISCARD: one message on the link; over several
 * channels, a message per 2 MiB chunk on that chunk's channel, so that it
 * is ordered with the pages of its chunk (I3: a page written after its
 * hint reaches the secondary after its DISCARD).
 */
static int queue_discard_msg(struct ram_state *rs, struct xport *x,
			     const struct ram_discard *d)
{
	struct proto_msg m = { .type = PROTO_DISCARD };
	uint64_t p = d->first, end = d->first + d->count;
	int ret = 0;

	m.discard.block = d->block;
	while (p < end && ret == 0) {
		uint64_t next = end;

		if (rs->chans) {
			next = proto_channel_chunk_end(p);
			if (next > end)
				next = end;
		}
		m.discard.first = p;
		m.discard.count = next - p;
		ret = proto_queue(channel_x(rs, x, p), &m);
		p = next;
	}
	return ret;
}

/*
 * Queue the discards hints left, oldest first, while the queue has room.
 * 1 when all are queued, 0 when the budget stopped it (the rest stay, and
 * no page may be queued before them: a page written after its hint must
 * reach the secondary after its DISCARD, I3), -errno.
 */
static int queue_discards(struct ram_state *rs, struct xport *x)
{
	size_t i;
	int ret = 0;

	ram_state_assert_locked(rs);
	/* At least one per call, whatever the caller left queued: progress. */
	for (i = 0; i < rs->ndiscards;) {
		ret = queue_discard_msg(rs, x, &rs->discards[i]);
		if (ret < 0)
			break;
		i++;
		ret = push_nb(x);
		if (ret < 0 || queue_full(rs, x))
			break;
	}
	/* (No discards at all: the array may not exist, and memmove's
	 * arguments must be valid pointers even for a length of 0.) */
	if (i)
		memmove(rs->discards, rs->discards + i,
			(rs->ndiscards - i) * sizeof(*rs->discards));
	rs->ndiscards -= i;
	if (ret < 0)
		return ret;
	return rs->ndiscards == 0;
}

/* Find the next dirty page at or after the cursor; false at the end. */
static bool next_dirty(struct ram_state *rs, uint32_t *block, uint64_t *page)
{
	while (rs->cur_block < rs->nblocks) {
		struct bitmap *bm = &rs->blocks[rs->cur_block].bmap;
		uint64_t p = bitmap_next_set(bm, rs->cur_page);

		if (p < bm->nbits) {
			*block = rs->cur_block;
			*page = p;
			return true;
		}
		rs->cur_block++;
		rs->cur_page = 0;
	}
	return false;
}

/*
 * Queue dirty runs from the cursor on. 1 when the walk reached the end of
 * RAM (the cursor goes back to the start), 0 when max_wait_ms since start
 * have passed or the queue holds the budget, -errno. paused: a checkpoint's
 * (see queue_pages).
 */
static int queue_dirty(struct ram_state *rs, struct xport *x, uint64_t start,
		       uint64_t max_wait_ms, bool paused)
{
	uint64_t unclocked = 0;		/* pages queued since the last look */
	uint32_t block;
	uint64_t page;
	int64_t n;
	int ret;

	ram_state_assert_locked(rs);
	while (next_dirty(rs, &block, &page)) {
		n = queue_run(rs, x, block, page, paused);
		if (n < 0)
			return (int)n;
		rs->cur_page = page + (uint64_t)n;
		ret = push_nb(x);
		if (ret < 0)
			return ret;
		if (queue_full(rs, x))
			return 0;
		/*
		 * The clock is cheap, but not per page. Count pages, not
		 * runs: a run can be a whole message, and sixteen of those
		 * (16 MiB) would hold the lock far past max_wait.
		 */
		unclocked += (uint64_t)n;
		if (unclocked >= 64) {
			unclocked = 0;
			if (evloop_now_ms() - start >= max_wait_ms)
				return 0;
		}
	}
	rs->cur_block = 0;
	rs->cur_page = 0;
	rs->maybe_holes = false;     /* every bit set by a fill is visited */
	return 1;
}

int ram_save_iterate(struct ram_state *rs, struct xport *x,
		     unsigned max_wait_ms)
{
	uint64_t start = evloop_now_ms();
	int ret, flush;

	ram_state_lock(rs);
	rs->stats.iterations++;
	ret = queue_discards(rs, x);
	if (ret == 1)
		ret = queue_dirty(rs, x, start, max_wait_ms, false);
	ram_state_unlock(rs);
	if (ret < 0)
		return ret;
	/* The one wait for the socket, with bitmap_mutex given back: a
	 * stalled secondary keeps the migration thread, never a hint. The
	 * extra channels write theirs meanwhile, each on its thread. */
	if (rs->chans)
		rs->chans->start(rs->chans->opaque);
	flush = xport_flush(x);
	if (rs->chans) {
		int r = rs->chans->wait(rs->chans->opaque);

		if (flush == 0)
			flush = r;
	}
	return flush < 0 ? flush : ret;
}

/*
 * One batch of the stop-and-copy, under the lock: the discards, then (the
 * first time) the sync, then dirty pages until the queue holds the budget.
 * 1 when nothing is left, 0 when the budget stopped it, -errno.
 */
static int complete_batch(struct ram_state *rs, struct xport *x,
			  bool *synced)
{
	int64_t n;
	int ret;

	ram_state_assert_locked(rs);
	ret = queue_discards(rs, x);
	if (ret != 1)
		return ret;
	if (!*synced) {
		n = migration_bitmap_sync_paused(rs);
		if (n < 0)
			return (int)n;
		rs->cur_block = 0;
		rs->cur_page = 0;
		*synced = true;
	}
	return queue_dirty(rs, x, evloop_now_ms(), UINT64_MAX, true);
}

/*
 * The guest is paused, so nothing waits for the lock here in practice; it
 * is still given back before each drain, so that I1's rule (never held
 * across a blocking write) has no exception to remember, and the queue
 * stays within its budget however much is dirty.
 */
int64_t ram_save_complete(struct ram_state *rs, struct xport *x)
{
	bool synced = false;
	uint64_t before = 0, sent;
	int ret, flush;

	do {
		ram_state_lock(rs);
		if (!synced)
			before = rs->stats.pages_sent;
		ret = complete_batch(rs, x, &synced);
		sent = rs->stats.pages_sent - before;
		if (ret != 0) {
			rs->cur_block = 0;
			rs->cur_page = 0;
		}
		ram_state_unlock(rs);
		if (ret < 0)
			return ret;
		flush = xport_flush(x);
		if (flush < 0)
			return flush;
	} while (ret == 0);
	return (int64_t)sent;
}

static int queue_discard(struct ram_state *rs, uint32_t block, uint64_t first,
			 uint64_t count)
{
	struct ram_discard *last = rs->ndiscards ?
				   &rs->discards[rs->ndiscards - 1] : NULL;

	if (last && last->block == block && last->first + last->count == first) {
		last->count += count;
		return 0;
	}
	if (rs->ndiscards == rs->discards_cap) {
		size_t cap = rs->discards_cap ? rs->discards_cap * 2 : 64;
		struct ram_discard *d = realloc(rs->discards, cap * sizeof(*d));

		if (!d)
			return -ENOMEM;
		rs->discards = d;
		rs->discards_cap = cap;
	}
	rs->discards[rs->ndiscards++] = (struct ram_discard){ block, first, count };
	return 0;
}

int ram_discard_hint(struct ram_state *rs, uint32_t block, uint64_t offset,
		     uint64_t len)
{
	struct ram_block_state *bs;
	uint64_t first, count, p;
	int ret;

	if (block >= rs->nblocks || len == 0 ||
	    (offset | len) & (RAM_PAGE_SIZE - 1))
		return -EINVAL;
	bs = &rs->blocks[block];
	if (offset > bs->rb->size || len > bs->rb->size - offset)
		return -EINVAL;
	first = offset >> RAM_PAGE_SHIFT;
	count = len >> RAM_PAGE_SHIFT;

	atomic_fetch_add(&rs->hints_waiting, 1);
	ram_state_lock(rs);
	atomic_fetch_sub(&rs->hints_waiting, 1);
	for (p = first; p < first + count; p++)
		if (bitmap_test_and_clear(&bs->bmap, p))
			rs->dirty_pages--;
	/* The secondary zeroes them at the DISCARD: entries would lie. */
	xbz_cache_invalidate(&rs->xbz, block, first, count);
	/* Without this the next sync would find the guest's zeroing writes
	 * and send the pages anyway. */
	ret = dirtylog_clear(rs->dlog, bs->rb->guest_addr + offset, len);
	if (ret == 0 && rs->protecting)
		ret = queue_discard(rs, block, first, count);
	if (ret == 0)
		rs->stats.hinted_pages += count;
	ram_state_unlock(rs);
	return ret;
}

void ram_save_let_hints_in(struct ram_state *rs)
{
	unsigned spins = 0;

	/* Bounded: a hint holds the lock for microseconds; never starve the
	 * migration thread if hints keep coming. */
	while (atomic_load(&rs->hints_waiting) && spins++ < 1000)
		sched_yield();
}

static int live_sync_loop(struct ram_state *rs, struct xport *x,
			  struct ram_live_sync *ls);

int ram_save_live_sync(struct ram_state *rs, struct xport *x,
		       struct ram_live_sync *ls)
{
	int ret;

	ram_state_lock(rs);
	rs->chans = ls->chans && ls->chans->n > 1 ? ls->chans : NULL;
	ram_state_unlock(rs);
	ret = live_sync_loop(rs, x, ls);
	/* What the checkpoints send goes over the link alone. */
	ram_state_lock(rs);
	rs->chans = NULL;
	ram_state_unlock(rs);
	return ret;
}

static int live_sync_loop(struct ram_state *rs, struct xport *x,
			  struct ram_live_sync *ls)
{
	unsigned first = ls->passes;
	int ret;

	for (;;) {
		int64_t dirty;

		ret = ls->before_step ? ls->before_step(ls->opaque) : 0;
		if (ret)
			return ret > 0 ? 0 : ret;
		ret = ram_save_iterate(rs, x, atomic_load(ls->max_wait_ms));
		if (ret < 0)
			return ret;
		ram_save_let_hints_in(rs);
		if (ret == 0)
			continue;
		ram_state_lock(rs);
		dirty = migration_bitmap_sync(rs);
		ram_state_unlock(rs);
		if (dirty < 0)
			return (int)dirty;
		ls->passes++;
		log_debug("live sync pass %u: %lld pages dirty", ls->passes,
			  (long long)dirty);
		if ((uint64_t)dirty <= ls->converged_pages) {
			ls->converged = true;
			return 0;
		}
		if (ls->passes - first >= ls->max_passes) {
			log_warn("live sync not converging after %u passes "
				 "(%lld pages dirty); stopping the guest to "
				 "finish", ls->passes - first, (long long)dirty);
			return 0;
		}
	}
}

uint64_t ram_state_dirty_pages(struct ram_state *rs)
{
	uint64_t n;

	ram_state_lock(rs);
	n = rs->dirty_pages;
	ram_state_unlock(rs);
	return n;
}

void ram_state_get_stats(struct ram_state *rs, struct ram_save_stats *st)
{
	ram_state_lock(rs);
	*st = rs->stats;
	ram_state_unlock(rs);
}
