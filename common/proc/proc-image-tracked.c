// SPDX-License-Identifier: MIT
/*
 * Capturing against a base (proc_image_capture_tracked): a full image,
 * or a delta of the one before, from the program's dirty log.
 *
 * Per carried mapping, a delta carries the own pages that may differ
 * from what the other side holds:
 *   - a mapping the log follows since before the base (LOGGED): its
 *     written pages that are own pages now, and its own pages that were
 *     none in the base (a page can become own without a write the log
 *     sees: moved in by mremap, or registered late);
 *   - any other (registered only now, refused, or not followed at all,
 *     as read-only data is): every own page.
 * After a capture the other side did not apply (proc_image_base_not_applied)
 * the base is the image before it again, and the pages that capture
 * carried are "pending": written since that image, though the log, which
 * the capture cleared, no longer says so. A delta carries every own page
 * of them too, in logged mappings (the others' own pages all go anyway).
 * A page that stopped being own needs no bytes: the other side drops it
 * (it reads as zero or the file's there too), which the present list
 * says. A mapping replaced at the same address cannot pass for the old
 * one: its own pages were either written (logged) or not own before.
 *
 * The program is stopped throughout, so the log read here and the pages
 * read are the same moment; each followed mapping's log is cleared in the
 * same pass that reads it, so the next delta starts from this image.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bitmap.h"
#include "log.h"
#include "proc-image-int.h"
#include "proc-mem.h"
#include "proc-ranges.h"
#include "proc-track.h"

#define PAGE 4096ULL

/* A cursor over a range list, walked in address order. */
struct cursor {
	const struct proc_image_range *r;
	size_t n, i;
};

static bool in_set(struct cursor *c, uint64_t addr)
{
	while (c->i < c->n && c->r[c->i].addr + c->r[c->i].pages * PAGE <= addr)
		c->i++;
	return c->i < c->n && c->r[c->i].addr <= addr;
}

/*
 * What a delta carries of a logged mapping v (VMA i of the track): own
 * pages written since the base, own now and not then, or pending.
 */
static int pick_logged(struct proc_track *t, size_t i,
		       const struct proc_ranges *own, struct cursor *base,
		       struct cursor *pending, struct proc_ranges *want)
{
	const struct proc_vma *v = &t->maps.vma[i];
	struct bitmap bm;
	int64_t dirty;
	int r;

	r = bitmap_init(&bm, (v->end - v->start) / PAGE);
	if (r < 0)
		return r;
	dirty = proc_track_sync(t, i, &bm, 0, true);
	r = dirty < 0 ? (int)dirty : 0;
	for (size_t k = 0; k < own->n && r == 0; k++) {
		uint64_t a = own->r[k].addr;
		uint64_t end = a + own->r[k].pages * PAGE;

		for (; a < end && r == 0; a += PAGE)
			if (bitmap_test(&bm, (a - v->start) / PAGE) ||
			    !in_set(base, a) || in_set(pending, a))
				r = proc_ranges_add(want, a, 1);
	}
	bitmap_deinit(&bm);
	return r;
}

/* Appends every range of from to to. */
static int add_all(struct proc_ranges *to, const struct proc_ranges *from)
{
	int r = 0;

	for (size_t k = 0; k < from->n && r == 0; k++)
		r = proc_ranges_add(to, from->r[k].addr, from->r[k].pages);
	return r;
}

/*
 * Over every carried mapping of the track's map: the own pages now (all),
 * and with delta what the delta carries (want); every followed mapping's
 * log cleared.
 */
static int scan(struct proc_track *t, int pagemap,
		const struct proc_image_base *base, bool delta,
		struct proc_ranges *all, struct proc_ranges *want)
{
	struct cursor cur = { base->present, base->n_present, 0 };
	struct cursor pend = { base->pending.r, base->pending.n, 0 };
	struct proc_ranges own = { 0 };
	int r = 0;

	for (size_t i = 0; i < t->maps.n && r == 0; i++) {
		const struct proc_vma *v = &t->maps.vma[i];
		enum proc_vma_track state = t->track[i];

		if (!proc_image_carries(v))
			continue;
		own.n = 0;
		r = proc_mem_own_pages(pagemap, v->start, v->end, &own);
		if (r == 0)
			r = add_all(all, &own);
		if (r < 0)
			break;
		if (delta && state == PROC_TRACK_LOGGED) {
			r = pick_logged(t, i, &own, &cur, &pend, want);
			continue;
		}
		if (delta)
			r = add_all(want, &own);
		/* Cleared, so that it is LOGGED and clean from here. */
		if (r == 0 && state != PROC_TRACK_NONE) {
			int64_t c = proc_track_sync(t, i, NULL, 0, true);

			r = c < 0 ? (int)c : 0;
		}
	}
	free(own.r);
	return r;
}

