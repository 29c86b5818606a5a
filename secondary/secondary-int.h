/* SPDX-License-Identifier: MIT */
/*
 * The secondary's context, shared by its files (not part of its API). One
 * thread: the event loop handles the primary's link, the SVM's channel and
 * the control socket. The RAM cache has its own lock for the day pages
 * arrive on another thread (RDMA); here it is taken once per message.
 */
#ifndef COLO_SECONDARY_INTERNAL_H
#define COLO_SECONDARY_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "dirtylog.h"
#include "guestproc.h"
#include "proto.h"
#include "ramblock.h"
#include "ramcache.h"
#include "secondary.h"

struct evloop;
struct ctl_server;
struct xport;
struct xport_tls_ctx;

enum in_state {
	IN_WAITING,    /* no primary connected */
	IN_HELLO,      /* connected, hello not yet accepted */
	IN_SYNC,       /* live sync: pages into the cache */
	IN_CKPT,       /* between CKPT_BEGIN and CKPT_END */
	IN_COLO,       /* the SVM runs on the primary's input */
	IN_FENCED,     /* primary lost, fence refused: SVM kept, not serving */
};

/* A TLS handshake in progress on an accepted connection, driven by the
 * loop: a silent peer costs a file descriptor until its deadline. */
#define SEC_PENDING_MAX 4
struct sec_pending {
	struct xport *x;             /* NULL: free slot */
	uint64_t deadline_ms;
};

/*
 * A fenced SVM kept while a primary that passed the generation check
 * live-syncs us: until that primary's first checkpoint has been applied,
 * the fenced SVM may still be the only copy of what clients saw, so a
 * failed sync brings it back instead of leaving nothing.
 */
struct sec_kept_svm {
	bool have;
	struct ram_layout ram;
	struct guestproc svm;
	struct dirtylog dlog;
	uint64_t input_seq;
	uint32_t *conns;
	size_t nconns, conns_cap;
	uint32_t max_conn_id;
	struct proto_generation gen;
	struct proto_tunables tunables;
};

struct secondary {
	struct secondary_opts opts;
	struct evloop *loop;
	struct ctl_server *ctl;
	bool stop;
	bool stop_signalled;         /* SIGTERM/SIGINT: stop, never take over */
	int sig_fd;
	uint8_t guest_digest[PROTO_DIGEST_LEN];

	/* the primary */
	int listen_fd;
	struct xport_tls_ctx *tls;
	struct sec_pending pending[SEC_PENDING_MAX];
	struct xport *link;
	char peer[64];
	struct proto_rxbuf rx;
	enum in_state state;
	char last_error[1024];
	uint64_t link_rx_ms;         /* last message from the primary */
	uint64_t link_hb_ms;         /* last heartbeat sent */
	bool takeover;               /* leave the loop and serve as primary */
	uint64_t lost_ms;            /* when the primary was found lost */

	/* RAM, set up from the primary's hello */
	bool have_ram;
	struct ram_layout ram;
	struct ramcache cache;

	/* the SVM */
	struct guestproc svm;
	struct dirtylog dlog;
	uint64_t input_seq;          /* last event fed to the SVM */
	uint32_t *conns;             /* connections the SVM believes open */
	size_t nconns, conns_cap;
	uint32_t max_conn_id;
	uint64_t barrier_id;
	/* what the SVM holds: the last applied checkpoint's (I8) */
	struct proto_generation gen;
	struct proto_tunables tunables;
	bool have_tunables;
	struct sec_kept_svm kept;

	/* the checkpoint being received */
	uint64_t ckpt_id;
	uint32_t ckpt_flags;
	uint64_t ckpt_pages;         /* pages received in it */
	bool have_devstate;
	uint64_t dev_input_seq;
	uint32_t *dev_conns;         /* the checkpoint's connection list */
	size_t ndev_conns;
	struct proto_generation dev_gen;
	struct proto_tunables dev_tunables;
	uint64_t ckpt_begin_ms;

	/* stats */
	uint64_t ckpt_count;
	uint64_t last_ckpt_pages, last_ckpt_flushed;
	double last_ckpt_apply_ms;
	uint64_t sync_pages;
};

/* secondary.c: reads a pending SIGTERM/SIGINT (logging the state it finds
 * us in) for waits outside the loop; true once a stop was requested. */
bool secondary_stop_requested(struct secondary *s);

/* incoming.c: one message from the primary; -errno ends the connection. */
int incoming_handle(struct secondary *s, const struct proto_msg *m);
const char *in_state_name(enum in_state st);
/* The RAM cache over s->ram, heartbeating while it flushes. */
int incoming_cache_init(struct secondary *s);
/* Forget the primary: close the link, stop the SVM, drop RAM. */
void incoming_reset(struct secondary *s, const char *why);

/* failover.c */
/* The link to the primary ended (or went silent): with an SVM running, take
 * over (after the fence, unless forced); without one, just reset. */
void secondary_primary_lost(struct secondary *s, const char *why, bool forced);
void secondary_tick(struct secondary *s);
int secondary_handover(struct secondary *s);
/* The fenced SVM steps aside for a live sync (kept, not destroyed), comes
 * back if the sync fails, and goes for good once a checkpoint applied. */
void fenced_keep(struct secondary *s);
bool fenced_restore(struct secondary *s);
void fenced_drop_kept(struct secondary *s);
/* The operator discards the fenced SVM: `colo-ctl drop-fenced`. */
int fenced_discard(struct secondary *s);
void conns_add(struct secondary *s, uint32_t id);
void conns_remove(struct secondary *s, uint32_t id);
int conns_replace(struct secondary *s, const uint32_t *ids, size_t n);

/* svm.c */
int svm_start(struct secondary *s);
void svm_stop(struct secondary *s);
int svm_feed(struct secondary *s, const struct proto_input *in);
int svm_barrier(struct secondary *s);
void svm_on_readable(struct evloop *l, int fd, uint32_t events, void *opaque);
void svm_on_hint(struct evloop *l, int fd, uint32_t events, void *opaque);

/* link.c */
int sec_link_send(struct secondary *s, const struct proto_msg *m);
void sec_link_close(struct secondary *s);
int sec_link_heartbeat(struct secondary *s);
int sec_link_heartbeat_idle(void *opaque);
void sec_link_on_accept(struct evloop *l, int fd, uint32_t events, void *opaque);
/* This connection ends but the primary is not lost (our failure, a message
 * we refuse, a peer silent before colo state): -errno says why. */
void sec_link_failed(struct secondary *s, int err, const char *why);
/* Deadlines of pending handshakes; the loop calls it every tick. */
void sec_link_pending_tick(struct secondary *s);
void sec_link_pending_free(struct secondary *s);
bool sec_link_pending_any(const struct secondary *s);
/* Fair loops: on_link stops after a budget with frames left in userspace
 * buffers epoll cannot see; the loop polls without waiting while this says
 * so, then resumes the link itself. */
bool sec_link_has_buffered(const struct secondary *s);
void sec_link_resume(struct secondary *s);

/* control.c */
int secondary_control_init(struct secondary *s);

#endif
