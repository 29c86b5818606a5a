// SPDX-License-Identifier: MIT
/*
 * colo-secondary's life: listen for the primary, serve it, until stopped.
 * This file owns the units (link, SVM, incoming, failover) and wires them:
 * the link hands each message to incoming's handler table and reports
 * every end of the connection here, where it is decided what the end
 * means; the SVM's output goes out on the link; incoming's turns reach the
 * fenced SVM kept by failover through hooks. No unit calls up.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "ctl-server.h"
#include "digest.h"
#include "events.h"
#include "evloop.h"
#include "log.h"
#include "metrics-http.h"
#include "secondary-int.h"
#include "xport.h"

/* Reads a pending SIGTERM/SIGINT (logging the state it finds us in) for
 * waits outside the loop; true once a stop was requested. */
static bool stop_requested(void *opaque)
{
	struct secondary *s = opaque;
	struct signalfd_siginfo si;

	/* Called from every bounded wait outside the loop (the fence, a
	 * checkpoint's): the daemon is not stuck. */
	notify_watchdog(&s->notify, evloop_now_ms());
	if (read(s->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		char why[NOTIFY_STATUS_MAX];

		log_info("signal %u: stopping, leaving state %s%s", si.ssi_signo,
			 in_state_name(s->in.state),
			 failover_taking_over(&s->failover) ?
			 " (the takeover is abandoned)" : "");
		snprintf(why, sizeof(why), "stopping (signal %u), leaving "
			 "state %s", si.ssi_signo, in_state_name(s->in.state));
		notify_stopping(&s->notify, why);
		s->stop = true;
		s->stop_signalled = true;
	}
	return s->stop_signalled;
}

static void on_signal(struct evloop *l, int fd, uint32_t events, void *opaque)
{
	(void)l;
	(void)fd;
	(void)events;
	stop_requested(opaque);
}

static void link_connected(void *opaque)
{
	struct secondary *s = opaque;

	incoming_connected(&s->in);
	failover_connected(&s->failover);
}

/*
 * The connection with the primary ended. While fenced, only this new
 * connection ends: the fenced SVM may be the only copy, and it goes only
 * once a primary's hello has been accepted. A primary that is lost (the
 * link broke or went silent) may mean a takeover; otherwise the failure
 * is ours or a message we refuse (I6): the SVM is dropped, and the
 * primary, alive, dials again and live-syncs us.
 */
static void link_ended(void *opaque, int err, const char *why, bool lost)
{
	struct secondary *s = opaque;

	if (!why)
		why = err == -EPROTO ? "malformed or unexpected message" :
		      strerror(-err);
	if (s->in.state == IN_FENCED) {
		log_warn("connection from %s ended (%s); keeping the fenced SVM",
			 sec_link_peer(&s->link), why);
		sec_link_close(&s->link);
		return;
	}
	if (lost)
		failover_primary_lost(&s->failover, why, false);
	else
		incoming_reset(&s->in, why);
}

static bool link_channel_wanted(void *opaque)
{
	struct secondary *s = opaque;

	return incoming_channel_wanted(&s->in);
}

static int link_channel(void *opaque, struct xport *x,
			const struct proto_channel *c, char *why,
			size_t whylen)
{
	struct secondary *s = opaque;

	return incoming_channel(&s->in, x, c, why, whylen);
}

/* A broken link is for the link to report (the primary is lost); a
 * failed send must never pass for the SVM's death. */
static void svm_output(void *opaque, const struct proto_msg *m)
{
	struct secondary *s = opaque;

	if (sec_link_connected(&s->link))
		sec_link_queue(&s->link, m);
}

static int svm_idle(void *opaque)
{
	struct secondary *s = opaque;

	return sec_link_heartbeat_idle(&s->link);
}

static void svm_gone(void *opaque, const char *why)
{
	struct secondary *s = opaque;

	incoming_reset(&s->in, why);
}

/* The events a subscriber of the secondary sees as checkpoints apply. */
static void checkpoint_acked(void *opaque, bool first)
{
	struct secondary *s = opaque;
	uint64_t pages = first ? s->in.sync_pages : s->in.last_ckpt_pages;

	if (first)
		events_protected(s->ctl, sec_link_peer(&s->link), -1, pages,
				 pages << RAM_PAGE_SHIFT);
	else
		events_checkpoint(s->ctl, "primary", s->in.ckpt_id,
				  s->in.last_ckpt_apply_ms, pages,
				  pages << RAM_PAGE_SHIFT);
}

static void wire(struct secondary *s)
{
	const struct sec_link_cfg lc = {
		.loop = s->loop, .tls = s->tls, .cancel_fd = s->sig_fd,
		.rdma = s->opts.rdma,
		.heartbeat_ms = s->opts.tunables.heartbeat_ms,
		.timeout_ms = s->opts.tunables.failover_timeout_ms,
		.last_error = &s->last_error,
	};
	const struct sec_link_ops lo = {
		.handlers = incoming_handlers, .handler_opaque = &s->in,
		.channel_wanted = link_channel_wanted,
		.channel = link_channel,
		.connected = link_connected, .ended = link_ended,
		.stop_requested = stop_requested, .opaque = s,
	};
	const struct svm_ops vo = {
		.output = svm_output, .idle = svm_idle, .gone = svm_gone,
		.opaque = s,
	};
	const struct incoming_hooks hooks = {
		.replacing_fenced = failover_keep_fenced,
		.checkpoint_applied = failover_drop_kept,
		.reset_done = failover_restore_fenced,
		.opaque = &s->failover,
		.checkpoint_acked = checkpoint_acked,
		.acked_opaque = s,
	};
	uint8_t digest[PROTO_DIGEST_LEN];

	memcpy(digest, s->in.guest_digest, sizeof(digest));
	sec_link_init(&s->link, &lc, &lo);
	svm_init(&s->svm, s->loop, s->opts.guest, s->opts.guest_args, &vo);
	if (s->opts.exec)
		s->wired_exec = svm_use_exec(&s->svm, s->opts.exec_port) == 0;
	incoming_init(&s->in, &s->link, &s->svm, &s->last_error, digest,
		      &hooks);
	failover_init(&s->failover, &s->in, &s->svm, &s->link, &s->last_error,
		      s->opts.fence_cmd, stop_requested, s);
	s->wired = true;
}

static int setup(struct secondary *s)
{
	char err[256], hex[2 * DIGEST_LEN + 1];
	sigset_t set;
	int ret;

	s->loop = evloop_new();
	if (!s->loop)
		return -ENOMEM;
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	s->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s->sig_fd < 0 ||
	    evloop_add(s->loop, s->sig_fd, EV_READ, on_signal, s) < 0)
		return -errno;

	ret = digest_file(s->opts.guest, s->in.guest_digest);
	if (ret < 0) {
		log_error("cannot read guest binary %s: %s", s->opts.guest,
			  strerror(-ret));
		return ret;
	}
	digest_hex(s->in.guest_digest, hex);
	log_info("guest %s sha256 %s", s->opts.guest, hex);
	if (!s->opts.insecure) {
		s->tls = xport_tls_ctx_new(s->opts.tls_creds, XPORT_TLS_SERVER,
					   err, sizeof(err));
		if (!s->tls) {
			log_error("%s", err);
			return -EINVAL;
		}
		ret = xport_tls_ctx_set_authz(s->tls, s->opts.tls_authz,
					      s->opts.ntls_authz);
		if (ret < 0) {
			log_error("--tls-authz: %s", strerror(-ret));
			return ret;
		}
	}
	wire(s);
	if (s->opts.exec && !s->wired_exec)
		return -ENOMEM;
	s->listen_fd = net_listen(s->opts.listen, err, sizeof(err));
	if (s->listen_fd < 0) {
		log_error("--listen %s: %s", s->opts.listen, err);
		return s->listen_fd;
	}
	ret = evloop_add(s->loop, s->listen_fd, EV_READ, sec_link_on_accept,
			 &s->link);
	if (ret < 0)
		return ret;
	/* RDMA CM has a port space of its own: the same address serves. */
	if (s->opts.rdma &&
	    sec_link_listen_rdma(&s->link, s->opts.listen, err,
				 sizeof(err)) < 0) {
		log_error("--listen %s (RDMA): %s", s->opts.listen, err);
		return -EINVAL;
	}
	ret = secondary_control_init(s);
	s->failover.events = s->ctl;
	if (ret == 0)
		ret = secondary_metrics_init(s);
	return ret;
}

