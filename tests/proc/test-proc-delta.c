// SPDX-License-Identifier: MIT
/*
 * Incremental checkpoints of a real program: proc-target, launched with
 * the shim and seized, captured against a base (proc-image.h) while the
 * test changes its memory in every way a delta must get right:
 *   written    pages of its buffer written again, and written for the
 *              first time; others own and left alone
 *   zapped     a page of the buffer dropped (MADV_DONTNEED)
 *   mapped     a region through the shim's mmap hook, one past it
 *              (syscall(SYS_mmap)): registered only now
 *   populated  a region mapped MAP_POPULATE through the hook and never
 *              written: own pages (zeroed) the dirty log never reports,
 *              which only "own now, not own in the base" catches
 *   moved      4 written pages moved by mremap (the hook's "hooks")
 *   replaced   a written region unmapped, mapped again at the same
 *              address and only read: none of its pages is own now
 * Each delta must carry the pages written and not the ones left alone;
 * and the page cache updated with the full image and each delta in turn
 * must hold exactly what a fresh full capture of the stopped program
 * holds, page by page, with the delta's present list that capture's
 * runs. The same again through proc-image-wire, then a delta after a
 * round of nothing much, then a base invalidated (full again).
 *
 * "Not now": deltas the other side did not apply, each followed by
 * proc_image_base_not_applied, and then one it does: each is a delta of
 * the image that side still holds, carrying what every rejected one
 * carried (the log no longer shows it) besides what was written since;
 * the cache updated with the full image and that last delta alone is
 * exact. A full image not applied leaves nothing to follow: full again.
 *
 * Usage: test-proc-delta PROC-TARGET COLO-SHIM.SO
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proc-cache.h"
#include "proc-fixture.h"
#include "proc-image-wire.h"
#include "proc-image.h"
#include "proc-stop.h"
#include "proc-track.h"

#define PAGE 4096ULL
#define REPLY_MS 10000

struct target {
	struct proc_child c;
	struct proc_stop ps;
	struct proc_track track;
	struct proc_image_base base;
	int fd;
};

/* One request, one line back; the tracer pumped while it waits. */
static void ask(struct target *t, const char *req, char *reply, size_t cap)
{
	uint64_t deadline = fixture_now_ms() + REPLY_MS;
	size_t n = 0;

	CHECK_EQ(write(t->fd, req, strlen(req)), (long long)strlen(req));
	for (;;) {
		struct pollfd p = { .fd = t->fd, .events = POLLIN };

		CHECK(proc_stop_pump(&t->ps) >= 0);
		if (poll(&p, 1, 5) <= 0) {
			CHECK(fixture_now_ms() < deadline);
			continue;
		}
		CHECK(read(t->fd, reply + n, 1) == 1);
		if (reply[n] == '\n')
			break;
		CHECK(++n < cap - 1);
	}
	reply[n] = '\0';
}

static uint64_t ask_addr(struct target *t, const char *req)
{
	unsigned long long a = 0;
	char reply[128];

	ask(t, req, reply, sizeof(reply));
	CHECK_EQ(sscanf(reply, "%llx", &a), 1);
	CHECK(a != 0 && a % PAGE == 0);
	return a;
}

static void ask_ok(struct target *t, const char *req)
{
	char reply[128];

	ask(t, req, reply, sizeof(reply));
	if (strcmp(reply, "ok")) {
		fprintf(stderr, "%s answered %s\n", req, reply);
		exit(1);
	}
}

static void stop(struct target *t)
{
	CHECK_EQ(proc_stop_interrupt(&t->ps, 5000), 0);
	proc_stop_sort(&t->ps);
}

static void capture(struct target *t, bool full, struct proc_image *img)
{
	CHECK_EQ(proc_image_capture_tracked(&t->ps, t->c.pidfd, &t->fd, 1,
					    &t->base, full, img), 0);
	CHECK(t->base.valid);
}

