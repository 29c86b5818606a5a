// SPDX-License-Identifier: MIT
/*
 * /proc/PID/maps, one VMA per line:
 *
 *   55d0c5a00000-55d0c5a21000 rw-p 00000000 00:00 0          [heap]
 *   start-end                 perms offset dev   inode      name
 *
 * The name is everything after the inode's padding, spaces included (a
 * file name may hold them), and may be empty.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "proc-maps.h"

/* Reads a hex number up to stop; NULL if there is none or it overflows. */
static const char *parse_hex(const char *p, const char *end, char stop,
			     uint64_t *out)
{
	uint64_t v = 0;
	const char *first = p;

	for (; p < end && *p != stop; p++) {
		int d;

		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else
			return NULL;
		if (v >> 60)
			return NULL;
		v = v << 4 | (uint64_t)d;
	}
	if (p == first || p == end)
		return NULL;
	*out = v;
	return p + 1;
}

/* Skips one space-terminated field. */
static const char *skip_field(const char *p, const char *end)
{
	const char *first = p;

	while (p < end && *p != ' ')
		p++;
	return p == first || p == end ? NULL : p + 1;
}

static const char *parse_perms(const char *p, const char *end,
			       struct proc_vma *v)
{
	if (end - p < 5 || p[4] != ' ')
		return NULL;
	if ((p[0] != 'r' && p[0] != '-') || (p[1] != 'w' && p[1] != '-') ||
	    (p[2] != 'x' && p[2] != '-') || (p[3] != 'p' && p[3] != 's'))
		return NULL;
	v->prot = (p[0] == 'r' ? PROT_READ : 0) |
		  (p[1] == 'w' ? PROT_WRITE : 0) |
		  (p[2] == 'x' ? PROT_EXEC : 0);
	v->shared = p[3] == 's';
	return p + 5;
}

static enum proc_vma_kind kind_of(const char *name)
{
	if (!*name)
		return PROC_VMA_ANON;
	if (*name != '[')
		return PROC_VMA_FILE;
	if (!strcmp(name, "[heap]"))
		return PROC_VMA_HEAP;
	if (!strcmp(name, "[stack]"))
		return PROC_VMA_STACK;
	if (!strcmp(name, "[vdso]") || !strcmp(name, "[vvar]") ||
	    !strcmp(name, "[vvar_vclock]") || !strcmp(name, "[vsyscall]"))
		return PROC_VMA_VDSO;
	return PROC_VMA_OTHER;
}

static int parse_line(const char *p, const char *end, struct proc_vma *v)
{
	const char *name;
	size_t n;

	memset(v, 0, sizeof(*v));
	if (!(p = parse_hex(p, end, '-', &v->start)) ||
	    !(p = parse_hex(p, end, ' ', &v->end)) ||
	    !(p = parse_perms(p, end, v)) ||
	    !(p = parse_hex(p, end, ' ', &v->offset)) ||
	    !(p = skip_field(p, end)))          /* major:minor */
		return -EINVAL;
	/* The inode, decimal, ends the line when there is no name. */
	if (p == end || *p == ' ')
		return -EINVAL;
	while (p < end && *p != ' ')
		if (*p < '0' || *p++ > '9')
			return -EINVAL;
	if (v->start >= v->end)
		return -EINVAL;
	while (p < end && *p == ' ')
		p++;
	name = p;
	n = (size_t)(end - name);
	v->path = malloc(n + 1);
	if (!v->path)
		return -ENOMEM;
	memcpy(v->path, name, n);
	v->path[n] = '\0';
	v->kind = kind_of(v->path);
	return 0;
}

int proc_maps_parse(const char *text, size_t len, struct proc_maps *out)
{
	const char *p = text, *end = text + len;
	size_t cap = 0;
	int err;

	out->vma = NULL;
	out->n = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;

		if (out->n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct proc_vma *nv;

			nv = realloc(out->vma, ncap * sizeof(*nv));
			if (!nv) {
				err = -ENOMEM;
				goto fail;
			}
			out->vma = nv;
			cap = ncap;
		}
		err = parse_line(p, eol, &out->vma[out->n]);
		if (err)
			goto fail;
		out->n++;
		p = nl ? nl + 1 : end;
	}
	return 0;
fail:
	proc_maps_free(out);
	return err;
}

/* The whole file: it is generated while read, so its size is unknown. */
static int read_all(const char *path, char **text, size_t *len)
{
	size_t cap = 64 * 1024, n = 0;
	char *buf = malloc(cap), *nb;
	ssize_t r;
	int fd, err;

	if (!buf)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto fail;
	}
	for (;;) {
		if (n == cap) {
			nb = realloc(buf, cap * 2);
			if (!nb) {
				err = -ENOMEM;
				goto fail_close;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			goto fail_close;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	*text = buf;
	*len = n;
	return 0;
fail_close:
	close(fd);
fail:
	free(buf);
	return err;
}

int proc_maps_read(pid_t pid, struct proc_maps *out)
{
	char path[64], *text = NULL;
	size_t len = 0;
	int err;

	out->vma = NULL;
	out->n = 0;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	err = read_all(path, &text, &len);
	if (err) {
		log_error("read %s: %s", path, strerror(-err));
		return err;
	}
	err = proc_maps_parse(text, len, out);
	if (err)
		log_error("parse %s: %s", path, strerror(-err));
	free(text);
	return err;
}

void proc_maps_free(struct proc_maps *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->vma[i].path);
	free(m->vma);
	m->vma = NULL;
	m->n = 0;
}

bool proc_vma_is_tracked_kind(const struct proc_vma *v)
{
	bool writable = v->prot & PROT_WRITE;
	bool ro_data = (v->prot & PROT_READ) && !(v->prot & PROT_EXEC);

	return !v->shared && v->kind != PROC_VMA_VDSO && (writable || ro_data);
}

ssize_t proc_maps_find(const struct proc_maps *m, uint64_t addr)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr < m->vma[mid].start)
			hi = mid;
		else if (addr >= m->vma[mid].end)
			lo = mid + 1;
		else
			return (ssize_t)mid;
	}
	return -1;
}
