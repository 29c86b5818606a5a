/* SPDX-License-Identifier: MIT */
/*
 * A few assertion macros for the unit tests. A failed check prints where and
 * why and exits 1; exit 77 means "skipped" to meson.
 */
#ifndef COLO_TEST_TAP_H
#define COLO_TEST_TAP_H

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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

/*
 * Runs fn(arg) in a forked child and fails unless the child dies of SIGABRT:
 * for the checks that abort on misuse (a lock not held). The child's stderr
 * goes to /dev/null, as its log line is the expected outcome, not news.
 */
static inline void test_expect_abort(const char *what, void (*fn)(void *),
				     void *arg)
{
	pid_t pid = fork();
	int st;

	CHECK(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, 2);
		fn(arg);
		_exit(0);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT) {
		fprintf(stderr, "%s did not abort\n", what);
		exit(1);
	}
}

#endif
