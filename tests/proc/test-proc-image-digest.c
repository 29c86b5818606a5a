// SPDX-License-Identifier: MIT
/*
 * proc-image-digest: equal images give equal digests; a byte changed
 * changes only its chunk; the same bytes at another address, or one page
 * more, are differences too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc-image-digest.h"
#include "tap.h"

#define PAGE 4096

static uint8_t data_a[5 * PAGE], data_b[3 * PAGE];

/* Two runs: 5 pages at 0x10000, 3 at 0x40000. */
static void make(struct proc_image *img, struct proc_image_run *runs)
{
	memset(img, 0, sizeof(*img));
	runs[0] = (struct proc_image_run){ 0x10000, 5, data_a };
	runs[1] = (struct proc_image_run){ 0x40000, 3, data_b };
	img->runs = runs;
	img->n_runs = 2;
}

static uint64_t addr[4];

static void digests(const struct proc_image *img, uint8_t *out)
{
	CHECK_EQ(proc_image_nchunks(img, 2), 4);       /* 8 pages, 2 each */
	CHECK_EQ(proc_image_digests(img, 2, out, addr), 0);
}

int main(void)
{
	struct proc_image_run runs[2];
	struct proc_image img;
	uint8_t a[4 * 32], b[4 * 32];
	size_t i;

	for (i = 0; i < sizeof(data_a); i++)
		data_a[i] = (uint8_t)(i * 7);
	for (i = 0; i < sizeof(data_b); i++)
		data_b[i] = (uint8_t)(i * 13);
	make(&img, runs);
	digests(&img, a);
	digests(&img, b);
	CHECK(!memcmp(a, b, sizeof(a)));

	/* Chunk 2 holds pages 4 (of run 0) and 5 (the first of run 1). */
	CHECK_EQ(addr[0], 0x10000);
	CHECK_EQ(addr[1], 0x10000 + 2 * PAGE);
	CHECK_EQ(addr[2], 0x10000 + 4 * PAGE);
	CHECK_EQ(addr[3], 0x40000 + PAGE);
	CHECK_EQ(proc_image_digests(&img, 2, b, NULL), 0);   /* no addresses */
	CHECK(!memcmp(a, b, sizeof(a)));

	/* One byte of run 1's first page: chunk 2 alone differs. */
	data_b[100] ^= 1;
	digests(&img, b);
	data_b[100] ^= 1;
	CHECK(!memcmp(a, b, 2 * 32));
	CHECK(memcmp(a + 2 * 32, b + 2 * 32, 32));
	CHECK(!memcmp(a + 3 * 32, b + 3 * 32, 32));

	/* The same bytes one page higher: every chunk of that run differs. */
	runs[1].addr += PAGE;
	digests(&img, b);
	runs[1].addr -= PAGE;
	CHECK(!memcmp(a, b, 2 * 32));
	CHECK(memcmp(a + 3 * 32, b + 3 * 32, 32));

	/* One page fewer: fewer chunks, so the counts tell it too. */
	runs[1].pages = 2;
	CHECK_EQ(proc_image_nchunks(&img, 2), 4);
	runs[1].pages = 1;
	CHECK_EQ(proc_image_nchunks(&img, 2), 3);
	puts("ok proc-image-digest");
	return 0;
}
