/* SPDX-License-Identifier: MIT */
/*
 * A hand-made proc_image with a little of everything (file, heap and
 * stack VMAs, page runs, threads with and without xstate, every kind of
 * fd field, connections with and without input; and as a delta, with a
 * present list), for test-proc-image-wire
 * and the seeds of fuzz-proc-image-wire (tests/fuzz/gen-seeds.c). No
 * process is involved: the values only need to be distinct, so that a
 * field swapped or dropped on the wire shows.
 */
#ifndef COLO_TEST_IMAGE_SAMPLE_H
#define COLO_TEST_IMAGE_SAMPLE_H

#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "proc-image.h"

static inline void *sample_calloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (!p)
		abort();
	return p;
}

static inline char *sample_str(const char *s)
{
	char *d = strdup(s);

	if (!d)
		abort();
	return d;
}

static inline void sample_maps(struct proc_maps *m)
{
	static const struct proc_vma vmas[] = {
		{ 0x400000, 0x402000, 0, PROT_READ | PROT_EXEC, false,
		  PROC_VMA_FILE, NULL },
		{ 0x602000, 0x604000, 0x2000, PROT_READ | PROT_WRITE, false,
		  PROC_VMA_FILE, NULL },
		{ 0x1000000, 0x1008000, 0, PROT_READ | PROT_WRITE, false,
		  PROC_VMA_HEAP, NULL },
		{ 0x7ffff7ff0000, 0x7ffff7ff4000, 0, PROT_READ, true,
		  PROC_VMA_OTHER, NULL },
		{ 0x7ffffffde000, 0x7ffffffff000, 0, PROT_READ | PROT_WRITE,
		  false, PROC_VMA_STACK, NULL },
	};
	static const char *const paths[] = { "/usr/bin/sample",
		"/usr/bin/sample", "[heap]", "[anon:shared thing]", "[stack]" };

	m->n = sizeof(vmas) / sizeof(vmas[0]);
	m->vma = sample_calloc(m->n, sizeof(*m->vma));
	for (size_t i = 0; i < m->n; i++) {
		m->vma[i] = vmas[i];
		m->vma[i].path = sample_str(paths[i]);
	}
}

static inline void sample_runs(struct proc_image *img)
{
	static const struct { uint64_t addr; size_t pages; } runs[] = {
		{ 0x602000, 1 }, { 0x1000000, 2 }, { 0x1003000, 1 },
		{ 0x7fffffffe000, 1 },
	};

	img->n_runs = sizeof(runs) / sizeof(runs[0]);
	img->runs = sample_calloc(img->n_runs, sizeof(*img->runs));
	for (size_t i = 0; i < img->n_runs; i++) {
		struct proc_image_run *run = &img->runs[i];

		run->addr = runs[i].addr;
		run->pages = runs[i].pages;
		run->data = sample_calloc(run->pages, 4096);
		for (size_t k = 0; k < run->pages * 4096; k++)
			run->data[k] = (uint8_t)(k * 7 + i);
	}
}

static inline void sample_threads(struct proc_image *img)
{
	static const size_t xstate_len[] = { 832, 0, 64 };

	img->n_threads = 3;
	img->threads = sample_calloc(img->n_threads, sizeof(*img->threads));
	for (size_t i = 0; i < img->n_threads; i++) {
		struct proc_regs *r = sample_calloc(1, sizeof(*r));
		uint64_t *gp = (uint64_t *)&r->gp;

		for (size_t k = 0; k < sizeof(r->gp) / 8; k++)
			gp[k] = 0x1111111111111111ULL * (k + 1) + i;
		r->sigmask = 1ULL << (13 + i);
		r->xstate_len = xstate_len[i];
		for (size_t k = 0; k < r->xstate_len; k++)
			r->xstate[k] = (uint8_t)(k ^ i);
		img->threads[i].ns_tid = (pid_t)(1 + i * 10);
		img->threads[i].regs = r;
	}
}

static inline struct proc_tcp_end sample_end(uint16_t port)
{
	struct proc_tcp_end e = { .family = AF_INET, .port = port };

	e.addr[0] = 127;
	e.addr[3] = 1;
	return e;
}

