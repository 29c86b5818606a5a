// SPDX-License-Identifier: MIT
/*
 * The secondary's RAM cache and colo_flush_ram_cache (I4), against a naive
 * model. A forked "SVM" (locking-guest.h) writes its own pages on command;
 * this process stores "received" pages into the cache and also scribbles
 * on the SVM's RAM through the untracked alias, which stands for a page
 * that differs from the cache although neither side dirtied it.
 *
 * A flush must copy exactly the pages received or written by the SVM since
 * the last flush (the scribbles on other pages stay), in one memcpy per
 * maximal run of such pages (the flush_runs count), and re-protect the
 * SVM's pages so that its next writes are found again. Pages placed by
 * RDMA WRITE (ramcache_mark_placed) count as received.
 */
#include <sys/mman.h>

#include "locking-guest.h"
#include "ramcache.h"

#define NPAGES 2048ULL			/* 8 MiB */
#define SIZE (NPAGES * RAM_PAGE_SIZE)

struct fixture {
	struct ram_layout svm;		/* alias: the SVM's RAM */
	struct tguest g;
	struct dirtylog dl;
	struct ramcache rc;
	bool want[NPAGES];		/* the model: pages to copy */
	bool scribbled[NPAGES];
	uint64_t gen, seed;
	uint8_t buf[64 * RAM_PAGE_SIZE];
};

static uint8_t *svm_page(struct fixture *f, uint64_t p)
{
	return ramblock_page(&f->svm.blocks[0], p);
}

static uint8_t *cache_page(struct fixture *f, uint64_t p)
{
	return f->rc.cache[0] + (p << RAM_PAGE_SHIFT);
}

/* A received run: fresh content, or zero pages as a DISCARD gives. */
static void receive(struct fixture *f, uint64_t first, uint64_t n, bool zero)
{
	for (uint64_t i = 0; i < n && !zero; i++)
		tg_fill_page(f->buf + (i << RAM_PAGE_SHIFT), first + i,
			     ++f->gen);
	CHECK_EQ(ramcache_store(&f->rc, 0, first, n, zero ? NULL : f->buf), 0);
	for (uint64_t i = 0; i < n; i++)
		f->want[first + i] = true;
}

/* A placed run: the bytes land in the cache as an RDMA WRITE puts them
 * there, then the message that names them. */
static void place(struct fixture *f, uint64_t first, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		tg_fill_page(cache_page(f, first + i), first + i, ++f->gen);
	CHECK_EQ(ramcache_mark_placed(&f->rc, 0, first, n), 0);
	for (uint64_t i = 0; i < n; i++)
		f->want[first + i] = true;
}

static void svm_write(struct fixture *f, uint64_t first, uint64_t n)
{
	tguest_cmd(&f->g, TG_FILL, first, n, ++f->gen | 1ULL << 31);
	for (uint64_t i = 0; i < n; i++)
		f->want[first + i] = true;
}

/* Untracked: the flush must leave this page alone unless it is dirty. */
static void scribble(struct fixture *f, uint64_t p)
{
	memset(svm_page(f, p), 0xa5, RAM_PAGE_SIZE);
	f->scribbled[p] = true;
}

static uint64_t model_runs(const struct fixture *f)
{
	uint64_t runs = 0;

	for (uint64_t p = 0; p < NPAGES; p++)
		runs += f->want[p] && (p == 0 || !f->want[p - 1]);
	return runs;
}

/* Flush and hold it to the model; then undo the scribbles. */
static void flush_and_check(struct fixture *f)
{
	uint64_t expect = 0, runs = model_runs(f), runs_before;

	for (uint64_t p = 0; p < NPAGES; p++)
		expect += f->want[p];
	runs_before = f->rc.flush_runs;
	CHECK_EQ(colo_flush_ram_cache(&f->rc), expect);
	CHECK_EQ(f->rc.flush_runs - runs_before, runs);
	for (uint64_t p = 0; p < NPAGES; p++) {
		bool left = f->scribbled[p] && !f->want[p];
		bool same = !memcmp(svm_page(f, p), cache_page(f, p),
				    RAM_PAGE_SIZE);

		if (same == left)
			fprintf(stderr, "page %llu: %s\n", (unsigned long long)p,
				left ? "copied though nobody dirtied it"
				     : "not made equal to the cache");
		CHECK(same != left);
		if (left)
			memcpy(svm_page(f, p), cache_page(f, p), RAM_PAGE_SIZE);
	}
	memset(f->want, 0, sizeof(f->want));
	memset(f->scribbled, 0, sizeof(f->scribbled));
}

