/* SPDX-License-Identifier: MIT */
/*
 * Failover, seen from the secondary: when the primary is lost with an SVM
 * running, run the fence command and take over (or stay fenced, not
 * serving); keep a fenced SVM aside while a primary live-syncs us, bring
 * it back if that sync fails, drop it once a checkpoint applied or the
 * operator says so; and after the takeover, go on as a primary.
 *
 * Main thread only: every field is the event loop's (the fence command
 * runs in a child process, waited for on the main thread).
 */
#ifndef COLO_SECONDARY_FAILOVER_H
#define COLO_SECONDARY_FAILOVER_H

#include <stdbool.h>
#include <stdint.h>

#include "proto.h"
#include "ramblock.h"
#include "svm.h"

struct ctl_server;
struct incoming;
struct last_error;
struct sec_link;
struct secondary_opts;

/*
 * A fenced SVM kept while a primary that passed the generation check
 * live-syncs us: until that primary's first checkpoint has been applied,
 * the fenced SVM may still be the only copy of what clients saw, so a
 * failed sync brings it back instead of leaving nothing.
 */
struct fenced_svm {
	bool have;
	struct ram_layout ram;
	struct svm svm;
	struct proto_generation gen;
	struct proto_tunables tunables;
};

struct failover {
	struct incoming *in;
	struct svm *svm;
	struct sec_link *link;
	struct last_error *last_error;
	const char *fence_cmd;         /* NULL: take over without one */
	/* For the fence's wait: true once a stop was requested. */
	bool (*stop_requested)(void *opaque);
	void *opaque;
	/* Where COLO_EXIT and FENCED go (events.h); the owner sets it once
	 * the control socket is up. NULL: nowhere. */
	struct ctl_server *events;

	bool takeover;                 /* leave the loop and serve as primary */
	uint64_t lost_ms;              /* when the primary was found lost */
	struct fenced_svm kept;
	/* What the takeover serves from, set by failover_leave. */
	struct fenced_svm serve;
	bool serve_have_tunables;
	/* An unmodified program's, out of the SVM by failover_leave. */
	struct proc_child serve_child;
	struct proc_stop *serve_tracer;
};

void failover_init(struct failover *f, struct incoming *in, struct svm *svm,
		   struct sec_link *link, struct last_error *last_error,
		   const char *fence_cmd,
		   bool (*stop_requested)(void *opaque), void *opaque);

/* A primary connected: it is not lost (any more). */
void failover_connected(struct failover *f);
/*
 * The primary is lost (its link ended or went silent, or the operator
 * forces it): with an SVM running, take over (after the fence, unless
 * forced), else just reset. failover_taking_over says which came of it.
 */
void failover_primary_lost(struct failover *f, const char *why, bool forced);
bool failover_taking_over(const struct failover *f);
/* A stop request wins over a takeover decided in the same breath. */
void failover_abandon(struct failover *f);

/* The fenced SVM steps aside for a live sync (kept, not destroyed), comes
 * back if the sync fails, and goes for good once a checkpoint applied:
 * the incoming stream's hooks (incoming_hooks), wired by secondary.c. */
void failover_keep_fenced(void *opaque);
void failover_restore_fenced(void *opaque);
void failover_drop_kept(void *opaque);
/* The operator discards the fenced SVM (`colo-ctl drop-fenced`): 0, or
 * -ENOENT when there is none. */
int failover_discard_fenced(struct failover *f);

/* Before the loop is torn down, when taking over: the SVM and its RAM
 * leave the secondary's units (out of the loop, cache and dirty log gone). */
void failover_leave(struct failover *f);
/* After the loop: go on as a primary around the SVM, with opts' flags
 * unless the old primary's tunables arrived. primary_run_adopted's
 * result. */
int failover_handover(struct failover *f, const struct secondary_opts *opts);

#endif
