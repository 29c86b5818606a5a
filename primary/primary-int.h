/* SPDX-License-Identifier: MIT */
/*
 * The primary's context, shared by primary.c and control.c only (not part
 * of its API). The units keep their state in their own structs, each
 * header saying who owns what, and work on what they are handed, never on
 * this struct: proxy (proxy.h), pvm (pvm.h), link (link.h), checkpoint
 * (checkpoint.h), migration and dial (migration.h), ram_state
 * (ram-save.h). primary.c wires them (the proxy's, the PVM's and the
 * checkpoint's ops, the link's handler table and lost callback, the
 * migration's event_fd) and makes the transitions: it alone decides that
 * the secondary is lost, that live sync ended (event_fd) and what follows.
 *
 * Threads: the main thread runs the event loop (clients, the PVM's channel,
 * the link in colo state, the control socket) and checkpoints; it owns
 * proxy, pvm (but for pvm's hint-thread fields) and ckpt. The migration
 * thread runs live sync and owns the link until the join. The hint thread
 * (pvm.h) answers the PVM's free page hints into rs. ram_state has its own
 * lock (bitmap_mutex); everything else here belongs to the main thread,
 * except where a field says otherwise. What the migration thread reads is
 * its own copy (struct migration_config, taken by migration_start) or
 * atomic (max_wait_ms); what it writes is read by the main thread only
 * after the join (or is atomic). Status and errors the operator sees
 * (last_error) are written on the main thread only: the migration thread
 * reports through mig.error, which on_sync_done copies after the join.
 */
#ifndef COLO_PRIMARY_INTERNAL_H
#define COLO_PRIMARY_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "checkpoint.h"
#include "compare.h"
#include "dirtylog.h"
#include "link.h"
#include "migration.h"
#include "notify.h"
#include "primary.h"
#include "proto.h"
#include "proxy.h"
#include "pvm.h"
#include "ram-digest.h"
#include "ram-save.h"
#include "ramblock.h"

struct evloop;
struct ctl_server;
struct metrics_http;
struct xport;
struct xport_tls_ctx;

enum colo_state {
	COLO_STATE_STANDALONE,   /* no secondary: output goes straight out */
	COLO_STATE_CONNECTING,   /* dialling the secondary */
	COLO_STATE_SYNCING,      /* live sync running */
	COLO_STATE_COLO,         /* protected: outputs compared */
};

struct primary {
	struct primary_opts opts;       /* tunables may change via `set` */
	struct evloop *loop;
	struct ctl_server *ctl;
	_Atomic bool stop;              /* a stop was requested */
	bool guest_died;                /* ...by the PVM's death: exit 1 */
	int sig_fd;
	struct notify notify;           /* systemd (notify-state.c) */
	bool took_over;                 /* a secondary promoted in place */

	struct ram_layout ram;
	uint8_t guest_digest[PROTO_DIGEST_LEN];
	struct pvm pvm;                 /* see pvm.h (its hint thread) */
	struct dirtylog dlog;
	struct ram_state rs;            /* bitmap_mutex; hints use it too */

	struct proxy proxy;             /* the clients, see proxy.h */
	uint64_t last_tick_ms;

	/* the secondary */
	enum colo_state state;
	struct xport_tls_ctx *tls;
	/* The migration thread's from primary_sync_start to the join (it
	 * dials and fills it), the main thread's after. */
	struct link link;
	char last_error[1024];          /* main thread only; see above */
	char secondary_addr[256];       /* set by `protect` */
	bool redial;                    /* re-dial the secondary when lost */
	uint64_t redial_at_ms;          /* ... not before this */
	unsigned redial_backoff_ms;     /* 0 after success, then 500..5000 */
	uint64_t dial_failures;         /* in a row */
	struct proto_generation gen;    /* pair id, checkpoints begun */
	uint64_t secondary_losses;
	/* `failover` is taking the secondary away: its COLO_EXIT says
	 * "request"; secondary_lost clears it. */
	bool failover_requested;
	/* The metrics (scrape.c): their server, and what outlives a
	 * comparator (mismatches of those a lost secondary took along) or
	 * was decided before this primary (1: it is a secondary that took
	 * over). */
	struct metrics_http *metrics;
	uint64_t retired_mismatches;
	uint64_t failovers;