/* Whether img's runs hold the page at addr. */
static bool carried(const struct proc_image *img, uint64_t addr)
{
	for (size_t i = 0; i < img->n_runs; i++)
		if (addr >= img->runs[i].addr &&
		    addr < img->runs[i].addr + img->runs[i].pages * PAGE)
			return true;
	return false;
}

static bool in_ranges(const struct proc_image_range *r, size_t n,
		      uint64_t addr)
{
	for (size_t i = 0; i < n; i++)
		if (addr >= r[i].addr && addr < r[i].addr + r[i].pages * PAGE)
			return true;
	return false;
}

/*
 * The cache against a fresh full capture of the same stopped moment:
 * the same pages, byte for byte; and the delta's present list is that
 * capture's runs, merged.
 */
static void check_equal(struct target *t, const struct proc_cache *cache,
			const struct proc_image *delta)
{
	struct proc_image fresh;
	size_t k = 0;

	CHECK_EQ(proc_image_capture(&t->ps, t->c.pidfd, &t->fd, 1, &fresh),
		 0);
	CHECK(!fresh.delta && !fresh.present);
	CHECK_EQ(proc_cache_pages(cache), proc_image_pages(&fresh));
	for (size_t i = 0; i < fresh.n_runs; i++) {
		const struct proc_image_run *run = &fresh.runs[i];

		for (size_t p = 0; p < run->pages; p++) {
			uint64_t a = run->addr + p * PAGE;
			const uint8_t *got = proc_cache_page(cache, a);

			if (!got || memcmp(got, run->data + p * PAGE, PAGE)) {
				fprintf(stderr, "page %#llx: %s in the cache\n",
					(unsigned long long)a,
					got ? "different" : "missing");
				exit(1);
			}
		}
	}
	if (delta) {
		/* Runs merged as ranges: the present list, range by range. */
		for (size_t i = 0; i < fresh.n_runs; k++) {
			uint64_t a = fresh.runs[i].addr;
			uint64_t end = a + fresh.runs[i].pages * PAGE;

			while (++i < fresh.n_runs && fresh.runs[i].addr == end)
				end += fresh.runs[i].pages * PAGE;
			CHECK(k < delta->n_present);
			CHECK_EQ(delta->present[k].addr, a);
			CHECK_EQ(delta->present[k].pages, (end - a) / PAGE);
		}
		CHECK_EQ(k, delta->n_present);
	}
	proc_image_free(&fresh);
}

/* img through proc-image-wire: encoded, decoded, the same bytes again. */
static void through_wire(const struct proc_image *img, struct proc_image *out)
{
	uint8_t *buf, *again;
	size_t len, len2;
	char why[160];

	CHECK_EQ(proc_image_encode(img, &buf, &len), 0);
	if (proc_image_decode(buf, len, out, why, sizeof(why))) {
		fprintf(stderr, "decode: %s\n", why);
		exit(1);
	}
	CHECK_EQ(out->delta, img->delta);
	CHECK_EQ(out->n_present, img->n_present);
	CHECK_EQ(proc_image_encode(out, &again, &len2), 0);
	CHECK(len2 == len && !memcmp(buf, again, len));
	free(buf);
	free(again);
}

static void update(struct proc_cache *c, const struct proc_image *img)
{
	char why[160];

	if (proc_cache_update(c, img, why, sizeof(why))) {
		fprintf(stderr, "proc_cache_update: %s\n", why);
		exit(1);
	}
}

struct layout {
	uint64_t buf, kept, region, mapped, raw, moved, populated;
};

static void check_pages(const char *what, const struct proc_image *img,
			uint64_t addr, size_t n, bool want)
{
	for (size_t p = 0; p < n; p++)
		if (carried(img, addr + p * PAGE) != want) {
			fprintf(stderr, "%s: page %zu (%#llx) %s\n", what, p,
				(unsigned long long)(addr + p * PAGE),
				want ? "not carried" : "carried");
			exit(1);
		}
}

