/* SPDX-License-Identifier: MIT */
/*
 * Sending guest RAM: the migration bitmap, the lazily cleared dirty log
 * (clear_bmap) and free page hints, as in QEMU's migration/ram.c.
 *
 * bitmap_mutex guards every block's bmap and clear_bmap, dirty_pages and the
 * queue of discards (I1). The migration thread takes it once per
 * ram_save_iterate, for at most about max_wait, never once per page; the
 * hint path takes it once per hint (I3); a checkpoint takes it once per
 * queue_budget of data (the guest is paused then).
 *
 * It is never held across a wait for the network. Under the lock, pages
 * and discards are only copied into the transport's output queue
 * (xport_queue) and pushed as far as the socket takes them at once
 * (xport_flush_nb), until max_wait has passed or queue_budget bytes are
 * queued; the blocking drain (xport_flush, bounded by the link's timeout)
 * comes after the unlock. So a stalled secondary holds up the migration
 * thread, not the guest's free page hints, and the queue stays bounded.
 */
#ifndef COLO_RAM_SAVE_H
#define COLO_RAM_SAVE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bitmap.h"
#include "owned-mutex.h"
#include "proto.h"
#include "ramblock.h"
#include "xbz-cache.h"

struct dirtylog;
struct xport;

/* Bytes queued under bitmap_mutex before it is given back for the drain:
 * enough to keep a fast link busy while the next batch is prepared. */
#define RAM_SAVE_QUEUE_BUDGET (4u << 20)

struct ram_block_state {
	struct ramblock *rb;
	struct bitmap bmap;        /* pages still to send */
	struct bitmap clear_bmap;  /* chunks whose dirty log is not cleared */
};

/*
 * Live sync over several connections (--channels): x[0] is the link, the
 * others extra channels. Each 2 MiB of a block (PROTO_CHANNEL_CHUNK_SHIFT)
 * travels one channel, chunk index mod n, its DISCARDs too, so that a page
 * sent again never overtakes its older copy on another connection. The
 * owner writes out x[1..n-1] on threads of its own: start() hands them
 * what was queued, wait() waits until they have written it (0 or -errno);
 * ram_save_iterate calls the two around its own drain of x[0], with
 * bitmap_mutex given back.
 */
struct ram_channels {
	unsigned n;                         /* 1..PROTO_MAX_CHANNELS */
	struct xport *x[PROTO_MAX_CHANNELS];
	uint64_t pages[PROTO_MAX_CHANNELS]; /* queued on each (out) */
	void (*start)(void *opaque);
	int (*wait)(void *opaque);
	void *opaque;
};

struct ram_discard {
	uint32_t block;
	uint64_t first, count;
};

struct ram_save_stats {
	uint64_t pages_sent;       /* zero pages included */
	uint64_t zero_pages;
	uint64_t placed_pages;     /* of pages_sent: by RDMA WRITE, not in
				    * the stream (bytes_sent leaves them out) */
	uint64_t bytes_sent;       /* payload bytes queued for the wire */
	uint64_t delta_pages;      /* of pages_sent: as deltas (checkpoints) */
	uint64_t delta_bytes;      /* of bytes_sent: those deltas' bytes (not
				    * the whole pages sent beside them) */
	uint64_t iterations;       /* ram_save_iterate calls */
	uint64_t syncs;
	uint64_t sync_us;          /* time in migration_bitmap_sync */
	uint64_t hinted_pages;     /* pages taken out by free page hints */
	uint64_t log_clears;       /* dirty-log clear calls (clear_bmap) */
};

struct ram_state {
	struct owned_mutex bitmap_mutex;
	_Atomic unsigned hints_waiting;      /* hint callers wanting the lock */

	/* Guarded by bitmap_mutex. */
	uint32_t nblocks;
	struct ram_block_state blocks[RAM_MAX_BLOCKS];
	uint64_t dirty_pages;
	struct ram_discard *discards;
	size_t ndiscards, discards_cap;
	struct ram_save_stats stats;
	bool protecting;           /* a secondary will want the discards */
	uint32_t cur_block;        /* where the walk goes on */
	uint64_t cur_page;
	/* Some bits were set by init or a reset, not by the dirty log: their
	 * pages may be holes in the memfd, so each run is checked with lseek
	 * until a walk over all of RAM has cleared them. A page the log
	 * reports was written, so it is data: a checkpoint's thousands of
	 * scattered runs cost no lseek (each one walks the memfd's pages). */
	bool maybe_holes;
	/* What checkpoints sent last for some pages, to send deltas against
	 * (xbz-cache.h: entry == the secondary's cache copy), and the
	 * buffer a run's deltas are encoded into. Off when nslots is 0. */
	struct xbz_cache xbz;
	uint8_t *delta_buf;
	/* The live sync's channels while ram_save_live_sync runs over more
	 * than the link, else NULL. */
	struct ram_channels *chans;

	/* Set at init, read-only after. */
	struct dirtylog *dlog;
	unsigned clear_shift;
	/* RAM_SAVE_QUEUE_BUDGET; queued output never exceeds it by more than
	 * one message. A test may lower it before the first send. */
	size_t queue_budget;
};

/* Every page starts dirty (the first pass sends all of RAM) and every chunk
 * starts uncleared. clear_shift: within the clear-bitmap-shift tunable's
 * range (common/control/tunables.h), else -EINVAL. 0 or -errno. */
int ram_state_init(struct ram_state *rs, struct ram_layout *ram,
		   struct dirtylog *dlog, unsigned clear_shift);
