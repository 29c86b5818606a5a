/* SPDX-License-Identifier: MIT */
/*
 * The checkpoint transaction and its own state: the comparator whose
 * differences ask for one, the counters of why each was taken, the last
 * result. What it works on (the link, the PVM, the proxy, live sync's RAM
 * state) the owner (primary.c) hands in; what it needs of the rest of the
 * primary comes through checkpoint_ops. A failure is returned: the caller
 * decides that the secondary is lost.
 *
 * Threads: the main thread's; never touched while the migration thread
 * runs but for the comparator, which the proxy feeds on the main thread.
 */
#ifndef COLO_PRIMARY_CHECKPOINT_H
#define COLO_PRIMARY_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image-save.h"
#include "metrics.h"
#include "proto.h"
#include "ram-digest.h"

struct cmp;
struct link;
struct proto_msg;
struct proto_generation;
struct proto_tunables;
struct proxy;
struct pvm;
struct primary_opts;
struct ram_layout;
struct ram_state;

/*
 * Where a checkpoint's pause went, in ms, phase after phase: they add up
 * to pause_ms. The secondary's parts come from its ack; receive overlaps
 * send (the secondary stores pages as they come) and is not in the sum.
 */
struct ckpt_phases {
	double barrier;    /* the PVM brought to a safe point */
	double scan;       /* the dirty log read into the migration bitmap */
	double send;       /* pages, device state and CKPT_END written out */
	double receive;    /* secondary: CKPT_BEGIN to CKPT_END read */
	double apply;      /* secondary, after CKPT_END, but the flush: the
			    * SVM stopped, the device state checked */
	double flush;      /* secondary: colo_flush_ram_cache */
	double ack;        /* the rest of the wait: the stream's tail on the
			    * way, the ack's trip back */
	double resume;     /* held output released, the PVM resumed */
	/* Not phases: the CPU time each daemon's thread used meanwhile
	 * (pause_ms beyond it is time others on the machine took). */
	double cpu, secondary_cpu;
};

struct ckpt_result {
	uint64_t id;
	uint64_t pages;
	uint64_t bytes;
	uint64_t delta_pages;        /* of pages: sent as deltas */
	uint64_t delta_bytes;        /* of bytes: those deltas' */
	uint64_t image_bytes;        /* an --exec program's encoded image */
	uint64_t own_pages;          /* the --exec program's own: its size */
	double pause_ms;
	struct ckpt_phases phases;
	/* filled while waiting for the acknowledgement */
	bool acked;
	int status;                  /* the secondary's, 0 or -errno */
	struct proto_ckpt_ack sec;   /* its times (us) */
	bool verify;                 /* asked for a RAM comparison */
	bool verified;               /* the secondary's digests arrived */
	uint32_t chunk_pages, nchunks;
	uint8_t *pvm_digests;        /* nchunks * 32 */
	uint64_t *chunk_addr;        /* an --exec program's: chunk i's start */
	struct ram_digest_range *diff;
	size_t ndiff;
	int diff_err;                /* 0, or -errno: no (whole) list */
};

/*
 * Step 3 of the transaction, after CKPT_END went out: expect VERIFY (when
 * res->verify; its digests are compared with res->pvm_digests of ram),
 * then CKPT_ACK for res->id. Other traffic goes through the link's
 * handlers. A secondary that failed acks at once with its error, VERIFY or
 * not. 0; the secondary's error (res->status); -EPROTO for an answer out
 * of turn or for another checkpoint; or the link's -errno.
 */
int checkpoint_expect_ack(struct link *l, const struct ram_layout *ram,
			  struct ckpt_result *res);

void ckpt_result_free(struct ckpt_result *res);

/* What a checkpoint needs of the rest of the primary. */
struct checkpoint_ops {
	/* Between the steps of a long wait (barrier, hashing for verify):
	 * heartbeats go on; -ECANCELED ends the wait (a stop request). */
	int (*idle)(void *opaque);
	/* The tunables in force, for the device state. */
	void (*tunables)(void *opaque, struct proto_tunables *t);
	/* The SVM's output on conn differed from the PVM's (what: "output"
	 * or "close"); may be NULL. */
	void (*mismatch)(void *opaque, uint32_t conn, const char *what);
};

struct checkpoint {
	/* Handed in by the owner, which outlives the checkpoint. */
	struct link *link;
	struct pvm *pvm;
	struct proxy *proxy;
	struct ram_state *rs;
	const struct ram_layout *ram;
	const struct primary_opts *opts;  /* the delays and limits in force */
	const uint64_t *clock_ms;         /* the daemon clock ticks carry */
	struct proto_generation *gen;     /* generation++ as each begins */
	const struct checkpoint_ops *ops;
	void *opaque;

