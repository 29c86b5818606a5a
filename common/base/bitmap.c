// SPDX-License-Identifier: MIT
/*
 * Bitmaps in 64-bit words. Bit i lives in word i / 64 at position i % 64.
 * Bits past nbits in the last word are kept clear, so whole-word counts and
 * scans never see them.
 */
#include "bitmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define WORD_BITS 64

static inline uint64_t word_of(uint64_t bit)
{
	return bit / WORD_BITS;
}

static inline uint64_t mask_of(uint64_t bit)
{
	return 1ULL << (bit % WORD_BITS);
}

static inline uint64_t nwords(uint64_t nbits)
{
	return (nbits + WORD_BITS - 1) / WORD_BITS;
}

/* Bits [lo, hi) of one word, 0 <= lo < hi <= 64. */
static inline uint64_t span_mask(unsigned int lo, unsigned int hi)
{
	uint64_t m = hi == WORD_BITS ? ~0ULL : (1ULL << hi) - 1;

	return m & ~((1ULL << lo) - 1);
}

/* Clears the tail bits beyond nbits in the last word. */
static void trim_tail(struct bitmap *b)
{
	unsigned int rem = b->nbits % WORD_BITS;

	if (rem)
		b->words[word_of(b->nbits)] &= span_mask(0, rem);
}

int bitmap_init(struct bitmap *b, uint64_t nbits)
{
	uint64_t n = nwords(nbits);

	b->nbits = nbits;
	/* calloc(0) may return NULL; keep one word so words is never NULL. */
	b->words = calloc(n ? n : 1, sizeof(uint64_t));
	if (!b->words) {
		b->nbits = 0;
		return -ENOMEM;
	}
	return 0;
}

void bitmap_deinit(struct bitmap *b)
{
	free(b->words);
	b->words = NULL;
	b->nbits = 0;
}

void bitmap_set(struct bitmap *b, uint64_t bit)
{
	b->words[word_of(bit)] |= mask_of(bit);
}

void bitmap_clear(struct bitmap *b, uint64_t bit)
{
	b->words[word_of(bit)] &= ~mask_of(bit);
}

bool bitmap_test(const struct bitmap *b, uint64_t bit)
{
	return b->words[word_of(bit)] & mask_of(bit);
}

bool bitmap_test_and_clear(struct bitmap *b, uint64_t bit)
{
	uint64_t *w = &b->words[word_of(bit)];
	uint64_t m = mask_of(bit);
	bool was = *w & m;

	*w &= ~m;
	return was;
}

/*
 * Walks [start, start + n) one word at a time: a partial word at each end,
 * whole words in between, so a 1 GiB chunk costs 4096 word stores.
 */
enum range_op { RANGE_SET, RANGE_CLEAR };

static void range_apply(struct bitmap *b, uint64_t start, uint64_t n,
			enum range_op op)
{
	uint64_t end = start + n;

	while (start < end) {
		uint64_t w = word_of(start);
		unsigned int lo = start % WORD_BITS;
		uint64_t left = end - start;
		unsigned int hi = left >= WORD_BITS - lo ? WORD_BITS
							  : lo + (unsigned int)left;
		uint64_t m = span_mask(lo, hi);

		if (op == RANGE_SET)
			b->words[w] |= m;
		else
			b->words[w] &= ~m;
		start += hi - lo;
	}
}

void bitmap_set_range(struct bitmap *b, uint64_t start, uint64_t n)
{
	range_apply(b, start, n, RANGE_SET);
}

void bitmap_clear_range(struct bitmap *b, uint64_t start, uint64_t n)
{
	range_apply(b, start, n, RANGE_CLEAR);
}

uint64_t bitmap_count_range(const struct bitmap *b, uint64_t start,
			    uint64_t n)
{
	uint64_t end = start + n, count = 0;

	while (start < end) {
		unsigned int lo = start % WORD_BITS;
		uint64_t left = end - start;
		unsigned int hi = left >= WORD_BITS - lo ? WORD_BITS
							  : lo + (unsigned int)left;

		count += (uint64_t)__builtin_popcountll(b->words[word_of(start)] &
							span_mask(lo, hi));
		start += hi - lo;
	}
	return count;
}

void bitmap_fill(struct bitmap *b)
{
	memset(b->words, 0xff, nwords(b->nbits) * sizeof(uint64_t));
	trim_tail(b);
}

void bitmap_zero(struct bitmap *b)
{
	memset(b->words, 0, nwords(b->nbits) * sizeof(uint64_t));
}

uint64_t bitmap_count(const struct bitmap *b)
{
	uint64_t i, n = nwords(b->nbits), count = 0;

	for (i = 0; i < n; i++)
		count += (uint64_t)__builtin_popcountll(b->words[i]);
	return count;
}

/*
 * The scans look at one word at a time; invert selects whether we are
 * looking for set bits (0) or clear bits (~0). Tail bits are clear, so a
 * search for clear bits may land past nbits and is clamped.
 */
static uint64_t find_next(const struct bitmap *b, uint64_t from,
			  uint64_t invert)
{
	uint64_t w, n = nwords(b->nbits), bits, pos;

	if (from >= b->nbits)
		return b->nbits;
	w = word_of(from);
	bits = (b->words[w] ^ invert) & ~(mask_of(from) - 1);
	while (!bits) {
		if (++w >= n)
			return b->nbits;
		bits = b->words[w] ^ invert;
	}
	pos = w * WORD_BITS + (uint64_t)__builtin_ctzll(bits);
	return pos < b->nbits ? pos : b->nbits;
}

uint64_t bitmap_next_set(const struct bitmap *b, uint64_t from)
{
	return find_next(b, from, 0);
}

uint64_t bitmap_next_clear(const struct bitmap *b, uint64_t from)
{
	return find_next(b, from, ~0ULL);
}

void bitmap_or(struct bitmap *dst, const struct bitmap *src)
{
	uint64_t i, n = nwords(dst->nbits);

	for (i = 0; i < n; i++)
		dst->words[i] |= src->words[i];
}