	/* live sync */
	struct migration mig;             /* see migration.h */
	_Atomic unsigned max_wait_ms;     /* `set max-wait` changes it */
	double last_sync_ms;
	uint64_t last_sync_pages, last_sync_bytes;
	unsigned last_sync_passes;      /* pre-copy passes over RAM */
	unsigned last_sync_channels;    /* connections it ran over */
	bool last_sync_converged;       /* else max passes forced the end */

	/* comparison and checkpoints: the comparator, counters, last
	 * result (see checkpoint.h) */
	struct checkpoint ckpt;
};

/* protect.c: live sync, colo state, a lost secondary, re-dialling. */
/* Live sync towards opts.secondary (state syncing), or -errno. */
int primary_sync_start(struct primary *p);
/* Live sync called off, the thread joined: standalone. */
void primary_sync_cancel(struct primary *p);

/* A running live sync (syncing, the secondary answered: mig.connected) as
 * it goes, for `status`, STATUS= and /metrics alike: the migration
 * thread's counters, read under bitmap_mutex (ram-save.h). Pages left are
 * the dirty ones, so done = sent / (sent + left); the rate is the average
 * since the secondary answered, eta_s < 0 until anything was sent. */
struct sync_progress {
	uint64_t pages_sent, pages_left, bytes_sent;
	double done;                    /* 0..1 */
	double mib_per_s;
	double eta_s;
};
void primary_sync_progress(struct primary *p, struct sync_progress *sp);
/* The link's last round trip in microseconds (hb-rtt.h) while a secondary
 * is connected, -1 otherwise or before the first. Any thread. */
int64_t primary_link_rtt_us(struct primary *p);
/* The migration thread's event fd: live sync ended (colo, or retry). */
void primary_on_sync_done(struct evloop *l, int fd, uint32_t events,
			  void *opaque);
/* The link's lost callback: secondary_lost. */
void primary_on_link_lost(void *opaque, const char *why);
/* Every tick: dial again once the backoff has passed. */
void primary_redial_tick(struct primary *p);

/* A checkpoint in colo state (-ENOTCONN otherwise); a failure but the
 * PVM's death or a stop request loses the secondary. See checkpoint_run. */
int colo_checkpoint(struct primary *p, bool verify, int child_wait_ms,
		    struct ckpt_result *res);

/* control.c */
int primary_control_init(struct primary *p);

/* notify-state.c: READY=1, then on every turn of the loop STATUS= when the
 * state's line changed and WATCHDOG=1 when due (notify.h). */
void primary_notify_ready(struct primary *p);
void primary_notify_tick(struct primary *p);
/* scrape.c: /metrics on opts.metrics, if set. 0 or -errno (logged). */
int primary_metrics_init(struct primary *p);

const char *colo_state_name(enum colo_state s);
/* The state as the operator sees it (connecting until the hello is in). */
const char *primary_state_name(struct primary *p);
/* Reads a pending SIGTERM/SIGINT (logging the state it finds us in) for
 * waits outside the loop; true once a stop was requested. */
bool primary_stop_requested(struct primary *p);
/* `set`: one tunable changes, and the units that keep a copy hear of it. */
void primary_set_tunable(struct primary *p, enum tunable_id id, uint64_t v);
/* The secondary is gone: go on unprotected (and dial again later). */
void secondary_lost(struct primary *p, const char *why);
/* The guest cannot be checkpointed (ckpt.refusal says why): no more
 * dialling until `protect`, the reason in last_error. */
void primary_refused_guest(struct primary *p);
/* For waits on the main thread (barriers, hashing for verify): heartbeats
 * go on; a pending stop signal ends the wait (-ECANCELED). */
int primary_wait_idle(void *opaque);
/* A comparator whose releases go to the proxy (NULL: out of memory). */
struct cmp *primary_comparator_new(struct primary *p);
/* The tunables in force, as the device state carries them. */
void primary_tunables(struct primary *p, struct proto_tunables *t);

#endif
