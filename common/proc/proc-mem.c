// SPDX-License-Identifier: MIT
/*
 * The twin's map is compared with the source's page range by page range,
 * not line by line: the same memory may be one VMA on one side and two on
 * the other (a neighbour merged or not), which is no difference at all.
 * Two ranges are "alike" when both are anonymous private memory (the
 * [stack] and named [anon:...] memory included: only the contents differ,
 * and those are copied), both the [heap], or both the same file at the
 * same offset, shared or private alike.
 *
 * The [heap] is moved with brk rather than mmap/munmap: the kernel keeps
 * the program break beside the map, and malloc's next brk call must find
 * it where the source's memory says it is.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "proc-maps.h"
#include "proc-mem.h"

#define PAGE 4096ULL
#define CHUNK_PAGES 256ULL              /* pages moved per read/write */
#define PM_PRESENT (1ULL << 63)
#define PM_SWAPPED (1ULL << 62)

static bool is_anonymous(const struct proc_vma *v)
{
	return v->kind == PROC_VMA_ANON || v->kind == PROC_VMA_STACK ||
	       (v->kind == PROC_VMA_OTHER && !strncmp(v->path, "[anon", 5));
}

static bool alike(const struct proc_vma *a, const struct proc_vma *b,
		  uint64_t addr)
{
	if (a->shared != b->shared)
		return false;
	if (is_anonymous(a) && is_anonymous(b))
		return !a->shared;
	if (a->kind != b->kind)
		return false;
	if (a->kind == PROC_VMA_FILE)
		return !strcmp(a->path, b->path) &&
		       a->offset + (addr - a->start) ==
		       b->offset + (addr - b->start);
	return !strcmp(a->path, b->path);
}

/* The start of the first VMA above addr, or UINT64_MAX. */
static uint64_t next_start(const struct proc_maps *m, uint64_t addr)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->vma[i].start > addr)
			return m->vma[i].start;
	return UINT64_MAX;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* A range of want's memory that have lacks (or holds differently). */
typedef int (*gap_fn)(void *ctx, const struct proc_vma *want, uint64_t start,
		      uint64_t end);

/*
 * Calls fn on each maximal part of want where have holds nothing alike
 * (or, with same_prot, nothing alike with the same protection).
 */
static int for_each_gap(const struct proc_maps *have,
			const struct proc_vma *want, bool same_prot,
			gap_fn fn, void *ctx)
{
	uint64_t p = want->start, gap = 0;
	bool in_gap = false;

	while (p < want->end) {
		ssize_t i = proc_maps_find(have, p);
		bool ok = i >= 0 && alike(want, &have->vma[i], p) &&
			  (!same_prot || have->vma[i].prot == want->prot);
		uint64_t next = i >= 0 ? have->vma[i].end : next_start(have, p);

		if (!ok && !in_gap) {
			gap = p;
			in_gap = true;
		} else if (ok && in_gap) {
			int r = fn(ctx, want, gap, p);

			if (r < 0)
				return r;
			in_gap = false;
		}
		p = min_u64(next, want->end);
	}
	return in_gap ? fn(ctx, want, gap, want->end) : 0;
}

static const struct proc_vma *last_heap(const struct proc_maps *m)
{
	const struct proc_vma *heap = NULL;

	for (size_t i = 0; i < m->n; i++)
		if (m->vma[i].kind == PROC_VMA_HEAP)
			heap = &m->vma[i];
	return heap;
}

struct reconcile {
	pid_t dst;
	struct proc_inject *in;
	const struct proc_maps *src_maps;       /* the map to reach */
	struct proc_maps dst_maps;
	unsigned mapped, unmapped, protected, breaks;
};

static int check(const char *what, uint64_t start, uint64_t end, int64_t r)
{
	if (r >= 0)
		return 0;
	log_error("proc-mem: %s %#llx-%#llx in the twin: %s", what,
		  (unsigned long long)start, (unsigned long long)end,
		  strerror((int)-r));
	return (int)r;
}

