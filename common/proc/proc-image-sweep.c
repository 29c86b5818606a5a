// SPDX-License-Identifier: MIT
/*
 * Live sync of a program that runs: its own pages taken a window of the
 * address space at a time (proc_image_sweep_next), so that neither side
 * spends more than one window's work between two heartbeats, however
 * large the program.
 *
 * Per window and carried mapping, the same rule as a delta's
 * (proc-image-tracked.c), with the log read and cleared over the window
 * only: a full sweep takes every own page; a later one the own pages the
 * log says were written since the last sweep, those that were no own
 * pages then, and every own page of a mapping the log cannot follow. The
 * program writes on meanwhile: a page written after its window was read
 * is in the log again, for the next sweep or the first checkpoint, whose
 * delta (the program stopped) makes the other side exact. A page that
 * cannot be read (unmapped meanwhile) is left out of the base, so the
 * checkpoint carries it if it is still there.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bitmap.h"
#include "log.h"
#include "proc-image-int.h"
#include "proc-image.h"
#include "proc-mem.h"
#include "proc-ranges.h"
#include "proc-track.h"

#define PAGE 4096ULL

void proc_image_sweep_begin(struct proc_image_sweep *sw, bool full)
{
	proc_ranges_free(&sw->seen);
	sw->next = 0;
	sw->full = full;
}

void proc_image_sweep_free(struct proc_image_sweep *sw)
{
	proc_ranges_free(&sw->seen);
	memset(sw, 0, sizeof(*sw));
}

/* own clipped to [lo, lo + budget own pages): where the window ends. */
static uint64_t window_end(const struct proc_ranges *own, uint64_t lo,
			   uint64_t end, uint64_t budget)
{
	for (size_t i = 0; i < own->n; i++) {
		uint64_t a = own->r[i].addr > lo ? own->r[i].addr : lo;
		uint64_t e = own->r[i].addr + own->r[i].pages * PAGE;
		uint64_t n = e > a ? (e - a) / PAGE : 0;

		if (n >= budget)
			return a + budget * PAGE;
		budget -= n;
	}
	return end;
}

/* Pages of [lo, hi) the log says were written, cleared in the same pass
 * (a mapping it refused: all of them). */
static int written(struct proc_track *t, size_t i, uint64_t lo, uint64_t hi,
		   struct proc_ranges *out)
{
	struct bitmap bm;
	int64_t n;
	int r;

	if (t->track[i] == PROC_TRACK_REFUSED)
		return proc_ranges_add(out, lo, (hi - lo) / PAGE);
	r = bitmap_init(&bm, (hi - lo) / PAGE);
	if (r < 0)
		return r;
	n = dirtylog_sync_and_clear(&t->dl, lo, hi - lo, &bm, 0);
	r = n < 0 ? (int)n : proc_ranges_add_bits(out, &bm, lo);
	bitmap_deinit(&bm);
	return r;
}

static int base_ranges(const struct proc_image_base *base,
		       struct proc_ranges *out)
{
	int r = 0;

	for (size_t i = 0; i < base->n_present && r == 0; i++)
		r = proc_ranges_add(out, base->present[i].addr,
				    base->present[i].pages);
	return r;
}

/* What one mapping's slice [lo, hi) adds to the window: want, and the
 * own pages (seen). */
static int slice(struct proc_track *t, size_t i, uint64_t lo, uint64_t hi,
		 const struct proc_ranges *own, const struct proc_ranges *was,
		 bool full, struct proc_ranges *want)
{
	struct proc_ranges win = { 0 }, span = { 0 }, dirty = { 0 },
			   fresh = { 0 }, changed = { 0 }, pick = { 0 }, acc = { 0 };
	int r = proc_ranges_add(&span, lo, (hi - lo) / PAGE);

	if (r == 0)
		r = proc_ranges_intersect(own, &span, &win);
	if (r == 0)
		r = written(t, i, lo, hi, &dirty);
	if (r == 0 && (full || t->track[i] != PROC_TRACK_LOGGED))
		r = proc_ranges_union(want, &win, &acc);
	else if (r == 0) {
		r = proc_ranges_subtract(&win, was, &fresh);
		if (r == 0)
			r = proc_ranges_union(&dirty, &fresh, &changed);
		if (r == 0)
			r = proc_ranges_intersect(&win, &changed, &pick);
		if (r == 0)
			r = proc_ranges_union(want, &pick, &acc);
	}
	if (r == 0) {
		proc_ranges_free(want);
		*want = acc;
		acc = (struct proc_ranges){ 0 };
	}
	proc_ranges_free(&win);
	proc_ranges_free(&span);
	proc_ranges_free(&dirty);
	proc_ranges_free(&fresh);
	proc_ranges_free(&changed);
	proc_ranges_free(&pick);
	proc_ranges_free(&acc);
	return r;
}

/* Reads want into out's runs; a range that cannot be read is left out
 * of out and of seen. */
