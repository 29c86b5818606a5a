// SPDX-License-Identifier: MIT
/*
 * RESP request parsing, written after the rules of Redis's
 * processMultibulkBuffer/processInlineBuffer: a '*' starts a multibulk
 * command whose every argument is a "$len" line and len bytes plus CRLF;
 * anything else is an inline command, one line split the way
 * sdssplitargs splits it (see resp.h).
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
	free(c->unquoted);
	c->argv = NULL;
	c->argl = NULL;
	c->unquoted = NULL;
	c->argc = c->cap = c->unquoted_cap = 0;
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

/* isspace() in the C locale, which sdssplitargs skips between arguments. */
static bool blank(int ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' ||
	       ch == '\v' || ch == '\f';
}

/* What ends an unquoted argument: fewer bytes than blank() (a \v or \f
 * inside a word stays in it, as in Redis). */
static bool word_end(int ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == 0;
}

static int hex_value(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static uint8_t unescape(int ch)
{
	switch (ch) {
	case 'n': return '\n';
	case 'r': return '\r';
	case 't': return '\t';
	case 'b': return '\b';
	case 'a': return '\a';
	default: return (uint8_t)ch;  /* \\ \" and any other byte: itself */
	}
}

/* An inline line being split: its bytes read as a C string (0 past the
 * end), as sdssplitargs reads them, and where the arguments go. */
struct line {
	const uint8_t *s;
	size_t len, i;          /* i: the next byte to read */
	uint8_t *out;
	size_t n;               /* bytes written to out */
};

static int peek(const struct line *l, size_t ahead)
{
	return l->i + ahead < l->len ? l->s[l->i + ahead] : 0;
}

/* After a closing quote: the argument must end there. */
static int close_quote(struct line *l)
{
	l->i++;
	return peek(l, 0) && !blank(peek(l, 0)) ? -EPROTO : 0;
}

/* Inside "double quotes", from the byte after the opening one. */
static int double_quoted(struct line *l)
{
	int ch, hi, lo;

	for (;;) {
		ch = peek(l, 0);
		if (ch == '\\' && peek(l, 1) == 'x' &&
		    (hi = hex_value(peek(l, 2))) >= 0 &&
		    (lo = hex_value(peek(l, 3))) >= 0) {
			l->out[l->n++] = (uint8_t)(hi << 4 | lo);
			l->i += 4;
		} else if (ch == '\\' && peek(l, 1)) {
			l->out[l->n++] = unescape(peek(l, 1));
			l->i += 2;
		} else if (ch == '"') {
			return close_quote(l);
		} else if (!ch) {
			return -EPROTO;
		} else {
			l->out[l->n++] = (uint8_t)ch;
			l->i++;
		}
	}
}

/* Inside 'single quotes': only \' is an escape. */
static int single_quoted(struct line *l)
{
	int ch;

	for (;;) {
		ch = peek(l, 0);
		if (ch == '\\' && peek(l, 1) == '\'') {
			l->out[l->n++] = '\'';
			l->i += 2;
		} else if (ch == '\'') {
			return close_quote(l);
		} else if (!ch) {
			return -EPROTO;
		} else {
			l->out[l->n++] = (uint8_t)ch;
			l->i++;
		}
	}
}

/* One argument from l->i, appended to l->out. A quote may open anywhere
 * in a word (a"b c" is "ab c") and its closing quote ends the word.
 * -EPROTO for unbalanced quotes. */
static int word(struct line *l)
{
	int ch;

	for (;;) {
		ch = peek(l, 0);
		if (word_end(ch))
			return 0;
		l->i++;
		if (ch == '"')
			return double_quoted(l);
		if (ch == '\'')
			return single_quoted(l);
		l->out[l->n++] = (uint8_t)ch;
	}
}

/* Splits line[0, len) into c's arguments, resolved into c->unquoted. An
 * argument is never longer than the text it came from, so unquoted is
 * sized once and the pointers into it stay valid. */
static int split_inline(struct resp_cmd *c, const uint8_t *s, size_t len)
{
	struct line l = { .s = s, .len = len };
	size_t start;
	uint8_t *nb;
	int err;

	if (len > c->unquoted_cap) {
		nb = realloc(c->unquoted, len);
		if (!nb)
			return -ENOMEM;
		c->unquoted = nb;
		c->unquoted_cap = len;
	}
	l.out = c->unquoted;
	for (;;) {
		while (blank(peek(&l, 0)))
			l.i++;
		if (!peek(&l, 0))
			return 0;
		start = l.n;
		err = word(&l);
		if (err)
			return err;
		if (push_arg(c, l.out + start, l.n - start))
			return -ENOMEM;
	}
}

static int parse_inline(struct resp_cmd *c, struct resp_state *st,
			const uint8_t *buf, size_t len, size_t *used,
			const char **err)
{
	/* Bytes before st->pos were searched already and hold no LF. */
	const uint8_t *nl = memchr(buf + st->pos, '\n', len - st->pos);
	size_t end;
	int ret;

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
	/* The line is what comes before "\r\n" or a bare "\n". */
	ret = split_inline(c, buf, end > 0 && buf[end - 1] == '\r' ? end - 1
								: end);
	if (ret == -EPROTO)
		*err = "unbalanced quotes in request";
	if (ret)
		return ret;
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
