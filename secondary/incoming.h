/* SPDX-License-Identifier: MIT */
/*
 * The incoming stream: what the secondary does with each message from the
 * primary, as a small state machine over the link's messages.
 *
 *   WAITING -(connected)-> HELLO -([IDENTITY,] hello accepted)-> SYNC
 *   SYNC -(CKPT_BEGIN first)-> CKPT
 *   CKPT: PAGES/DISCARD* | IMAGE*, DEVICE_STATE, CKPT_END (apply, ack)
 *         -> COLO
 *   COLO: INPUT* -(CKPT_BEGIN)-> CKPT ...
 *
 * It owns the guest's RAM and the RAM cache (set up from the hello), the
 * checkpoint being received and what the SVM holds (generation and
 * tunables of the last applied checkpoint, I8). It drives the SVM and
 * answers over the link; the fenced SVM (failover's) is reached only
 * through incoming_hooks, which the role's top file wires.
 *
 * Main thread only, like the link: every field is the event loop's. The
 * RAM cache has its own lock (ramcache.h).
 */
#ifndef COLO_SECONDARY_INCOMING_H
#define COLO_SECONDARY_INCOMING_H

#include <stdbool.h>
#include <stdint.h>

#include "chan-rx.h"
#include "image-load.h"
#include "metrics.h"
#include "sec-link.h"
#include "proto.h"
#include "ramblock.h"
#include "ramcache.h"
#include "svm.h"

struct last_error;
struct svm;

enum in_state {
	IN_WAITING,    /* no primary connected */
	IN_HELLO,      /* connected, hello not yet accepted */
	IN_SYNC,       /* live sync: pages into the cache */
	IN_CKPT,       /* between CKPT_BEGIN and CKPT_END */
	IN_COLO,       /* the SVM runs on the primary's input */
	IN_FENCED,     /* primary lost, fence refused: SVM kept, not serving */
};

/* What the fenced SVM's keeper (failover) does at the stream's turns;
 * each may be NULL. */
struct incoming_hooks {
	/* A primary passed the generation check while fenced: the fenced
	 * SVM, its RAM and generation step aside (incoming_release). */
	void (*replacing_fenced)(void *opaque);
	/* A checkpoint was applied: whatever was kept is superseded. */
	void (*checkpoint_applied)(void *opaque);
	/* After a reset: a kept fenced SVM may come back (incoming_adopt). */
	void (*reset_done)(void *opaque);
	void *opaque;
	/* A checkpoint was applied and is being acknowledged (first: the one
	 * that ends live sync), for the events; its own opaque. */
	void (*checkpoint_acked)(void *opaque, bool first);
	void *acked_opaque;
};

struct incoming {
	struct sec_link *link;
	struct svm *svm;
	struct last_error *last_error;
	struct incoming_hooks hooks;
	uint8_t guest_digest[PROTO_DIGEST_LEN];
	enum in_state state;

	/* An unmodified program (the SVM's kind): no RAM, the primary's
	 * identity checked before its hello, and each checkpoint an image. */
	bool is_exec;
	bool have_identity;
	struct image_load image;
	struct svm_image_digests svm_digests;  /* for VERIFY */

	/* RAM, set up from the primary's hello */
	bool have_ram;
	struct ram_layout ram;
	struct ramcache cache;
	/* The live sync's extra channels (their receiver threads). */
	struct chan_rx chans;

	/* what the SVM holds: the last applied checkpoint's (I8) */
	struct proto_generation gen;
	struct proto_tunables tunables;
	bool have_tunables;

	/* the checkpoint being received */
	uint64_t ckpt_id;
	uint32_t ckpt_flags;
	uint64_t ckpt_pages;         /* pages received in it */
	uint64_t ckpt_end_pages;     /* what CKPT_END claims (an image's) */
	bool have_devstate;
	uint64_t dev_input_seq;
	uint32_t *dev_conns;         /* the checkpoint's connection list */
	size_t ndev_conns;
	struct proto_generation dev_gen;
	struct proto_tunables dev_tunables;
	uint64_t ckpt_begin_ms;
	uint64_t ckpt_begin_us, ckpt_end_us;   /* when BEGIN, END were read */
	uint64_t ckpt_begin_cpu_us;            /* the thread's CPU time then */
	/* Where this side's time went (what the ack carries, and status
	 * shows): all but end_us are filled as the phases run. */
	struct proto_ckpt_ack phases;

	/* stats */
	uint64_t ckpt_count;
	uint64_t not_now;            /* checkpoints answered "not now" */
	uint64_t last_ckpt_pages, last_ckpt_flushed;
	double last_ckpt_apply_ms;
	struct proto_ckpt_ack last_phases;     /* of the last applied one */
	uint64_t sync_pages;
	uint64_t placed_pages;       /* of all pages: placed by RDMA WRITE */
	uint64_t delta_pages;        /* of all pages: in PAGES DELTA messages */
	/* Each applied checkpoint's time from CKPT_BEGIN to the flush's end
	 * (s), and its pages: the metrics' histograms. */
	struct metrics_hist pause_hist, pages_hist;
};

void incoming_init(struct incoming *in, struct sec_link *link,
		   struct svm *svm, struct last_error *last_error,
		   const uint8_t guest_digest[PROTO_DIGEST_LEN],
		   const struct incoming_hooks *hooks);
/* Forgets the primary (incoming_reset) and frees what is left; whoever
 * keeps a fenced SVM drops it first, or the reset brings it back. */
void incoming_deinit(struct incoming *in);

/* The handlers to give the link (sec_link_ops.handlers, opaque: the
 * incoming); PROTO__MAX entries. */
extern const sec_link_handler incoming_handlers[PROTO__MAX];
/* One message through that table, as the link does: 0 or -errno, after
 * which the connection ends. */
int incoming_handle(struct incoming *in, const struct proto_msg *m);

/* For the link (sec_link_ops): does the live sync expect another channel,
 * and one presented CHANNEL c (chan_rx_take). */
bool incoming_channel_wanted(struct incoming *in);
int incoming_channel(struct incoming *in, struct xport *x,
		     const struct proto_channel *c, char *why, size_t whylen);

/* A primary connected: now its hello is awaited (a fenced SVM stays). */
void incoming_connected(struct incoming *in);
/* Forget the primary: close the link, stop the SVM, drop RAM; then
 * hooks.reset_done. The state is WAITING unless a fenced SVM came back. */
void incoming_reset(struct incoming *in, const char *why);
const char *in_state_name(enum in_state st);
/* The primary is lost and the fence refused: the SVM stays, not serving. */
void incoming_fenced(struct incoming *in);

/* The SVM stays but leaves the secondary (fenced and kept, or taken
 * over): its RAM and what it holds go to the caller, the cache goes.
 * True when tunables came with a checkpoint (else *tunables is unset). */
bool incoming_release(struct incoming *in, struct ram_layout *ram,
		      struct proto_generation *gen,
		      struct proto_tunables *tunables);
/* A kept fenced SVM comes back: its RAM under a new cache (-errno when
 * there is none; the RAM is ours anyway), state FENCED. */
int incoming_adopt(struct incoming *in, const struct ram_layout *ram,
		   const struct proto_generation *gen,
		   const struct proto_tunables *tunables);

#endif