static int move_break(struct reconcile *rc)
{
	const struct proc_vma *want = last_heap(rc->src_maps);
	const struct proc_vma *have = last_heap(&rc->dst_maps);
	uint64_t target;
	int64_t r;

	if (!have && !want)
		return 0;
	if (have && want && have->end == want->end)
		return 0;
	/* With no [heap] in the source, shrink the twin's to nothing. */
	target = want ? want->end : have->start;
	r = proc_inject_brk(rc->in, target);
	if (r >= 0 && (uint64_t)r != target)
		r = -ENOMEM;    /* brk answers the old break when it refuses */
	rc->breaks++;
	return check("brk", target, target, r);
}

static int unmap_gap(void *ctx, const struct proc_vma *v, uint64_t start,
		     uint64_t end)
{
	struct reconcile *rc = ctx;

	(void)v;
	rc->unmapped++;
	return check("munmap", start, end,
		     proc_inject_munmap(rc->in, start, end - start));
}

static int map_gap(void *ctx, const struct proc_vma *v, uint64_t start,
		   uint64_t end)
{
	struct reconcile *rc = ctx;
	int64_t r;

	if (!is_anonymous(v) || v->shared) {
		log_error("proc-mem: %#llx-%#llx (%s%s) is in the source only: "
			  "not anonymous private memory, cannot be made in %d",
			  (unsigned long long)start, (unsigned long long)end,
			  v->shared ? "shared " : "", v->path, (int)rc->dst);
		return -ENOTSUP;
	}
	rc->mapped++;
	r = proc_inject_mmap(rc->in, start, end - start, v->prot,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (r >= 0 && (uint64_t)r != start)
		r = -EFAULT;
	return check("mmap", start, end, r);
}

static int protect_gap(void *ctx, const struct proc_vma *v, uint64_t start,
		       uint64_t end)
{
	struct reconcile *rc = ctx;

	rc->protected++;
	return check("mprotect", start, end,
		     proc_inject_mprotect(rc->in, start, end - start,
					  v->prot));
}

static int differs(void *ctx, const struct proc_vma *v, uint64_t start,
		   uint64_t end)
{
	struct reconcile *rc = ctx;

	log_error("proc-mem: %#llx-%#llx (%s) of the source still differs "
		  "in %d", (unsigned long long)start, (unsigned long long)end,
		  v->path, (int)rc->dst);
	return -EPROTO;
}

static int reread_dst(struct reconcile *rc)
{
	proc_maps_free(&rc->dst_maps);
	return proc_maps_read(rc->dst, &rc->dst_maps);
}

/*
 * One pass over the VMAs of from, each compared with the map of to. The
 * [heap] is left out of the passes that map and unmap: brk moved it.
 */
static int pass(const struct proc_maps *from, const struct proc_maps *to,
		bool same_prot, gap_fn fn, struct reconcile *rc)
{
	for (size_t i = 0; i < from->n; i++) {
		const struct proc_vma *v = &from->vma[i];
		int r;

		if (v->kind == PROC_VMA_VDSO ||
		    (v->kind == PROC_VMA_HEAP && !same_prot))
			continue;
		r = for_each_gap(to, v, same_prot, fn, rc);
		if (r < 0)
			return r;
	}
	return 0;
}

int proc_mem_reconcile(pid_t src, pid_t dst, struct proc_inject *in)
{
	struct proc_maps want = { 0 };
	int r = proc_maps_read(src, &want);

	if (r == 0)
		r = proc_mem_reconcile_to(&want, dst, in);
	proc_maps_free(&want);
	return r;
}

int proc_mem_reconcile_to(const struct proc_maps *want, pid_t dst,
			  struct proc_inject *in)
{
	struct reconcile rc = { .dst = dst, .in = in, .src_maps = want };
	int r;

	r = proc_maps_read(dst, &rc.dst_maps);
	if (r == 0)
		r = move_break(&rc);
	if (r == 0)
		r = reread_dst(&rc);
	/* What the twin has and the source lacks goes first, so that the
	 * source's memory can then be mapped into the room it leaves. */
	if (r == 0)
		r = pass(&rc.dst_maps, rc.src_maps, false, unmap_gap, &rc);
	if (r == 0)
		r = reread_dst(&rc);
	if (r == 0)
		r = pass(rc.src_maps, &rc.dst_maps, false, map_gap, &rc);
	if (r == 0)
		r = reread_dst(&rc);
	if (r == 0)
		r = pass(rc.src_maps, &rc.dst_maps, true, protect_gap, &rc);
	if (r == 0)
		r = reread_dst(&rc);
	if (r == 0)
		r = pass(rc.src_maps, &rc.dst_maps, true, differs, &rc);
	if (r == 0)
		log_debug("proc-mem: %d made like its source: %u brk, "
			  "%u munmap, %u mmap, %u mprotect", (int)dst,
			  rc.breaks, rc.unmapped, rc.mapped, rc.protected);
	proc_maps_free(&rc.dst_maps);
	return r;
}

/* ---- pages ---- */

struct copier {
	pid_t src, dst;
	int src_mem, dst_mem, src_pagemap, dst_pagemap;
	uint8_t *buf, *other;           /* CHUNK_PAGES pages each */
	uint64_t pm_src[CHUNK_PAGES], pm_dst[CHUNK_PAGES];
	struct proc_mem_stats *stats;
};

int proc_mem_open(pid_t pid, const char *file, int flags)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	fd = open(path, flags | O_CLOEXEC);
	if (fd < 0) {
		fd = -errno;
		log_error("open %s: %s", path, strerror(-fd));
	}
	return fd;
}

