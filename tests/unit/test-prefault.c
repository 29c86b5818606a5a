// SPDX-License-Identifier: MIT
/*
 * Allocating ahead (prefault.h) while a live sync stores pages
 * (ramcache_store before the SVM runs): whatever the two threads' order,
 * the cache and the SVM's RAM end up byte for byte what was stored, zero
 * runs included, against a plain buffer as the model; the thread walks
 * both memfds whole and is joined by ramcache_svm_start. A pinned cache
 * (RDMA registered it) is left to its registration.
 */
#include <sys/stat.h>

#include "ramcache.h"
#include "tap.h"

#define NPAGES 8192ULL			/* 32 MiB: eight of the thread's steps */
#define SIZE (NPAGES * RAM_PAGE_SIZE)
#define RUN 64

static uint64_t allocated(int fd)
{
	struct stat st;

	CHECK_EQ(fstat(fd, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

static void fill(uint8_t *p, size_t len, uint64_t *seed)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = test_rand(seed);

		memcpy(p + i, &v, 8);
	}
}

/* Store every run of the block once, in a shuffled order, as a live sync
 * does (zero runs as the primary's zero flag), while the thread runs. */
static void store_all(struct ramcache *rc, uint8_t *model, uint64_t *seed)
{
	static uint8_t buf[RUN * RAM_PAGE_SIZE];
	uint64_t order[NPAGES / RUN], n = NPAGES / RUN;

	for (uint64_t i = 0; i < n; i++)
		order[i] = i;
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = test_rand(seed) % (i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (uint64_t i = 0; i < n; i++) {
		uint64_t first = order[i] * RUN;
		uint8_t *m = model + (first << RAM_PAGE_SHIFT);
		bool zero = test_rand(seed) % 5 == 0;

		if (zero)
			memset(m, 0, sizeof(buf));
		else
			fill(m, sizeof(buf), seed);
		memcpy(buf, m, sizeof(buf));
		CHECK_EQ(ramcache_store(rc, 0, first, RUN, zero ? NULL : buf), 0);
	}
}

static void wait_done(struct prefault *pf)
{
	for (int i = 0; i < 2000 && !atomic_load(&pf->done); i++)
		usleep(5000);
	CHECK(atomic_load(&pf->done));
}

static void test_alongside(uint64_t seed)
{
	struct ram_layout svm;
	struct ramcache rc;
	uint8_t *model = malloc(SIZE);

	CHECK(model);
	CHECK_EQ(ram_layout_create(&svm, SIZE), 0);
	CHECK_EQ(ramcache_init(&rc, &svm), 0);
	CHECK_EQ(ramcache_prefault(&rc), 0);
	store_all(&rc, model, &seed);
	wait_done(&rc.prefault);
	CHECK_EQ(rc.prefault.err, 0);
	CHECK_EQ(rc.prefault.bytes, 2 * SIZE);
	ramcache_svm_start(&rc);
	CHECK(!rc.prefault.running);
	CHECK(!memcmp(rc.cache[0], model, SIZE));
	CHECK(!memcmp(svm.blocks[0].alias, model, SIZE));
	ramcache_deinit(&rc);
	ram_layout_destroy(&svm);
	free(model);
}

/* Allocated ahead, then a store: what was allocated is what is read. */
static void test_ahead(void)
{
	struct ram_layout svm;
	struct ramcache rc;
	uint8_t page[RAM_PAGE_SIZE];

	CHECK_EQ(ram_layout_create(&svm, SIZE), 0);
	CHECK_EQ(ramcache_init(&rc, &svm), 0);
	CHECK_EQ(allocated(rc.cache_fd[0]), 0);
	CHECK_EQ(ramcache_prefault(&rc), 0);
	wait_done(&rc.prefault);
	CHECK_EQ(allocated(rc.cache_fd[0]), SIZE);
	CHECK_EQ(allocated(svm.blocks[0].memfd), SIZE);
	memset(page, 0x5a, sizeof(page));
	CHECK_EQ(ramcache_store(&rc, 0, 7, 1, page), 0);
	CHECK(!memcmp(rc.cache[0] + 7 * RAM_PAGE_SIZE, page, sizeof(page)));
	CHECK(!memcmp(svm.blocks[0].alias + 7 * RAM_PAGE_SIZE, page,
		      sizeof(page)));
	CHECK(rc.cache[0][6 * RAM_PAGE_SIZE] == 0);
	ramcache_deinit(&rc);             /* joins the thread */
	ram_layout_destroy(&svm);
}

/* A pinned cache is allocated by its registration: only the SVM's RAM. */
static void test_pinned(void)
{
	struct ram_layout svm;
	struct ramcache rc;

	CHECK_EQ(ram_layout_create(&svm, SIZE), 0);
	CHECK_EQ(ramcache_init(&rc, &svm), 0);
	rc.pinned = true;
	CHECK_EQ(ramcache_prefault(&rc), 0);
	wait_done(&rc.prefault);
	CHECK_EQ(rc.prefault.bytes, SIZE);
	CHECK_EQ(allocated(rc.cache_fd[0]), 0);
	CHECK_EQ(allocated(svm.blocks[0].memfd), SIZE);
	ramcache_deinit(&rc);
	ram_layout_destroy(&svm);
}

int main(void)
{
	struct prefault never = { 0 };

	prefault_stop(&never);            /* never started: nothing to join */
	for (uint64_t seed = 1; seed <= 4; seed++)
		test_alongside(seed * 0x9e3779b97f4a7c15ULL);
	test_ahead();
	test_pinned();
	return 0;
}
