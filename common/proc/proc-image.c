// SPDX-License-Identifier: MIT
/*
 * Capturing a stopped program into a proc_image (proc-image.h). Its parts
 * come from the units that own them: the map from proc-maps, the own
 * pages (proc_mem_own_pages) read through proc-mem's page access,
 * registers from proc-regs, the fd table from proc-fds. What is new here is the count per connection of bytes
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
#include "proc-idle.h"
#include "proc-image-int.h"
#include "proc-mem.h"
#include "proc-ranges.h"

#define PAGE 4096ULL

/* The mappings whose pages an image carries (proc-mem copies the same). */
bool proc_image_carries(const struct proc_vma *v)
{
	return proc_vma_is_tracked_kind(v);
}

/* A run is read this much at a time, the daemon's heartbeat between. */
#define READ_STEP_PAGES 4096

/* img->runs: one per range, read while the program is stopped. */
int proc_image_read_ranges(pid_t pid, const struct proc_image_range *ranges,
			   size_t n, struct proc_image *img)
{
	int mem = proc_mem_open(pid, "mem", O_RDONLY), r = 0;

	if (mem < 0)
		return mem;
	img->runs = calloc(n ? n : 1, sizeof(*img->runs));
	if (!img->runs)
		r = -ENOMEM;
	for (size_t i = 0; i < n && r == 0; i++) {
		struct proc_image_run *run = &img->runs[i];

		run->addr = ranges[i].addr;
		run->pages = ranges[i].pages;
		run->data = malloc(run->pages * PAGE);
		if (!run->data) {
			r = -ENOMEM;
			break;
		}
		img->n_runs++;
		for (size_t at = 0; at < run->pages && r == 0;
		     at += READ_STEP_PAGES) {
			size_t n = run->pages - at < READ_STEP_PAGES ?
				   run->pages - at : READ_STEP_PAGES;

			r = proc_mem_read(pid, mem, run->addr + at * PAGE,
					  run->data + at * PAGE, n * PAGE);
			if (r == 0)
				r = proc_idle_tick();
		}
		if (r < 0)
			log_error("proc-image: reading %#llx+%zu pages of %d: "
				  "%s", (unsigned long long)run->addr,
				  run->pages, (int)pid, strerror(-r));
	}
	close(mem);
	return r;
}

int proc_image_read_present(const struct proc_image *img, pid_t pid,
			    struct proc_image *out)
{
	memset(out, 0, sizeof(*out));
	return proc_image_read_ranges(pid, img->present, img->n_present, out);
}

/* The own pages (proc-image.h) of every carried mapping, as runs. */
static int capture_pages(pid_t pid, struct proc_image *img)
{
	int pagemap = proc_mem_open(pid, "pagemap", O_RDONLY);
	struct proc_ranges own = { 0 };
	int r = pagemap < 0 ? pagemap : 0;

	for (size_t i = 0; i < img->maps.n && r == 0; i++) {
		const struct proc_vma *v = &img->maps.vma[i];

		if (proc_image_carries(v))
			r = proc_mem_own_pages(pagemap, v->start, v->end,
					       &own);
	}
	if (pagemap >= 0)
		close(pagemap);
	if (r == 0)
		r = proc_image_read_ranges(pid, own.r, own.n, img);
	proc_ranges_free(&own);
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

int proc_image_capture_rest(struct proc_stop *ps, int pidfd,
			    const int *daemon_fds, size_t n_daemon_fds,
			    struct proc_image *img)
{
	int r = capture_threads(ps, img);

	if (r == 0)
		r = proc_fds_capture(ps->pid, pidfd, &img->fds);
	if (r == 0)
		r = capture_conns(daemon_fds, n_daemon_fds, img);
	return r;
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
		r = proc_image_capture_rest(ps, pidfd, daemon_fds,
					    n_daemon_fds, out);
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
	free(img->present);
	*img = (struct proc_image){ 0 };
}
