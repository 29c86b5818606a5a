/* SPDX-License-Identifier: MIT */
/*
 * The SVM: the secondary's copy of the guest, the process, its channel,
 * and the connections it believes open (what a takeover hands to the new
 * primary). It starts on RAM the caller prepared, gets the primary's
 * input events in order, and its output goes out through ops.output. It
 * knows nothing of the link or the checkpoint: those are the caller's,
 * reached only through svm_ops.
 *
 * Main thread only: every field is touched by the event loop.
 */
#ifndef COLO_SECONDARY_SVM_H
#define COLO_SECONDARY_SVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dirtylog.h"
#include "guestproc.h"
#include "proto.h"

struct evloop;
struct ram_layout;

struct svm_ops {
	/* The SVM's output (PROTO_OUTPUT) for the primary's comparator; a
	 * failure to send is the link's business, never the SVM's death. */
	void (*output)(void *opaque, const struct proto_msg *m);
	/* Runs during waits (start, barriers): heartbeats; <0 ends the wait. */
	int (*idle)(void *opaque);
	/* The SVM or one of its channels went away. */
	void (*gone)(void *opaque, const char *why);
	void *opaque;
};

struct svm {
	struct evloop *loop;
	struct svm_ops ops;
	const char *guest;
	const char *const *guest_args;
	struct guestproc proc;         /* proc.pid < 0: not running */
	struct dirtylog dlog;          /* the pages it writes (I4) */
	uint64_t input_seq;            /* last event fed to it */
	uint32_t *conns;               /* connections it believes open */
	size_t nconns, conns_cap;
	uint32_t max_conn_id;
	uint64_t barrier_id;
};

void svm_init(struct svm *v, struct evloop *loop, const char *guest,
	      const char *const *guest_args, const struct svm_ops *ops);
/* Stops it and frees the connection list. */
void svm_deinit(struct svm *v);

/* Start the guest on ram, watched by the loop; the first event it will
 * get is input_seq + 1. 0 or -errno. */
int svm_start(struct svm *v, struct ram_layout *ram, uint64_t input_seq);
void svm_stop(struct svm *v);
bool svm_running(const struct svm *v);

/* One input event, in order (-EPROTO otherwise). */
int svm_feed(struct svm *v, const struct proto_input *in);
/* Wait until the SVM has handled every event fed (its output forwarded):
 * a safe point for a checkpoint. 0 or -errno. */
int svm_barrier(struct svm *v);

/* Take it out of the loop and back (a kept fenced SVM, a takeover). */
void svm_unwatch(struct svm *v);
int svm_watch(struct svm *v);
/* Move the SVM, its dirty log and connections from src to dst; src is
 * left stopped and empty. Watching is the caller's (svm_unwatch first). */
void svm_move(struct svm *dst, struct svm *src);

/* The connections: the SVM opens and closes them on input and on its own
 * CLOSE; a checkpoint replaces them with the PVM's. */
void svm_conns_add(struct svm *v, uint32_t id);
void svm_conns_remove(struct svm *v, uint32_t id);
int svm_conns_replace(struct svm *v, const uint32_t *ids, size_t n);
void svm_conns_clear(struct svm *v);

#endif
