// SPDX-License-Identifier: MIT
/*
 * How long does a get-and-clear of the dirty log take, per GiB of guest RAM,
 * as the written fraction grows? A forked guest maps and registers 1 GiB
 * (fully populated, so the scan walks real page tables), writes one byte in
 * a scattered share of its pages, and this process times
 * dirtylog_sync_and_clear over the whole block. A memcpy of the same GiB is
 * printed beside it as the ceiling: the scan must stay far below it, or
 * tracking would cost more than just sending everything.
 *
 * Not a test: meson builds it as build/bench/bench-dirtylog, and
 * bench/run.sh runs it with the other benchmarks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bitmap.h"
#include "dirtylog.h"
#include "ramblock.h"

#define GIB (1ULL << 30)
#define NPAGES (GIB / RAM_PAGE_SIZE)
#define ROUNDS 5

/* Sent to the guest: write pages whose hash falls under per_million. */
struct cmd {
	uint64_t per_million;   /* ~0: exit */
	uint64_t seed;
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void guest_main(int memfd, int cmd_fd, int ack_fd)
{
	volatile uint8_t *ram = (volatile uint8_t *)(uintptr_t)RAM_GUEST_BASE;
	struct cmd c;
	int32_t r;

	r = ramblock_map_guest(memfd, RAM_GUEST_BASE, GIB);
	if (!r) {
		/* Populate first: a real guest's RAM is mostly resident. */
		for (uint64_t p = 0; p < NPAGES; p++)
			ram[p * RAM_PAGE_SIZE] = 1;
		r = dirtylog_guest_register(RAM_GUEST_BASE, GIB);
		r = r < 0 ? r : 0;
	}
	if (write(ack_fd, &r, sizeof(r)) != sizeof(r) || r)
		_exit(1);
	while (read(cmd_fd, &c, sizeof(c)) == sizeof(c) && c.per_million != ~0ULL) {
		r = 0;
		for (uint64_t p = 0; p < NPAGES; p++)
			if (mix(p ^ c.seed) % 1000000 < c.per_million) {
				ram[p * RAM_PAGE_SIZE] = (uint8_t)c.seed;
				r++;
			}
		if (write(ack_fd, &r, sizeof(r)) != sizeof(r))
			_exit(1);
	}
	_exit(0);
}

static double memcpy_ms(const uint8_t *src)
{
	uint8_t *dst = malloc(GIB);
	double best = 1e9, t;

	if (!dst)
		return -1;
	memset(dst, 0, GIB);    /* fault it in outside the timing */
	for (int i = 0; i < ROUNDS; i++) {
		t = now_ms();
		memcpy(dst, src, GIB);
		/* Keep the compiler from dropping a copy nobody reads. */
		__asm__ volatile("" : : "r"(dst) : "memory");
		t = now_ms() - t;
		best = t < best ? t : best;
	}
	free(dst);
	return best;
}

int main(void)
{
	static const uint64_t per_million[] = { 0, 1000, 10000, 100000 };
	int cmd[2], ack[2];
	struct ramblock rb;
	struct dirtylog dl;
	struct bitmap bm;
	struct cmd c;
	double copy;
	int32_t r;
	pid_t pid;

	if (ramblock_create(&rb, 0, "bench", GIB, RAM_GUEST_BASE) ||
	    bitmap_init(&bm, NPAGES) || pipe(cmd) || pipe(ack))
		return 1;
	pid = fork();
	if (pid == 0) {
		close(cmd[1]);
		close(ack[0]);
		guest_main(rb.memfd, cmd[0], ack[1]);
	}
	if (read(ack[0], &r, sizeof(r)) != sizeof(r) || r) {
		fprintf(stderr, "guest failed to register: %s\n",
			strerror(-r));
		return 1;
	}
	if (dirtylog_open(&dl, pid))
		return 1;
	dirtylog_clear(&dl, RAM_GUEST_BASE, GIB);

	printf("%-10s %10s %14s %14s\n", "dirty", "pages", "scan+clear ms",
	       "memcpy 1 GiB");
	copy = memcpy_ms(rb.alias);

	for (size_t i = 0; i < sizeof(per_million) / sizeof(*per_million); i++) {
		double best = 1e9, t;
		int64_t found = 0;

		for (int k = 0; k < ROUNDS; k++) {
			c.per_million = per_million[i];
			c.seed = (uint64_t)k + 1;
			if (write(cmd[1], &c, sizeof(c)) != sizeof(c) ||
			    read(ack[0], &r, sizeof(r)) != sizeof(r))
				return 1;
			bitmap_zero(&bm);
			t = now_ms();
			found = dirtylog_sync_and_clear(&dl, RAM_GUEST_BASE,
							GIB, &bm, 0);
			t = now_ms() - t;
			if (found != r) {
				fprintf(stderr, "scan found %lld, guest wrote %d\n",
					(long long)found, r);
				return 1;
			}
			best = t < best ? t : best;
		}
		printf("%8.1f %% %10lld %14.3f %14.3f\n",
		       per_million[i] / 1e4, (long long)found, best, copy);
	}

	c.per_million = ~0ULL;
	if (write(cmd[1], &c, sizeof(c)) != sizeof(c))
		return 1;
	waitpid(pid, NULL, 0);
	dirtylog_close(&dl);
	bitmap_deinit(&bm);
	ramblock_destroy(&rb);
	return 0;
}
