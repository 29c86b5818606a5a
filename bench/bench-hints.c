// SPDX-License-Identifier: MIT
/*
 * The free-page-hint win (I3): a guest with a full 1 GiB heap frees half
 * of it, 2 MiB at a time in random order, while live sync runs. With
 * hints, freed pages leave the migration bitmap (and the dirty log) and
 * the secondary gets a DISCARD; without, the guest's zeroing makes them
 * dirty and they go out again as zero pages, and pages freed before the
 * first pass reached them go out once anyway. The floor is the half of
 * the heap still in use.
 *
 * Both runs free on the same schedule: the guest does not wait for each
 * hint's answer before freeing the next range (it never touches a freed
 * range again here, which is all the protocol asks), only for all of them
 * at the end. A hint waits for bitmap_mutex for up to max_wait (the
 * "max hint" column); had the guest waited each time, it would free far
 * more slowly with hints than without, and the rows would not compare the
 * same guest. The sync loop (the daemon's, ram_save_live_sync) yields
 * between iterations, since the mutex is not fair and a waiting hint could
 * otherwise miss many in a row.
 */
#include <limits.h>
#include <sched.h>
#include <stdatomic.h>

#include "bench-util.h"
#include "tunables.h"

#define NPAGES (1ULL << 18)		/* 1 GiB */
#define SIZE (NPAGES * RAM_PAGE_SIZE)
#define RANGE 512			/* pages per free: 2 MiB */
#define NRANGES (NPAGES / RANGE)
#define CONVERGED 2048

enum { OP_FILL = 1, OP_FREE_HINTED, OP_FREE_SILENT, OP_EXIT };

struct hint_msg { uint64_t first, count; };	/* count 0: done */

static void guest_main(struct tguest_child *c)
{
	struct hint_msg done = { 0, 0 };
	uint32_t order[NRANGES / 2];
	uint64_t seed = 99;
	uint32_t op;
	int32_t r;

	while (read(c->cmd_fd, &op, sizeof(op)) == sizeof(op) && op != OP_EXIT) {
		if (op == OP_FILL) {
			for (uint64_t p = 0; p < NPAGES; p++)
				tg_fill_page(c->ram + (p << RAM_PAGE_SHIFT), p,
					     1);
			tg_write_all(c->ack_fd, &done, sizeof(done));
			continue;
		}
		/* Every other 2 MiB range, shuffled. */
		for (uint32_t i = 0; i < NRANGES / 2; i++)
			order[i] = 2 * i;
		for (uint32_t i = NRANGES / 2 - 1; i > 0; i--) {
			uint32_t j = (uint32_t)(test_rand(&seed) % (i + 1));
			uint32_t t = order[i];

			order[i] = order[j];
			order[j] = t;
		}
		for (uint32_t i = 0; i < NRANGES / 2; i++) {
			struct hint_msg h = { (uint64_t)order[i] * RANGE,
					      RANGE };

			memset(c->ram + (h.first << RAM_PAGE_SHIFT), 0,
			       RANGE * RAM_PAGE_SIZE);
			if (op == OP_FREE_HINTED)
				tg_write_all(c->ack_fd, &h, sizeof(h));
			usleep(1000);
		}
		tg_write_all(c->ack_fd, &done, sizeof(done));
		for (uint32_t i = 0; op == OP_FREE_HINTED && i < NRANGES / 2;
		     i++)
			if (read(c->cmd_fd, &r, sizeof(r)) != sizeof(r) || r)
				_exit(4);
	}
}

struct hinter {
	struct tguest *g;
	struct ram_state *rs;
	atomic_bool done;
	double max_ms;
};

static void *hint_main(void *arg)
{
	struct hinter *h = arg;
	struct hint_msg m;

	while (read(h->g->ack_fd, &m, sizeof(m)) == sizeof(m) && m.count) {
		double t0 = now_ms();
		int32_t r = ram_discard_hint(h->rs, 0,
					     m.first << RAM_PAGE_SHIFT,
					     m.count << RAM_PAGE_SHIFT);

		if (now_ms() - t0 > h->max_ms)
			h->max_ms = now_ms() - t0;
		CHECK(write(h->g->cmd_fd, &r, sizeof(r)) == sizeof(r));
	}
	atomic_store(&h->done, true);
	return NULL;
}

