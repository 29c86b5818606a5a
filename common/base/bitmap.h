/* SPDX-License-Identifier: MIT */
/*
 * Plain bitmaps over page indexes: the migration bitmap, the clear bitmap and
 * the secondary's received-page bitmap are all one of these. No locking here;
 * the owner's lock (bitmap_mutex) guards them.
 */
#ifndef COLO_BITMAP_H
#define COLO_BITMAP_H

#include <stdbool.h>
#include <stdint.h>

struct bitmap {
	uint64_t *words;
	uint64_t nbits;
};

/* All bits start clear. Returns 0 or -ENOMEM. */
int bitmap_init(struct bitmap *b, uint64_t nbits);
void bitmap_deinit(struct bitmap *b);

void bitmap_set(struct bitmap *b, uint64_t bit);
void bitmap_clear(struct bitmap *b, uint64_t bit);
bool bitmap_test(const struct bitmap *b, uint64_t bit);
/* Returns whether the bit was set before. */
bool bitmap_test_and_clear(struct bitmap *b, uint64_t bit);

/* Ranges are [start, start + n); callers keep them inside nbits. */
void bitmap_set_range(struct bitmap *b, uint64_t start, uint64_t n);
void bitmap_clear_range(struct bitmap *b, uint64_t start, uint64_t n);
uint64_t bitmap_count_range(const struct bitmap *b, uint64_t start, uint64_t n);

void bitmap_fill(struct bitmap *b);
void bitmap_zero(struct bitmap *b);
uint64_t bitmap_count(const struct bitmap *b);

/* Index of the first set (clear) bit at or after from; nbits if none. */
uint64_t bitmap_next_set(const struct bitmap *b, uint64_t from);
uint64_t bitmap_next_clear(const struct bitmap *b, uint64_t from);

/* dst |= src; both of the same size. */
void bitmap_or(struct bitmap *dst, const struct bitmap *src);

#endif