int main(int argc, char **argv)
{
	const char *args[] = { "7070", NULL };
	struct proc_launch_spec spec = { argv[1], args, argv[2] };
	struct proc_cache *cache = proc_cache_new(), *wired = proc_cache_new();
	struct proc_image full, delta, w;
	struct target t = { 0 };
	struct layout l;
	char req[128], reply[128];
	unsigned long long grown = 0;

	CHECK_EQ(argc, 3);
	CHECK(cache && wired);
	log_init("test-proc-delta", LOG_LVL_INFO);
	fixture_require_root();
	test_require_dirtylog();
	fixture_launch(&spec, &t.c);
	t.fd = fixture_connect(t.c.pid, TARGET_PORT);
	CHECK_EQ(proc_stop_seize(&t.ps, t.c.pid), 0);
	CHECK_EQ(proc_track_open(&t.track, t.c.pid, t.c.pidfd), 0);
	t.base.track = &t.track;

	/* Before the full image: own pages to keep, rewrite, zap, replace. */
	l.buf = ask_addr(&t, "buf\n");
	ask_ok(&t, "write 0 1 2 3 4 5\n");
	l.kept = ask_addr(&t, "mapw 200\n");
	l.region = ask_addr(&t, "mapw 6\n");

	stop(&t);
	capture(&t, false, &full);      /* no base yet: full */
	CHECK(!full.delta && !full.present);
	check_pages("full: buffer", &full, l.buf, 6, true);
	check_pages("full: buffer untouched", &full, l.buf + 6 * PAGE, 58,
		    false);
	check_pages("full: kept", &full, l.kept, 200, true);
	update(cache, &full);
	check_equal(&t, cache, NULL);
	through_wire(&full, &w);
	update(wired, &w);
	proc_image_free(&w);
	fprintf(stderr, "full: %llu pages\n",
		(unsigned long long)proc_image_pages(&full));
	CHECK_EQ(proc_stop_resume(&t.ps), 0);

	/* Every kind of change. */
	ask_ok(&t, "write 0 10 11 12\n");
	ask_ok(&t, "zap 2\n");
	l.mapped = ask_addr(&t, "mapw 5\n");
	l.raw = ask_addr(&t, "rawmap 3\n");
	l.populated = ask_addr(&t, "mappop 7\n");
	ask(&t, "hooks\n", reply, sizeof(reply));
	CHECK_EQ(sscanf(reply, "%llx %llx", &grown,
			(unsigned long long *)&l.moved), 2);
	snprintf(req, sizeof(req), "remapread %llx 6\n",
		 (unsigned long long)l.region);
	ask(&t, req, reply, sizeof(reply));
	CHECK(!strcmp(reply, "0"));

	stop(&t);
	capture(&t, false, &delta);
	CHECK(delta.delta);
	fprintf(stderr, "delta: %llu pages carried, %zu present ranges\n",
		(unsigned long long)proc_image_pages(&delta),
		delta.n_present);
	check_pages("delta: rewritten", &delta, l.buf, 1, true);
	check_pages("delta: left alone", &delta, l.buf + PAGE, 1, false);
	check_pages("delta: zapped", &delta, l.buf + 2 * PAGE, 1, false);
	check_pages("delta: left alone", &delta, l.buf + 3 * PAGE, 3, false);
	check_pages("delta: new", &delta, l.buf + 10 * PAGE, 3, true);
	check_pages("delta: never written", &delta, l.buf + 13 * PAGE, 51,
		    false);
	check_pages("delta: kept", &delta, l.kept, 200, false);
	check_pages("delta: mapped", &delta, l.mapped, 5, true);
	check_pages("delta: raw", &delta, l.raw, 3, true);
	check_pages("delta: populated", &delta, l.populated, 7, true);
	check_pages("delta: moved", &delta, l.moved, 4, true);
	check_pages("delta: replaced", &delta, l.region, 6, false);
	CHECK(!in_ranges(delta.present, delta.n_present, l.buf + 2 * PAGE));
	CHECK(!in_ranges(delta.present, delta.n_present, l.region));
	CHECK(in_ranges(delta.present, delta.n_present, l.kept));
	CHECK(proc_image_pages(&delta) < proc_image_pages(&full) / 2);
	update(cache, &delta);
	CHECK(proc_cache_page(cache, l.region) == NULL);
	CHECK(proc_cache_page(cache, l.buf + 2 * PAGE) == NULL);
	check_equal(&t, cache, &delta);
	through_wire(&delta, &w);
	update(wired, &w);
	proc_image_free(&w);
	check_equal(&t, wired, &delta);
	proc_image_free(&delta);
	proc_image_free(&full);
	CHECK_EQ(proc_stop_resume(&t.ps), 0);

	/* A round of little: only what answering touched. */
	ask(&t, "buf\n", reply, sizeof(reply));
	stop(&t);
	capture(&t, false, &delta);
	CHECK(delta.delta);
	fprintf(stderr, "quiet delta: %llu pages carried\n",
		(unsigned long long)proc_image_pages(&delta));
	CHECK(proc_image_pages(&delta) < 64);
	check_pages("quiet: buffer", &delta, l.buf, 64, false);
	update(cache, &delta);
	check_equal(&t, cache, &delta);
	proc_image_free(&delta);

	/* Not applied on the other side: the next capture is full. */
	proc_image_base_invalidate(&t.base);
	capture(&t, false, &full);
	CHECK(!full.delta);
	update(cache, &full);
	check_equal(&t, cache, NULL);
	proc_image_free(&full);
	CHECK_EQ(proc_stop_resume(&t.ps), 0);

	/* "Not now": A (full) held there; B and C rejected; D applied. */
	{
		struct proc_cache *held = proc_cache_new();
		uint64_t pages_a;

		CHECK(held != NULL);
		stop(&t);
		capture(&t, true, &full);               /* A */
		CHECK(!full.delta);
		pages_a = proc_image_pages(&full);
		update(held, &full);
		proc_image_free(&full);
		CHECK_EQ(proc_stop_resume(&t.ps), 0);

		/* Pages 1, 3, 4 and 5 are own in A (written at the start). */
		ask_ok(&t, "stamp 1 4\n");
		stop(&t);
		capture(&t, false, &delta);             /* B */
		CHECK(delta.delta);
		check_pages("B: stamped", &delta, l.buf + PAGE, 1, true);
		check_pages("B: stamped", &delta, l.buf + 4 * PAGE, 1, true);
		check_pages("B: left alone", &delta, l.buf + 3 * PAGE, 1,
			    false);
		proc_image_free(&delta);
		proc_image_base_not_applied(&t.base);
		CHECK(t.base.valid);
		CHECK_EQ(proc_stop_resume(&t.ps), 0);

		ask_ok(&t, "stamp 3\n");
		ask_ok(&t, "zap 4\n");
		stop(&t);
		capture(&t, false, &delta);             /* C */
		CHECK(delta.delta);
		check_pages("C: B's", &delta, l.buf + PAGE, 1, true);
		check_pages("C: stamped", &delta, l.buf + 3 * PAGE, 1, true);
		check_pages("C: zapped", &delta, l.buf + 4 * PAGE, 1, false);
		check_pages("C: left alone", &delta, l.buf + 5 * PAGE, 1,
			    false);
		check_pages("C: kept", &delta, l.kept, 200, false);
		proc_image_free(&delta);
		proc_image_base_not_applied(&t.base);
		CHECK(t.base.valid);
		/* Page 4, B's and not own at C, stays pending: were it own
		 * again without a write (mremap), D would carry it. */
		CHECK(in_ranges(t.base.pending.r, t.base.pending.n,
				l.buf + 4 * PAGE));
		CHECK(in_ranges(t.base.pending.r, t.base.pending.n,
				l.buf + PAGE));
		CHECK_EQ(proc_stop_resume(&t.ps), 0);

		ask_ok(&t, "stamp 5\n");
		stop(&t);
		capture(&t, false, &delta);             /* D */
		CHECK(delta.delta);
		fprintf(stderr, "after two not applied: %llu pages carried "
			"(A: %llu)\n",
			(unsigned long long)proc_image_pages(&delta),
			(unsigned long long)pages_a);
		check_pages("D: B's", &delta, l.buf + PAGE, 1, true);
		check_pages("D: C's", &delta, l.buf + 3 * PAGE, 1, true);
		check_pages("D: stamped", &delta, l.buf + 5 * PAGE, 1, true);
		check_pages("D: zapped", &delta, l.buf + 4 * PAGE, 1, false);
		check_pages("D: left alone", &delta, l.buf + 10 * PAGE, 3,
			    false);
		check_pages("D: kept", &delta, l.kept, 200, false);
		CHECK(proc_image_pages(&delta) < pages_a / 2);
		CHECK(!t.base.pending.n);
		update(held, &delta);
		check_equal(&t, held, &delta);
		proc_image_free(&delta);

		/* Nothing before a full image to follow: full again. */
		capture(&t, true, &full);
		proc_image_free(&full);
		proc_image_base_not_applied(&t.base);
		CHECK(!t.base.valid);
		capture(&t, false, &full);
		CHECK(!full.delta);
		proc_image_free(&full);
		/* Called twice for one capture: the second cannot know. */
		capture(&t, false, &delta);
		CHECK(delta.delta);
		proc_image_free(&delta);
		proc_image_base_not_applied(&t.base);
		CHECK(t.base.valid);
		proc_image_base_not_applied(&t.base);
		CHECK(!t.base.valid);
		CHECK_EQ(proc_stop_resume(&t.ps), 0);
		proc_cache_free(held);
	}

	/*
	 * Live sync: sweeps in windows of 16 own pages while the program runs
	 * and writes, zaps and maps between them, added to a cache of their
	 * own; then the delta taken stopped makes that cache exact.
	 */
	{
		struct proc_cache *live = proc_cache_new();
		struct proc_image_sweep sw = { 0 };
		unsigned windows = 0;
		uint64_t carried = 0;
		int more;

		CHECK(live != NULL);
		proc_image_base_invalidate(&t.base);
		proc_image_sweep_begin(&sw, true);
		do {
			more = proc_image_sweep_next(t.c.pid, &t.base, &sw, 16,
						     &w);
			CHECK(more >= 0);
			CHECK(!w.delta && !w.n_threads && !w.fds.n);
			CHECK_EQ(proc_cache_add(live, &w), 0);
			proc_image_free(&w);
			if (windows++ == 2)
				ask_ok(&t, "write 0 20 21\n");
		} while (more == 0);
		CHECK(windows > 3);
		CHECK(t.base.valid);
		ask_ok(&t, "write 0 30\n");
		ask_ok(&t, "zap 11\n");
		(void)ask_addr(&t, "mapw 3\n");
		proc_image_sweep_begin(&sw, false);
		do {
			more = proc_image_sweep_next(t.c.pid, &t.base, &sw, 16,
						     &w);
			CHECK(more >= 0);
			carried += proc_image_pages(&w);
			CHECK_EQ(proc_cache_add(live, &w), 0);
			proc_image_free(&w);
		} while (more == 0);
		fprintf(stderr, "live sync: %u windows, then %llu pages\n",
			windows, (unsigned long long)carried);
		CHECK(carried > 0 && carried < 64);
		ask_ok(&t, "write 0 40 41\n");
		stop(&t);
		capture(&t, false, &delta);
		CHECK(delta.delta);
		update(live, &delta);
		check_equal(&t, live, &delta);
		proc_image_free(&delta);
		CHECK_EQ(proc_stop_resume(&t.ps), 0);
		proc_image_sweep_free(&sw);
		proc_cache_free(live);
	}

	proc_image_base_free(&t.base);
	proc_cache_free(cache);
	proc_cache_free(wired);
	proc_stop_detach(&t.ps);
	proc_track_close(&t.track);
	CHECK_EQ(proc_kill(&t.c), SIGKILL);
	close(t.fd);
	return 0;
}
