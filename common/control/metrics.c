// SPDX-License-Identifier: MIT
/*
 * The Prometheus text exposition format, version 0.0.4: "# HELP name
 * text", "# TYPE name type", then "name{label="value"} number" lines.
 * HELP escapes backslash and newline; a label value escapes those and the
 * double quote as well.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

int metrics_hist_init(struct metrics_hist *h, const double *bounds,
		      size_t nbounds)
{
	size_t i;

	if (nbounds > METRICS_HIST_MAX_BOUNDS)
		return -EINVAL;
	for (i = 1; i < nbounds; i++)
		if (!(bounds[i - 1] < bounds[i]))
			return -EINVAL;
	memset(h, 0, sizeof(*h));
	h->bounds = bounds;
	h->nbounds = nbounds;
	return 0;
}

void metrics_hist_observe(struct metrics_hist *h, double v)
{
	size_t i = 0;

	while (i < h->nbounds && v > h->bounds[i])
		i++;
	h->counts[i]++;
	h->count++;
	h->sum += v;
}

/*
 * A checkpoint's pause is what a client may wait on the pair: a quiet
 * guest's is a dirty-log scan (1-2 ms per GiB) and a round trip, well
 * under 10 ms on a LAN; a busy one sends its pages at link speed (a
 * 10 Gb/s link moves 1 GiB in about a second); an --exec program's whole
 * image took 270 ms at 15 MiB. So half a millisecond to 5 s on a 1-2.5-5
 * scale; past 5 s every default timeout (failover, compare) has run out.
 */
static const double ckpt_pause_bounds_s[] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 5,
};

/*
 * Pages: 0 (nothing was written since the last one) and 1 apart, then
 * powers of 4 from 16 pages (64 KiB) to 1 GiB and 4 GiB of 4 KiB pages, as
 * the dirty set of a guest runs from a few keys to all of its RAM.
 */
static const double ckpt_pages_bounds[] = {
	0, 1, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576,
};

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

void metrics_hist_init_ckpt_pause(struct metrics_hist *h)
{
	metrics_hist_init(h, ckpt_pause_bounds_s, NELEMS(ckpt_pause_bounds_s));
}

void metrics_hist_init_ckpt_pages(struct metrics_hist *h)
{
	metrics_hist_init(h, ckpt_pages_bounds, NELEMS(ckpt_pages_bounds));
}

void metrics_text_init(struct metrics_text *t)
{
	memset(t, 0, sizeof(*t));
}

void metrics_text_free(struct metrics_text *t)
{
	free(t->buf);
	metrics_text_init(t);
}

static bool reserve(struct metrics_text *t, size_t more)
{
	size_t cap = t->cap ? t->cap : 4096;
	char *p;

	if (t->oom)
		return false;
	if (t->len + more + 1 <= t->cap)
		return true;
	while (cap < t->len + more + 1)
		cap *= 2;
	p = realloc(t->buf, cap);
	if (!p) {
		t->oom = true;
		return false;
	}
	t->buf = p;
	t->cap = cap;
	return true;
}

static void append(struct metrics_text *t, const char *s, size_t n)
{
	if (!reserve(t, n))
		return;
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = '\0';
}

static void appendf(struct metrics_text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void appendf(struct metrics_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !reserve(t, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(t->buf + t->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

/* Backslash and newline always; the double quote in label values. */
static void append_escaped(struct metrics_text *t, const char *s,
			   bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			append(t, "\\\\", 2);
		else if (*s == '\n')
			append(t, "\\n", 2);
		else if (*s == '"' && quote)
			append(t, "\\\"", 2);
		else
			append(t, s, 1);
	}
}

/* Go's and Prometheus's spellings of the special values; otherwise the
 * shorter of %.15g and %.17g that reads back as the same double, so 0.1
 * is "0.1" and a page count stays an integer. */
static const char *format_number(double v, char buf[static 32])
{
	if (isnan(v))
		return "NaN";
	if (isinf(v))
		return v > 0 ? "+Inf" : "-Inf";
	snprintf(buf, 32, "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, 32, "%.17g", v);
	return buf;
}

static void append_number(struct metrics_text *t, double v)
{
	char buf[32];
	const char *s = format_number(v, buf);

	append(t, s, strlen(s));
}

static const char *type_name(enum metric_type type)
{
	switch (type) {
	case METRIC_COUNTER: return "counter";
	case METRIC_GAUGE: return "gauge";
	case METRIC_HISTOGRAM: return "histogram";
	}
	return "untyped";
}

void metrics_family(struct metrics_text *t, const char *name,
		    enum metric_type type, const char *help)
{
	appendf(t, "# HELP %s ", name);
	append_escaped(t, help, false);
	appendf(t, "\n# TYPE %s %s\n", name, type_name(type));
}

void metrics_sample(struct metrics_text *t, const char *name,
		    const char *label, const char *value, double v)
{
	append(t, name, strlen(name));
	if (label) {
		appendf(t, "{%s=\"", label);
		append_escaped(t, value, true);
		append(t, "\"}", 2);
	}
	append(t, " ", 1);
	append_number(t, v);
	append(t, "\n", 1);
}

void metrics_one(struct metrics_text *t, const char *name,
		 enum metric_type type, const char *help, double v)
{
	metrics_family(t, name, type, help);
	metrics_sample(t, name, NULL, NULL, v);
}

void metrics_histogram(struct metrics_text *t, const char *name,
		       const char *help, const struct metrics_hist *h)
{
	uint64_t below = 0;
	char buf[32];
	size_t i;

	metrics_family(t, name, METRIC_HISTOGRAM, help);
	for (i = 0; i <= h->nbounds; i++) {
		below += h->counts[i];
		appendf(t, "%s_bucket{le=\"%s\"} %llu\n", name,
			i < h->nbounds ? format_number(h->bounds[i], buf) :
			"+Inf", (unsigned long long)below);
	}
	appendf(t, "%s_sum ", name);
	append_number(t, h->sum);
	appendf(t, "\n%s_count %llu\n", name, (unsigned long long)h->count);
}
