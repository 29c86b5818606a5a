// SPDX-License-Identifier: MIT
/*
 * The dirty log as the daemons use it: a forked "guest" maps a memfd at the
 * fixed address and registers it, then writes or reads pages on command;
 * this process, the "daemon", scans the guest's /proc/PID/pagemap and keeps a
 * naive bool[] of what must be reported. Covered:
 *  (a) guest writes to populated pages are reported;
 *  (b) writes through the daemon's alias and through another process's
 *      mapping of the same memfd are not;
 *  (c) after a get-and-clear a later write is reported again;
 *  (d) pages never touched (or only read) are not reported;
 *  (e) a write to a never-populated page is reported (markers, see dirtylog.c);
 *  writes the kernel makes into guest RAM for the guest (read(2)) are
 *  reported like its own; and
 *  the loop over a full result vector (thousands of discontiguous pages
 *  through a 3-region vector), bit_offset, sub-range clears, and random
 *  rounds against the model. (f), a hole punched in the memfd, is only
 *  observed and printed: nothing relies on it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bitmap.h"
#include "dirtylog.h"
#include "need-dirtylog.h"
#include "ramblock.h"
#include "tap.h"
#include "uffd-compat.h"

#define NPAGES 16384ULL			/* 64 MiB */
#define SIZE (NPAGES * RAM_PAGE_SIZE)
#define BASE RAM_GUEST_BASE

/* OP_KWRITE: the kernel writes for the guest, read(2) from /dev/zero. */
enum op { OP_WRITE = 1, OP_READ, OP_KWRITE, OP_EXIT };

struct cmd {
	uint32_t op;
	uint32_t pad;
	uint64_t page, n, stride;
};

struct guest {
	pid_t pid;
	int cmd_fd;     /* commands to the guest */
	int ack_fd;     /* one int32 back per command */
};

static uint8_t page_byte(uint64_t page)
{
	return (uint8_t)(page * 7 + 1);
}

static void guest_main(int memfd, int cmd_fd, int ack_fd)
{
	volatile uint8_t *ram = (volatile uint8_t *)(uintptr_t)BASE;
	int zero = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	struct cmd c;
	int32_t r;

	r = ramblock_map_guest(memfd, BASE, SIZE);
	if (!r) {
		r = dirtylog_guest_register(BASE, SIZE);
		r = r < 0 ? r : 0;  /* the uffd stays open until _exit */
	}
	if (write(ack_fd, &r, sizeof(r)) != sizeof(r) || r)
		_exit(1);
	while (read(cmd_fd, &c, sizeof(c)) == sizeof(c) && c.op != OP_EXIT) {
		r = 0;
		for (uint64_t i = 0; i < c.n; i++) {
			uint64_t p = c.page + i * c.stride;

			if (c.op == OP_WRITE)
				ram[p << RAM_PAGE_SHIFT] = page_byte(p);
			else if (c.op == OP_KWRITE)
				r |= read(zero, (uint8_t *)ram +
					  (p << RAM_PAGE_SHIFT), 1) != 1;
			else
				r = ram[p << RAM_PAGE_SHIFT];
		}
		if (write(ack_fd, &r, sizeof(r)) != sizeof(r))
			_exit(1);
	}
	_exit(0);
}

static int32_t guest_cmd(struct guest *g, enum op op, uint64_t page,
			 uint64_t n, uint64_t stride)
{
	struct cmd c = { .op = op, .page = page, .n = n, .stride = stride };
	int32_t r;

	CHECK(write(g->cmd_fd, &c, sizeof(c)) == sizeof(c));
	if (op == OP_EXIT)
		return 0;
	CHECK(read(g->ack_fd, &r, sizeof(r)) == sizeof(r));
	return r;
}

/* Guest writes, mirrored in the model. */
static void guest_write(struct guest *g, bool *want, uint64_t page,
			uint64_t n, uint64_t stride)
{
	guest_cmd(g, OP_WRITE, page, n, stride);
	for (uint64_t i = 0; i < n; i++)
		want[page + i * stride] = true;
}

static int32_t guest_start(struct guest *g, int memfd)
{
	int cmd[2], ack[2];
	int32_t r;

	CHECK(pipe2(cmd, O_CLOEXEC) == 0);
	CHECK(pipe2(ack, O_CLOEXEC) == 0);
	g->pid = fork();
	CHECK(g->pid >= 0);
	if (g->pid == 0) {
		close(cmd[1]);
		close(ack[0]);
		guest_main(memfd, cmd[0], ack[1]);
	}
	close(cmd[0]);
	close(ack[1]);
	g->cmd_fd = cmd[1];
	g->ack_fd = ack[0];
	CHECK(read(g->ack_fd, &r, sizeof(r)) == sizeof(r));
	return r;
}

