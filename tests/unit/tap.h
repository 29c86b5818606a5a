/* SPDX-License-Identifier: MIT */
/*
 * A few assertion macros for the unit tests. A failed check prints where and
 * why and exits 1; exit 77 means "skipped" to meson.
 */
#ifndef COLO_TEST_TAP_H
#define COLO_TEST_TAP_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_SKIP 77

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "%s:%d: check failed: %s\n",       \
				__FILE__, __LINE__, #cond);                \
			exit(1);                                           \
		}                                                          \
	} while (0)

#define CHECK_EQ(a, b)                                                     \
	do {                                                               \
		long long a_ = (long long)(a), b_ = (long long)(b);        \
		if (a_ != b_) {                                            \
			fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", \
				__FILE__, __LINE__, #a, #b, a_, b_);       \
			exit(1);                                           \
		}                                                          \
	} while (0)

#define SKIP(...)                                                          \
	do {                                                               \
		fprintf(stderr, "SKIP: " __VA_ARGS__);                     \
		fprintf(stderr, "\n");                                     \
		exit(TEST_SKIP);                                           \
	} while (0)

/* A small deterministic PRNG (xorshift64*), so failures reproduce. */
static inline uint64_t test_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

#endif
