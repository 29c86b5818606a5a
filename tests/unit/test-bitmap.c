// SPDX-License-Identifier: MIT
/*
 * The bitmap against a deliberately naive bool[] on random operations, over
 * sizes around word boundaries. Every operation's result and, every so often,
 * the whole map are compared.
 */
#include "bitmap.h"
#include "tap.h"

#include <stdbool.h>

struct model {
	bool *bits;
	uint64_t n;
};

static uint64_t naive_next(const struct model *m, uint64_t from, bool val)
{
	for (; from < m->n; from++)
		if (m->bits[from] == val)
			return from;
	return m->n;
}

static uint64_t naive_count(const struct model *m, uint64_t start, uint64_t n)
{
	uint64_t i, c = 0;

	for (i = start; i < start + n; i++)
		c += m->bits[i];
	return c;
}

static void check_same(const struct bitmap *b, const struct model *m)
{
	uint64_t i;

	for (i = 0; i < m->n; i++)
		CHECK_EQ(bitmap_test(b, i), m->bits[i]);
	CHECK_EQ(bitmap_count(b), naive_count(m, 0, m->n));
}

/* A random range inside [0, n), biased towards short and word-sized ones. */
static void rand_range(uint64_t *seed, uint64_t n, uint64_t *start,
		       uint64_t *len)
{
	uint64_t max;

	*start = test_rand(seed) % (n + 1);
	max = n - *start;
	switch (test_rand(seed) % 3) {
	case 0:
		*len = max ? test_rand(seed) % (max < 8 ? max + 1 : 9) : 0;
		break;
	case 1:
		*len = max < 64 ? max : 64;
		break;
	default:
		*len = test_rand(seed) % (max + 1);
	}
}

static void run(uint64_t nbits, unsigned long ops, uint64_t *seed)
{
	struct bitmap b, other;
	struct model m = { calloc(nbits + 1, 1), nbits };
	bool *om = calloc(nbits + 1, 1);
	unsigned long k;
	uint64_t i, s, l;

	CHECK(m.bits && om);
	CHECK_EQ(bitmap_init(&b, nbits), 0);
	CHECK_EQ(bitmap_init(&other, nbits), 0);
	CHECK_EQ(bitmap_count(&b), 0);
	CHECK_EQ(bitmap_next_set(&b, 0), nbits);

	for (k = 0; k < ops; k++) {
		uint64_t bit = nbits ? test_rand(seed) % nbits : 0;
		unsigned int op = test_rand(seed) % 12;

		if (!nbits && op < 4)
			op = 4;
		switch (op) {
		case 0:
			bitmap_set(&b, bit);
			m.bits[bit] = true;
			break;
		case 1:
			bitmap_clear(&b, bit);
			m.bits[bit] = false;
			break;
		case 2:
			CHECK_EQ(bitmap_test_and_clear(&b, bit), m.bits[bit]);
			m.bits[bit] = false;
			break;
		case 3:
			CHECK_EQ(bitmap_test(&b, bit), m.bits[bit]);
			break;
		case 4:
			rand_range(seed, nbits, &s, &l);
			bitmap_set_range(&b, s, l);
			for (i = s; i < s + l; i++)
				m.bits[i] = true;
			break;
		case 5:
			rand_range(seed, nbits, &s, &l);
			bitmap_clear_range(&b, s, l);
			for (i = s; i < s + l; i++)
				m.bits[i] = false;
			break;
		case 6:
			rand_range(seed, nbits, &s, &l);
			CHECK_EQ(bitmap_count_range(&b, s, l),
				 naive_count(&m, s, l));
			break;
		case 7:
			s = test_rand(seed) % (nbits + 2);
			CHECK_EQ(bitmap_next_set(&b, s), naive_next(&m, s, true));
			break;
		case 8:
			s = test_rand(seed) % (nbits + 2);
			CHECK_EQ(bitmap_next_clear(&b, s),
				 naive_next(&m, s, false));
			break;
		case 9:
			/* A sparse other map, then dst |= src. */
			rand_range(seed, nbits, &s, &l);
			bitmap_zero(&other);
			memset(om, 0, nbits + 1);
			bitmap_set_range(&other, s, l);
			for (i = s; i < s + l; i++)
				om[i] = true;
			if (nbits) {
				bitmap_set(&other, bit);
				om[bit] = true;
			}
			bitmap_or(&b, &other);
			for (i = 0; i < nbits; i++)
				m.bits[i] |= om[i];
			break;
		case 10:
			if (test_rand(seed) % 64 == 0) {
				bitmap_fill(&b);
				memset(m.bits, 1, nbits);
			} else if (test_rand(seed) % 64 == 0) {
				bitmap_zero(&b);
				memset(m.bits, 0, nbits);
			}
			break;
		default:
			CHECK_EQ(bitmap_count(&b), naive_count(&m, 0, nbits));
		}
		if (k % 1024 == 0)
			check_same(&b, &m);
	}
	check_same(&b, &m);

	/* The extremes: a full map has no clear bit, an empty one no set bit. */
	bitmap_fill(&b);
	CHECK_EQ(bitmap_count(&b), nbits);
	CHECK_EQ(bitmap_next_clear(&b, 0), nbits);
	bitmap_zero(&b);
	CHECK_EQ(bitmap_next_set(&b, 0), nbits);
	CHECK_EQ(bitmap_next_clear(&b, 0), nbits ? 0 : nbits);

	bitmap_deinit(&other);
	bitmap_deinit(&b);
	free(om);
	free(m.bits);
}

int main(void)
{
	static const uint64_t sizes[] = { 0, 1, 63, 64, 65, 127, 128, 129,
					  200, 1000, 4096, 10007 };
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	unsigned int i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		run(sizes[i], 30000, &seed);
	printf("ok bitmap: %zu sizes, %lu ops\n",
	       sizeof(sizes) / sizeof(sizes[0]),
	       30000UL * (sizeof(sizes) / sizeof(sizes[0])));
	return 0;
}