/* How the primary gets in, for the start-up line. */
static const char *transport_words(const struct secondary_opts *o)
{
	if (o->rdma)
		return o->insecure ? "RDMA bound by a token in clear, --insecure" :
				     "RDMA bound to TLS 1.3";
	return o->insecure ? "plain TCP, --insecure" : "TLS 1.3";
}

static bool running(const struct secondary *s)
{
	return !s->stop && !failover_taking_over(&s->failover);
}

int secondary_run(const struct secondary_opts *o)
{
	struct secondary *s = calloc(1, sizeof(*s));
	bool serve;
	int ret;

	if (!s)
		return -ENOMEM;
	s->opts = *o;
	s->sig_fd = -1;
	s->listen_fd = -1;
	notify_init(&s->notify);
	ret = setup(s);
	if (ret == 0) {
		log_info("waiting for the primary on %s (%s)", o->listen,
			 transport_words(o));
		fprintf(stderr, "ready\n");
		secondary_notify_ready(s);
	}
	while (ret == 0 && running(s)) {
		int timeout = sec_link_busy(&s->link) ?
			      (int)s->opts.tunables.heartbeat_ms / 2 + 1 : 1000;

		timeout = metrics_http_timeout(s->metrics, timeout);

		/* Frames already read wait for no event: only a peek at the
		 * other sockets before going back to them. */
		if (sec_link_has_buffered(&s->link))
			timeout = 0;
		timeout = notify_timeout_ms(&s->notify, evloop_now_ms(),
					    timeout);
		ret = evloop_run_once(s->loop, timeout);
		if (ret == -EINTR)
			ret = 0;
		if (ret > 0)
			ret = 0;
		if (running(s))
			sec_link_resume(&s->link);
		sec_link_tick(&s->link);
		secondary_notify_tick(s);
		metrics_http_tick(s->metrics);
	}
	if (ret < 0)
		log_error("stopping: %s", strerror(-ret));
	/* A stop request wins over a takeover decided in the same breath:
	 * the operator (or systemd) asked this daemon to end. */
	if (failover_taking_over(&s->failover) && s->stop_signalled) {
		log_warn("stop requested during the takeover: not serving");
		failover_abandon(&s->failover);
	}
	serve = ret == 0 && failover_taking_over(&s->failover);
	if (s->wired) {
		failover_drop_kept(&s->failover);
		if (failover_taking_over(&s->failover))
			/* Keep the SVM and its RAM; drop the rest. */
			failover_leave(&s->failover);
		else
			incoming_deinit(&s->in);
		if (!serve)
			svm_deinit(&s->svm);
		sec_link_deinit(&s->link);
	}
	ctl_server_free(s->ctl);
	/* Before a takeover, which listens on the same address as primary. */
	metrics_http_free(s->metrics);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->sig_fd >= 0)
		close(s->sig_fd);
	xport_tls_ctx_free(s->tls);
	evloop_free(s->loop);
	if (serve)
		ret = failover_handover(&s->failover, &s->opts);
	free(s);
	return ret;
}
