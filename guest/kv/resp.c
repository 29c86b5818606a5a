// SPDX-License-Identifier: MIT
/*
 * RESP request parsing, written after the rules of Redis's
 * processMultibulkBuffer/processInlineBuffer: a '*' starts a multibulk
 * command whose every argument is a "$len" line and len bytes plus CRLF;
 * anything else is an inline command, one line split at blanks.
 */
#include "resp.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void resp_cmd_free(struct resp_cmd *c)
{
	free(c->argv);
	free(c->argl);
	c->argv = NULL;
	c->argl = NULL;
	c->argc = c->cap = 0;
}

static int reserve(struct resp_cmd *c, size_t n)
{
	const uint8_t **argv;
	size_t *argl, cap = c->cap ? c->cap : 16;

	if (n <= c->cap)
		return 0;
	while (cap < n)
		cap *= 2;
	argv = realloc(c->argv, cap * sizeof(*argv));
	if (!argv)
		return -ENOMEM;
	c->argv = argv;
	argl = realloc(c->argl, cap * sizeof(*argl));
	if (!argl)
		return -ENOMEM;
	c->argl = argl;
	c->cap = cap;
	return 0;
}

static int push_arg(struct resp_cmd *c, const uint8_t *p, size_t n)
{
	int err = reserve(c, c->argc + 1);

	if (err)
		return err;
	c->argv[c->argc] = p;
	c->argl[c->argc] = n;
	c->argc++;
	return 0;
}

