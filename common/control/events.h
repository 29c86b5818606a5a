/* SPDX-License-Identifier: MIT */
/*
 * The daemons' events, in the style of QMP's: each is one line to every
 * subscriber of the control socket (ctl-server.h),
 *
 *   {"event": NAME, "data": {...},
 *    "timestamp": {"seconds": S, "microseconds": U}}
 *
 * with the wall-clock time it happened. This unit owns the names and what
 * each carries; a daemon calls one function where its state changes.
 * Every function is a no-op for a NULL server, and all run on the control
 * loop's thread (ctl_server_broadcast refuses others).
 */
#ifndef COLO_EVENTS_H
#define COLO_EVENTS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct ctl_server;
struct json_object;

#define EVENT_PROTECTED "PROTECTED"
#define EVENT_CHECKPOINT "CHECKPOINT"
#define EVENT_MISMATCH "MISMATCH"
#define EVENT_SECONDARY_LOST "SECONDARY_LOST"
#define EVENT_COLO_EXIT "COLO_EXIT"
#define EVENT_FENCED "FENCED"
#define EVENT_FAILOVER_REQUESTED "FAILOVER_REQUESTED"
#define EVENT_SYNC_STARTED "SYNC_STARTED"
#define EVENT_SYNC_FAILED "SYNC_FAILED"

/* QEMU's COLOMode and COLOExitReason (qapi/migration.json), for COLO_EXIT. */
enum events_colo_mode {
	EVENTS_MODE_PRIMARY,
	EVENTS_MODE_SECONDARY,
};

enum events_exit_reason {
	EVENTS_EXIT_REQUEST,       /* an operator or a cluster manager asked */
	EVENTS_EXIT_ERROR,         /* the peer was lost */
	EVENTS_EXIT_PROCESSING,    /* a failover is being handled */
};

/* The whole event object (data is consumed; NULL: {}). For the emitters
 * below and for tests. */
struct json_object *events_object(const char *name, struct json_object *data,
				  const struct timespec *when);
/* Words and broadcasts one event now; data is consumed. The number of
 * subscribers it went to, or -errno. */
int events_emit(struct ctl_server *s, const char *name,
		struct json_object *data);

/* The pair is protected (colo state entered): live sync took sync_ms (left
 * out when negative: unknown) and sent pages (bytes); peer is the other
 * daemon. */
void events_protected(struct ctl_server *s, const char *peer, double sync_ms,
		      uint64_t pages, uint64_t bytes);
/* A checkpoint was acknowledged (primary) or applied (secondary); reason
 * as status's checkpoint_reasons names it ("mismatch", "periodic",
 * "timeout", "manual", "held_output"; "primary" on the secondary). */
void events_checkpoint(struct ctl_server *s, const char *reason, uint64_t id,
		       double pause_ms, uint64_t pages, uint64_t bytes);
/* The comparator found a connection's outputs apart; what: "output" or
 * "close". */
void events_mismatch(struct ctl_server *s, uint32_t conn, const char *what);
void events_secondary_lost(struct ctl_server *s, const char *why);
/* Colo state ended on this side (QEMU's COLO_EXIT). */
void events_colo_exit(struct ctl_server *s, enum events_colo_mode mode,
		      enum events_exit_reason reason, const char *why);
/* The secondary lost its primary and the fence command failed: the SVM is
 * kept and does not serve. */
void events_fenced(struct ctl_server *s, const char *why, int fence_status);
void events_failover_requested(struct ctl_server *s, const char *role);
/* Live sync towards secondary began / failed (retry: dialled again). */
void events_sync_started(struct ctl_server *s, const char *secondary);
void events_sync_failed(struct ctl_server *s, const char *secondary,
			const char *error, bool retry);

#endif
