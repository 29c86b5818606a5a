// SPDX-License-Identifier: MIT
/*
 * The Prometheus text format as metrics.c writes it: exact lines for a
 * small histogram (cumulative buckets, le inclusive, +Inf, _sum, _count),
 * random observations against a naive count of "v <= bound", escaping of
 * help texts and label values, and the spelling of numbers.
 */
#include <errno.h>
#include <math.h>

#include "metrics.h"
#include "tap.h"

#define CHECK_TEXT(t, want)                                                \
	do {                                                               \
		if (!(t)->buf || strcmp((t)->buf, (want))) {               \
			fprintf(stderr, "%s:%d: got\n%s\nwant\n%s\n",      \
				__FILE__, __LINE__,                        \
				(t)->buf ? (t)->buf : "(null)", (want));   \
			exit(1);                                           \
		}                                                          \
	} while (0)

static void test_hist_init(void)
{
	static const double down[] = { 1, 0.5 };
	static const double same[] = { 1, 1 };
	static const double many[METRICS_HIST_MAX_BOUNDS + 1] = { 0 };
	struct metrics_hist h;

	CHECK_EQ(metrics_hist_init(&h, down, 2), -EINVAL);
	CHECK_EQ(metrics_hist_init(&h, same, 2), -EINVAL);
	CHECK_EQ(metrics_hist_init(&h, many, METRICS_HIST_MAX_BOUNDS + 1),
		 -EINVAL);
	CHECK_EQ(metrics_hist_init(&h, down + 1, 1), 0);
}

static void test_hist_text(void)
{
	static const double bounds[] = { 0.001, 0.1, 1, 5 };
	struct metrics_hist h;
	struct metrics_text t;

	CHECK_EQ(metrics_hist_init(&h, bounds, 4), 0);
	metrics_hist_observe(&h, 0.0005);
	metrics_hist_observe(&h, 0.1);          /* on a bound: le is <= */
	metrics_hist_observe(&h, 0.5);
	metrics_hist_observe(&h, 7);
	metrics_hist_observe(&h, 100);
	metrics_text_init(&t);
	metrics_histogram(&t, "colo_x_seconds", "How long.", &h);
	CHECK_TEXT(&t,
		   "# HELP colo_x_seconds How long.\n"
		   "# TYPE colo_x_seconds histogram\n"
		   "colo_x_seconds_bucket{le=\"0.001\"} 1\n"
		   "colo_x_seconds_bucket{le=\"0.1\"} 2\n"
		   "colo_x_seconds_bucket{le=\"1\"} 3\n"
		   "colo_x_seconds_bucket{le=\"5\"} 3\n"
		   "colo_x_seconds_bucket{le=\"+Inf\"} 5\n"
		   "colo_x_seconds_sum 107.6005\n"
		   "colo_x_seconds_count 5\n");
	metrics_text_free(&t);

	/* Nothing observed: every bucket 0, still all of them. */
	CHECK_EQ(metrics_hist_init(&h, bounds, 4), 0);
	metrics_text_init(&t);
	metrics_histogram(&t, "colo_y", "Empty.", &h);
	CHECK_TEXT(&t,
		   "# HELP colo_y Empty.\n"
		   "# TYPE colo_y histogram\n"
		   "colo_y_bucket{le=\"0.001\"} 0\n"
		   "colo_y_bucket{le=\"0.1\"} 0\n"
		   "colo_y_bucket{le=\"1\"} 0\n"
		   "colo_y_bucket{le=\"5\"} 0\n"
		   "colo_y_bucket{le=\"+Inf\"} 0\n"
		   "colo_y_sum 0\n"
		   "colo_y_count 0\n");
	metrics_text_free(&t);
}

/* The bucket line for le, read back from the text. */
static unsigned long long bucket_of(const char *text, const char *le)
{
	char key[64];
	const char *p;

	snprintf(key, sizeof(key), "colo_r_bucket{le=\"%s\"} ", le);
	p = strstr(text, key);
	CHECK(p);
	return strtoull(p + strlen(key), NULL, 10);
}

