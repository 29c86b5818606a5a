// SPDX-License-Identifier: MIT
/*
 * The secondary's /metrics, read at scrape time on its one thread from
 * what `status` shows (control.c) and incoming's checkpoint histograms.
 * The families a primary has and a secondary has not (reasons, held
 * output, mismatches, clients, live sync) are the primary's alone; after
 * a takeover this process serves the primary's (primary/scrape.c).
 */
#include <string.h>

#include "log.h"
#include "metrics-http.h"
#include "metrics.h"
#include "secondary-int.h"

static void role_and_state(struct secondary *s, struct metrics_text *t)
{
	static const char *const states[] = {
		"waiting", "syncing", "colo", "fenced",
	};
	const char *now = secondary_state_name(s);
	size_t i;

	metrics_family(t, "colo_role", METRIC_GAUGE,
		       "1 for the role this daemon plays now.");
	metrics_sample(t, "colo_role", "role", "primary", 0);
	metrics_sample(t, "colo_role", "role", "secondary", 1);
	metrics_family(t, "colo_state", METRIC_GAUGE,
		       "1 for the state the pair is in, as status says it.");
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		metrics_sample(t, "colo_state", "state", states[i],
			       !strcmp(states[i], now));
}

static void collect(void *opaque, struct metrics_text *t)
{
	struct secondary *s = opaque;

	role_and_state(s, t);
	metrics_one(t, "colo_checkpoints_applied_total", METRIC_COUNTER,
		    "Checkpoints received whole, flushed into the SVM and "
		    "acknowledged.", (double)s->in.ckpt_count);
	metrics_one(t, "colo_checkpoints_not_now_total", METRIC_COUNTER,
		    "Checkpoints of an --exec program answered \"not now\": "
		    "the PVM held a file the SVM did not, nothing changed "
		    "here.", (double)s->in.not_now);
	metrics_histogram(t, "colo_checkpoint_pause_seconds",
			  "Time from each applied checkpoint's CKPT_BEGIN to "
			  "its flush into the SVM.", &s->in.pause_hist);
	metrics_histogram(t, "colo_checkpoint_pages",
			  "Pages each applied checkpoint carried.",
			  &s->in.pages_hist);
	if (sec_link_connected(&s->link) && hb_rtt_us(&s->link.rtt) >= 0)
		metrics_one(t, "colo_link_rtt_seconds", METRIC_GAUGE,
			    "The replication link's last round trip, measured "
			    "with the heartbeats.",
			    (double)hb_rtt_us(&s->link.rtt) / 1e6);
	metrics_one(t, "colo_failovers_total", METRIC_COUNTER,
		    "Takeovers by this daemon (a secondary that took over "
		    "and serves as the primary).", 0);
	metrics_one(t, "colo_placed_pages_total", METRIC_COUNTER,
		    "Pages the primary placed by RDMA WRITE into the RAM "
		    "cache rather than sent in the stream (--transport rdma).",
		    (double)s->in.placed_pages);
	metrics_one(t, "colo_guest_ram_bytes", METRIC_GAUGE,
		    "Guest RAM (0 until the primary's hello, or for an "
		    "--exec program).", (double)(s->in.have_ram ?
		    ram_layout_bytes(&s->in.ram) : 0));
}

int secondary_metrics_init(struct secondary *s)
{
	char why[256];
	int ret;

	if (!s->opts.metrics)
		return 0;
	ret = metrics_http_new(&s->metrics, s->loop, s->opts.metrics,
			       collect, s, why, sizeof(why));
	if (ret < 0) {
		log_error("--metrics: %s", why);
		return ret;
	}
	log_info("metrics on http://%s/metrics", s->opts.metrics);
	return 0;
}
