// SPDX-License-Identifier: MIT
/* Sorted page ranges and the three set operations, each one merge pass. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "bitmap.h"
#include "proc-ranges.h"

#define PAGE 4096ULL

void proc_ranges_free(struct proc_ranges *s)
{
	free(s->r);
	*s = (struct proc_ranges){ 0 };
}

static uint64_t end_of(const struct proc_image_range *r)
{
	return r->addr + r->pages * PAGE;
}

int proc_ranges_add(struct proc_ranges *s, uint64_t addr, uint64_t pages)
{
	struct proc_image_range *last = s->n ? &s->r[s->n - 1] : NULL;

	if (!pages)
		return 0;
	if (last && addr < end_of(last))
		return -EINVAL;
	if (last && addr == end_of(last)) {
		last->pages += pages;
		return 0;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct proc_image_range *r = realloc(s->r, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		s->r = r;
		s->cap = cap;
	}
	s->r[s->n++] = (struct proc_image_range){ addr, pages };
	return 0;
}

/*
 * One sweep over the boundaries of both sets: between two consecutive
 * boundaries membership in a and in b is constant, and keep() says
 * whether such a piece belongs to the result.
 */
static int sweep(const struct proc_ranges *a, const struct proc_ranges *b,
		 bool (*keep)(bool in_a, bool in_b), struct proc_ranges *out)
{
	size_t i = 0, j = 0;
	uint64_t at = 0;
	int ret = 0;

	while ((i < a->n || j < b->n) && ret == 0) {
		const struct proc_image_range *ra = i < a->n ? &a->r[i] : NULL;
		const struct proc_image_range *rb = j < b->n ? &b->r[j] : NULL;
		uint64_t sa = ra ? (ra->addr > at ? ra->addr : at) : UINT64_MAX;
		uint64_t sb = rb ? (rb->addr > at ? rb->addr : at) : UINT64_MAX;
		uint64_t from = sa < sb ? sa : sb, to;
		bool in_a = ra && ra->addr <= from;
		bool in_b = rb && rb->addr <= from;

		/* The piece ends at the next boundary of either set. */
		to = in_a ? end_of(ra) : (ra ? ra->addr : UINT64_MAX);
		if (in_b && end_of(rb) < to)
			to = end_of(rb);
		if (!in_b && rb && rb->addr < to)
			to = rb->addr;
		if (keep(in_a, in_b))
			ret = proc_ranges_add(out, from, (to - from) / PAGE);
		at = to;
		if (ra && end_of(ra) <= at)
			i++;
		if (rb && end_of(rb) <= at)
			j++;
	}
	return ret;
}

static bool either(bool a, bool b) { return a || b; }
static bool both(bool a, bool b) { return a && b; }
static bool only_a(bool a, bool b) { return a && !b; }

int proc_ranges_union(const struct proc_ranges *a, const struct proc_ranges *b,
		      struct proc_ranges *out)
{
	return sweep(a, b, either, out);
}

int proc_ranges_intersect(const struct proc_ranges *a,
			  const struct proc_ranges *b, struct proc_ranges *out)
{
	return sweep(a, b, both, out);
}

int proc_ranges_subtract(const struct proc_ranges *a,
			 const struct proc_ranges *b, struct proc_ranges *out)
{
	return sweep(a, b, only_a, out);
}

int proc_ranges_add_bits(struct proc_ranges *s, const struct bitmap *bm,
			 uint64_t start)
{
	uint64_t b = bitmap_next_set(bm, 0);
	int r = 0;

	while (b < bm->nbits && r == 0) {
		uint64_t e = bitmap_next_clear(bm, b);

		r = proc_ranges_add(s, start + b * PAGE, e - b);
		b = e < bm->nbits ? bitmap_next_set(bm, e) : bm->nbits;
	}
	return r;
}

uint64_t proc_ranges_pages(const struct proc_ranges *s)
{
	uint64_t n = 0;

	for (size_t i = 0; i < s->n; i++)
		n += s->r[i].pages;
	return n;
}