int proc_mem_pagemap(int fd, uint64_t addr, size_t n, uint64_t *out)
{
	size_t len = n * sizeof(*out);
	ssize_t got = pread(fd, out, len, (off_t)(addr / PAGE * 8));

	if (got < 0)
		return -errno;
	if ((size_t)got < len)
		memset((uint8_t *)out + got, 0, len - (size_t)got);
	return 0;
}

/* Reads len bytes at addr of pid: process_vm_readv, else its mem file. */
int proc_mem_read(pid_t pid, int mem, uint64_t addr, void *buf,
		       size_t len)
{
	struct iovec local = { buf, len };
	struct iovec remote = { (void *)(uintptr_t)addr, len };
	ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0), rest;

	if (n == (ssize_t)len)
		return 0;
	if (n < 0)
		n = 0;
	/* A page it cannot read as the program (PROT_NONE, -w-): the mem
	 * file reads as a debugger does. */
	rest = pread(mem, (uint8_t *)buf + n, len - (size_t)n,
		      (off_t)(addr + (uint64_t)n));
	if (rest < 0)
		return -errno;
	return n + rest == (ssize_t)len ? 0 : -EIO;
}

int proc_mem_write(pid_t pid, int mem, uint64_t addr, const void *buf,
			size_t len)
{
	struct iovec local = { (void *)buf, len };
	struct iovec remote = { (void *)(uintptr_t)addr, len };
	ssize_t n = process_vm_writev(pid, &local, 1, &remote, 1, 0), rest;

	if (n == (ssize_t)len)
		return 0;
	if (n < 0)
		n = 0;
	/* Pages the twin protects read-only: the mem file writes as a
	 * debugger does (a private copy of the page for the twin). */
	rest = pwrite(mem, (const uint8_t *)buf + n, len - (size_t)n,
		       (off_t)(addr + (uint64_t)n));
	if (rest < 0)
		return -errno;
	return n + rest == (ssize_t)len ? 0 : -EIO;
}

bool proc_mem_present(uint64_t pm)
{
	return pm & (PM_PRESENT | PM_SWAPPED);
}

