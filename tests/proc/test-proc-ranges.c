// SPDX-License-Identifier: MIT
/*
 * proc-ranges' union, intersection and difference against the same sets
 * as one bit per page, on random sets over a small space (so that ranges
 * touch, overlap, nest and share ends often), and the order rule of add.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "proc-ranges.h"
#include "tap.h"

#define SPACE 96
#define PAGE 4096ULL
#define BASE 0x7f0000000000ULL

static void random_set(bool bits[SPACE], struct proc_ranges *s)
{
	int density = 1 + rand() % 9;

	for (int p = 0; p < SPACE; p++) {
		bits[p] = rand() % 10 < density;
		if (bits[p])
			CHECK_EQ(proc_ranges_add(s, BASE + p * PAGE, 1), 0);
	}
}

/* s is exactly bits, with ranges non-empty, ordered and apart. */
static void same(const struct proc_ranges *s, const bool bits[SPACE])
{
	bool got[SPACE] = { 0 };

	for (size_t i = 0; i < s->n; i++) {
		CHECK(s->r[i].pages > 0);
		if (i)
			CHECK(s->r[i].addr > s->r[i - 1].addr +
			      s->r[i - 1].pages * PAGE);
		for (uint64_t k = 0; k < s->r[i].pages; k++)
			got[(s->r[i].addr - BASE) / PAGE + k] = true;
	}
	for (int p = 0; p < SPACE; p++)
		CHECK_EQ(got[p], bits[p]);
}

int main(void)
{
	struct proc_ranges s = { 0 };

	srand(7);
	for (int round = 0; round < 2000; round++) {
		struct proc_ranges a = { 0 }, b = { 0 }, u = { 0 }, x = { 0 },
				   d = { 0 };
		bool ba[SPACE], bb[SPACE], bu[SPACE], bx[SPACE], bd[SPACE];

		random_set(ba, &a);
		random_set(bb, &b);
		for (int p = 0; p < SPACE; p++) {
			bu[p] = ba[p] || bb[p];
			bx[p] = ba[p] && bb[p];
			bd[p] = ba[p] && !bb[p];
		}
		CHECK_EQ(proc_ranges_union(&a, &b, &u), 0);
		CHECK_EQ(proc_ranges_intersect(&a, &b, &x), 0);
		CHECK_EQ(proc_ranges_subtract(&a, &b, &d), 0);
		same(&a, ba);
		same(&u, bu);
		same(&x, bx);
		same(&d, bd);
		CHECK_EQ(proc_ranges_pages(&u) + proc_ranges_pages(&x),
			 proc_ranges_pages(&a) + proc_ranges_pages(&b));
		proc_ranges_free(&a);
		proc_ranges_free(&b);
		proc_ranges_free(&u);
		proc_ranges_free(&x);
		proc_ranges_free(&d);
	}
	/* Out of order is refused; touching extends; empty adds nothing. */
	CHECK_EQ(proc_ranges_add(&s, BASE + 4 * PAGE, 2), 0);
	CHECK_EQ(proc_ranges_add(&s, BASE + 6 * PAGE, 1), 0);
	CHECK_EQ(s.n, 1);
	CHECK_EQ(s.r[0].pages, 3);
	CHECK_EQ(proc_ranges_add(&s, BASE + 5 * PAGE, 1), -EINVAL);
	CHECK_EQ(proc_ranges_add(&s, BASE, 0), 0);
	CHECK_EQ(s.n, 1);
	proc_ranges_free(&s);
	return 0;
}
