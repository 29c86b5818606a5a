// SPDX-License-Identifier: MIT
/*
 * Live sync: the migration thread dials the secondary, then pre-copies RAM
 * while the PVM keeps serving. Each ram_save_iterate sends for at most
 * max_wait and gives bitmap_mutex back; after each full pass the dirty log
 * is synced again. When what is left is small, the thread hands over to the
 * main thread, whose first checkpoint (stop-and-copy) ends the sync.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "evloop.h"
#include "primary-int.h"
#include "log.h"
#include "xport.h"

/* Small enough to send in a short pause: 8 MiB. */
#define CONVERGED_PAGES 2048
/* A guest that dirties faster than we send never converges; stop-and-copy
 * after this many passes anyway, with a longer pause. */
#define MAX_PASSES 30
/* Re-dial a secondary we could not reach with a capped backoff. */
#define REDIAL_MIN_MS 500
#define REDIAL_MAX_MS 5000

/* Between live-sync steps: stop when called off, keep the link alive. */
static int sync_before_step(void *opaque)
{
	struct primary *p = opaque;

	if (atomic_load(&p->stop) || atomic_load(&p->mig.cancel))
		return -ECANCELED;
	return link_sync_liveness(&p->link, p->mig.heartbeat_ms,
				  p->mig.failover_timeout_ms, p->mig.error,
				  sizeof(p->mig.error));
}

static int live_sync(struct primary *p)
{
	struct ram_live_sync ls = {
		.max_wait_ms = &p->max_wait_ms,
		.converged_pages = CONVERGED_PAGES,
		.max_passes = MAX_PASSES,
		.before_step = sync_before_step,
		.opaque = p,
	};

	p->link.rx_ms = p->link.hb_ms = evloop_now_ms();
	return ram_save_live_sync(&p->rs, p->link.x, &ls);
}

static void *migration_thread(void *opaque)
{
	struct primary *p = opaque;
	uint64_t one = 1;
	int ret;

	ret = dial_secondary(p);
	if (ret == 0) {
		atomic_store(&p->mig.connected, true);
		p->mig.started_ms = evloop_now_ms();
		ret = live_sync(p);
		if (ret < 0 && ret != -ECANCELED && !p->mig.error[0])
			snprintf(p->mig.error, sizeof(p->mig.error),
				 "live sync failed: %s", strerror(-ret));
	}
	atomic_store(&p->mig.result, ret);
	if (write(p->mig.event_fd, &one, sizeof(one)) < 0)
		log_error("waking the main thread: %s", strerror(errno));
	return NULL;
}

static int event_fds_init(struct primary *p)
{
	int ret;

	if (p->mig.cancel_fd < 0) {
		p->mig.cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (p->mig.cancel_fd < 0)
			return -errno;
	}
	if (p->mig.event_fd >= 0)
		return 0;
	p->mig.event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->mig.event_fd < 0)
		return -errno;
	ret = evloop_add(p->loop, p->mig.event_fd, EV_READ, migration_on_done,
			 p);
	return ret;
}

int migration_start(struct primary *p)
{
	char err[256];
	uint64_t v;
	int ret;

	if (!p->opts.insecure && !p->tls) {
		p->tls = xport_tls_ctx_new(p->opts.tls_creds, XPORT_TLS_CLIENT,
					   err, sizeof(err));
		if (!p->tls) {
			log_error("%s", err);
			return -EINVAL;
		}
		ret = xport_tls_ctx_set_authz(p->tls, p->opts.tls_authz,
					      p->opts.ntls_authz);
		if (ret < 0)
			return ret;
	}
	ret = event_fds_init(p);
	if (ret < 0)
		return ret;
	/* A cancel left from the last attempt must not end this one. */
	while (read(p->mig.cancel_fd, &v, sizeof(v)) > 0)
		;
	atomic_store(&p->mig.cancel, false);
	atomic_store(&p->mig.refused, false);
	p->mig.error[0] = '\0';
	ram_state_lock(&p->rs);
	/* A new secondary has nothing: everything is dirty again. */
	ram_state_reset_dirty(&p->rs);
	p->mig.base = p->rs.stats;
	ram_state_unlock(&p->rs);
	/* The thread's own copy: `set` may change opts meanwhile. */
	p->mig.heartbeat_ms = p->opts.heartbeat_ms;
	p->mig.failover_timeout_ms = p->opts.failover_timeout_ms;
	p->link.peer = p->opts.secondary;
	p->state = COLO_STATE_SYNCING;
	atomic_store(&p->mig.connected, false);
	ret = pthread_create(&p->mig.thread, NULL, migration_thread, p);
	if (ret) {
		p->state = COLO_STATE_STANDALONE;
		return -ret;
	}
	p->mig.running = true;
	return 0;
}

/*
 * Call live sync off and wait for the thread: every wait it can be in
 * watches mig.cancel_fd, except a TCP connect (at most DIAL_TIMEOUT_MS).
 * migration_on_done then finds nothing to do; the state is standalone.
 */
