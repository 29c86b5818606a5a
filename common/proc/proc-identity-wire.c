// SPDX-License-Identifier: MIT
/*
 * The identity's bytes in the hello (proc-identity.h):
 *
 *   u16 n, kernel[n]     n < PROC_IDENTITY_KERNEL_MAX, no NUL
 *   u16 n, machine[n]    n < PROC_IDENTITY_MACHINE_MAX, no NUL
 *   cpu[32]
 *   u32 nfiles           <= PROC_IDENTITY_MAX_FILES
 *   nfiles times: u16 n, path[n], sha256[32]
 *                        1 <= n <= PROC_IDENTITY_PATH_MAX, absolute, no NUL
 *
 * Big-endian, nothing after the last file. The decoder is pure and checks
 * every bound, so a peer's bytes can only be accepted or refused.
 */
#include "proc-identity.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t string_size(const char *s)
{
	return 2 + strlen(s);
}

static uint8_t *put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static uint8_t *put_string(uint8_t *p, const char *s)
{
	size_t n = strlen(s);

	p = put_u16(p, (uint16_t)n);
	memcpy(p, s, n);
	return p + n;
}

int proc_identity_encode(const struct proc_identity *id, uint8_t **out,
			 size_t *len)
{
	size_t size = string_size(id->kernel) + string_size(id->machine) +
		      sizeof(id->cpu) + 4;
	uint8_t *buf, *p;

	if (strlen(id->kernel) >= PROC_IDENTITY_KERNEL_MAX ||
	    strlen(id->machine) >= PROC_IDENTITY_MACHINE_MAX ||
	    id->nfiles > PROC_IDENTITY_MAX_FILES)
		return -E2BIG;
	for (size_t i = 0; i < id->nfiles; i++) {
		if (strlen(id->files[i].path) > PROC_IDENTITY_PATH_MAX)
			return -E2BIG;
		size += string_size(id->files[i].path) + 32;
	}
	buf = malloc(size);
	if (!buf)
		return -ENOMEM;
	p = put_string(buf, id->kernel);
	p = put_string(p, id->machine);
	memcpy(p, id->cpu, sizeof(id->cpu));
	p += sizeof(id->cpu);
	p = put_u16(p, (uint16_t)(id->nfiles >> 16));
	p = put_u16(p, (uint16_t)id->nfiles);
	for (size_t i = 0; i < id->nfiles; i++) {
		p = put_string(p, id->files[i].path);
		memcpy(p, id->files[i].sha256, 32);
		p += 32;
	}
	*out = buf;
	*len = size;
	return 0;
}

/* The bytes not yet decoded, and the first reason they were refused. */
struct reader {
	const uint8_t *p;
	size_t left;
	char *why;
	size_t why_len;
};

static int refuse(struct reader *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int refuse(struct reader *r, const char *fmt, ...)
{
	va_list ap;

	if (r->why_len) {
		va_start(ap, fmt);
		vsnprintf(r->why, r->why_len, fmt, ap);
		va_end(ap);
	}
	return -EPROTO;
}

static int take(struct reader *r, void *dst, size_t n, const char *what)
{
	if (r->left < n)
		return refuse(r, "identity ends inside %s", what);
	if (n)
		memcpy(dst, r->p, n);
	r->p += n;
	r->left -= n;
	return 0;
}

static int take_u16(struct reader *r, uint16_t *v, const char *what)
{
	uint8_t b[2];
	int e = take(r, b, 2, what);

	*v = (uint16_t)(b[0] << 8 | b[1]);
	return e;
}

/* A u16-prefixed string of at most max bytes into dst[max + 1]. */
static int take_string(struct reader *r, char *dst, size_t max,
		       const char *what)
{
	uint16_t n;
	int e = take_u16(r, &n, what);

	if (e)
		return e;
	if (n > max)
		return refuse(r, "%s of %u bytes, at most %zu", what, n, max);
	e = take(r, dst, n, what);
	if (e)
		return e;
	dst[n] = '\0';
	if (strlen(dst) != n)
		return refuse(r, "%s holds a NUL byte", what);
	return 0;
}

static int take_files(struct reader *r, struct proc_identity *out)
{
	char path[PROC_IDENTITY_PATH_MAX + 1];
	uint16_t hi, lo;
	uint32_t n;
	int e = take_u16(r, &hi, "the file count");

	if (e || (e = take_u16(r, &lo, "the file count")))
		return e;
	n = (uint32_t)hi << 16 | lo;
	if (n > PROC_IDENTITY_MAX_FILES)
		return refuse(r, "%u files, at most %d", n,
			      PROC_IDENTITY_MAX_FILES);
	/* Every file takes at least 35 bytes: refuse a count the rest cannot
	 * hold before allocating for it. */
	if (r->left / 35 < n)
		return refuse(r, "identity ends inside file %zu of %u",
			      r->left / 35 + 1, n);
	out->files = calloc(n ? n : 1, sizeof(*out->files));
	if (!out->files) {
		refuse(r, "no memory for %u files", n);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct proc_identity_file *f = &out->files[i];

		e = take_string(r, path, PROC_IDENTITY_PATH_MAX, "a file's path");
		if (e)
			return e;
		if (path[0] != '/')
			return refuse(r, "file %u's path is not absolute", i);
		f->path = strdup(path);
		if (!f->path) {
			refuse(r, "no memory for file %u's path", i);
			return -ENOMEM;
		}
		out->nfiles = i + 1;
		e = take(r, f->sha256, sizeof(f->sha256), "a file's digest");
		if (e)
			return e;
	}
	return 0;
}

int proc_identity_decode(const uint8_t *buf, size_t len,
			 struct proc_identity *out, char *why, size_t why_len)
{
	struct reader r = { buf, len, why, why_len };
	int e;

	memset(out, 0, sizeof(*out));
	e = take_string(&r, out->kernel, PROC_IDENTITY_KERNEL_MAX - 1,
			"the kernel");
	if (!e)
		e = take_string(&r, out->machine, PROC_IDENTITY_MACHINE_MAX - 1,
				"the machine");
	if (!e)
		e = take(&r, out->cpu, sizeof(out->cpu), "the CPU digest");
	if (!e)
		e = take_files(&r, out);
	if (!e && r.left)
		e = refuse(&r, "%zu bytes after the identity", r.left);
	if (e) {
		proc_identity_free(out);
		memset(out, 0, sizeof(*out));
	}
	return e;
}