	/* Its own. The comparator: the owner makes and replaces it (its
	 * releases go to the proxy) when a secondary is lost. */
	struct cmp *cmp;
	bool requested;                 /* at the next chance */
	/* Why the next one is taken, as status's checkpoint_reasons names
	 * it; set where it is requested or found due, NULL after it ran. */
	const char *reason;
	uint64_t last_ms;               /* when the last one ended */
	uint64_t count;                 /* acknowledged */
	uint64_t mismatches, timeouts, periodic, manual;
	uint64_t held;                  /* forced by --max-held-output */
	/* An --exec program's child (BGSAVE) puts a checkpoint off: the
	 * loop serves on until then, and the streak's start is logged. */
	uint64_t put_off_until_ms, put_off_since_ms;
	uint64_t put_offs;              /* by a child or by the secondary */
	/* The secondary's "not now" (an fd the PVM had open mid-way, that
	 * the SVM did not): put off the same way; the streak's start, 0
	 * outside one. */
	uint64_t not_now_since_ms;
	/* Each acknowledged one's pause (s) and pages, for the metrics;
	 * the owner initialises them (metrics_hist_init_ckpt_*). */
	struct metrics_hist pause_hist, pages_hist;
	/* An --exec program's: what the next image is a delta of. */
	struct image_save_base img_base;
	/* After -ENOTSUP: why the guest cannot be checkpointed (an --exec
	 * program holding an fd of a kind the SVM cannot be given). */
	char refusal[256];
	struct ckpt_result last;        /* without digests or diff */
};

/*
 * How long a checkpoint waits for an --exec program's child to end (the
 * PVM runs meanwhile, the loop does not): one an operator asked for (and
 * the first) is patient; one the loop takes only glances, and is put off
 * for CKPT_CHILD_RETRY_MS while clients are served, as long as the child
 * lives (a BGSAVE of minutes).
 */
#define CKPT_CHILD_WAIT_MS 5000
#define CKPT_CHILD_GLANCE_MS 50
#define CKPT_CHILD_RETRY_MS 250

/*
 * How long a streak of the secondary's "not now" may last before the
 * checkpoint is given up (-EBUSY; the caller loses the secondary, as for
 * any failed one). A program holds a file open between two instructions
 * for a DEBUG RELOAD or a foreground SAVE: a second or two on a big data
 * set. The same bound as a requested checkpoint's wait for a child: past
 * it the pair is as good as unprotected (no checkpoint, output that
 * differs held), and a re-protection's whole transfer is the better deal.
 */
#define CKPT_NOT_NOW_MAX_MS CKPT_CHILD_WAIT_MS

/*
 * The whole transaction (steps 1 to 4 in checkpoint.c), with verify a RAM
 * comparison as well; res is the caller's to free (ckpt_result_free). 0;
 * -ECHILD when the PVM died; -ECANCELED on a stop request (the held output
 * stays held); -EAGAIN when put off (an --exec program's child outlived
 * child_wait_ms, or the secondary answered "not now" to one that does not
 * wait: child_wait_ms below CKPT_CHILD_RETRY_MS); -EBUSY when the
 * secondary's "not now" lasted CKPT_NOT_NOW_MAX_MS; any other -errno: the
 * secondary is lost (-EBUSY too). A caller that waits for a child waits
 * through the secondary's "not now" as well, trying again every
 * CKPT_CHILD_RETRY_MS (the PVM running, the loop not), until it is taken
 * or given up.
 */
int checkpoint_run(struct checkpoint *c, bool verify, int child_wait_ms,
		   struct ckpt_result *res);
/* The first, which ends live sync; the SVM starts from its cache. */
int checkpoint_first(struct checkpoint *c);
/* The reason a checkpoint is due now (counted), or false. */
bool checkpoint_due(struct checkpoint *c, uint64_t now_ms);
/* The earliest time one may fall due (checkpoint_due), before limit. */
uint64_t checkpoint_deadline_ms(const struct checkpoint *c, uint64_t limit);

/* The comparator found the outputs apart: checkpoint at the next chance. */
void checkpoint_mismatch(struct checkpoint *c);
/* Past --max-held-output, checkpoint rather than hold more. */
void checkpoint_check_held(struct checkpoint *c);
/* The SVM's output (an OUTPUT message of the link), compared like the
 * PVM's. 0 always: what cannot be compared is dropped. */
int checkpoint_on_svm_output(struct checkpoint *c, const struct proto_msg *m);

#endif