static void guest_op(struct tguest *g, uint32_t op)
{
	struct hint_msg m;

	CHECK(write(g->cmd_fd, &op, sizeof(op)) == sizeof(op));
	if (op == OP_FILL)
		CHECK(read(g->ack_fd, &m, sizeof(m)) == sizeof(m));
}

static void run(struct tguest *g, struct ram_layout *ram, struct dirtylog *dl,
		bool hinted)
{
	struct hinter h = { .g = g };
	struct ram_save_stats st;
	struct ram_state rs;
	struct sink sink;
	struct xport *tx;
	unsigned passes = 0;
	pthread_t th;
	double t0, ms;

	guest_op(g, OP_FILL);
	CHECK_EQ(ram_state_init(&rs, ram, dl,
				 tunables[TUNABLE_CLEAR_BITMAP_SHIFT].def), 0);
	h.rs = &rs;
	tx = sink_start(&sink);
	CHECK_EQ(pthread_create(&th, NULL, hint_main, &h), 0);
	t0 = now_ms();
	guest_op(g, hinted ? OP_FREE_HINTED : OP_FREE_SILENT);
	/* The shipped loop, at the shipped max-wait. It may converge while
	 * the guest is still freeing: go on until a sync that began after
	 * the last hint has converged too. */
	for (;;) {
		bool hints_over = atomic_load(&h.done);

		passes += bench_live_sync(&rs, tx, CONVERGED, UINT_MAX);
		if (hints_over)
			break;
	}
	pthread_join(th, NULL);
	CHECK(ram_save_complete(&rs, tx) >= 0);
	ms = now_ms() - t0;
	sink_stop(&sink, tx);
	ram_state_get_stats(&rs, &st);
	printf("| %-13s | %10llu | %10llu | %8.0f | %10llu | %6u | %8.0f | "
	       "%8.1f |\n", hinted ? "with hints" : "without hints",
	       (unsigned long long)st.pages_sent,
	       (unsigned long long)st.zero_pages,
	       (double)st.bytes_sent / (1 << 20),
	       (unsigned long long)sink.discarded, passes, ms, h.max_ms);
	ram_state_deinit(&rs);
}

int main(void)
{
	struct ram_layout ram;
	struct dirtylog dl;
	struct tguest g;
	uint32_t op = OP_EXIT;
	int st;

	CHECK_EQ(ram_layout_create(&ram, SIZE), 0);
	tguest_start_or_skip(&g, ram.blocks[0].memfd, SIZE, guest_main, NULL);
	ram.blocks[0].guest_addr = g.addr;
	tguest_dirtylog(&g, &dl);

	printf("\nbench-hints: 1 GiB heap, half freed (2 MiB at a time, 1 "
	       "per ms) during live sync\n\n");
	printf("| %-13s | %10s | %10s | %8s | %10s | %6s | %8s | %8s |\n",
	       "", "pages sent", "zero pages", "data MiB", "discarded",
	       "syncs", "time ms", "max hint");
	printf("|---------------|------------|------------|----------|"
	       "------------|--------|----------|----------|\n");
	printf("| %-13s | %10llu | %10d | %8llu | %10s | %6s | %8s | %8s |\n",
	       "floor: in use", (unsigned long long)NPAGES / 2, 0,
	       (unsigned long long)(SIZE / 2) >> 20, "-", "-", "-", "-");
	run(&g, &ram, &dl, true);
	run(&g, &ram, &dl, false);
	printf("\n(max hint: longest ram_discard_hint call, in ms)\n");

	CHECK(write(g.cmd_fd, &op, sizeof(op)) == sizeof(op));
	CHECK(waitpid(g.pid, &st, 0) == g.pid);
	dirtylog_close(&dl);
	ram_layout_destroy(&ram);
	return 0;
}
