// SPDX-License-Identifier: MIT
/*
 * The primary's /metrics: each family read, at scrape time on the main
 * thread, from the counters `status` shows (control.c), plus the
 * checkpoint histograms. Names, types and units follow Prometheus's
 * conventions; README "Metrics" lists them.
 */
#include <errno.h>
#include <string.h>

#include "log.h"
#include "metrics-http.h"
#include "metrics.h"
#include "primary-int.h"

static void role_and_state(struct primary *p, struct metrics_text *t)
{
	static const enum colo_state states[] = {
		COLO_STATE_STANDALONE, COLO_STATE_CONNECTING,
		COLO_STATE_SYNCING, COLO_STATE_COLO,
	};
	const char *now = primary_state_name(p);
	size_t i;

	metrics_family(t, "colo_role", METRIC_GAUGE,
		       "1 for the role this daemon plays now.");
	metrics_sample(t, "colo_role", "role", "primary", 1);
	metrics_sample(t, "colo_role", "role", "secondary", 0);
	metrics_family(t, "colo_state", METRIC_GAUGE,
		       "1 for the state the pair is in, as status says it.");
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		const char *name = colo_state_name(states[i]);

		metrics_sample(t, "colo_state", "state", name,
			       !strcmp(name, now));
	}
}

static void checkpoints(struct primary *p, struct metrics_text *t)
{
	const struct checkpoint *c = &p->ckpt;

	metrics_family(t, "colo_checkpoints_total", METRIC_COUNTER,
		       "Checkpoints asked for, by reason (the first, which "
		       "ends live sync, has none).");
	metrics_sample(t, "colo_checkpoints_total", "reason", "mismatch",
		       (double)c->mismatches);
	metrics_sample(t, "colo_checkpoints_total", "reason", "timeout",
		       (double)c->timeouts);
	metrics_sample(t, "colo_checkpoints_total", "reason", "periodic",
		       (double)c->periodic);
	metrics_sample(t, "colo_checkpoints_total", "reason", "manual",
		       (double)c->manual);
	metrics_sample(t, "colo_checkpoints_total", "reason", "held_output",
		       (double)c->held);
	metrics_histogram(t, "colo_checkpoint_pause_seconds",
			  "Guest paused for each acknowledged checkpoint, "
			  "from the barrier to the secondary's ack.",
			  &c->pause_hist);
	metrics_histogram(t, "colo_checkpoint_pages",
			  "Dirty pages each acknowledged checkpoint sent.",
			  &c->pages_hist);
}

/* The current live sync's bytes and share done (status's percent); once
 * it ended, the last one's bytes and 1 in colo state (0 otherwise). */
static void live_sync(struct primary *p, struct metrics_text *t)
{
	double bytes = (double)p->last_sync_bytes;
	double progress = p->state == COLO_STATE_COLO ? 1 : 0;
	struct sync_progress sp;

	if (p->state == COLO_STATE_SYNCING && atomic_load(&p->mig.connected)) {
		primary_sync_progress(p, &sp);
		bytes = (double)sp.bytes_sent;
		progress = sp.done;
	}
	metrics_one(t, "colo_live_sync_sent_bytes", METRIC_GAUGE,
		    "Bytes the running live sync has sent (the last one's "
		    "once it ended).", bytes);
	metrics_one(t, "colo_live_sync_progress_ratio", METRIC_GAUGE,
		    "Share of the running live sync done, pages sent / (sent "
		    "+ still dirty): 0 to 1; 1 in colo state.", progress);
}

static void collect(void *opaque, struct metrics_text *t)
{
	struct primary *p = opaque;
	struct ram_save_stats rs;
	struct cmp_stats cs;

	cmp_get_stats(p->ckpt.cmp, &cs);
	ram_state_get_stats(&p->rs, &rs);
	role_and_state(p, t);
	checkpoints(p, t);
	metrics_one(t, "colo_held_output_bytes", METRIC_GAUGE,
		    "PVM output held until the SVM matches it or a "
		    "checkpoint releases it.", (double)cs.held_bytes);
	metrics_one(t, "colo_mismatches_total", METRIC_COUNTER,
		    "Connections whose PVM and SVM output differed.",
		    (double)(p->retired_mismatches + cs.mismatches));
	live_sync(p, t);
	if (primary_link_rtt_us(p) >= 0)
		metrics_one(t, "colo_link_rtt_seconds", METRIC_GAUGE,
			    "The replication link's last round trip, measured "
			    "with the heartbeats.",
			    (double)primary_link_rtt_us(p) / 1e6);
	metrics_one(t, "colo_failovers_total", METRIC_COUNTER,
		    "Takeovers by this daemon (a secondary that took over "
		    "and serves as the primary).", (double)p->failovers);
	metrics_one(t, "colo_secondary_losses_total", METRIC_COUNTER,
		    "Times the secondary was lost and the primary went on "
		    "unprotected.", (double)p->secondary_losses);
	metrics_one(t, "colo_guest_ram_bytes", METRIC_GAUGE,
		    "Guest RAM (0 for an --exec program).",
		    (double)ram_layout_bytes(&p->ram));
	metrics_one(t, "colo_checkpoints_put_off_total", METRIC_COUNTER,
		    "Tries of a checkpoint put off to be tried again: the "
		    "--exec program had a child, or the secondary answered "
		    "\"not now\".", (double)p->ckpt.put_offs);
	metrics_one(t, "colo_placed_pages_total", METRIC_COUNTER,
		    "Pages sent by RDMA WRITE into the secondary's RAM cache "
		    "rather than in the stream (--transport rdma).",
		    (double)rs.placed_pages);
	metrics_one(t, "colo_clients", METRIC_GAUGE,
		    "Clients connected to the service port.",
		    (double)proxy_nclients(&p->proxy));
}

int primary_metrics_init(struct primary *p)
{
	char why[256];
	int ret;

	if (!p->opts.metrics)
		return 0;
	ret = metrics_http_new(&p->metrics, p->loop, p->opts.metrics,
			       collect, p, why, sizeof(why));
	if (ret < 0) {
		log_error("--metrics: %s", why);
		return ret;
	}
	log_info("metrics on http://%s/metrics", p->opts.metrics);
	return 0;
}
