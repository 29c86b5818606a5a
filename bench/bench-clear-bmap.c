// SPDX-License-Identifier: MIT
/*
 * clear_bmap (I2): live sync of a 1 GiB guest that keeps writing random
 * pages, for clear-bitmap shifts 6, 12 and 18 (chunks of 256 KiB, 16 MiB,
 * 1 GiB). A small chunk re-protects a page's log just before the page goes
 * out, so writes that land earlier are absorbed into that send; one big
 * chunk re-protects all of RAM at the start of a pass, so every write
 * during the pass costs a resend. The price of small chunks is more
 * dirty-log ioctls. The floor is one pass over RAM, timed as a memcpy.
 */
#include <stdatomic.h>

#include "bench-util.h"

#define NPAGES (1ULL << 18)		/* 1 GiB */
#define SIZE (NPAGES * RAM_PAGE_SIZE)
#define WRITES_PER_MS 32		/* ~128 MB/s of guest writes */
#define CONVERGED 2048
#define MAX_PASSES 30

struct ctl {
	atomic_bool pause, paused, stop;
	atomic_ulong writes;
};

static void writer_main(struct tguest_child *c)
{
	struct ctl *ctl = c->arg;
	uint64_t seed = 7, gen = 0;
	int32_t ready = 0;

	for (uint64_t p = 0; p < NPAGES; p++)
		tg_fill_page(c->ram + (p << RAM_PAGE_SHIFT), p, 0);
	tg_write_all(c->ack_fd, &ready, sizeof(ready));
	while (!atomic_load(&ctl->stop)) {
		if (atomic_load(&ctl->pause)) {
			atomic_store(&ctl->paused, true);
			usleep(100);
			continue;
		}
		atomic_store(&ctl->paused, false);
		for (int i = 0; i < WRITES_PER_MS; i++) {
			uint64_t p = test_rand(&seed) % NPAGES;

			tg_fill_page(c->ram + (p << RAM_PAGE_SHIFT), p, ++gen);
		}
		atomic_fetch_add(&ctl->writes, WRITES_PER_MS);
		usleep(1000);
	}
}

static void set_pause(struct ctl *ctl, bool on)
{
	atomic_store(&ctl->pause, on);
	while (on && !atomic_load(&ctl->paused))
		usleep(100);
}

static void run(struct ram_layout *ram, struct dirtylog *dl, struct ctl *ctl,
		unsigned shift)
{
	struct ram_save_stats st;
	struct ram_state rs;
	struct sink sink;
	struct xport *tx;
	unsigned long w0 = atomic_load(&ctl->writes);
	unsigned passes;
	double t0, ms;

	CHECK_EQ(ram_state_init(&rs, ram, dl, shift), 0);
	/* Every run starts from a protected log, as after a previous sync:
	 * otherwise the first run alone pays for re-protecting all of RAM. */
	CHECK_EQ(dirtylog_clear(dl, ram->blocks[0].guest_addr, SIZE), 0);
	tx = sink_start(&sink);
	set_pause(ctl, false);
	t0 = now_ms();
	passes = bench_live_sync(&rs, tx, CONVERGED, MAX_PASSES);
	set_pause(ctl, true);
	CHECK(ram_save_complete(&rs, tx) >= 0);
	ms = now_ms() - t0;
	sink_stop(&sink, tx);
	ram_state_get_stats(&rs, &st);
	CHECK_EQ(sink.pages, st.pages_sent);
	w0 = atomic_load(&ctl->writes) - w0;
	printf("| %5u | %9llu KiB | %6u | %10llu | %10llu | %10llu | %9.0f | "
	       "%12lu | %13.2f |\n", shift,
	       (unsigned long long)(RAM_PAGE_SIZE << shift) / 1024, passes,
	       (unsigned long long)st.pages_sent,
	       (unsigned long long)(st.pages_sent - NPAGES),
	       (unsigned long long)st.log_clears, ms, w0,
	       (double)(st.pages_sent - NPAGES) / (double)w0);
	ram_state_deinit(&rs);
}

int main(void)
{
	static const unsigned shifts[] = { 6, 12, 18 };
	struct ram_layout ram;
	struct dirtylog dl;
	struct tguest g;
	struct ctl *ctl;
	volatile uint8_t *buf;
	double t0, copy_ms = 1e18;
	int32_t ready;
	int st;

	ctl = mmap(NULL, sizeof(*ctl), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(ctl != MAP_FAILED);
	atomic_store(&ctl->pause, true);
	CHECK_EQ(ram_layout_create(&ram, SIZE), 0);
	tguest_start_or_skip(&g, ram.blocks[0].memfd, SIZE, writer_main, ctl);
	ram.blocks[0].guest_addr = g.addr;
	tguest_dirtylog(&g, &dl);
	CHECK(read(g.ack_fd, &ready, sizeof(ready)) == sizeof(ready));

	buf = malloc(SIZE);
	CHECK(buf);
	for (int i = 0; i < 3; i++) {
		t0 = now_ms();
		memcpy((uint8_t *)buf, ram.blocks[0].alias, SIZE);
		if (now_ms() - t0 < copy_ms)
			copy_ms = now_ms() - t0;
	}
	/* Read back, or the compiler may drop the copy. */
	CHECK_EQ(buf[SIZE - 1], ram.blocks[0].alias[SIZE - 1]);
	free((uint8_t *)buf);

	printf("\nbench-clear-bmap: live sync of 1 GiB, guest writing %d "
	       "random pages/ms, converged at %d pages\n\n", WRITES_PER_MS,
	       CONVERGED);
	printf("| shift | chunk         | passes | pages sent | resent     | "
	       "log clears | time (ms) | guest writes | resent/write |\n");
	printf("|-------|---------------|--------|------------|------------|"
	       "------------|-----------|--------------|---------------|\n");
	printf("| floor | one pass      |      1 | %10llu |          0 |"
	       "          - | %9.0f | (memcpy)     |             - |\n",
	       (unsigned long long)NPAGES, copy_ms);
	for (size_t i = 0; i < sizeof(shifts) / sizeof(shifts[0]); i++)
		run(&ram, &dl, ctl, shifts[i]);

	atomic_store(&ctl->stop, true);
	CHECK(waitpid(g.pid, &st, 0) == g.pid);
	dirtylog_close(&dl);
	ram_layout_destroy(&ram);
	return 0;
}
