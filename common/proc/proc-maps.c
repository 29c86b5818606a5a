// SPDX-License-Identifier: MIT
/*
 * /proc/PID/maps, one VMA per line:
 *
 *   7f3a1c000000-7f3a1c021000 rw-p 00000000 00:00 0    [heap]
 *   range                     perms offset dev inode   name
 *
 * The name starts after the padding that follows the inode and runs to the
 * end of the line, spaces included; it may be empty.
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

/* A cursor over one line: [p, end). */
struct cursor {
	const char *p, *end;
};

static bool take_hex(struct cursor *c, char stop, uint64_t *out)
{
	uint64_t v = 0;
	const char *first = c->p;

	while (c->p < c->end && *c->p != stop) {
		char ch = *c->p++;
		unsigned digit;

		if (ch >= '0' && ch <= '9')
			digit = (unsigned)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			digit = (unsigned)(ch - 'a' + 10);
		else
			return false;
		if (v >> 60)
			return false;
		v = v << 4 | digit;
	}
	if (c->p == first || c->p == c->end)
		return false;
	c->p++;                 /* the stop character */
	*out = v;
	return true;
}

/* Skips a field that ends with a space (device, inode). */
static bool skip_word(struct cursor *c)
{
	const char *first = c->p;

	while (c->p < c->end && *c->p != ' ')
		c->p++;
	if (c->p == first || c->p == c->end)
		return false;
	c->p++;
	return true;
}

static bool take_perms(struct cursor *c, struct proc_vma *v)
{
	const char *s = c->p;

	if (c->end - s < 5 || s[4] != ' ')
		return false;
	if (!strchr("r-", s[0]) || !strchr("w-", s[1]) ||
	    !strchr("x-", s[2]) || !strchr("ps", s[3]))
		return false;
	v->prot = (s[0] == 'r' ? PROT_READ : 0) |
		  (s[1] == 'w' ? PROT_WRITE : 0) |
		  (s[2] == 'x' ? PROT_EXEC : 0);
	v->shared = s[3] == 's';
	c->p += 5;
	return true;
}

static enum proc_vma_kind kind_of(const char *name)
{
	if (name[0] == '\0')
		return PROC_VMA_ANON;
	if (name[0] != '[')
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

static int parse_line(const char *line, const char *end, struct proc_vma *v)
{
	struct cursor c = { line, end };
	const char *inode;

	if (!take_hex(&c, '-', &v->start) || !take_hex(&c, ' ', &v->end) ||
	    v->end <= v->start || !take_perms(&c, v) ||
	    !take_hex(&c, ' ', &v->offset) || !skip_word(&c))
		return -EINVAL;
	/* The inode, in decimal; an anonymous line may end right after it. */
	inode = c.p;
	while (c.p < c.end && *c.p >= '0' && *c.p <= '9')
		c.p++;
	if (c.p == inode || (c.p < c.end && *c.p != ' '))
		return -EINVAL;
	while (c.p < c.end && *c.p == ' ')
		c.p++;
	v->path = strndup(c.p, (size_t)(c.end - c.p));
	if (!v->path)
		return -ENOMEM;
	v->kind = kind_of(v->path);
	return 0;
}

int proc_maps_parse(const char *text, size_t len, struct proc_maps *out)
{
	const char *p = text, *end = text + len;
	size_t cap = 0;

	out->vma = NULL;
	out->n = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		int r;

		if (out->n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct proc_vma *grown = realloc(out->vma,
							 ncap * sizeof(*grown));

			if (!grown) {
				proc_maps_free(out);
				return -ENOMEM;
			}
			out->vma = grown;
			cap = ncap;
		}
		r = parse_line(p, eol, &out->vma[out->n]);
		if (r < 0) {
			proc_maps_free(out);
			return r;
		}
		out->n++;
		p = eol + 1;
	}
	return 0;
}

int proc_maps_read(pid_t pid, struct proc_maps *out)
{
	char path[64], *text = NULL;
	size_t len = 0, cap = 0;
	int fd, r;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		log_error("open %s: %s", path, strerror(-r));
		return r;
	}
	for (;;) {
		ssize_t n;

		if (cap - len < 4096) {
			char *grown = realloc(text, cap + 65536);

			if (!grown) {
				r = -ENOMEM;
				goto out;
			}
			text = grown;
			cap += 65536;
		}
		n = read(fd, text + len, cap - len);
		if (n < 0) {
			r = -errno;
			log_error("read %s: %s", path, strerror(-r));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	r = proc_maps_parse(text, len, out);
	if (r == -EINVAL)
		log_error("%s: a line that is not a maps line", path);
out:
	free(text);
	close(fd);
	return r;
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
	return !v->shared && (v->prot & PROT_WRITE) &&
	       v->kind != PROC_VMA_VDSO;
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