static int read_window(pid_t pid, const struct proc_ranges *want,
		       const struct proc_ranges *own_window,
		       struct proc_image_sweep *sw, struct proc_image *out)
{
	struct proc_ranges lost = { 0 }, kept = { 0 }, all = { 0 };
	int r = 0;

	for (size_t i = 0; i < want->n && r == 0; i++) {
		struct proc_image one = { 0 };
		int rr = proc_image_read_ranges(pid, &want->r[i], 1, &one);

		if (rr == 0 && one.n_runs == 1) {
			struct proc_image_run *runs;

			runs = realloc(out->runs,
				       (out->n_runs + 1) * sizeof(*runs));
			if (!runs) {
				r = -ENOMEM;
			} else {
				out->runs = runs;
				out->runs[out->n_runs++] = one.runs[0];
				one.n_runs = 0;
			}
		} else if (rr == -ENOMEM) {
			r = rr;
		} else {
			r = proc_ranges_add(&lost, want->r[i].addr,
					    want->r[i].pages);
		}
		proc_image_free(&one);
	}
	if (r == 0)
		r = proc_ranges_subtract(own_window, &lost, &kept);
	if (r == 0)
		r = proc_ranges_union(&sw->seen, &kept, &all);
	if (r == 0) {
		proc_ranges_free(&sw->seen);
		sw->seen = all;
		all = (struct proc_ranges){ 0 };
	}
	proc_ranges_free(&lost);
	proc_ranges_free(&kept);
	proc_ranges_free(&all);
	return r;
}

static int sweep_window(pid_t pid, struct proc_image_base *base,
			struct proc_image_sweep *sw, uint64_t budget,
			struct proc_image *out)
{
	struct proc_track *t = base->track;
	struct proc_ranges was = { 0 }, want = { 0 }, own_window = { 0 };
	uint64_t next = UINT64_MAX;
	int pagemap, r;

	r = proc_track_refresh(t);
	if (r < 0)
		return r;
	r = proc_maps_read(pid, &out->maps);
	if (r == 0 && !sw->full)
		r = base_ranges(base, &was);
	pagemap = r == 0 ? proc_mem_open(pid, "pagemap", O_RDONLY) : -1;
	if (r == 0 && pagemap < 0)
		r = pagemap;
	for (size_t i = 0; i < t->maps.n && r == 0 && budget; i++) {
		const struct proc_vma *v = &t->maps.vma[i];
		struct proc_ranges own = { 0 }, clip = { 0 }, span = { 0 },
				   acc = { 0 };
		uint64_t lo, hi;

		if (!proc_image_carries(v) || t->track[i] == PROC_TRACK_NONE ||
		    v->end <= sw->next)
			continue;
		lo = v->start > sw->next ? v->start : sw->next;
		r = proc_mem_own_pages(pagemap, lo, v->end, &own);
		hi = r == 0 ? window_end(&own, lo, v->end, budget) : v->end;
		if (r == 0)
			r = slice(t, i, lo, hi, &own, &was, sw->full, &want);
		if (r == 0)
			r = proc_ranges_add(&span, lo, (hi - lo) / PAGE);
		if (r == 0)
			r = proc_ranges_intersect(&own, &span, &clip);
		if (r == 0)
			r = proc_ranges_union(&own_window, &clip, &acc);
		if (r == 0) {
			proc_ranges_free(&own_window);
			own_window = acc;
			acc = (struct proc_ranges){ 0 };
			budget -= proc_ranges_pages(&clip) < budget ?
				  proc_ranges_pages(&clip) : budget;
			if (hi < v->end || !budget)
				next = hi;
		}
		proc_ranges_free(&own);
		proc_ranges_free(&clip);
		proc_ranges_free(&span);
		proc_ranges_free(&acc);
	}
	if (pagemap >= 0)
		close(pagemap);
	if (r == 0)
		r = read_window(pid, &want, &own_window, sw, out);
	sw->next = next;
	proc_ranges_free(&was);
	proc_ranges_free(&want);
	proc_ranges_free(&own_window);
	return r;
}

int proc_image_sweep_next(pid_t pid, struct proc_image_base *base,
			  struct proc_image_sweep *sw, uint64_t max_pages,
			  struct proc_image *out)
{
	int r;

	*out = (struct proc_image){ 0 };
	/* Nothing to follow: take it all. So too with pages pending after
	 * a capture not applied, which a sweep does not look at (only a
	 * capture follows a "not now"; this is the safe side should one
	 * not). */
	if (!sw->full && (!base->valid || base->pending.n))
		sw->full = true;
	r = sweep_window(pid, base, sw, max_pages ? max_pages : 1, out);
	if (r < 0) {
		log_error("proc-image: live sync of %d: %s", (int)pid,
			  strerror(-r));
		proc_image_free(out);
		proc_image_base_invalidate(base);
		return r;
	}
	if (sw->next != UINT64_MAX)
		return 0;
	/* The sweep is over: the next capture follows what it saw. */
	proc_image_base_invalidate(base);
	base->present = sw->seen.r;
	base->n_present = sw->seen.n;
	base->valid = true;
	sw->seen = (struct proc_ranges){ 0 };
	return 1;
}