int resp_strtoll(const uint8_t *s, size_t len, int64_t *out)
{
	bool neg = false;
	uint64_t v = 0, limit;
	size_t i = 0;

	if (len == 0 || len > 20)
		return -EINVAL;
	if (s[0] == '-') {
		neg = true;
		i = 1;
		if (len == 1)
			return -EINVAL;
	}
	if (s[i] == '0' && (len > i + 1 || neg))
		return -EINVAL;    /* "0" only; no "-0", no "007" */
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		if (v > (limit - (uint64_t)(s[i] - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

/* The line starting at pos: its length up to '\r', or -1 when the CR LF
 * has not arrived yet. Like Redis we look for the CR and skip two bytes. */
static ssize_t line_len(const uint8_t *buf, size_t len, size_t pos)
{
	const uint8_t *cr = memchr(buf + pos, '\r', len - pos);

	if (!cr || (size_t)(cr - buf) + 1 >= len)
		return -1;
	return cr - (buf + pos);
}

/* The "*n" line: 1 with n and *pos just past it, 0 when incomplete,
 * -EPROTO. */
static int multibulk_count(const uint8_t *buf, size_t len, int64_t *n,
			   size_t *pos, const char **err)
{
	ssize_t ll = line_len(buf, len, 1);

	if (ll < 0) {
		if (len > RESP_INLINE_MAX) {
			*err = "too big mbulk count string";
			return -EPROTO;
		}
		return 0;
	}
	if (resp_strtoll(buf + 1, (size_t)ll, n) || *n > RESP_MULTIBULK_MAX) {
		*err = "invalid multibulk length";
		return -EPROTO;
	}
	*pos = 1 + (size_t)ll + 2;
	return 1;
}

/* The "$len" line and the argument after it at *pos: 1 with the argument
 * at *arg (*argl bytes) and *pos past its CR LF, 0 when not all there
 * yet, -EPROTO. */
static int next_bulk(struct resp_cmd *c, const uint8_t *buf, size_t len,
		     size_t *pos, size_t *arg, size_t *argl, const char **err)
{
	uint64_t max = c->bulk_max ? c->bulk_max : RESP_BULK_MAX;
	size_t p = *pos;
	ssize_t ll;
	int64_t bl;

	if (p >= len)
		return 0;
	ll = line_len(buf, len, p);
	if (ll < 0) {
		if (len - p > RESP_INLINE_MAX) {
			*err = "too big bulk count string";
			return -EPROTO;
		}
		return 0;
	}
	if (buf[p] != '$') {
		memcpy(c->errbuf, "expected '$', got ' '", 22);
		c->errbuf[19] = (char)buf[p];
		*err = c->errbuf;
		return -EPROTO;
	}
	if (resp_strtoll(buf + p + 1, (size_t)ll - 1, &bl) || bl < 0 ||
	    (uint64_t)bl > max) {
		*err = "invalid bulk length";
		return -EPROTO;
	}
	p += (size_t)ll + 2;
	if (len - p < (uint64_t)bl + 2)
		return 0;
	*arg = p;
	*argl = (size_t)bl;
	*pos = p + (size_t)bl + 2;
	return 1;
}

/* A command already checked whole: point argv at its arguments. One more
 * linear pass, rather than keeping every argument's place in st. Only a
 * state that lies (corrupted) can make it fail. */
static int collect(struct resp_cmd *c, const uint8_t *buf, size_t len,
		   const char **err)
{
	size_t pos, arg, argl;
	int64_t n;
	int ret = multibulk_count(buf, len, &n, &pos, err);

	if (ret <= 0 || n <= 0)
		goto lied;
	if (reserve(c, (size_t)n))
		return -ENOMEM;
	for (int64_t i = 0; i < n; i++) {
		ret = next_bulk(c, buf, len, &pos, &arg, &argl, err);
		if (ret <= 0)
			goto lied;
		push_arg(c, buf + arg, argl);   /* reserved: cannot fail */
	}
	if (pos == len)
		return 1;
lied:
	*err = "invalid multibulk length";
	return -EPROTO;
}

static int parse_multibulk(struct resp_cmd *c, struct resp_state *st,
			   const uint8_t *buf, size_t len, size_t *used,
			   const char **err)
{
	size_t pos, arg, argl;
	int64_t n;
	int ret;

	if (st->pos == 0) {
		ret = multibulk_count(buf, len, &n, &pos, err);
		if (ret <= 0)
			return ret;
		if (n <= 0) {
			*used = pos;    /* "*0" and "*-1": nothing to run */
			return 1;
		}
		st->pos = pos;
		st->left = (uint64_t)n;
	}
	while (st->left > 0) {
		pos = (size_t)st->pos;
		ret = next_bulk(c, buf, len, &pos, &arg, &argl, err);
		if (ret <= 0)
			return ret;
		st->pos = pos;
		st->left--;
	}
	*used = (size_t)st->pos;
	memset(st, 0, sizeof(*st));
	return collect(c, buf, *used, err);
}

static bool blank(uint8_t ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' ||
	       ch == '\f';
}

static int parse_inline(struct resp_cmd *c, struct resp_state *st,
			const uint8_t *buf, size_t len, size_t *used,
			const char **err)
{
	/* Bytes before st->pos were searched already and hold no LF. */
	const uint8_t *nl = memchr(buf + st->pos, '\n', len - st->pos);
	size_t end, i = 0, start;

	if (!nl) {
		if (len > RESP_INLINE_MAX) {
			*err = "too big inline request";
			return -EPROTO;
		}
		st->pos = len;
		return 0;
	}
	memset(st, 0, sizeof(*st));
	end = (size_t)(nl - buf);
	while (i < end) {
		while (i < end && blank(buf[i]))
			i++;
		if (i == end)
			break;
		start = i;
		while (i < end && !blank(buf[i]))
			i++;
		if (push_arg(c, buf + start, i - start))
			return -ENOMEM;
	}
	*used = end + 1;
	return 1;
}

int resp_parse(struct resp_cmd *c, struct resp_state *st, const uint8_t *buf,
	       size_t len, size_t *used, const char **err)
{
	c->argc = 0;
	/* The bytes st describes are still there (they only ever grow); a
	 * state that says otherwise starts over rather than be trusted. */
	if (st->pos > len)
		memset(st, 0, sizeof(*st));
	if (len == 0)
		return 0;
	if (buf[0] == '*')
		return parse_multibulk(c, st, buf, len, used, err);
	return parse_inline(c, st, buf, len, used, err);
}