static void test_store_bounds(struct fixture *f)
{
	CHECK_EQ(ramcache_store(&f->rc, 1, 0, 1, NULL), -ERANGE);
	CHECK_EQ(ramcache_store(&f->rc, 0, NPAGES, 1, NULL), -ERANGE);
	CHECK_EQ(ramcache_store(&f->rc, 0, NPAGES - 1, 2, NULL), -ERANGE);
	CHECK_EQ(ramcache_store(&f->rc, 0, NPAGES + 1, 0, NULL), -ERANGE);
	CHECK_EQ(f->rc.received_pages, 0);
}

/*
 * Before the SVM runs, a stored run reaches the cache and the SVM's RAM
 * alike (by pwrite into both memfds), and a zero run stored over data
 * reads as zero in both (a hole punched in each); the pages around stay.
 */
static void test_store_before_start(struct fixture *f)
{
	static uint8_t want[8 * RAM_PAGE_SIZE];

	scribble(f, 407);
	receive(f, 400, 7, false);
	memcpy(want, f->buf, 7 * RAM_PAGE_SIZE);
	for (uint64_t p = 400; p < 407; p++) {
		const uint8_t *w = want + ((p - 400) << RAM_PAGE_SHIFT);

		CHECK(!memcmp(cache_page(f, p), w, RAM_PAGE_SIZE));
		CHECK(!memcmp(svm_page(f, p), w, RAM_PAGE_SIZE));
	}
	receive(f, 402, 2, true);
	for (uint64_t p = 400; p < 407; p++) {
		const uint8_t *w = want + ((p - 400) << RAM_PAGE_SHIFT);
		bool zero = p == 402 || p == 403;

		CHECK(zero ? ram_page_is_zero(cache_page(f, p)) :
			     !memcmp(cache_page(f, p), w, RAM_PAGE_SIZE));
		CHECK(!memcmp(svm_page(f, p), cache_page(f, p), RAM_PAGE_SIZE));
	}
	CHECK(svm_page(f, 407)[0] == 0xa5);   /* not part of any run */
	memcpy(svm_page(f, 407), cache_page(f, 407), RAM_PAGE_SIZE);
	memset(f->want, 0, sizeof(f->want));
	memset(f->scribbled, 0, sizeof(f->scribbled));
}

/*
 * Before the SVM runs, a placed page reaches its RAM at once (as a stored
 * one does), and is marked received; out of range is refused with nothing
 * marked.
 */
static void test_placed_before_start(struct fixture *f)
{
	uint64_t received = f->rc.received_pages;

	CHECK_EQ(ramcache_mark_placed(&f->rc, 1, 0, 1), -ERANGE);
	CHECK_EQ(ramcache_mark_placed(&f->rc, 0, NPAGES - 1, 2), -ERANGE);
	CHECK_EQ(f->rc.received_pages, received);
	scribble(f, 200);
	scribble(f, 203);
	place(f, 200, 3);
	CHECK_EQ(f->rc.received_pages, received + 3);
	for (uint64_t p = 200; p < 203; p++) {
		CHECK(bitmap_test(&f->rc.dirty[0], p));
		CHECK(!memcmp(svm_page(f, p), cache_page(f, p), RAM_PAGE_SIZE));
	}
	/* Its neighbour was not part of it. */
	CHECK(!bitmap_test(&f->rc.dirty[0], 203));
	CHECK(memcmp(svm_page(f, 203), cache_page(f, 203), RAM_PAGE_SIZE));
	memset(f->want, 0, sizeof(f->want));
	memset(f->scribbled, 0, sizeof(f->scribbled));
}

/*
 * Once the SVM runs (I7): a placed page stays in the cache, the SVM's RAM
 * untouched, until the flush copies it as a dirty page.
 */
static void test_placed_after_start(struct fixture *f)
{
	uint8_t before[RAM_PAGE_SIZE];

	memcpy(before, svm_page(f, 300), RAM_PAGE_SIZE);
	place(f, 300, 2);
	CHECK(bitmap_test(&f->rc.dirty[0], 300));
	CHECK(bitmap_test(&f->rc.dirty[0], 301));
	CHECK(!memcmp(svm_page(f, 300), before, RAM_PAGE_SIZE));
	CHECK(memcmp(svm_page(f, 300), cache_page(f, 300), RAM_PAGE_SIZE));
	flush_and_check(f);
}

static bool resident(struct fixture *f, uint64_t p)
{
	unsigned char v = 0;

	CHECK(mincore(cache_page(f, p), RAM_PAGE_SIZE, &v) == 0);
	return v & 1;
}

/*
 * A zero page dropped from the cache (MADV_DONTNEED) is cheap, but once
 * the cache is registered for RDMA its pages must stay where they are:
 * the registration keeps the old page, and later WRITEs would land there
 * unseen. Pinned, a zero page is written as zero, in place.
 */
