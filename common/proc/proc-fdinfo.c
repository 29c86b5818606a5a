// SPDX-License-Identifier: MIT
/*
 * /proc/PID/fdinfo/N, one "key:\tvalue" per line:
 *
 *   pos:    0                           decimal
 *   flags:  02004002                    octal, O_CLOEXEC included
 *   mnt_id: 15
 *   ino:    1057                        decimal
 *
 * then what the fd's kind adds; the lines read here are an epoll fd's
 * interest list, one line per target (events and data in hex),
 *
 *   tfd:        8 events:       19 data:                8  pos:0 ino:3f0 sdev:8
 *
 * an eventfd's "eventfd-count:" (hex) and a signalfd's "sigmask:" (hex,
 * bit N-1 for signal N). Other lines (mnt_id, lock:, timerfd's) are
 * skipped, so a kernel that adds lines does not break the parse.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "proc-fds.h"

static const char *skip_blanks(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

static int digit_value(char c, int base)
{
	int d;

	if (c >= '0' && c <= '9')
		d = c - '0';
	else if (c >= 'a' && c <= 'f')
		d = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		d = c - 'A' + 10;
	else
		return -1;
	return d < base ? d : -1;
}

/* A number after optional blanks; NULL if none, or on overflow. */
static const char *parse_u64(const char *p, const char *end, int base,
			     uint64_t *out)
{
	const char *first;
	uint64_t v = 0;
	int d;

	p = skip_blanks(p, end);
	first = p;
	for (; p < end && (d = digit_value(*p, base)) >= 0; p++) {
		if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
			return NULL;
		v = v * (uint64_t)base + (uint64_t)d;
	}
	if (p == first)
		return NULL;
	*out = v;
	return p;
}

/* A number that ends the line (blanks may follow). */
static bool parse_value(const char *p, const char *end, int base,
			uint64_t *out)
{
	p = parse_u64(p, end, base, out);
	return p && skip_blanks(p, end) == end;
}

/* p at a key: the value after "key:", or NULL if the line is another's. */
static const char *after_key(const char *p, const char *end, const char *key)
{
	size_t n = strlen(key);

	if ((size_t)(end - p) < n || memcmp(p, key, n))
		return NULL;
	return p + n;
}

/* "tfd: %8d events: %8x data: %16llx ..." */
static int parse_tfd(const char *p, const char *end,
		     struct proc_epoll_item *it)
{
	uint64_t tfd, events, data;

	if (!(p = parse_u64(p, end, 10, &tfd)) || tfd > INT32_MAX)
		return -EINVAL;
	p = skip_blanks(p, end);
	if (!(p = after_key(p, end, "events:")) ||
	    !(p = parse_u64(p, end, 16, &events)) || events > UINT32_MAX)
		return -EINVAL;
	p = skip_blanks(p, end);
	if (!(p = after_key(p, end, "data:")) ||
	    !parse_u64(p, end, 16, &data))
		return -EINVAL;
	it->tfd = (int)tfd;
	it->events = (uint32_t)events;
	it->data = data;
	return 0;
}

static int add_item(struct proc_fdinfo *fi, const struct proc_epoll_item *it,
		    size_t *cap)
{
	if (fi->n_items == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		struct proc_epoll_item *n;

		n = realloc(fi->items, ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		fi->items = n;
		*cap = ncap;
	}
	fi->items[fi->n_items++] = *it;
	return 0;
}

/* One line; *seen gets bit 0 for pos, bit 1 for flags. */
static int parse_line(const char *p, const char *end, struct proc_fdinfo *fi,
		      size_t *cap, unsigned *seen)
{
	struct proc_epoll_item it;
	const char *v;
	uint64_t x;
	int err;

	if ((v = after_key(p, end, "pos:"))) {
		if (!parse_value(v, end, 10, &fi->pos))
			return -EINVAL;
		*seen |= 1;
	} else if ((v = after_key(p, end, "flags:"))) {
		if (!parse_value(v, end, 8, &x) || x > INT32_MAX)
			return -EINVAL;
		fi->flags = (int)x;
		*seen |= 2;
	} else if ((v = after_key(p, end, "ino:"))) {
		if (!parse_value(v, end, 10, &fi->ino))
			return -EINVAL;
	} else if ((v = after_key(p, end, "tfd:"))) {
		err = parse_tfd(v, end, &it);
		if (!err)
			err = add_item(fi, &it, cap);
		return err;
	} else if ((v = after_key(p, end, "eventfd-count:"))) {
		if (!parse_value(v, end, 16, &fi->count))
			return -EINVAL;
		fi->has_count = true;
	} else if ((v = after_key(p, end, "sigmask:"))) {
		if (!parse_value(v, end, 16, &fi->sigmask))
			return -EINVAL;
		fi->has_sigmask = true;
	}
	return 0;
}

int proc_fdinfo_parse(const char *text, size_t len, struct proc_fdinfo *out)
{
	const char *p = text, *end = text + len;
	unsigned seen = 0;
	size_t cap = 0;
	int err = 0;

	memset(out, 0, sizeof(*out));
	while (p < end && !err) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;

		err = parse_line(p, eol, out, &cap, &seen);
		p = nl ? nl + 1 : end;
	}
	if (!err && seen != 3)
		err = -EINVAL;
	if (err)
		proc_fdinfo_free(out);
	return err;
}

void proc_fdinfo_free(struct proc_fdinfo *fi)
{
	if (!fi)
		return;
	free(fi->items);
	memset(fi, 0, sizeof(*fi));
}