/* Random values against the definition: bucket le=b counts v <= b. */
static void test_hist_random(void)
{
	static const double bounds[] = { 16, 64, 256, 1024, 4096, 16384 };
	static const char *const les[] = { "16", "64", "256", "1024", "4096",
					   "16384", "+Inf" };
	unsigned long long naive[7] = { 0 };
	double v, sum = 0;
	struct metrics_hist h;
	struct metrics_text t;
	uint64_t seed = 42;
	size_t i, b;

	CHECK_EQ(metrics_hist_init(&h, bounds, 6), 0);
	for (i = 0; i < 10000; i++) {
		v = (double)(test_rand(&seed) % 20000);
		metrics_hist_observe(&h, v);
		sum += v;
		for (b = 0; b < 7; b++)
			if (b == 6 || v <= bounds[b])
				naive[b]++;
	}
	metrics_text_init(&t);
	metrics_histogram(&t, "colo_r", "Random.", &h);
	CHECK(!t.oom);
	for (b = 0; b < 7; b++)
		CHECK_EQ(bucket_of(t.buf, les[b]), naive[b]);
	CHECK_EQ(h.count, 10000);
	CHECK(strstr(t.buf, "colo_r_count 10000\n"));
	CHECK(fabs(h.sum - sum) < 1e-6);
	metrics_text_free(&t);
}

static void test_escaping(void)
{
	struct metrics_text t;

	metrics_text_init(&t);
	metrics_family(&t, "colo_e", METRIC_GAUGE,
		       "A \"quoted\" back\\slash\nand a newline.");
	metrics_sample(&t, "colo_e", "reason", "a\"b\\c\nd", 1);
	metrics_sample(&t, "colo_e", NULL, NULL, 2);
	CHECK_TEXT(&t,
		   "# HELP colo_e A \"quoted\" back\\\\slash\\nand a newline.\n"
		   "# TYPE colo_e gauge\n"
		   "colo_e{reason=\"a\\\"b\\\\c\\nd\"} 1\n"
		   "colo_e 2\n");
	metrics_text_free(&t);
}

static void test_numbers(void)
{
	struct metrics_text t;

	metrics_text_init(&t);
	metrics_one(&t, "colo_c_total", METRIC_COUNTER, "C.", 12345678901.0);
	metrics_sample(&t, "colo_c_total", NULL, NULL, 0.1);
	metrics_sample(&t, "colo_c_total", NULL, NULL, 1.0 / 3);
	metrics_sample(&t, "colo_c_total", NULL, NULL, INFINITY);
	metrics_sample(&t, "colo_c_total", NULL, NULL, -INFINITY);
	metrics_sample(&t, "colo_c_total", NULL, NULL, NAN);
	CHECK_TEXT(&t,
		   "# HELP colo_c_total C.\n"
		   "# TYPE colo_c_total counter\n"
		   "colo_c_total 12345678901\n"
		   "colo_c_total 0.1\n"
		   "colo_c_total 0.33333333333333331\n"
		   "colo_c_total +Inf\n"
		   "colo_c_total -Inf\n"
		   "colo_c_total NaN\n");
	metrics_text_free(&t);
}

/* A scrape larger than the first allocation grows and stays intact. */
static void test_growth(void)
{
	struct metrics_text t;
	char want[64];
	size_t i;

	metrics_text_init(&t);
	for (i = 0; i < 2000; i++)
		metrics_sample(&t, "colo_g", NULL, NULL, (double)i);
	CHECK(!t.oom && t.len > 4096);
	CHECK_EQ(strlen(t.buf), t.len);
	snprintf(want, sizeof(want), "\ncolo_g 1999\n");
	CHECK(!strcmp(t.buf + t.len - strlen(want), want));
	metrics_text_free(&t);
}

int main(void)
{
	test_hist_init();
	test_hist_text();
	test_hist_random();
	test_escaping();
	test_numbers();
	test_growth();
	printf("ok\n");
	return 0;
}
