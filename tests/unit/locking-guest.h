/* SPDX-License-Identifier: MIT */
/*
 * A forked guest for the locking tests and the benchmarks: a child process
 * that maps a RAM block's memfd and registers the mapping for the dirty log
 * itself, as a real guest does, then runs whatever the caller gives it.
 *
 * The child maps the memfd wherever the kernel likes and reports the
 * address back, instead of at RAM_GUEST_BASE: the test needs no fixed
 * address (the TSan build moves it out of TSan's own ranges, meson.build),
 * and a fixed one could collide with the test's other mappings. The parent
 * then points the block's guest_addr there, which is all the dirty log
 * needs.
 *
 * Fork before starting any thread: a child forked from a threaded process
 * is fragile in general and unsupported under ThreadSanitizer.
 *
 * Header-only (static inline) because the unit test build compiles each
 * test-<name>.c on its own; the benchmarks include it too.
 */
#ifndef COLO_LOCKING_GUEST_H
#define COLO_LOCKING_GUEST_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dirtylog.h"
#include "need-dirtylog.h"
#include "ramblock.h"
#include "tap.h"
#include "xport.h"

struct tguest_child {
	uint8_t *ram;           /* the tracked mapping */
	uint64_t size;
	int cmd_fd, ack_fd;     /* from and to the parent */
	void *arg;
};

struct tguest {
	pid_t pid;
	int cmd_fd, ack_fd;     /* to and from the child */
	uint64_t addr;          /* the child's mapping */
};

typedef void (*tguest_fn)(struct tguest_child *c);

/* Commands of tguest_serve; each gets one int32 reply. */
/* TG_POKE: 8 bytes of gen at an offset of gen's choosing in each page,
 * a small change like a key-value store's SET (for delta tests). */
enum tguest_op { TG_FILL = 1, TG_ZERO, TG_EXIT, TG_POKE };

struct tguest_cmd {
	uint32_t op;
	uint32_t pad;
	uint64_t page, n, gen;
};

static inline void tg_write_all(int fd, const void *buf, size_t len)
{
	if (write(fd, buf, len) != (ssize_t)len)
		_exit(3);
}

/*
 * Recognisable page content: every word names the page and a generation,
 * so a misplaced or stale page differs from the right one. The first word
 * is never zero, and it is written first, so a page being filled stops
 * being a zero page with the store that dirties it.
 */
static inline void tg_fill_page(uint8_t *p, uint64_t page, uint64_t gen)
{
	uint64_t *w = (uint64_t *)p;
	uint64_t x = (page << 20) ^ gen ^ 0x9e3779b97f4a7c15ULL;

	w[0] = page << 32 | (gen & 0xffffffffULL) | 1ULL << 63;
	for (size_t i = 1; i < RAM_PAGE_SIZE / sizeof(*w); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		w[i] = x;
	}
}

/* The plain command loop: fill or zero pages on request. */
static inline void tguest_serve(struct tguest_child *c)
{
	struct tguest_cmd cmd;
	int32_t r = 0;

	while (read(c->cmd_fd, &cmd, sizeof(cmd)) == sizeof(cmd) &&
	       cmd.op != TG_EXIT) {
		for (uint64_t p = cmd.page; p < cmd.page + cmd.n; p++) {
			uint8_t *pg = c->ram + (p << RAM_PAGE_SHIFT);

			if (cmd.op == TG_FILL)
				tg_fill_page(pg, p, cmd.gen);
			else if (cmd.op == TG_POKE)
				memcpy(pg + cmd.gen % (RAM_PAGE_SIZE - 8),
				       &cmd.gen, 8);
			else
				memset(pg, 0, RAM_PAGE_SIZE);
		}
		tg_write_all(c->ack_fd, &r, sizeof(r));
	}
}

/*
 * Fork the guest: map memfd, register it, report {status, address}, run fn
 * (tguest_serve when NULL) and exit. Returns 0, or the child's -errno from
 * registering (-EOPNOTSUPP: no userfaultfd WP async), in which case the
 * child is already reaped.
 */
static inline int tguest_start(struct tguest *g, int memfd, uint64_t size,
			       tguest_fn fn, void *arg)
{
	struct { int32_t r; uint32_t pad; uint64_t addr; } hello;
	int cmd[2], ack[2];

	CHECK(pipe2(cmd, O_CLOEXEC) == 0);
	CHECK(pipe2(ack, O_CLOEXEC) == 0);
	g->pid = fork();
	CHECK(g->pid >= 0);
	if (g->pid == 0) {
		struct tguest_child c = {
			.size = size, .cmd_fd = cmd[0], .ack_fd = ack[1],
			.arg = arg,
		};
		void *m;
		int fd;

		/* A failed test exits without stopping its guests, which
		 * keep other pipes' ends open: die with the parent. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() == 1)
			_exit(5);
		close(cmd[1]);
		close(ack[0]);
		m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			 memfd, 0);
		hello.r = m == MAP_FAILED ? -errno : 0;
		hello.addr = (uintptr_t)m;
		if (!hello.r) {
			/* The uffd must stay open: it lives until _exit. */
			fd = dirtylog_guest_register(hello.addr, size);
			hello.r = fd < 0 ? fd : 0;
		}
		tg_write_all(c.ack_fd, &hello, sizeof(hello));
		if (hello.r)
			_exit(0);
		c.ram = m;
		(fn ? fn : tguest_serve)(&c);
		_exit(0);
	}
	close(cmd[0]);
	close(ack[1]);
	g->cmd_fd = cmd[1];
	g->ack_fd = ack[0];
	CHECK(read(g->ack_fd, &hello, sizeof(hello)) == sizeof(hello));
	g->addr = hello.addr;
	if (hello.r) {
		waitpid(g->pid, NULL, 0);
		close(g->cmd_fd);
		close(g->ack_fd);
	}
	return hello.r;
}

/* Start, or exit 77 when the kernel cannot track writes. */
static inline void tguest_start_or_skip(struct tguest *g, int memfd,
					uint64_t size, tguest_fn fn, void *arg)
{
	test_require_dirtylog();
	CHECK_EQ(tguest_start(g, memfd, size, fn, arg), 0);
}

static inline void tguest_cmd(struct tguest *g, enum tguest_op op,
			      uint64_t page, uint64_t n, uint64_t gen)
{
	struct tguest_cmd c = { .op = op, .page = page, .n = n, .gen = gen };
	int32_t r;

	CHECK(write(g->cmd_fd, &c, sizeof(c)) == sizeof(c));
	if (op == TG_EXIT)
		return;
	CHECK(read(g->ack_fd, &r, sizeof(r)) == sizeof(r));
	CHECK_EQ(r, 0);
}

/* For guests running tguest_serve: ask it to exit, reap it. */
static inline void tguest_stop(struct tguest *g)
{
	int st;

	tguest_cmd(g, TG_EXIT, 0, 0, 0);
	CHECK(waitpid(g->pid, &st, 0) == g->pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(g->cmd_fd);
	close(g->ack_fd);
}

/* The dirty log of g (the kernel was checked when g started). */
static inline void tguest_dirtylog(struct tguest *g, struct dirtylog *dl)
{
	CHECK_EQ(dirtylog_open(dl, g->pid), 0);
}

/* Two connected transports over a socketpair. */
static inline void tguest_xport_pair(struct xport **a, struct xport **b)
{
	int sv[2];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	*a = xport_tcp_new(sv[0]);
	*b = xport_tcp_new(sv[1]);
	CHECK(*a && *b);
}

#endif
