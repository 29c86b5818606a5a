// SPDX-License-Identifier: MIT
/*
 * The digests behind `verify`: chunks never straddle blocks, and the list of
 * differing chunks matches a naive reference (memcmp of each chunk's bytes)
 * on random corruptions. When the list cannot be allocated the answer is an
 * error, never a shorter list: calloc is wrapped at link time
 * (-Wl,--wrap=calloc) so that the test can make it fail.
 */
#include <errno.h>
#include <stdbool.h>

#include "digest.h"
#include "ram-digest.h"
#include "tap.h"

/* Two blocks whose sizes are not multiples of the chunk: 4+4+2 and 4+3. */
#define CHUNK_PAGES 4
#define B0_PAGES 10
#define B1_PAGES 7
#define NCHUNKS 5

static bool fail_calloc;

void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);

void *__wrap_calloc(size_t n, size_t size)
{
	if (fail_calloc)
		return NULL;
	return __real_calloc(n, size);
}

static void layout_init(struct ram_layout *l, const char *name)
{
	l->nblocks = 2;
	CHECK_EQ(ramblock_create(&l->blocks[0], 0, name,
				 B0_PAGES * RAM_PAGE_SIZE, RAM_GUEST_BASE), 0);
	CHECK_EQ(ramblock_create(&l->blocks[1], 1, name,
				 B1_PAGES * RAM_PAGE_SIZE,
				 RAM_GUEST_BASE + (1ULL << 30)), 0);
}

static void digests(const struct ram_layout *l, uint8_t *out)
{
	CHECK_EQ(ram_digest_chunks(l, CHUNK_PAGES, out, NULL, NULL), 0);
}

static void check_ranges(const struct ram_layout *l)
{
	static const struct { uint32_t block; uint64_t off, pages; } want[] = {
		{ 0, 0, 4 }, { 0, 4, 4 }, { 0, 8, 2 }, { 1, 0, 4 }, { 1, 4, 3 },
	};
	uint32_t i, b;
	uint64_t off, len;

	CHECK_EQ(ram_digest_nchunks(l, CHUNK_PAGES), NCHUNKS);
	for (i = 0; i < NCHUNKS; i++) {
		ram_digest_chunk_range(l, CHUNK_PAGES, i, &b, &off, &len);
		CHECK_EQ(b, want[i].block);
		CHECK_EQ(off, want[i].off * RAM_PAGE_SIZE);
		CHECK_EQ(len, want[i].pages * RAM_PAGE_SIZE);
	}
}

/* The reference: compare each chunk's bytes directly. */
static size_t naive_diff(const struct ram_layout *a,
			 const struct ram_layout *b, bool *differs)
{
	size_t n = 0;
	uint32_t i, blk;
	uint64_t off, len;

	for (i = 0; i < NCHUNKS; i++) {
		ram_digest_chunk_range(a, CHUNK_PAGES, i, &blk, &off, &len);
		differs[i] = memcmp(a->blocks[blk].alias + off,
				    b->blocks[blk].alias + off, len) != 0;
		n += differs[i];
	}
	return n;
}

static void check_against_naive(const struct ram_layout *a,
				const struct ram_layout *b)
{
	uint8_t da[NCHUNKS * DIGEST_LEN], db[NCHUNKS * DIGEST_LEN];
	struct ram_digest_range *r;
	bool differs[NCHUNKS];
	size_t n, want, k = 0;
	uint32_t i, blk;
	uint64_t off, len;

	digests(a, da);
	digests(b, db);
	want = naive_diff(a, b, differs);
	CHECK_EQ(ram_digest_diff(a, CHUNK_PAGES, da, db, NCHUNKS, &r, &n), 0);
	CHECK_EQ(n, want);
	CHECK(n ? r != NULL : r == NULL);
	for (i = 0; i < NCHUNKS; i++) {
		if (!differs[i])
			continue;
		ram_digest_chunk_range(a, CHUNK_PAGES, i, &blk, &off, &len);
		CHECK_EQ(r[k].block, blk);
		CHECK_EQ(r[k].offset, off);
		CHECK_EQ(r[k].length, len);
		k++;
	}
	free(r);
}

static void flip_random_byte(struct ram_layout *l, uint64_t *seed)
{
	struct ramblock *rb = &l->blocks[test_rand(seed) % l->nblocks];

	rb->alias[test_rand(seed) % rb->size] ^= 1 << (test_rand(seed) % 8);
}

static void test_random(struct ram_layout *a, struct ram_layout *b)
{
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	int round, j;

	for (round = 0; round < 200; round++) {
		uint32_t blk;

		for (blk = 0; blk < 2; blk++)
			memcpy(b->blocks[blk].alias, a->blocks[blk].alias,
			       a->blocks[blk].size);
		for (j = (int)(test_rand(&seed) % 4); j > 0; j--)
			flip_random_byte(b, &seed);
		check_against_naive(a, b);
	}
}

/* A failed allocation is an error with no list at all. */
static void test_alloc_failure(struct ram_layout *a, struct ram_layout *b)
{
	uint8_t da[NCHUNKS * DIGEST_LEN], db[NCHUNKS * DIGEST_LEN];
	struct ram_digest_range *r = (void *)1;
	size_t n = 99;

	memcpy(b->blocks[1].alias, a->blocks[1].alias, a->blocks[1].size);
	b->blocks[1].alias[5 * RAM_PAGE_SIZE + 17] ^= 0x40;
	digests(a, da);
	digests(b, db);
	fail_calloc = true;
	CHECK_EQ(ram_digest_diff(a, CHUNK_PAGES, da, db, NCHUNKS, &r, &n),
		 -ENOMEM);
	fail_calloc = false;
	CHECK(r == NULL);
	CHECK_EQ(n, 0);

	/* Identical RAM needs no list, so nothing to fail. */
	fail_calloc = true;
	CHECK_EQ(ram_digest_diff(a, CHUNK_PAGES, da, da, NCHUNKS, &r, &n), 0);
	fail_calloc = false;
	CHECK(r == NULL);
	CHECK_EQ(n, 0);
}

int main(void)
{
	struct ram_layout a, b;
	uint64_t seed = 42, i;
	uint32_t blk;

	layout_init(&a, "test-ram-digest-a");
	layout_init(&b, "test-ram-digest-b");
	for (blk = 0; blk < 2; blk++)
		for (i = 0; i < a.blocks[blk].size; i += 8)
			*(uint64_t *)(a.blocks[blk].alias + i) =
				test_rand(&seed);
	check_ranges(&a);
	test_random(&a, &b);
	test_alloc_failure(&a, &b);
	ram_layout_destroy(&a);
	ram_layout_destroy(&b);
	printf("ok\n");
	return 0;
}