static void guest_stop(struct guest *g)
{
	int st;

	guest_cmd(g, OP_EXIT, 0, 0, 0);
	CHECK(waitpid(g->pid, &st, 0) == g->pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(g->cmd_fd);
	close(g->ack_fd);
}

/* Scan the whole block and compare every bit with the model. */
static void check_scan(struct dirtylog *dl, bool clear, bool *want)
{
	struct bitmap bm;
	uint64_t expect = 0;
	int64_t got;

	CHECK_EQ(bitmap_init(&bm, NPAGES), 0);
	if (clear)
		got = dirtylog_sync_and_clear(dl, BASE, SIZE, &bm, 0);
	else
		got = dirtylog_sync(dl, BASE, SIZE, &bm, 0);
	for (uint64_t i = 0; i < NPAGES; i++) {
		if (bitmap_test(&bm, i) != want[i])
			fprintf(stderr, "page %llu: reported %d, expected %d\n",
				(unsigned long long)i, bitmap_test(&bm, i),
				want[i]);
		CHECK_EQ(bitmap_test(&bm, i), want[i]);
		expect += want[i];
		if (clear)
			want[i] = false;
	}
	CHECK_EQ(got, expect);
	bitmap_deinit(&bm);
}

/* Writes through other mappings of the memfd: never logged (b). */
static void test_alias_untracked(struct guest *g, struct dirtylog *dl,
				 struct ramblock *rb, bool *want)
{
	pid_t pid;
	int st;

	/* The daemon's alias: populated and unpopulated guest pages alike. */
	for (uint64_t p = 10; p < 30; p++)
		ramblock_page(rb, p)[0] = page_byte(p);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		uint8_t *m = mmap(NULL, SIZE, PROT_READ | PROT_WRITE,
				  MAP_SHARED, rb->memfd, 0);

		if (m == MAP_FAILED)
			_exit(1);
		for (uint64_t p = 40; p < 60; p++)
			m[p << RAM_PAGE_SHIFT] = page_byte(p);
		_exit(0);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	check_scan(dl, false, want);
	/* The guest sees those bytes, and reading them logs nothing. */
	CHECK_EQ(guest_cmd(g, OP_READ, 25, 1, 1), page_byte(25));
	CHECK_EQ(guest_cmd(g, OP_READ, 50, 1, 1), page_byte(50));
	check_scan(dl, false, want);
}

/* Thousands of discontiguous pages, far more than either vector holds. */
static void test_vector_fill(struct guest *g, struct dirtylog *dl,
			     struct dirtylog *tiny, bool *want)
{
	guest_write(g, want, 2000, 3000, 2);
	check_scan(tiny, false, want);
	check_scan(tiny, true, want);
	/* Without the walk_end loop only the first 3 runs get cleared. */
	check_scan(dl, false, want);
	guest_write(g, want, 2001, 3000, 2);
	guest_write(g, want, 9000, 2000, 3);
	check_scan(dl, true, want);
	check_scan(tiny, false, want);
}

static void test_offset_and_subrange(struct guest *g, struct dirtylog *dl,
				     bool *want)
{
	struct bitmap bm;

	guest_write(g, want, 4, 1, 1);
	guest_write(g, want, 12, 1, 1);
	CHECK_EQ(bitmap_init(&bm, NPAGES + 100), 0);
	CHECK_EQ(dirtylog_sync(dl, BASE, SIZE, &bm, 100), 2);
	CHECK_EQ(bitmap_count(&bm), 2);
	CHECK(bitmap_test(&bm, 104) && bitmap_test(&bm, 112));
	bitmap_zero(&bm);

	/* Clear pages [8, 16) only, as clear_bmap does a chunk at a time. */
	CHECK_EQ(dirtylog_sync_and_clear(dl, BASE + 8 * RAM_PAGE_SIZE,
					 8 * RAM_PAGE_SIZE, &bm, 3), 1);
	CHECK_EQ(bitmap_count(&bm), 1);
	CHECK(bitmap_test(&bm, 3 + 12 - 8));
	want[12] = false;
	check_scan(dl, false, want);

	/* A bitmap too small for the range is refused, not overrun. */
	CHECK_EQ(dirtylog_sync(dl, BASE, SIZE, &bm, 101), -ERANGE);
	CHECK_EQ(dirtylog_sync(dl, BASE + 1, RAM_PAGE_SIZE, NULL, 0), -EINVAL);
	bitmap_deinit(&bm);

	guest_write(g, want, 100, 50, 1);
	CHECK_EQ(dirtylog_clear(dl, BASE, SIZE), 0);
	memset(want, 0, NPAGES);
	check_scan(dl, false, want);
}

static void test_random(struct guest *g, struct dirtylog *dl,
			struct dirtylog *tiny, bool *want)
{
	uint64_t seed = 0x5eed1e55;

	for (int round = 0; round < 40; round++) {
		int runs = 1 + (int)(test_rand(&seed) % 60);

		for (int r = 0; r < runs; r++) {
			uint64_t n = 1 + test_rand(&seed) % 40;
			uint64_t page = test_rand(&seed) % (NPAGES - n);

			guest_write(g, want, page, n, 1);
		}
		check_scan(round % 3 ? dl : tiny, round % 2, want);
	}
	check_scan(dl, true, want);
}

/* Which of pages 300-303 a scan reports, as "1010" for 300 and 302. */
static void scan_300(struct dirtylog *dl, bool clear, char out[5])
{
	struct bitmap bm;
	int64_t n;

	CHECK_EQ(bitmap_init(&bm, NPAGES), 0);
	if (clear)
		n = dirtylog_sync_and_clear(dl, BASE, SIZE, &bm, 0);
	else
		n = dirtylog_sync(dl, BASE, SIZE, &bm, 0);
	CHECK(n >= 0);
	CHECK_EQ(bitmap_count(&bm), bitmap_count_range(&bm, 300, 4));
	for (int i = 0; i < 4; i++)
		out[i] = bitmap_test(&bm, 300 + (uint64_t)i) ? '1' : '0';
	out[4] = '\0';
	bitmap_deinit(&bm);
}

/*
 * (f): a hole punched over page 300 (written, then cleared), 301 (never
 * touched), 302 (only read) and 303 (written, not yet cleared). Observed and
 * printed only: nothing relies on it.
 */
static void observe_punch_hole(struct guest *g, struct dirtylog *dl,
			       struct ramblock *rb)
{
	char punched[5], written[5], again[5];

	guest_cmd(g, OP_WRITE, 300, 1, 1);
	CHECK_EQ(dirtylog_sync_and_clear(dl, BASE, SIZE, NULL, 0), 1);
	guest_cmd(g, OP_READ, 302, 1, 1);
	guest_cmd(g, OP_WRITE, 303, 1, 1);
	CHECK(fallocate(rb->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			300 * RAM_PAGE_SIZE, 4 * RAM_PAGE_SIZE) == 0);
	scan_300(dl, false, punched);
	CHECK_EQ(guest_cmd(g, OP_READ, 300, 1, 1), 0);
	guest_cmd(g, OP_WRITE, 300, 4, 1);
	scan_300(dl, true, written);
	guest_cmd(g, OP_WRITE, 303, 1, 1);
	scan_300(dl, false, again);
	printf("# (f) pages 300-303 after a punch: reported %s; after the "
	       "guest wrote all four: %s; after clear + write of 303: %s\n",
	       punched, written, again);
}

int main(void)
{
	struct dirtylog dl, tiny;
	struct ramblock rb;
	struct guest g;
	bool *want;
	int32_t r;

	test_require_dirtylog();
	CHECK_EQ(ramblock_create(&rb, 0, "test-dirtylog", SIZE, BASE), 0);
	want = calloc(NPAGES, sizeof(*want));
	CHECK(want);

	r = guest_start(&g, rb.memfd);
	CHECK_EQ(r, 0);
	CHECK_EQ(dirtylog_open(&dl, g.pid), 0);
	CHECK_EQ(dirtylog_open(&tiny, g.pid), 0);
	/* Shrink one vector so that every scan has to continue at walk_end. */
	free(tiny.vec);
	tiny.vec = calloc(3, sizeof(struct page_region));
	CHECK(tiny.vec);
	tiny.vec_len = 3;

	/* (d) nothing written yet; reads populate but do not dirty. */
	check_scan(&dl, false, want);
	CHECK_EQ(guest_cmd(&g, OP_READ, 10, 10, 1), 0);
	check_scan(&dl, false, want);

	/* (a) populated pages, (e) pages nobody ever touched. */
	guest_write(&g, want, 10, 1, 1);
	guest_write(&g, want, 12, 1, 1);
	guest_write(&g, want, 1000, 1, 1);
	guest_write(&g, want, 5000, 1, 1);
	check_scan(&dl, false, want);
	check_scan(&dl, false, want);   /* sync alone clears nothing */

	test_alias_untracked(&g, &dl, &rb, want);

	/* A guest that recv()s into its RAM: the kernel's writes count. */
	CHECK_EQ(guest_cmd(&g, OP_KWRITE, 7000, 3, 5), 0);
	for (uint64_t p = 7000; p < 7015; p += 5)
		want[p] = true;
	check_scan(&dl, false, want);

	/* (c) cleared, then written again. */
	check_scan(&dl, true, want);
	check_scan(&dl, false, want);
	guest_write(&g, want, 12, 1, 1);
	check_scan(&dl, true, want);

	test_vector_fill(&g, &dl, &tiny, want);
	test_offset_and_subrange(&g, &dl, want);
	test_random(&g, &dl, &tiny, want);
	observe_punch_hole(&g, &dl, &rb);

	guest_stop(&g);
	dirtylog_close(&tiny);
	dirtylog_close(&dl);
	dirtylog_close(&dl);    /* idempotent */
	ramblock_destroy(&rb);
	free(want);
	return 0;
}