static void test_zero_pinned(struct fixture *f)
{
	memset(cache_page(f, 400), 0x11, RAM_PAGE_SIZE);
	CHECK_EQ(ramcache_store(&f->rc, 0, 400, 1, NULL), 0);
	CHECK(!resident(f, 400));            /* dropped: reads as zero */
	memset(cache_page(f, 400), 0x11, RAM_PAGE_SIZE);
	f->rc.pinned = true;
	CHECK_EQ(ramcache_store(&f->rc, 0, 400, 1, NULL), 0);
	CHECK(resident(f, 400));             /* the same page, zeroed */
	CHECK(ram_page_is_zero(cache_page(f, 400)));
	f->rc.pinned = false;
	f->want[400] = true;
	flush_and_check(f);
}

static void sync_unlocked(void *arg)
{
	struct fixture *f = arg;

	ramblock_sync_dirty_bitmap(&f->rc);
}

/* ramblock_sync_dirty_bitmap outside the lock: caught, not raced. */
static void test_sync_asserts_lock(struct fixture *f)
{
	test_expect_abort("ramblock_sync_dirty_bitmap without the lock",
			  sync_unlocked, f);
}

static void test_fixed_cases(struct fixture *f)
{
	/* Nothing dirty: nothing copied, no run. */
	flush_and_check(f);

	/* Either side alone, both on one page, and runs that touch. */
	receive(f, 10, 5, false);
	svm_write(f, 15, 5);		/* one run 10-19 */
	svm_write(f, 30, 1);
	receive(f, 30, 1, true);	/* both sides, one page */
	receive(f, 100, 64, false);
	svm_write(f, NPAGES - 3, 3);	/* the last page too */
	scribble(f, 9);
	scribble(f, 20);
	scribble(f, 17);		/* dirty: repaired */
	scribble(f, 500);
	flush_and_check(f);

	/* The flush re-protected the SVM's pages: written again, found. */
	svm_write(f, 15, 1);
	svm_write(f, NPAGES - 1, 1);
	flush_and_check(f);
	flush_and_check(f);
}

static void test_random(struct fixture *f)
{
	for (int round = 0; round < 60; round++) {
		int ops = (int)(test_rand(&f->seed) % 24);

		for (int i = 0; i < ops; i++) {
			uint64_t n = 1 + test_rand(&f->seed) % 64;
			uint64_t p = test_rand(&f->seed) % (NPAGES - n);

			switch (test_rand(&f->seed) % 5) {
			case 0:
				receive(f, p, n, false);
				break;
			case 4:
				place(f, p, n);
				break;
			case 1:
				receive(f, p, n, true);
				break;
			case 2:
				svm_write(f, p, n);
				break;
			default:
				scribble(f, p);
				break;
			}
		}
		flush_and_check(f);
	}
}

/* Before the SVM runs: everything copied, nothing left to flush. */
static void test_load_all(struct fixture *f)
{
	receive(f, 0, 64, false);
	scribble(f, 1000);
	CHECK_EQ(ramcache_load_all(&f->rc), 0);
	CHECK(!memcmp(f->svm.blocks[0].alias, f->rc.cache[0], SIZE));
	memset(f->want, 0, sizeof(f->want));
	memset(f->scribbled, 0, sizeof(f->scribbled));
	flush_and_check(f);
}

int main(void)
{
	static struct fixture f = { .seed = 0x5ca1ab1e };

	CHECK_EQ(ram_layout_create(&f.svm, SIZE), 0);
	tguest_start_or_skip(&f.g, f.svm.blocks[0].memfd, SIZE, NULL, NULL);
	f.svm.blocks[0].guest_addr = f.g.addr;
	tguest_dirtylog(&f.g, &f.dl);
	CHECK_EQ(ramcache_init(&f.rc, &f.svm), 0);
	f.rc.dlog = &f.dl;

	test_store_bounds(&f);
	test_sync_asserts_lock(&f);
	test_store_before_start(&f);
	test_placed_before_start(&f);
	test_load_all(&f);
	test_placed_after_start(&f);
	test_zero_pinned(&f);
	test_fixed_cases(&f);
	test_random(&f);
	printf("# %llu pages received, %llu flushed in %llu runs\n",
	       (unsigned long long)f.rc.received_pages,
	       (unsigned long long)f.rc.flushed_pages,
	       (unsigned long long)f.rc.flush_runs);

	ramcache_deinit(&f.rc);
	dirtylog_close(&f.dl);
	tguest_stop(&f.g);
	ram_layout_destroy(&f.svm);
	return 0;
}
