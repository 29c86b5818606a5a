/* SPDX-License-Identifier: MIT */
/*
 * A process guest's checkpoint data: the stopped program captured whole
 * (proc-image.h), each connection's input it has not consumed added from
 * the daemon's own history, encoded (proc-image-wire.h) and sent as IMAGE
 * pieces. The --exec counterpart of ram_save_complete: it runs between
 * CKPT_BEGIN and DEVICE_STATE, on the thread that holds the program
 * stopped (the main thread, which seized it).
 *
 * Every piece goes out with a blocking write bounded by the link's
 * timeout; nothing here holds a lock (there is no live sync to share the
 * link with: the first checkpoint carries all of the program's memory).
 */
#ifndef COLO_PRIMARY_IMAGE_SAVE_H
#define COLO_PRIMARY_IMAGE_SAVE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "proc-image.h"
#include "proc-track.h"

struct proc_guest;
struct xport;

/*
 * What the next image is a delta of: the PVM program's dirty log and the
 * last image's own pages (proc_image_base). Opened on the program at its
 * first save, reopened when the program changes (a takeover adopts
 * another); the checkpoint owns it.
 */
struct image_save_base {
	struct proc_track track;
	pid_t pid;                      /* the program it follows; 0: none */
	struct proc_image_base base;
};

/* The next save sends the whole program (the last one may or may not
 * have been applied: we cannot know what the secondary holds). */
void image_save_base_invalidate(struct image_save_base *b);
/* The last save was not applied and the secondary holds the image
 * before it, unchanged (its "not now"): the next save is a delta of that
 * one (proc_image_base_not_applied), not the whole program. */
void image_save_base_not_applied(struct image_save_base *b);
void image_save_base_close(struct image_save_base *b);

struct image_save_stats {
	bool full;                      /* the whole program, not a delta */
	uint64_t pages;                 /* own pages carried */
	uint64_t own_pages;             /* own pages the program holds */
	uint64_t bytes;                 /* the encoded image */
	uint64_t threads, fds, conns;
	/* With -ENOTSUP: what the program holds that cannot be copied
	 * (proc_fds_check's one line, naming the fd). */
	char refusal[256];
};

/* For `verify`: the image's chunk digests (proc-image-digest.h) and each
 * chunk's first address, malloc'd; the caller frees both. */
struct image_save_verify {
	uint32_t chunk_pages;           /* in */
	uint32_t nchunks;
	uint8_t *digests;
	uint64_t *chunk_addr;
};

/* Called between the steps (capture, digests, encoding) and before each
 * piece: heartbeats go on through a long save (a loaded host took 1.7 s
 * over 15 MiB, past the secondary's failover timeout); non-zero (a stop
 * request) ends the save with that value. */
struct image_save_idle {
	int (*fn)(void *opaque);
	void *opaque;
};

/*
 * One live-sync pass over a program that runs (pid, its pidfd): its own
 * pages, all of them with full, else those that changed since the last
 * pass with b, sent as images of pages only, a window of the address
 * space each (proc_image_sweep_next), heartbeats between them; the
 * secondary adds each to its cache. The first checkpoint then sends what
 * changed since. For the migration thread, while the main thread leaves b
 * alone. 0 or -errno (logged); b is invalid after a failure.
 */
int image_save_live(struct image_save_base *b, pid_t pid, int pidfd,
		    bool full, struct xport *x,
		    const struct image_save_idle *idle,
		    struct image_save_stats *st);

/*
 * Captures the held program of g and sends it on x: whole when b follows
 * nothing this secondary has (no live sync on this link, the last image
 * failed or verify found a difference), else only what changed since the
 * last image taken with b (proc-image.h, deltas). Afterwards each
 * connection's input history keeps only what the program had not consumed
 * (the next image needs no older byte: the program only reads forward).
 * With ver (NULL: no verify), the digests of every own page the program
 * holds (read now for a delta), which the secondary's SVM must equal once
 * it applied the image. 0; -ENOTSUP when the
 * program holds something a checkpoint cannot copy (st->refusal says
 * what: protecting it would diverge silently); or -errno with the reason
 * logged.
 */
int image_save(struct proc_guest *g, struct image_save_base *b,
	       struct xport *x, const struct image_save_idle *idle,
	       struct image_save_stats *st, struct image_save_verify *ver);

#endif
