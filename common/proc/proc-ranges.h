/* SPDX-License-Identifier: MIT */
/*
 * Sets of pages as sorted ranges (struct proc_image_range): what an
 * incremental checkpoint computes with, where a bitmap of the whole
 * address space would cost as much as the memory it describes. A set's
 * ranges are in address order, non-empty, and neither overlap nor touch.
 */
#ifndef COLO_PROC_RANGES_H
#define COLO_PROC_RANGES_H

#include <stddef.h>
#include <stdint.h>

/* Consecutive pages, without contents. */
struct proc_image_range {
	uint64_t addr;
	uint64_t pages;
};

struct proc_ranges {
	struct proc_image_range *r;
	size_t n, cap;
};

void proc_ranges_free(struct proc_ranges *s);

/* Appends [addr, addr + pages * 4096), which must not start below the
 * set's end: touching the last range extends it. 0, -EINVAL (out of
 * order) or -ENOMEM. */
int proc_ranges_add(struct proc_ranges *s, uint64_t addr, uint64_t pages);

/* out = a | b, a & b, a & ~b. out must be empty and neither input. */
int proc_ranges_union(const struct proc_ranges *a, const struct proc_ranges *b,
		      struct proc_ranges *out);
int proc_ranges_intersect(const struct proc_ranges *a,
			  const struct proc_ranges *b, struct proc_ranges *out);
int proc_ranges_subtract(const struct proc_ranges *a,
			 const struct proc_ranges *b, struct proc_ranges *out);

/* Appends the pages whose bits are set in bm, bit i being the page at
 * start + i * 4096 (all of them above the set's end). 0 or -errno. */
struct bitmap;
int proc_ranges_add_bits(struct proc_ranges *s, const struct bitmap *bm,
			 uint64_t start);

/* Pages in the set. */
uint64_t proc_ranges_pages(const struct proc_ranges *s);

#endif
