// SPDX-License-Identifier: MIT
/*
 * What a drill prints: a report for people, then one "drill-result" line of
 * key=value pairs for scripts (times in ms, -1 when it did not happen).
 */
#include "drill-run.h"

#include <inttypes.h>
#include <stdio.h>

const char *const drill_kind_names[DRILL__MAX] = {
	[DRILL_FAILOVER] = "failover",
	[DRILL_SECONDARY_LOSS] = "secondary-loss",
	[DRILL_PARTITION] = "partition",
};

const char *const drill_moment_names[AT__MAX] = {
	[AT_ANY] = "any", [AT_CHECKPOINT] = "checkpoint", [AT_HELD] = "held",
	[AT_SYNC] = "sync",
};

static long long since_fault(const struct drill *d, int64_t t)
{
	return t && d->t_fault ? (long long)(t - d->t_fault) : -1;
}

static uint64_t lost(const struct drill *d)
{
	return d->chk.lost_incrs + d->chk.lost_sets;
}

bool drill_passed(const struct drill *d)
{
	return !d->failed[0] && d->checked && lost(d) == 0 && d->verify == 1;
}

static void print_fault(const struct drill *d)
{
	if (!d->t_fault) {
		printf("  fault:                 not made\n");
		return;
	}
	switch (d->kind) {
	case DRILL_FAILOVER:
		printf("  fault:                 kill -9 of the primary on host %s (pid %d)",
		       d->p.host, d->p.pid);
		break;
	case DRILL_SECONDARY_LOSS:
		printf("  fault:                 kill -9 of the secondary on host %s (pid %d)",
		       d->s.host, d->s.pid);
		break;
	default:
		printf("  fault:                 replication link down (%s in %s)",
		       d->p.repl_if, d->p.ns);
		break;
	}
	printf(", %lld ms into the load\n", (long long)(d->t_fault - d->t_start));
}

static void print_lost(const struct drill *d)
{
	if (!d->checked) {
		printf("  writes lost:           unknown: %s\n",
		       d->chk.error[0] ? d->chk.error : "not read back");
		return;
	}
	printf("  writes lost:           %" PRIu64 " (counter %lld, highest acknowledged INCR %lld; %" PRIu64 " acknowledged SETs read back, %" PRIu64 " wrong)\n",
	       lost(d), d->chk.counter, d->w.max_incr, d->chk.sets_checked,
	       d->chk.lost_sets);
	if (d->chk.lost_incrs)
		printf("  lost INCRs:            %" PRIu64 " acknowledged replies above the counter\n",
		       d->chk.lost_incrs);
	if (d->chk.first_lost[0])
		printf("  first lost SET:        %s\n", d->chk.first_lost);
}

void drill_report(const struct drill *d)
{
	const struct drill_host *sec = d->kind == DRILL_SECONDARY_LOSS ? &d->s : &d->p;
	uint64_t acked = d->w.incr_acked + d->w.set_acked;

	printf("drill %s (at %s, seed %" PRIu64 ", lab %s)\n",
	       drill_kind_names[d->kind], drill_moment_names[d->at], d->seed,
	       d->lab.dir);
	print_fault(d);
	if (d->t_detect)
		printf("  time to detect:        %lld ms (host %s says %s)\n",
		       since_fault(d, d->t_detect), d->serve->host,
		       d->detect_state);
	else
		printf("  time to detect:        not detected\n");
	if (d->t_serve)
		printf("  time to serve again:   %lld ms (first acknowledged write sent after the fault, host %s)\n",
		       since_fault(d, d->t_serve), d->serve->host);
	else
		printf("  time to serve again:   never\n");
	printf("  writes acknowledged:   %" PRIu64 " (%" PRIu64 " INCR, %" PRIu64 " SET), %" PRIu64 " after the fault\n",
	       acked, d->w.incr_acked, d->w.set_acked, d->w.acked_after_fault);
	printf("  writes unanswered:     %" PRIu64 " (sent, no reply: in flight at the fault or at the end); %" PRIu64 " error replies\n",
	       d->w.next_op - acked - d->w.errors, d->w.errors);
	printf("  client connections:    %" PRIu64 " made, %" PRIu64 " broke, %" PRIu64 " timed out\n",
	       d->w.connects, d->w.disconnects, d->w.timeouts);
	print_lost(d);
	if (d->t_colo)
		printf("  re-protection:         host %s protected by a new secondary on host %s%s: colo %lld ms after the fault\n",
		       d->serve->host, sec->host,
		       d->redialled ? " (the primary dialled it itself)" : "",
		       since_fault(d, d->t_colo));
	printf("  state after re-protection: %s\n",
	       d->final_state[0] ? d->final_state : "(not reached)");
	printf("  verify:                %s\n",
	       d->verify_msg[0] ? d->verify_msg : "not run");
	for (int i = 0; i < d->nnotes; i++)
		printf("  note: %s\n", d->notes[i]);
	if (d->failed[0])
		printf("  failed: %s\n", d->failed);
	printf("result: %s\n", drill_passed(d) ? "PASS" : "FAIL");
	printf("drill-result kind=%s at=%s seed=%" PRIu64 " detect_ms=%lld serve_ms=%lld reprotect_ms=%lld acked=%" PRIu64 " acked_after_fault=%" PRIu64 " unanswered=%" PRIu64 " lost=%lld state=%s verify=%s split_brain=%d fenced=%d ckpt=%s result=%s\n",
	       drill_kind_names[d->kind], drill_moment_names[d->at], d->seed,
	       since_fault(d, d->t_detect), since_fault(d, d->t_serve),
	       since_fault(d, d->t_colo), acked, d->w.acked_after_fault,
	       d->w.next_op - acked - d->w.errors, d->checked ? (long long)lost(d) : -1LL,
	       d->final_state[0] ? d->final_state : "none",
	       d->verify == 1 ? "identical" : d->verify == 0 ? "different" : "none",
	       d->old_primary_served, d->fenced,
	       d->ckpt_outcome ? d->ckpt_outcome : "none", drill_passed(d) ? "PASS" : "FAIL");
	fflush(stdout);
}