static inline void sample_fds(struct proc_fd_table *t)
{
	struct proc_fd *f;

	t->n = 7;
	t->fds = f = sample_calloc(t->n, sizeof(*t->fds));
	f[0] = (struct proc_fd){ .fd = 0, .kind = PROC_FD_NULL_DEV,
		.flags = O_RDONLY, .target = sample_str("/dev/null"),
		.ino = 5 };
	f[1] = (struct proc_fd){ .fd = 2, .kind = PROC_FD_PIPE,
		.flags = O_WRONLY, .target = NULL, .ino = 77, .unread = 12 };
	f[2] = (struct proc_fd){ .fd = 3, .kind = PROC_FD_EPOLL,
		.flags = O_RDWR, .cloexec = true,
		.target = sample_str("anon_inode:[eventpoll]"), .ino = 9,
		.n_items = 2 };
	f[2].items = sample_calloc(2, sizeof(*f[2].items));
	f[2].items[0] = (struct proc_epoll_item){ 5, EPOLLIN, 5 };
	f[2].items[1] = (struct proc_epoll_item){ 8, EPOLLIN | EPOLLOUT,
		0xdeadbeef00000008ULL };
	f[3] = (struct proc_fd){ .fd = 5, .kind = PROC_FD_TCP_LISTEN,
		.flags = O_RDWR | O_NONBLOCK,
		.target = sample_str("socket:[1000]"), .ino = 1000,
		.tcp_state = 10, .local = sample_end(6379), .pending = 1 };
	f[4] = (struct proc_fd){ .fd = 6, .kind = PROC_FD_SIGNALFD,
		.flags = O_RDWR, .target = sample_str("anon_inode:[signalfd]"),
		.sigmask = 1ULL << 14, .pos = 3 };
	f[5] = (struct proc_fd){ .fd = 8, .kind = PROC_FD_TCP_CONN,
		.flags = O_RDWR | O_NONBLOCK, .cloexec = true,
		.target = sample_str("socket:[1001]"), .ino = 1001,
		.tcp_state = 1, .local = sample_end(6379),
		.remote = sample_end(40001), .unread = 3, .unsent = 2 };
	f[5].remote.family = AF_INET6;
	memset(f[5].remote.addr, 0xab, sizeof(f[5].remote.addr));
	f[6] = (struct proc_fd){ .fd = 9, .kind = PROC_FD_TCP_CONN,
		.flags = O_RDWR | O_NONBLOCK, .target = sample_str(
		"socket:[1002]"), .ino = 1002, .tcp_state = 1,
		.local = sample_end(6379), .remote = sample_end(40002),
		.count = 42 };
}

/* The image, with its page runs or without (a seed under 4 KiB). */
static inline void image_sample(struct proc_image *img, bool with_pages)
{
	static const char input[] = "*1\r\n$4\r\nPING\r\n";

	*img = (struct proc_image){ 0 };
	sample_maps(&img->maps);
	if (with_pages)
		sample_runs(img);
	sample_threads(img);
	sample_fds(&img->fds);
	img->n_conns = 2;
	img->conns = sample_calloc(2, sizeof(*img->conns));
	img->conns[0] = (struct proc_image_conn){ .fd = 8,
		.daemon_port = 40001, .unconsumed = 5,
		.input_len = sizeof(input) - 1 };
	img->conns[0].input = sample_calloc(1, sizeof(input));
	memcpy(img->conns[0].input, input, sizeof(input) - 1);
	img->conns[1] = (struct proc_image_conn){ .fd = 9,
		.daemon_port = 40002, .unconsumed = 0 };
}

/*
 * The image with its runs as a delta: the present list covers every run
 * and pages around them (held by the other side), in carried VMAs only,
 * one range ending a VMA and one starting the next-but-one.
 */
static inline void image_sample_delta(struct proc_image *img)
{
	static const struct proc_image_range present[] = {
		{ 0x602000, 2 }, { 0x1000000, 5 }, { 0x7fffffffd000, 2 },
	};

	image_sample(img, true);
	img->delta = true;
	img->n_present = sizeof(present) / sizeof(present[0]);
	img->present = sample_calloc(img->n_present, sizeof(*img->present));
	memcpy(img->present, present, sizeof(present));
}

#endif
