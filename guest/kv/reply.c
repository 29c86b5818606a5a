// SPDX-License-Identifier: MIT
/*
 * RESP2 reply encoding into a growing process-local buffer.
 */
#include "reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void reply_reset(struct kv_out *o)
{
	o->len = 0;
	o->failed = false;
}

void reply_free(struct kv_out *o)
{
	free(o->buf);
	o->buf = NULL;
	o->len = o->cap = 0;
}

static bool reserve(struct kv_out *o, size_t n)
{
	size_t cap = o->cap ? o->cap : 4096;
	uint8_t *nb;

	if (o->cap - o->len >= n)
		return true;
	while (cap - o->len < n)
		cap *= 2;
	nb = realloc(o->buf, cap);
	if (!nb) {
		o->failed = true;
		return false;
	}
	o->buf = nb;
	o->cap = cap;
	return true;
}

void reply_raw(struct kv_out *o, const void *p, size_t n)
{
	if (!n || !reserve(o, n))
		return;
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

/* A type byte, a number and CRLF: the header of most replies. */
static void line_num(struct kv_out *o, char type, int64_t v)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%c%lld\r\n", type, (long long)v);

	reply_raw(o, tmp, (size_t)n);
}

void reply_status(struct kv_out *o, const char *s)
{
	reply_raw(o, "+", 1);
	reply_raw(o, s, strlen(s));
	reply_raw(o, "\r\n", 2);
}

void reply_error(struct kv_out *o, const char *msg)
{
	size_t n = strlen(msg), start;

	reply_raw(o, "-", 1);
	start = o->len;
	reply_raw(o, msg, n);
	if (o->len == start + n)
		for (size_t i = start; i < o->len; i++)
			if (o->buf[i] == '\r' || o->buf[i] == '\n')
				o->buf[i] = ' ';
	reply_raw(o, "\r\n", 2);
}

void reply_errorf(struct kv_out *o, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply_error(o, msg);
}

void reply_int(struct kv_out *o, int64_t v)
{
	line_num(o, ':', v);
}

void reply_bulk(struct kv_out *o, const void *p, size_t n)
{
	line_num(o, '$', (int64_t)n);
	reply_raw(o, p, n);
	reply_raw(o, "\r\n", 2);
}

void reply_cbulk(struct kv_out *o, const char *s)
{
	reply_bulk(o, s, strlen(s));
}

void reply_nil(struct kv_out *o)
{
	reply_raw(o, "$-1\r\n", 5);
}

void reply_array(struct kv_out *o, uint64_t n)
{
	line_num(o, '*', (int64_t)n);
}

void reply_nil_array(struct kv_out *o)
{
	reply_raw(o, "*-1\r\n", 5);
}