void ram_state_deinit(struct ram_state *rs);
/* After init, before the first send: keep up to bytes of pages sent by
 * checkpoints to send later ones as deltas (0: never). 0 or -ENOMEM. */
int ram_state_set_delta_cache(struct ram_state *rs, uint64_t bytes);
/* A checkpoint failed: what the secondary holds is not known for sure any
 * more, so no page is sent as a delta until it was sent whole again. */
void ram_state_forget_sent(struct ram_state *rs);

/* Caller holds bitmap_mutex: every page dirty again, discards dropped
 * and the delta cache emptied (for a new secondary, which has nothing);
 * discards are kept from now on. */
void ram_state_reset_dirty(struct ram_state *rs);
/* No secondary any more: stop keeping discards (they would pile up). */
void ram_state_unprotected(struct ram_state *rs);

void ram_state_lock(struct ram_state *rs);
void ram_state_unlock(struct ram_state *rs);
/* Aborts unless the calling thread holds bitmap_mutex. */
void ram_state_assert_locked(struct ram_state *rs);

/* Caller holds bitmap_mutex. Reads the dirty log into the bitmaps (without
 * clearing it; see migration_bitmap_clear_dirty) and marks every chunk
 * uncleared. Returns the dirty page count or -errno. */
int64_t migration_bitmap_sync(struct ram_state *rs);

/* Caller holds bitmap_mutex, and the guest is paused (a checkpoint): the
 * dirty log read into the bitmaps and re-protected in the same pass, so no
 * chunk is left to clear (I2 holds: nothing writes before the pages are
 * sent). Returns the dirty page count or -errno. */
int64_t migration_bitmap_sync_paused(struct ram_state *rs);

/* Caller holds bitmap_mutex. Before the first page of a chunk is sent, the
 * chunk's dirty log is cleared for the pages about to be sent (I2); then the
 * page's bit is cleared. Returns whether it was dirty. */
bool migration_bitmap_clear_dirty(struct ram_state *rs, uint32_t block,
				  uint64_t page);

/*
 * One bounded step of live sync. Takes bitmap_mutex once and, holding it,
 * queues the discards hints left, then dirty pages from where the last step
 * stopped, until max_wait_ms has passed, queue_budget bytes are queued or
 * the walk reaches the end of RAM; no write under the lock waits. Then,
 * without the lock, writes out everything queued (blocking, at most the
 * link's timeout without progress). Returns 1 when this step completed a
 * pass over RAM, 0 when time or the budget ran out first, -errno (the
 * step's data may then be partly queued: the link is broken or stalled).
 */
int ram_save_iterate(struct ram_state *rs, struct xport *x,
		     unsigned max_wait_ms);

/* Stop-and-copy (the guest is paused): sync the log and send every dirty
 * page and queued discard, everything written out on return. With a
 * delta cache and a link that does not place pages (RDMA: never deltas),
 * a page with an entry goes as a delta when that is smaller, and each
 * non-zero page's bytes become its entry. Takes
 * bitmap_mutex once per queue_budget of data and gives it back for each
 * drain, as ram_save_iterate does. Pages sent or -errno. */
int64_t ram_save_complete(struct ram_state *rs, struct xport *x);

/*
 * Free page hint from the guest: [offset, offset + len) of block, page
 * aligned, now zero and unused. Under bitmap_mutex: drop the pages' dirty
 * bits and count, clear their dirty log so the next sync does not bring
 * them back, and queue a DISCARD so the secondary zeroes its copy (I3).
 * 0 or -errno (-EINVAL for a range outside the block).
 */
int ram_discard_hint(struct ram_state *rs, uint32_t block, uint64_t offset,
		     uint64_t len);

/*
 * For the migration thread between iterations: the mutex is not fair, and a
 * thread that takes it again at once would keep a hinting guest waiting
 * for many iterations. Let waiting hints in first.
 */
void ram_save_let_hints_in(struct ram_state *rs);

/*
 * The live-sync loop's tunables and its caller's hook. The loop knows
 * nothing of links or cancels: whatever must happen between steps
 * (a cancel check, heartbeats, a test's markers) is the hook's job.
 */
struct ram_live_sync {
	/* Read before every step: `set max-wait` may change it meanwhile. */
	const _Atomic unsigned *max_wait_ms;
	/* Done when a pass leaves at most this many pages dirty... */
	uint64_t converged_pages;
	/* ...or after this many passes anyway: a guest that dirties faster
	 * than we send never converges, stop-and-copy must end it. */
	unsigned max_passes;
	/* Before every step: 0 goes on, 1 ends the sync as done, -errno
	 * fails it with that value. NULL: no hook. */
	int (*before_step)(void *opaque);
	void *opaque;
	/* NULL: the link (x) alone; else x must be chans->x[0]. */
	struct ram_channels *chans;
	/* Out: passes made; added to, so the caller zeroes it first. */
	unsigned passes;
	/* Out: the last pass left at most converged_pages dirty (not
	 * max_passes, not the hook, ended it). */
	bool converged;
};

/*
 * Pre-copy RAM while the guest runs (the migration thread's loop): bounded
 * ram_save_iterate steps, waiting hints let in after each, the dirty log
 * synced after each full pass. 0 when converged, after max_passes or when
 * the hook says done; -errno from a step, the sync or the hook. Takes
 * bitmap_mutex only inside ram_save_iterate and the sync.
 */
int ram_save_live_sync(struct ram_state *rs, struct xport *x,
		       struct ram_live_sync *ls);

/* Dirty pages left (takes the lock). */
uint64_t ram_state_dirty_pages(struct ram_state *rs);
void ram_state_get_stats(struct ram_state *rs, struct ram_save_stats *st);

#endif
