// SPDX-License-Identifier: MIT
/*
 * Step 4 of an apply from the page cache (proc_image_apply_cached): the
 * twin's pages made the cache's, touching only what may differ.
 *
 * After the last apply the twin's own pages were exactly the cache's.
 * Since then a page can differ only if the PVM wrote it (the image
 * carries it), the twin wrote it (its dirty log says so: this covers the
 * scratch the fd step's injected calls just wrote on its stack, and every
 * page of a mapping the reconcile just made, which the log reports whole),
 * or one side dropped or gained it (the own-page sets differ). So:
 *   write = held & (carried | twin_dirty | (held & ~twin_own))
 *   drop  = twin_own & ~held
 * then the twin's log is cleared, our own writes included, so that the
 * next apply sees only what the twin does from here on.
 *
 * Before the first apply of a cache into a twin there is no such "last
 * apply", and the log does not make up for it: the shim write-protects
 * what the loader and earlier constructors wrote (a stack page the loader
 * used, jemalloc's first metadata), so a page the twin wrote then and
 * never since is in no log, while the PVM's copy has moved on. That apply
 * writes every held page (write = held). Writing only the logged ones
 * left a redis SVM with a stale jemalloc page after each live sync; the
 * first allocation of that size class crashed it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bitmap.h"
#include "log.h"
#include "proc-cache.h"
#include "proc-idle.h"
#include "proc-image-apply-int.h"
#include "proc-mem.h"
#include "proc-ranges.h"
#include "proc-track.h"

#define PAGE 4096ULL
#define IDLE_EVERY (64ULL << 20)

static int add_held(void *opaque, uint64_t addr, size_t pages,
		    const uint8_t *data)
{
	(void)data;
	return proc_ranges_add(opaque, addr, pages);
}

static int twin_own_pages(struct applier *ap, struct proc_ranges *own)
{
	const struct proc_maps *maps = &ap->img->maps;
	int pagemap = proc_mem_open(ap->twin->pid, "pagemap", O_RDONLY);
	int r = 0;

	if (pagemap < 0)
		return pagemap;
	for (size_t i = 0; i < maps->n && r == 0; i++)
		if (proc_image_carries(&maps->vma[i]))
			r = proc_mem_own_pages(pagemap, maps->vma[i].start,
					       maps->vma[i].end, own);
	close(pagemap);
	return r;
}

/* What the twin wrote since its log was last cleared, VMA by VMA. */
static int twin_dirty_pages(struct proc_track *t, struct proc_ranges *dirty)
{
	int r = proc_track_refresh(t);

	for (size_t i = 0; i < t->maps.n && r >= 0; i++) {
		const struct proc_vma *v = &t->maps.vma[i];
		struct bitmap bm;
		int64_t n;

		if (t->track[i] == PROC_TRACK_NONE)
			continue;
		r = bitmap_init(&bm, (v->end - v->start) / PAGE);
		if (r < 0)
			break;
		n = proc_track_sync(t, i, &bm, 0, false);
		r = n < 0 ? (int)n : proc_ranges_add_bits(dirty, &bm, v->start);
		bitmap_deinit(&bm);
	}
	return r < 0 ? r : 0;
}

static int clear_twin_log(struct proc_track *t)
{
	for (size_t i = 0; i < t->maps.n; i++) {
		int64_t n;

		if (t->track[i] == PROC_TRACK_NONE)
			continue;
		n = proc_track_sync(t, i, NULL, 0, true);
		if (n < 0)
			return (int)n;
	}
	return 0;
}

static int image_runs(const struct proc_image *img, struct proc_ranges *out)
{
	int r = 0;

	for (size_t i = 0; i < img->n_runs && r == 0; i++)
		r = proc_ranges_add(out, img->runs[i].addr, img->runs[i].pages);
	return r;
}

/* One range of held pages, written in as few calls as the cache's chunks
 * allow (consecutive pages of a chunk are consecutive bytes). */
static int write_held(struct applier *ap, uint64_t addr, uint64_t pages)
{
	uint64_t end = addr + pages * PAGE;

	while (addr < end) {
		const uint8_t *p = proc_cache_page(ap->cache, addr);
		uint64_t n = 1;
		int r;

		if (!p)
			return -EPROTO;
		while (addr + n * PAGE < end &&
		       proc_cache_page(ap->cache, addr + n * PAGE) ==
		       p + n * PAGE)
			n++;
		r = proc_mem_write(ap->twin->pid, ap->mem, addr, p, n * PAGE);
		if (r == 0)
			r = proc_idle_tick();
		ap->since_idle += n * PAGE;
		if (r == 0 && ap->idle && ap->idle->fn &&
		    ap->since_idle >= IDLE_EVERY) {
			ap->since_idle = 0;
			r = ap->idle->fn(ap->idle->opaque);
			if (r > 0)
				r = -ECANCELED;
			if (r < 0)
				return r;
		}
		if (r < 0) {
			log_error("proc-image: writing %#llx+%llu pages into "
				  "%d: %s", (unsigned long long)addr,
				  (unsigned long long)n, (int)ap->twin->pid,
				  strerror(-r));
			return r;
		}
		addr += n * PAGE;
	}
	return 0;
}

