// SPDX-License-Identifier: MIT
/* colo-secondary's life: listen for the primary, serve it, until stopped. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "ctl-server.h"
#include "digest.h"
#include "evloop.h"
#include "secondary-int.h"
#include "log.h"
#include "xport.h"

bool secondary_stop_requested(struct secondary *s)
{
	struct signalfd_siginfo si;

	if (read(s->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		log_info("signal %u: stopping, leaving state %s%s", si.ssi_signo,
			 in_state_name(s->state),
			 s->takeover ? " (the takeover is abandoned)" : "");
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
	secondary_stop_requested(opaque);
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

	ret = digest_file(s->opts.guest, s->guest_digest);
	if (ret < 0) {
		log_error("cannot read guest binary %s: %s", s->opts.guest,
			  strerror(-ret));
		return ret;
	}
	digest_hex(s->guest_digest, hex);
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
	s->listen_fd = net_listen(s->opts.listen, err, sizeof(err));
	if (s->listen_fd < 0) {
		log_error("--listen %s: %s", s->opts.listen, err);
		return s->listen_fd;
	}
	ret = evloop_add(s->loop, s->listen_fd, EV_READ, sec_link_on_accept, s);
	if (ret < 0)
		return ret;
	return secondary_control_init(s);
}

int secondary_run(const struct secondary_opts *o)
{
	struct secondary *s = calloc(1, sizeof(*s));
	int ret;

	if (!s)
		return -ENOMEM;
	s->opts = *o;
	s->sig_fd = -1;
	s->listen_fd = -1;
	s->svm.pid = -1;
	s->state = IN_WAITING;
	ret = setup(s);
	if (ret == 0) {
		log_info("waiting for the primary on %s (%s)", o->listen,
			 o->insecure ? "plain TCP, --insecure" : "TLS 1.3");
		fprintf(stderr, "ready\n");
	}
	while (ret == 0 && !s->stop) {
		int timeout = s->link || sec_link_pending_any(s) ?
			      (int)s->opts.tunables.heartbeat_ms / 2 + 1 : 1000;

		/* Frames already read wait for no event: only a peek at the
		 * other sockets before going back to them. */
		if (sec_link_has_buffered(s))
			timeout = 0;
		ret = evloop_run_once(s->loop, timeout);
		if (ret == -EINTR)
			ret = 0;
		if (ret > 0)
			ret = 0;
		if (!s->stop)
			sec_link_resume(s);
		secondary_tick(s);
	}
	if (ret < 0)
		log_error("stopping: %s", strerror(-ret));
	/* A stop request wins over a takeover decided in the same breath:
	 * the operator (or systemd) asked this daemon to end. */
	if (s->takeover && s->stop_signalled) {
		log_warn("stop requested during the takeover: not serving");
		s->takeover = false;
	}
	sec_link_pending_free(s);
	fenced_drop_kept(s);
	if (s->takeover) {
		/* Keep the SVM and its RAM; drop the rest of the secondary. */
		evloop_del(s->loop, s->svm.chan_fd);
		evloop_del(s->loop, s->svm.hint_fd);
		ramcache_deinit(&s->cache);
		dirtylog_close(&s->dlog);
	} else {
		incoming_reset(s, "shutting down");
	}
	ctl_server_free(s->ctl);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->sig_fd >= 0)
		close(s->sig_fd);
	xport_tls_ctx_free(s->tls);
	proto_rxbuf_free(&s->rx);
	evloop_free(s->loop);
	free(s->dev_conns);
	if (ret == 0 && s->takeover)
		ret = secondary_handover(s);
	free(s->conns);
	free(s);
	return ret;
}