void migration_cancel(struct primary *p)
{
	uint64_t one = 1;

	if (!p->mig.running)
		return;
	atomic_store(&p->mig.cancel, true);
	if (write(p->mig.cancel_fd, &one, sizeof(one)) < 0)
		log_error("cancelling live sync: %s", strerror(errno));
	pthread_join(p->mig.thread, NULL);
	p->mig.running = false;
	xport_free(p->link.x);
	p->link.x = NULL;
	p->state = COLO_STATE_STANDALONE;
	ram_state_unprotected(&p->rs);
}

/* Protected from here on: compare every connection's output. */
void colo_enter(struct primary *p)
{
	proxy_track_all(&p->proxy, p->ckpt.cmp);
	p->state = COLO_STATE_COLO;
	p->ckpt.last_ms = p->link.rx_ms = p->link.hb_ms = evloop_now_ms();
	/* A secondary silent this long is lost, also in the middle of a
	 * checkpoint: never keep clients waiting longer than that. The main
	 * thread's waits end on a stop signal. */
	xport_set_timeout(p->link.x, (int)p->opts.failover_timeout_ms);
	xport_set_cancel(p->link.x, p->sig_fd);
	if (evloop_add(p->loop, xport_fd(p->link.x), EV_READ, link_on_readable,
		       &p->link) < 0)
		secondary_lost(p, "cannot watch the link");
}

/* Unprotected, with a secondary to protect us: dial it again when due. */
void migration_tick(struct primary *p)
{
	uint64_t now = evloop_now_ms();

	if (p->state == COLO_STATE_STANDALONE && p->redial && !p->mig.running &&
	    p->opts.secondary && now >= p->redial_at_ms) {
		log_info("dialling secondary %s to be protected again",
			 p->opts.secondary);
		if (migration_start(p) < 0)
			p->redial_at_ms = now + 5000;
	}
}

/* Not protected yet: try again later, sooner after the first failures. */
static void schedule_redial(struct primary *p)
{
	uint64_t now = evloop_now_ms();

	p->dial_failures++;
	p->redial_backoff_ms = !p->redial_backoff_ms ? REDIAL_MIN_MS :
			       p->redial_backoff_ms * 2 > REDIAL_MAX_MS ?
			       REDIAL_MAX_MS : p->redial_backoff_ms * 2;
	p->redial_at_ms = now + p->redial_backoff_ms;
	/* A secondary down for hours must not fill the journal: say each new
	 * reason, then every minute or so. */
	if (p->dial_failures == 1 || strcmp(p->last_error, p->mig.error) ||
	    p->dial_failures % (60000 / REDIAL_MAX_MS) == 0)
		log_error("protection not established (%llu failed tries): %s; "
			  "next try in %u ms",
			  (unsigned long long)p->dial_failures,
			  p->mig.error[0] ? p->mig.error : "unknown error",
			  p->redial_backoff_ms);
}

void migration_on_done(struct evloop *l, int fd, uint32_t events, void *opaque)
{
	struct primary *p = opaque;
	struct ram_save_stats st;
	uint64_t v;
	int ret;

	(void)l;
	(void)events;
	if (read(fd, &v, sizeof(v)) < 0 || !p->mig.running)
		return;
	pthread_join(p->mig.thread, NULL);
	p->mig.running = false;
	ret = atomic_load(&p->mig.result);
	if (ret == 0)
		ret = checkpoint_first(&p->ckpt);
	if (ret < 0) {
		if (ret != -ECANCELED && atomic_load(&p->mig.refused)) {
			log_error("%s", p->mig.error);
			log_warn("not dialling %s again until `colo-ctl protect`",
				 p->opts.secondary);
			p->redial = false;
		} else if (ret != -ECANCELED) {
			if (!p->mig.error[0])
				snprintf(p->mig.error, sizeof(p->mig.error),
					 "first checkpoint failed: %s",
					 strerror(-ret));
			schedule_redial(p);
		}
		if (p->mig.error[0])
			snprintf(p->last_error, sizeof(p->last_error), "%s",
				 p->mig.error);
		xport_free(p->link.x);
		p->link.x = NULL;
		p->state = COLO_STATE_STANDALONE;
		ram_state_unprotected(&p->rs);
		return;
	}
	p->redial_backoff_ms = 0;
	p->dial_failures = 0;
	p->last_error[0] = '\0';
	ram_state_get_stats(&p->rs, &st);
	p->last_sync_ms = (double)(evloop_now_ms() - p->mig.started_ms);
	p->last_sync_pages = st.pages_sent - p->mig.base.pages_sent;
	p->last_sync_bytes = st.bytes_sent - p->mig.base.bytes_sent;
	colo_enter(p);
	log_info("protected: live sync took %.0f ms, %llu pages (%llu MiB of "
		 "data); pair in colo state", p->last_sync_ms,
		 (unsigned long long)p->last_sync_pages,
		 (unsigned long long)(p->last_sync_bytes >> 20));
}
