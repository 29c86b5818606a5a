// SPDX-License-Identifier: MIT
/*
 * proc-twin: the small program test-proc-transplant starts twice and makes
 * identical. Its state is of every kind a transplant must carry:
 *
 *   seed      random at start, in .bss (the twins differ from the first
 *             instruction, as redis-server's hash seed does)
 *   heap      chunks malloc'd on "grow N" (the brk heap grows; the array
 *             of pointers is realloc'd, and moves to mmap and mremap)
 *   regions   anonymous mmaps made on "map", half of each read-only
 *   signals   SIGUSR1 counted by a handler; the main thread's mask
 *   threads   made on "threads": one blocked in read(), one in poll(),
 *             each with a counter on its own stack
 *
 * Descriptors, set up by whoever starts it: 3 commands in, 4 answers out
 * (main thread); 5 in, 6 out (reader thread); 7 in, 8 out (poller thread).
 * One line per command, one line per answer.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#define CHUNK 1000
#define REGION (256 * 1024)
#define MAX_REGIONS 64

enum { CMD_IN = 3, CMD_OUT = 4, READER_IN = 5, READER_OUT = 6,
       POLLER_IN = 7, POLLER_OUT = 8 };

static uint64_t seed;
static uint8_t **chunks;
static size_t nchunks;
static uint8_t *regions[MAX_REGIONS];
static size_t nregions;
static volatile sig_atomic_t usr1_count;

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* FNV-1a over bytes, folded into h. */
static uint64_t hash(uint64_t h, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

static void fill(uint8_t *p, size_t len, uint64_t s)
{
	s |= 1;
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)next_rand(&s);
}

static void on_usr1(int sig)
{
	(void)sig;
	usr1_count++;
}

/* Reads one line from fd into buf; false at EOF or error. */
static bool read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;

	while (n + 1 < cap) {
		ssize_t r = read(fd, buf + n, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return true;
}

static void answer(int fd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void answer(int fd, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	line[n++] = '\n';
	if (write(fd, line, (size_t)n) != n)
		_exit(3);
}

static void grow(size_t n)
{
	uint8_t **more = realloc(chunks, (nchunks + n) * sizeof(*chunks));

	if (!more)
		_exit(4);
	chunks = more;
	for (size_t i = 0; i < n; i++) {
		uint8_t *c = malloc(CHUNK);

		if (!c)
			_exit(4);
		fill(c, CHUNK, seed + nchunks);
		chunks[nchunks++] = c;
	}
}

static uintptr_t map_region(void)
{
	uint8_t *r;

	if (nregions == MAX_REGIONS)
		return 0;
	r = mmap(NULL, REGION, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED)
		_exit(5);
	fill(r, REGION, seed ^ nregions);
	mprotect(r + REGION / 2, REGION / 2, PROT_READ);
	regions[nregions++] = r;
	return (uintptr_t)r;
}

/* Everything a twin must agree on, in one line. */
static void state(void)
{
	uint64_t heap = 0xcbf29ce484222325ULL, maps = heap;
	sigset_t mask;
	unsigned long blocked = 0;

	for (size_t i = 0; i < nchunks; i++)
		heap = hash(heap, chunks[i], CHUNK);
	for (size_t i = 0; i < nregions; i++)
		maps = hash(maps, regions[i], REGION);
	pthread_sigmask(SIG_BLOCK, NULL, &mask);
	for (int sig = 1; sig < 32; sig++)
		if (sigismember(&mask, sig))
			blocked |= 1UL << sig;
	answer(CMD_OUT, "seed %016llx chunks %zu heap %016llx regions %zu "
	       "maps %016llx usr1 %d blocked %lx",
	       (unsigned long long)seed, nchunks, (unsigned long long)heap,
	       nregions, (unsigned long long)maps, (int)usr1_count, blocked);
}

/* Blocked in read(); its counter lives on its own stack. */
static void *reader(void *arg)
{
	unsigned long served = 0;
	char line[64];

	(void)arg;
	while (read_line(READER_IN, line, sizeof(line)))
		answer(READER_OUT, "reader %lu %016llx %s", ++served,
		       (unsigned long long)seed, line);
	return NULL;
}

/* Blocked in poll() with no timeout, then reads what came. */
static void *poller(void *arg)
{
	struct pollfd p = { .fd = POLLER_IN, .events = POLLIN };
	unsigned long served = 0;
	char line[64];

	(void)arg;
	for (;;) {
		if (poll(&p, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			answer(POLLER_OUT, "poll failed: errno %d", errno);
			return NULL;
		}
		if (!read_line(POLLER_IN, line, sizeof(line))) {
			answer(POLLER_OUT, "read failed: errno %d", errno);
			return NULL;
		}
		answer(POLLER_OUT, "poller %lu %016llx %s", ++served,
		       (unsigned long long)(seed * 3), line);
	}
}

static void start_threads(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, reader, NULL) ||
	    pthread_create(&t, NULL, poller, NULL))
		_exit(6);
}

int main(void)
{
	char line[128];
	sigset_t usr2;

	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		return 2;
	signal(SIGUSR1, on_usr1);
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	answer(CMD_OUT, "ready");
	while (read_line(CMD_IN, line, sizeof(line))) {
		unsigned long n;

		if (sscanf(line, "grow %lu", &n) == 1) {
			grow(n);
			answer(CMD_OUT, "ok %zu", nchunks);
		} else if (!strcmp(line, "map")) {
			answer(CMD_OUT, "ok %#lx", (unsigned long)map_region());
		} else if (!strcmp(line, "reseed")) {
			if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
				return 2;
			answer(CMD_OUT, "ok");
		} else if (!strcmp(line, "block")) {
			pthread_sigmask(SIG_BLOCK, &usr2, NULL);
			answer(CMD_OUT, "ok");
		} else if (!strcmp(line, "unblock")) {
			pthread_sigmask(SIG_UNBLOCK, &usr2, NULL);
			answer(CMD_OUT, "ok");
		} else if (!strcmp(line, "threads")) {
			start_threads();
			answer(CMD_OUT, "ok");
		} else if (!strcmp(line, "threads apart")) {
			/* A region first: the threads' stacks, and the rseq
			 * areas in their TLS, land below it, elsewhere than
			 * the other twin's. */
			if (mmap(NULL, 64u << 20, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
				 -1, 0) == MAP_FAILED)
				return 7;
			start_threads();
			answer(CMD_OUT, "ok");
		} else if (!strcmp(line, "state")) {
			state();
		} else {
			answer(CMD_OUT, "unknown %s", line);
		}
	}
	return 0;
}
