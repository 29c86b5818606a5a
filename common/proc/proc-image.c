// SPDX-License-Identifier: MIT
/*
 * Capturing a stopped program into a proc_image (proc-image.h). Its parts
 * come from the units that own them: the map from proc-maps, the pages
 * through proc-mem's page access, registers from proc-regs, the fd table
 * from proc-fds. What is new here is the count per connection of bytes
 * the program has not consumed, which needs both ends: the program's
 * socket (its unread bytes, which proc-fds measured) and the daemon's
 * (bytes sent but not yet acknowledged, SIOCOUTQ).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "proc-image.h"
#include "proc-mem.h"

#define PAGE 4096ULL
#define CHUNK_PAGES 256ULL

/* The mappings whose pages an image carries (proc-mem copies the same). */
bool proc_image_carries(const struct proc_vma *v)
{
	bool writable = v->prot & PROT_WRITE;
	bool ro_data = (v->prot & PROT_READ) && !(v->prot & PROT_EXEC);

	return !v->shared && v->kind != PROC_VMA_VDSO && (writable || ro_data);
}

static int add_run(struct proc_image *img, size_t *cap, pid_t pid, int mem,
		   uint64_t addr, size_t pages)
{
	struct proc_image_run *run;
	int r;

	if (img->n_runs == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;

		run = realloc(img->runs, ncap * sizeof(*run));
		if (!run)
			return -ENOMEM;
		img->runs = run;
		*cap = ncap;
	}
	run = &img->runs[img->n_runs];
	run->addr = addr;
	run->pages = pages;
	run->data = malloc(pages * PAGE);
	if (!run->data)
		return -ENOMEM;
	img->n_runs++;
	r = proc_mem_read(pid, mem, addr, run->data, pages * PAGE);
	if (r < 0)
		log_error("proc-image: reading %#llx+%zu pages of %d: %s",
			  (unsigned long long)addr, pages, (int)pid,
			  strerror(-r));
	return r;
}

/* Every present page of the carried mappings, as runs. */
static int capture_pages(pid_t pid, struct proc_image *img)
{
	int mem = proc_mem_open(pid, "mem", O_RDONLY);
	int pagemap = proc_mem_open(pid, "pagemap", O_RDONLY);
	uint64_t pm[CHUNK_PAGES];
	size_t cap = 0;
	int r = mem < 0 || pagemap < 0 ? -EIO : 0;

	for (size_t i = 0; i < img->maps.n && r == 0; i++) {
		const struct proc_vma *v = &img->maps.vma[i];

		if (!proc_image_carries(v))
			continue;
		for (uint64_t a = v->start; a < v->end && r == 0;
		     a += CHUNK_PAGES * PAGE) {
			size_t n = (v->end - a) / PAGE;

			if (n > CHUNK_PAGES)
				n = CHUNK_PAGES;
			r = proc_mem_pagemap(pagemap, a, n, pm);
			for (size_t k = 0; k < n && r == 0;) {
				size_t run = 0;

				while (k + run < n &&
				       proc_mem_present(pm[k + run]))
					run++;
				if (run)
					r = add_run(img, &cap, pid, mem,
						    a + k * PAGE, run);
				k += run ? run : 1;
			}
		}
	}
	if (mem >= 0)
		close(mem);
	if (pagemap >= 0)
		close(pagemap);
	return r;
}

static int capture_threads(struct proc_stop *ps, struct proc_image *img)
{
	img->threads = calloc(ps->n, sizeof(*img->threads));
	if (!img->threads)
		return -ENOMEM;
	for (size_t i = 0; i < ps->n; i++) {
		struct proc_image_thread *t = &img->threads[img->n_threads];
		int r;

		t->ns_tid = ps->thread[i].ns_tid;
		t->regs = malloc(sizeof(*t->regs));
		if (!t->regs)
			return -ENOMEM;
		img->n_threads++;
		r = proc_regs_get(ps->thread[i].tid, t->regs);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The local port fd is bound to, or 0. */
uint16_t proc_image_local_port(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	if (getsockname(fd, (struct sockaddr *)&sin, &len) < 0 ||
	    sin.sin_family != AF_INET)
		return 0;
	return ntohs(sin.sin_port);
}

static int capture_conns(const int *daemon_fds, size_t n_daemon,
			 struct proc_image *img)
{
	img->conns = calloc(img->fds.n ? img->fds.n : 1, sizeof(*img->conns));
	if (!img->conns)
		return -ENOMEM;
	for (size_t i = 0; i < img->fds.n; i++) {
		const struct proc_fd *f = &img->fds.fds[i];
		struct proc_image_conn *c = &img->conns[img->n_conns];
		int outq = 0, daemon = -1;

		if (f->kind != PROC_FD_TCP_CONN)
			continue;
		for (size_t k = 0; k < n_daemon && daemon < 0; k++)
			if (proc_image_local_port(daemon_fds[k]) ==
			    f->remote.port)
				daemon = daemon_fds[k];
		if (daemon < 0) {
			log_error("proc-image: fd %d: a connection from port "
				  "%u, which no daemon end given holds", f->fd,
				  (unsigned)f->remote.port);
			return -ENOTCONN;
		}
		if (ioctl(daemon, SIOCOUTQ, &outq) < 0) {
			int err = -errno;

			log_error("proc-image: SIOCOUTQ on the daemon's end of "
				  "fd %d: %s", f->fd, strerror(-err));
			return err;
		}
		c->fd = f->fd;
		c->daemon_port = f->remote.port;
		c->unconsumed = (uint64_t)f->unread + (uint64_t)outq;
		img->n_conns++;
	}
	return 0;
}

int proc_image_capture(struct proc_stop *ps, int pidfd, const int *daemon_fds,
		       size_t n_daemon_fds, struct proc_image *out)
{
	int r;

	*out = (struct proc_image){ 0 };
	r = proc_maps_read(ps->pid, &out->maps);
	if (r == 0)
		r = capture_pages(ps->pid, out);
	if (r == 0)
		r = capture_threads(ps, out);
	if (r == 0)
		r = proc_fds_capture(ps->pid, pidfd, &out->fds);
	if (r == 0)
		r = capture_conns(daemon_fds, n_daemon_fds, out);
	if (r < 0) {
		log_error("proc-image: capturing %d: %s", (int)ps->pid,
			  strerror(-r));
		proc_image_free(out);
	}
	return r;
}

uint64_t proc_image_pages(const struct proc_image *img)
{
	uint64_t n = 0;

	for (size_t i = 0; i < img->n_runs; i++)
		n += img->runs[i].pages;
	return n;
}

void proc_image_free(struct proc_image *img)
{
	if (!img)
		return;
	proc_maps_free(&img->maps);
	for (size_t i = 0; i < img->n_runs; i++)
		free(img->runs[i].data);
	free(img->runs);
	for (size_t i = 0; i < img->n_threads; i++)
		free(img->threads[i].regs);
	free(img->threads);
	proc_fds_free(&img->fds);
	for (size_t i = 0; i < img->n_conns; i++)
		free(img->conns[i].input);
	free(img->conns);
	*img = (struct proc_image){ 0 };
}
