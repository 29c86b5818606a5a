/* SPDX-License-Identifier: MIT */
/*
 * The SVM: the secondary's copy of the guest, the process, its channel,
 * and the connections it believes open (what a takeover hands to the new
 * primary). It starts on RAM the caller prepared, gets the primary's
 * input events in order, and its output goes out through ops.output. It
 * knows nothing of the link or the checkpoint: those are the caller's,
 * reached only through svm_ops.
 *
 * The guest is one of two kinds, as on the primary (pvm.h): a
 * libcolo-guest program on RAM from the cache, or an unmodified program
 * (svm_use_exec; proc-guest.h) that a checkpoint makes the PVM's image
 * (svm_apply_image).
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
#include "proc-launch.h"
#include "proc-stop.h"
#include "proto.h"

struct evloop;
struct proc_guest;
struct proc_image;
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
	bool is_exec;                  /* an unmodified program: exec */
	uint16_t exec_port;
	struct proc_guest *exec;       /* on the heap, so svm_move moves it */
	/* The program's: the PVM's own pages as of the last checkpoint
	 * (proc-cache.h) and the program's dirty log, so that a delta
	 * changes only what may differ. Made at the first apply, gone with
	 * the program; on the heap like exec. */
	struct proc_cache *exec_cache;
	struct proc_track *exec_track;
	/* The last apply made the program's pages exec_cache's and
	 * exec_track has followed it since: the next writes only what may
	 * differ. False for a new program or a new cache. */
	bool exec_twin_is_cache;
	/* A streak of "not now" answers (SVM_APPLY_NOT_NOW) is under way:
	 * its first is logged, the rest only at debug level. */
	bool exec_not_now;
	struct dirtylog dlog;          /* the pages it writes (I4) */
	uint64_t input_seq;            /* last event fed to it */
	uint32_t *conns;               /* connections it believes open */
	size_t nconns, conns_cap;
	uint32_t max_conn_id;
	uint64_t barrier_id;
};

void svm_init(struct svm *v, struct evloop *loop, const char *guest,
	      const char *const *guest_args, const struct svm_ops *ops);
/* The guest is an unmodified program listening on port (--exec); call
 * before anything else. 0 or -ENOMEM. */
int svm_use_exec(struct svm *v, uint16_t port);
/* Stops it and frees the connection list. */
void svm_deinit(struct svm *v);

/* Start the guest on ram (NULL for an unmodified program, started afresh
 * the way the primary started its own), watched by the loop; the first
 * event it will get is input_seq + 1. 0 or -errno. */
int svm_start(struct svm *v, struct ram_layout *ram, uint64_t input_seq);

/* An unmodified program's live sync: img (pages only, one window) added
 * to the cache the first checkpoint's delta follows (proc-cache.h), or
 * the cache dropped (a new primary). 0 or -errno (logged). */
int svm_cache_image(struct svm *v, const struct proc_image *img);
void svm_drop_cache(struct svm *v);
/*
 * An unmodified program becomes the PVM's image (a checkpoint): its
 * connections made the PVM's (conns, from the device state: opened when
 * missing), the program stopped, the image applied (proc_image_apply),
 * each connection's unconsumed input written and the rest queued, the
 * program resumed. 0, or -errno (logged); after a failure the program is
 * half-made and the caller stops it. SVM_APPLY_NOT_NOW (logged) when the
 * PVM was caught between the open and the close of a regular file the
 * SVM does not hold (PROC_FDS_NOT_NOW): found with the program paused
 * before anything changed, so it runs on as it was, its page cache too.
 */
#define SVM_APPLY_NOT_NOW 1
struct svm_image_digests {
	uint32_t chunk_pages;           /* in */
	uint32_t nchunks;               /* out, with digests (malloc'd) */
	uint8_t *digests;
};
/* With dg (NULL: no verify), the SVM's memory is captured again after the
 * apply, before it resumes, and digested (proc-image-digest.h). */
int svm_apply_image(struct svm *v, const struct proc_image *img,
		    const uint32_t *conns, size_t nconns,
		    struct svm_image_digests *dg);
void svm_stop(struct svm *v);
bool svm_running(const struct svm *v);

/* One input event, in order (-EPROTO otherwise). */
int svm_feed(struct svm *v, const struct proto_input *in);
/* Wait until the SVM has handled every event fed (its output forwarded):
 * a safe point for a checkpoint. 0 or -errno. */
int svm_barrier(struct svm *v);

/* A takeover: the unmodified program leaves the SVM, running and seized
 * by this thread, its connections ended; *child and *stop get it. */
void svm_exec_detach(struct svm *v, struct proc_child *child,
		     struct proc_stop **tracer);
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
