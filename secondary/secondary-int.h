/* SPDX-License-Identifier: MIT */
/*
 * The secondary role's top: the units it owns and wires (secondary.c) and
 * the control commands over them (control.c). No unit includes this.
 *
 *   secondary.c, control.c
 *     -> failover  (takeover, fence, the kept fenced SVM)
 *     -> incoming  (the checkpoint state machine; RAM and RAM cache)
 *     -> svm       (the guest process, its channel, its connections)
 *     -> link      (accept, TLS, framing, heartbeats, liveness)
 *     -> ramcache
 *
 * One thread: the event loop runs the link, the SVM's channel and the
 * control socket, and every field of every unit is its own.
 */
#ifndef COLO_SECONDARY_INTERNAL_H
#define COLO_SECONDARY_INTERNAL_H

#include <stdbool.h>

#include "failover.h"
#include "incoming.h"
#include "last-error.h"
#include "notify.h"
#include "sec-link.h"
#include "secondary.h"
#include "svm.h"

struct evloop;
struct ctl_server;
struct metrics_http;
struct xport_tls_ctx;

struct secondary {
	struct secondary_opts opts;
	struct evloop *loop;
	struct ctl_server *ctl;
	struct metrics_http *metrics;  /* scrape.c; NULL without --metrics */
	bool stop;
	bool stop_signalled;         /* SIGTERM/SIGINT: stop, never take over */
	int sig_fd;
	int listen_fd;
	struct notify notify;        /* systemd (notify-state.c) */
	struct xport_tls_ctx *tls;
	struct last_error last_error;
	bool wired;                  /* the units below are initialised */
	bool wired_exec;             /* --exec: the SVM is a program */

	struct sec_link link;
	struct svm svm;
	struct incoming in;
	struct failover failover;
};

/* control.c */
int secondary_control_init(struct secondary *s);
/* The state as `status` names it: waiting, syncing, colo, fenced. */
const char *secondary_state_name(const struct secondary *s);

/* scrape.c: /metrics on opts.metrics, if set. 0 or -errno (logged). */
int secondary_metrics_init(struct secondary *s);

/* notify-state.c: READY=1, then on every turn of the loop STATUS= when the
 * state's line changed and WATCHDOG=1 when due (notify.h). */
void secondary_notify_ready(struct secondary *s);
void secondary_notify_tick(struct secondary *s);

#endif