/*
 * base follows the image just captured, whose own pages are all (taken).
 * A delta's base is kept as before, and what it carried plus what was
 * pending as sent: should it not be applied, the pending pages of the
 * next capture are all of those (sent), the union over the streak. The
 * pending set is spent: this capture carried its own pages.
 */
static void follow(struct proc_image_base *base, struct proc_ranges *all,
		   bool delta, struct proc_ranges *sent)
{
	proc_ranges_free(&base->before);
	if (delta)
		base->before = (struct proc_ranges){ base->present,
						     base->n_present,
						     base->n_present };
	else
		free(base->present);
	base->before_valid = delta;
	base->present = all->r;
	base->n_present = all->n;
	*all = (struct proc_ranges){ 0 };
	proc_ranges_free(&base->sent);
	base->sent = *sent;
	*sent = (struct proc_ranges){ 0 };
	proc_ranges_free(&base->pending);
	base->valid = true;
}

static int capture(struct proc_stop *ps, int pidfd, const int *daemon_fds,
		   size_t n_daemon_fds, struct proc_image_base *base,
		   bool delta, struct proc_image *out)
{
	pid_t pid = ps->pid;
	struct proc_ranges all = { 0 }, want = { 0 }, sent = { 0 };
	int pagemap = -1, r;

	r = proc_track_refresh(base->track);
	if (r >= 0)
		r = proc_maps_read(pid, &out->maps);
	if (r == 0) {
		pagemap = proc_mem_open(pid, "pagemap", O_RDONLY);
		r = pagemap < 0 ? pagemap : 0;
	}
	if (r == 0)
		r = scan(base->track, pagemap, base, delta, &all, &want);
	if (pagemap >= 0)
		close(pagemap);
	if (r == 0)
		r = delta ? proc_image_read_ranges(pid, want.r, want.n, out)
			  : proc_image_read_ranges(pid, all.r, all.n, out);
	if (r == 0)
		r = proc_image_capture_rest(ps, pidfd, daemon_fds,
					    n_daemon_fds, out);
	/* A delta also says what is present. */
	if (r == 0 && delta) {
		out->delta = true;
		out->present = malloc((all.n ? all.n : 1) * sizeof(*all.r));
		if (!out->present)
			r = -ENOMEM;
		else
			memcpy(out->present, all.r, all.n * sizeof(*all.r));
		out->n_present = out->present ? all.n : 0;
	}
	if (r == 0 && delta)
		r = proc_ranges_union(&want, &base->pending, &sent);
	if (r == 0)
		follow(base, &all, delta, &sent);
	proc_ranges_free(&all);
	proc_ranges_free(&want);
	proc_ranges_free(&sent);
	return r;
}

int proc_image_capture_tracked(struct proc_stop *ps, int pidfd,
			       const int *daemon_fds, size_t n_daemon_fds,
			       struct proc_image_base *base, bool full,
			       struct proc_image *out)
{
	int r;

	*out = (struct proc_image){ 0 };
	r = capture(ps, pidfd, daemon_fds, n_daemon_fds, base,
		    !full && base->valid, out);
	if (r < 0) {
		log_error("proc-image: capturing %d against its base: %s",
			  (int)ps->pid, strerror(-r));
		proc_image_free(out);
		proc_image_base_invalidate(base);
	}
	return r;
}

void proc_image_base_invalidate(struct proc_image_base *base)
{
	free(base->present);
	base->present = NULL;
	base->n_present = 0;
	base->valid = false;
	base->before_valid = false;
	proc_ranges_free(&base->before);
	proc_ranges_free(&base->sent);
	proc_ranges_free(&base->pending);
}

/*
 * The other side holds the image before the last capture, so the base is
 * that image's present list again (before); nothing of what the log said
 * since then is lost: the log was cleared only of what the rejected
 * capture carried, all of which is in sent, which becomes pending. The
 * rejected image's own-page list is dropped: a page own in it and not
 * before is not own in before, and the next delta carries it if own.
 */
void proc_image_base_not_applied(struct proc_image_base *base)
{
	if (!base->valid || !base->before_valid) {
		proc_image_base_invalidate(base);
		return;
	}
	free(base->present);
	base->present = base->before.r;
	base->n_present = base->before.n;
	base->before = (struct proc_ranges){ 0 };
	base->before_valid = false;
	proc_ranges_free(&base->pending);
	base->pending = base->sent;
	base->sent = (struct proc_ranges){ 0 };
}

void proc_image_base_free(struct proc_image_base *base)
{
	if (base)
		proc_image_base_invalidate(base);
}
