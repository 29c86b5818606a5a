/* SPDX-License-Identifier: MIT */
/*
 * Prometheus metrics: histograms the daemons fill at their sites, and the
 * text exposition format 0.0.4 a scrape is answered with.
 *
 * There is no registry of values: a scrape asks the daemon (on its main
 * thread, see metrics-http.h) to write every family from the counters its
 * `status` already keeps, so nothing is counted twice. Only what `status`
 * does not keep, the distribution of checkpoint pauses and sizes, lives
 * here, in a struct metrics_hist the daemon owns and observes into.
 *
 *   metrics_family(t, "colo_state", METRIC_GAUGE, "...");
 *   metrics_sample(t, "colo_state", "state", "colo", 1);
 *   metrics_histogram(t, "colo_checkpoint_pause_seconds", "...", &h);
 *
 * Names are the caller's (fixed strings, checked by promtool in the
 * tests); help texts and label values are escaped here.
 */
#ifndef COLO_METRICS_H
#define COLO_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

#define METRICS_HIST_MAX_BOUNDS 16

struct metrics_hist {
	const double *bounds;   /* upper bounds, ascending; +Inf implied */
	size_t nbounds;         /* at most METRICS_HIST_MAX_BOUNDS */
	/* Per bucket, not cumulative: counts[i] is bounds[i-1] < v <=
	 * bounds[i]; counts[nbounds] is above every bound. */
	uint64_t counts[METRICS_HIST_MAX_BOUNDS + 1];
	uint64_t count;
	double sum;
};

/* bounds must outlive h (a static table). -EINVAL when there are too many
 * or they do not ascend. */
int metrics_hist_init(struct metrics_hist *h, const double *bounds,
		      size_t nbounds);
void metrics_hist_observe(struct metrics_hist *h, double v);
/* Both daemons' checkpoint histograms, with the buckets of metrics.c (why
 * those: there): the pause in seconds, and the pages a checkpoint carries. */
void metrics_hist_init_ckpt_pause(struct metrics_hist *h);
void metrics_hist_init_ckpt_pages(struct metrics_hist *h);

/* One scrape's text. An allocation failure is sticky (oom) and leaves
 * what was written before it. */
struct metrics_text {
	char *buf;
	size_t len, cap;
	bool oom;
};

void metrics_text_init(struct metrics_text *t);
void metrics_text_free(struct metrics_text *t);
/* The HELP and TYPE lines, once per family, before its samples. */
void metrics_family(struct metrics_text *t, const char *name,
		    enum metric_type type, const char *help);
/* "name v" or, with label, "name{label="value"} v". */
void metrics_sample(struct metrics_text *t, const char *name,
		    const char *label, const char *value, double v);
/* A family and one sample, unlabelled: most of our metrics. */
void metrics_one(struct metrics_text *t, const char *name,
		 enum metric_type type, const char *help, double v);
/* HELP, TYPE histogram, the cumulative _bucket lines up to le="+Inf",
 * _sum and _count. */
void metrics_histogram(struct metrics_text *t, const char *name,
		       const char *help, const struct metrics_hist *h);

#endif