/*
 * COLO_CHECK_APPLY: every held page read back and compared, and the twin
 * owning exactly the held pages. For tests: it reads the whole program.
 */
static bool check_wanted(void)
{
	static int wanted = -1;

	if (wanted < 0) {
		const char *e = getenv("COLO_CHECK_APPLY");

		wanted = e && *e && strcmp(e, "0");
	}
	return wanted;
}

static int check_twin(struct applier *ap, const struct proc_ranges *held)
{
	uint8_t page[PAGE];
	struct proc_ranges own = { 0 }, extra = { 0 };
	uint64_t differ = 0, first = 0, read = 0;
	int r;

	for (size_t i = 0; i < held->n; i++)
		for (uint64_t k = 0; k < held->r[i].pages; k++) {
			uint64_t a = held->r[i].addr + k * PAGE;

			r = proc_mem_read(ap->twin->pid, ap->mem, a, page, PAGE);
			/* A heartbeat's chance every MiB, as write_held. */
			if (r == 0 && !(++read % 256))
				r = proc_idle_tick();
			if (r < 0)
				return r;
			if (memcmp(page, proc_cache_page(ap->cache, a), PAGE) &&
			    !differ++)
				first = a;
		}
	r = twin_own_pages(ap, &own);
	if (r == 0)
		r = proc_ranges_subtract(&own, held, &extra);
	if (r == 0 && (differ || extra.n)) {
		log_error("proc-image: check after the apply into %d: %llu "
			  "held pages differ (the first at %#llx), %llu own "
			  "pages not held (the first at %#llx)",
			  (int)ap->twin->pid, (unsigned long long)differ,
			  (unsigned long long)first,
			  (unsigned long long)proc_ranges_pages(&extra),
			  (unsigned long long)(extra.n ? extra.r[0].addr : 0));
		r = -EPROTO;
	}
	proc_ranges_free(&own);
	proc_ranges_free(&extra);
	return r;
}

int proc_apply_pages_cached(struct applier *ap)
{
	struct proc_ranges held = { 0 }, own = { 0 }, dirty = { 0 },
			   carried = { 0 }, lost = { 0 }, a = { 0 }, b = { 0 },
			   write = { 0 }, drop = { 0 };
	const struct proc_ranges *w;
	int r;

	r = proc_cache_walk(ap->cache, add_held, &held);
	if (r == 0)
		r = twin_own_pages(ap, &own);
	if (r == 0)
		r = twin_dirty_pages(ap->track, &dirty);
	if (r == 0)
		r = image_runs(ap->img, &carried);
	if (r == 0)
		r = proc_ranges_subtract(&held, &own, &lost);
	if (r == 0)
		r = proc_ranges_union(&carried, &dirty, &a);
	if (r == 0)
		r = proc_ranges_union(&a, &lost, &b);
	if (r == 0)
		r = proc_ranges_intersect(&held, &b, &write);
	if (r == 0)
		r = proc_ranges_subtract(&own, &held, &drop);
	for (size_t i = 0; i < drop.n && r == 0; i++)
		r = proc_apply_drop(ap, drop.r[i].addr, drop.r[i].pages);
	/* Not yet made the cache's: every held page (see the top). */
	w = ap->twin_is_cache ? &write : &held;
	for (size_t i = 0; i < w->n && r == 0; i++)
		r = write_held(ap, w->r[i].addr, w->r[i].pages);
	if (r == 0 && check_wanted())
		r = check_twin(ap, &held);
	if (r == 0)
		r = clear_twin_log(ap->track);
	if (r == 0)
		log_debug("proc-image: %llu pages written into %d, %llu "
			  "dropped, of %llu held (%llu carried, %llu the "
			  "twin wrote)",
			  (unsigned long long)proc_ranges_pages(w),
			  (int)ap->twin->pid,
			  (unsigned long long)proc_ranges_pages(&drop),
			  (unsigned long long)proc_ranges_pages(&held),
			  (unsigned long long)proc_ranges_pages(&carried),
			  (unsigned long long)proc_ranges_pages(&dirty));
	else
		log_error("proc-image: the pages of %d from the cache: %s",
			  (int)ap->twin->pid, strerror(-r));
	proc_ranges_free(&held);
	proc_ranges_free(&own);
	proc_ranges_free(&dirty);
	proc_ranges_free(&carried);
	proc_ranges_free(&lost);
	proc_ranges_free(&a);
	proc_ranges_free(&b);
	proc_ranges_free(&write);
	proc_ranges_free(&drop);
	return r;
}
