// SPDX-License-Identifier: MIT
/*
 * Parsers for command-line values. strtoull alone accepts "-1", " 5" and
 * "0x10", none of which an operator means as a size, so digits are checked
 * first and the conversion is done here.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Decimal digits at s into *out; *end is the first non-digit. */
static int parse_digits(const char *s, uint64_t *out, const char **end)
{
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned int d = (unsigned int)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	*end = s;
	return 0;
}

static int suffix_shift(char c, unsigned int *shift)
{
	switch (c) {
	case 'k': case 'K': *shift = 10; return 0;
	case 'm': case 'M': *shift = 20; return 0;
	case 'g': case 'G': *shift = 30; return 0;
	case 't': case 'T': *shift = 40; return 0;
	default: return -EINVAL;
	}
}

int config_parse_size(const char *s, uint64_t *out)
{
	const char *end;
	unsigned int shift = 0;
	uint64_t v;
	int r;

	if (!s)
		return -EINVAL;
	r = parse_digits(s, &v, &end);
	if (r)
		return r;
	if (*end) {
		r = suffix_shift(*end, &shift);
		if (r)
			return r;
		end++;
		/* "64KiB" and "64KB" read naturally too; "64Kx" does not. */
		if (*end == 'i' && end[1] == 'B')
			end += 2;
		else if (*end == 'B')
			end++;
		if (*end)
			return -EINVAL;
	}
	if (v > (UINT64_MAX >> shift))
		return -ERANGE;
	v <<= shift;
	if (!v)
		return -EINVAL;
	*out = v;
	return 0;
}

int config_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	const char *end;
	uint64_t v;
	int r;

	if (!s)
		return -EINVAL;
	r = parse_digits(s, &v, &end);
	if (r)
		return r;
	if (*end)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

/* Copies n bytes of src plus a NUL into dst of size cap. */
static int copy_part(char *dst, size_t cap, const char *src, size_t n)
{
	if (n + 1 > cap)
		return -ERANGE;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

/* 0 if path is a regular file we may run; -ENOENT or -EACCES. */
static int runnable(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -ENOENT;
	if (!S_ISREG(st.st_mode) || access(path, X_OK) < 0)
		return -EACCES;
	return 0;
}

/* dir "/" name into out, as snprintf would; -ENAMETOOLONG if cut. */
static int join(const char *dir, size_t dirlen, const char *name, char *out,
		size_t len)
{
	int n = snprintf(out, len, "%.*s/%s", (int)dirlen, dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int config_find_program(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH"), *dir, *end;
	char cwd[4096];
	int ret, found = -ENOENT;

	if (!*name)
		return -ENOENT;
	if (name[0] == '/' || strchr(name, '/')) {
		if (name[0] == '/')
			ret = snprintf(out, len, "%s", name) >= (int)len ?
			      -ENAMETOOLONG : 0;
		else if (!getcwd(cwd, sizeof(cwd)))
			ret = -ENAMETOOLONG;
		else
			ret = join(cwd, strlen(cwd), name, out, len);
		return ret < 0 ? ret : runnable(out);
	}
	/* As execvp(3): PATH's entries in order, an empty one is ".". */
	for (dir = path && *path ? path : "/usr/local/bin:/usr/bin:/bin";
	     dir; dir = *end ? end + 1 : NULL) {
		end = strchrnul(dir, ':');
		if (end == dir)
			ret = getcwd(cwd, sizeof(cwd)) ?
			      join(cwd, strlen(cwd), name, out, len) :
			      -ENAMETOOLONG;
		else
			ret = join(dir, (size_t)(end - dir), name, out, len);
		if (ret == 0)
			ret = runnable(out);
		if (ret == 0)
			return out[0] == '/' ? 0 : -ENOENT;
		if (ret == -EACCES)
			found = -EACCES;    /* there, but not runnable: say so */
	}
	return found;
}

int config_parse_hostport(const char *s, char *host, size_t hostlen,
			  char *port, size_t portlen)
{
	const char *h, *colon;
	size_t hlen;
	uint64_t p;
	int r;

	if (!s)
		return -EINVAL;
	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		h = s + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		h = s;
		hlen = (size_t)(colon - s);
		/* A bare v6 address has more colons: it needs the brackets. */
		if (memchr(h, ':', hlen))
			return -EINVAL;
	}
	if (!hlen)
		return -EINVAL;
	r = config_parse_u64(colon + 1, 1, 65535, &p);
	if (r)
		return r;
	r = copy_part(host, hostlen, h, hlen);
	if (r)
		return r;
	return copy_part(port, portlen, colon + 1, strlen(colon + 1));
}