/* Copies the pages of [addr, addr + n pages) present on either side. */
static int copy_written(struct copier *c, uint64_t addr, size_t n)
{
	int r = proc_mem_pagemap(c->src_pagemap, addr, n, c->pm_src);

	if (r == 0)
		r = proc_mem_pagemap(c->dst_pagemap, addr, n, c->pm_dst);
	for (size_t i = 0; i < n && r == 0;) {
		size_t run = 0;

		while (i + run < n &&
		       (proc_mem_present(c->pm_src[i + run]) ||
			proc_mem_present(c->pm_dst[i + run])))
			run++;
		if (run == 0) {
			i++;
			continue;
		}
		r = proc_mem_read(c->src, c->src_mem, addr + i * PAGE, c->buf,
				run * PAGE);
		if (r == 0)
			r = proc_mem_write(c->dst, c->dst_mem, addr + i * PAGE,
					 c->buf, run * PAGE);
		if (r < 0)
			log_error("proc-mem: copying %#llx+%zu pages: %s",
				  (unsigned long long)(addr + i * PAGE), run,
				  strerror(-r));
		c->stats->pages += run;
		i += run;
	}
	return r;
}

/* Copies the pages of [addr, addr + n pages) whose contents differ. */
static int copy_differing(struct copier *c, uint64_t addr, size_t n)
{
	int r = proc_mem_read(c->src, c->src_mem, addr, c->buf, n * PAGE);

	if (r == 0)
		r = proc_mem_read(c->dst, c->dst_mem, addr, c->other, n * PAGE);
	for (size_t i = 0; i < n && r == 0; i++) {
		const uint8_t *want = c->buf + i * PAGE;

		c->stats->ro_compared++;
		if (!memcmp(want, c->other + i * PAGE, PAGE))
			continue;
		r = proc_mem_write(c->dst, c->dst_mem, addr + i * PAGE, want,
				 PAGE);
		c->stats->ro_copied++;
	}
	return r;
}

static int copy_vma(struct copier *c, const struct proc_vma *v)
{
	bool writable = v->prot & PROT_WRITE;
	bool ro_data = (v->prot & PROT_READ) && !(v->prot & PROT_EXEC);

	if (v->shared || v->kind == PROC_VMA_VDSO || (!writable && !ro_data))
		return 0;
	for (uint64_t a = v->start; a < v->end; a += CHUNK_PAGES * PAGE) {
		size_t n = (size_t)min_u64(CHUNK_PAGES, (v->end - a) / PAGE);
		int r = writable ? copy_written(c, a, n) :
				   copy_differing(c, a, n);

		if (r < 0)
			return r;
	}
	return 0;
}

int proc_mem_copy(pid_t src, pid_t dst, struct proc_mem_stats *stats)
{
	struct copier c = { .src = src, .dst = dst, .stats = stats };
	struct proc_maps m = { 0 };
	int r;

	*stats = (struct proc_mem_stats){ 0 };
	c.src_mem = proc_mem_open(src, "mem", O_RDONLY);
	c.dst_mem = proc_mem_open(dst, "mem", O_RDWR);
	c.src_pagemap = proc_mem_open(src, "pagemap", O_RDONLY);
	c.dst_pagemap = proc_mem_open(dst, "pagemap", O_RDONLY);
	c.buf = malloc(CHUNK_PAGES * PAGE);
	c.other = malloc(CHUNK_PAGES * PAGE);
	if (c.src_mem < 0 || c.dst_mem < 0 || c.src_pagemap < 0 ||
	    c.dst_pagemap < 0)
		r = -EIO;
	else if (!c.buf || !c.other)
		r = -ENOMEM;
	else
		r = proc_maps_read(src, &m);
	for (size_t i = 0; i < m.n && r == 0; i++)
		r = copy_vma(&c, &m.vma[i]);
	proc_maps_free(&m);
	free(c.buf);
	free(c.other);
	if (c.src_mem >= 0)
		close(c.src_mem);
	if (c.dst_mem >= 0)
		close(c.dst_mem);
	if (c.src_pagemap >= 0)
		close(c.src_pagemap);
	if (c.dst_pagemap >= 0)
		close(c.dst_pagemap);
	return r;
}
