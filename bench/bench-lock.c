// SPDX-License-Identifier: MIT
/*
 * Where bitmap_mutex is taken (I1): the time to clear N dirty bits with
 * migration_bitmap_clear_dirty when the lock is taken once around all of
 * them (as ram_save_iterate does) versus once per page (as QEMU did before
 * 2021), alone and with a thread sending free page hints for another part
 * of RAM all the while. The floor is the bare bitmap, no lock at all.
 *
 * The clear bitmap is emptied before each run, so the numbers are the
 * locking and the bitmap, not dirty-log ioctls; the hints do touch the
 * dirty log, as real ones do.
 */
#include <sched.h>
#include <stdatomic.h>

#include "bench-util.h"
#include "tunables.h"

#define NPAGES (1ULL << 18)		/* measured: 1 GiB of pages */
#define SIZE (2 * NPAGES * RAM_PAGE_SIZE)	/* hints go to the rest */
#define RUNS 5

struct hinter {
	struct ram_state *rs;
	atomic_bool stop;
	atomic_ulong hints;
};

static void *hint_main(void *arg)
{
	struct hinter *h = arg;
	uint64_t seed = 42;

	while (!atomic_load(&h->stop)) {
		uint64_t p = NPAGES + test_rand(&seed) % (NPAGES - 64);

		CHECK_EQ(ram_discard_hint(h->rs, 0, p << RAM_PAGE_SHIFT,
					  64 * RAM_PAGE_SIZE), 0);
		atomic_fetch_add(&h->hints, 1);
	}
	return NULL;
}

static void reset_bits(struct ram_state *rs)
{
	ram_state_lock(rs);
	bitmap_set_range(&rs->blocks[0].bmap, 0, NPAGES);
	bitmap_zero(&rs->blocks[0].clear_bmap);
	rs->dirty_pages = NPAGES;
	rs->ndiscards = 0;		/* nobody sends them here */
	ram_state_unlock(rs);
}

static double clear_once(struct ram_state *rs)
{
	double t0 = now_ms();

	ram_state_lock(rs);
	for (uint64_t p = 0; p < NPAGES; p++)
		migration_bitmap_clear_dirty(rs, 0, p);
	ram_state_unlock(rs);
	return now_ms() - t0;
}

static double clear_per_page(struct ram_state *rs)
{
	double t0 = now_ms();

	for (uint64_t p = 0; p < NPAGES; p++) {
		ram_state_lock(rs);
		migration_bitmap_clear_dirty(rs, 0, p);
		ram_state_unlock(rs);
	}
	return now_ms() - t0;
}

static double clear_bare(struct ram_state *rs)
{
	struct bitmap *bm = &rs->blocks[0].bmap;
	uint64_t n = 0;
	double t0 = now_ms();

	for (uint64_t p = 0; p < NPAGES; p++)
		n += bitmap_test_and_clear(bm, p);
	CHECK_EQ(n, NPAGES);
	return now_ms() - t0;
}

/* Best of RUNS, and the hints that got through during that run. */
static double measure(struct ram_state *rs, double (*fn)(struct ram_state *),
		      struct hinter *h, unsigned long *hints)
{
	double best = 1e18;

	for (int i = 0; i < RUNS; i++) {
		unsigned long before;
		double t;

		reset_bits(rs);
		before = h ? atomic_load(&h->hints) : 0;
		t = fn(rs);
		if (t < best) {
			best = t;
			*hints = h ? atomic_load(&h->hints) - before : 0;
		}
	}
	return best;
}

static void row(const char *how, const char *with, double ms,
		unsigned long hints)
{
	printf("| %-22s | %-12s | %9.2f | %8.1f | %13lu |\n", how, with, ms,
	       ms * 1e6 / NPAGES, hints);
}

int main(void)
{
	struct ram_layout ram;
	struct ram_state rs;
	struct dirtylog dl;
	struct tguest g;
	struct hinter h = { .rs = &rs };
	double bare, once[2], per[2];
	unsigned long hints[2][2], none;
	pthread_t th;

	CHECK_EQ(ram_layout_create(&ram, SIZE), 0);
	tguest_start_or_skip(&g, ram.blocks[0].memfd, SIZE, NULL, NULL);
	ram.blocks[0].guest_addr = g.addr;
	tguest_dirtylog(&g, &dl);
	CHECK_EQ(ram_state_init(&rs, &ram, &dl,
				 tunables[TUNABLE_CLEAR_BITMAP_SHIFT].def), 0);

	bare = measure(&rs, clear_bare, NULL, &none);
	once[0] = measure(&rs, clear_once, NULL, &none);
	per[0] = measure(&rs, clear_per_page, NULL, &none);
	CHECK_EQ(pthread_create(&th, NULL, hint_main, &h), 0);
	once[1] = measure(&rs, clear_once, &h, &hints[0][1]);
	per[1] = measure(&rs, clear_per_page, &h, &hints[1][1]);
	atomic_store(&h.stop, true);
	pthread_join(th, NULL);

	printf("\nbench-lock: clear %llu dirty bits (1 GiB of pages), best of "
	       "%d, %ld CPUs\n\n", (unsigned long long)NPAGES, RUNS,
	       sysconf(_SC_NPROCESSORS_ONLN));
	printf("| %-22s | %-12s | %9s | %8s | %13s |\n", "lock taken",
	       "contention", "total ms", "ns/page", "hints meantime");
	printf("|------------------------|--------------|-----------|----------|---------------|\n");
	row("none (floor: bitmap)", "-", bare, 0);
	row("once per iteration", "alone", once[0], 0);
	row("once per page", "alone", per[0], 0);
	row("once per iteration", "hint thread", once[1], hints[0][1]);
	row("once per page", "hint thread", per[1], hints[1][1]);
	printf("\nper page / per iteration: %.1fx alone, %.1fx with a hint "
	       "thread contending\n", per[0] / once[0], per[1] / once[1]);

	ram_state_deinit(&rs);
	dirtylog_close(&dl);
	tguest_stop(&g);
	ram_layout_destroy(&ram);
	return 0;
}
