// SPDX-License-Identifier: MIT
/*
 * The pair's life cycle, seen from the primary: live sync towards the
 * secondary (started, called off, done), entering colo state, losing the
 * secondary, and dialling it again with a backoff. Main thread only: the
 * migration thread reports through its event fd (primary_on_sync_done).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "evloop.h"
#include "log.h"
#include "proc-identity.h"
#include "primary-int.h"
#include "xport.h"

/*
 * The secondary is gone. The PVM is now the only copy, so holding output
 * back protects nobody: release it and go on unprotected.
 */
void secondary_lost(struct primary *p, const char *why)
{
	bool requested = p->failover_requested;

	p->failover_requested = false;
	struct cmp_stats cs;

	if (!p->link.x)
		return;
	log_error("secondary lost (%s): continuing unprotected", why);
	snprintf(p->last_error, sizeof(p->last_error), "secondary lost: %s",
		 why);
	events_secondary_lost(p->ctl, why);
	if (p->state == COLO_STATE_COLO) {
		events_colo_exit(p->ctl, EVENTS_MODE_PRIMARY, requested ?
				 EVENTS_EXIT_REQUEST : EVENTS_EXIT_ERROR, why);
		evloop_del(p->loop, xport_fd(p->link.x));
	}
	xport_free(p->link.x);
	p->link.x = NULL;
	p->state = COLO_STATE_STANDALONE;
	ram_state_unprotected(&p->rs);
	p->secondary_losses++;
	p->redial_at_ms = evloop_now_ms() + 500;
	p->ckpt.requested = false;
	p->ckpt.put_off_until_ms = p->ckpt.put_off_since_ms = 0;
	p->ckpt.not_now_since_ms = 0;
	cmp_checkpoint_done(p->ckpt.cmp);
	cmp_get_stats(p->ckpt.cmp, &cs);
	p->retired_mismatches += cs.mismatches;
	cmp_free(p->ckpt.cmp);
	p->ckpt.cmp = primary_comparator_new(p);
}

/* Re-dial a secondary we could not reach with a capped backoff. */
#define REDIAL_MIN_MS 500
#define REDIAL_MAX_MS 5000

/*
 * A process guest is copied whole between hosts, which is only safe on the
 * same kernel, CPU features and binaries: its identity goes with the hello
 * (the secondary compares). Taken anew for each sync: a library upgraded
 * on either host since shows up as a refusal naming it.
 */
static int exec_identity(struct primary *p, struct migration_config *cfg)
{
	struct proc_identity id;
	int ret;

	ret = proc_identity_of(pvm_pid(&p->pvm), &id);
	if (ret < 0)
		return ret;
	ret = proc_identity_encode(&id, &cfg->identity, &cfg->identity_len);
	proc_identity_free(&id);
	if (ret < 0)
		log_error("cannot encode the program's identity: %s",
			  strerror(-ret));
	return ret;
}

/* Live sync towards opts.secondary, on the migration thread with a copy of
 * what it needs to dial. */
int primary_sync_start(struct primary *p)
{
	struct migration_config cfg = { 0 };
	char err[256];
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
	cfg.secondary = p->opts.secondary;
	cfg.insecure = p->opts.insecure;
	cfg.rdma = p->opts.rdma;
	cfg.tls = p->tls;
	cfg.tls_hostname = p->opts.tls_hostname;
	memcpy(cfg.guest_digest, p->guest_digest, sizeof(cfg.guest_digest));
	cfg.gen = p->gen;
	cfg.heartbeat_ms = p->opts.heartbeat_ms;
	cfg.failover_timeout_ms = p->opts.failover_timeout_ms;
	cfg.channels = p->opts.rdma || p->opts.exec ? 1 : p->opts.channels;
	if (cfg.channels < 1)
		cfg.channels = 1;
	if (p->opts.exec) {
		ret = exec_identity(p, &cfg);
		if (ret < 0)
			return ret;
		/* This link's first checkpoint follows this sync's images,
		 * never an image an earlier secondary got. */
		image_save_base_invalidate(&p->ckpt.img_base);
		cfg.exec_base = &p->ckpt.img_base;
		cfg.exec_pid = p->pvm.exec.child.pid;
		cfg.exec_pidfd = p->pvm.exec.child.pidfd;
	}
	ret = migration_start(&p->mig, &cfg);
	free(cfg.identity);
	if (ret < 0)
		return ret;
	p->state = COLO_STATE_SYNCING;
	events_sync_started(p->ctl, p->opts.secondary);
	return 0;
}

/* Live sync called off (or ended without protection): unprotected. */
static void sync_ended(struct primary *p)
{
	xport_free(p->link.x);
	p->link.x = NULL;
	p->state = COLO_STATE_STANDALONE;
	ram_state_unprotected(&p->rs);
}

void primary_sync_progress(struct primary *p, struct sync_progress *sp)
{
	struct ram_save_stats st;
	uint64_t elapsed;

	ram_state_get_stats(&p->rs, &st);
	sp->pages_left = ram_state_dirty_pages(&p->rs);
	sp->pages_sent = st.pages_sent - p->mig.base.pages_sent;
	sp->bytes_sent = st.bytes_sent - p->mig.base.bytes_sent;
	elapsed = evloop_now_ms() - p->mig.started_ms;
	sp->mib_per_s = elapsed ? (double)sp->bytes_sent / (1 << 20) /
				  ((double)elapsed / 1000) : 0;
	sp->done = sp->pages_sent + sp->pages_left ?
		   (double)sp->pages_sent /
		   (double)(sp->pages_sent + sp->pages_left) : 0;
	sp->eta_s = sp->mib_per_s > 0 ?
		    (double)(sp->pages_left << RAM_PAGE_SHIFT) / (1 << 20) /
		    sp->mib_per_s : -1;
}

int64_t primary_link_rtt_us(struct primary *p)
{
	bool linked = p->state == COLO_STATE_COLO ||
		      (p->state == COLO_STATE_SYNCING &&
		       atomic_load(&p->mig.connected));

	return linked ? hb_rtt_us(&p->link.rtt) : -1;
}

/* on_sync_done then finds nothing to join; the state is standalone. */
void primary_sync_cancel(struct primary *p)
{
	if (!p->mig.running)
		return;
	migration_cancel(&p->mig);
	sync_ended(p);
}

/* Protected from here on: compare every connection's output. */
static void colo_enter(struct primary *p)
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
void primary_redial_tick(struct primary *p)
{
	uint64_t now = evloop_now_ms();

	if (p->state == COLO_STATE_STANDALONE && p->redial && !p->mig.running &&
	    p->opts.secondary && now >= p->redial_at_ms) {
		log_info("dialling secondary %s to be protected again",
			 p->opts.secondary);
		if (primary_sync_start(p) < 0)
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

/* Live sync failed, or its first checkpoint did: refused for good, or
 * another try later. */
/*
 * The program holds what a checkpoint cannot copy: protection would only
 * fail again (or diverge), so stop dialling until the operator says
 * `protect`, with the reason in `last_error`.
 */
void primary_refused_guest(struct primary *p)
{
	snprintf(p->last_error, sizeof(p->last_error), "the program cannot "
		 "be protected: %s", p->ckpt.refusal);
	log_warn("not dialling %s again until `colo-ctl protect`",
		 p->opts.secondary);
	p->redial = false;
}

static void sync_failed(struct primary *p, int ret)
{
	if (ret == -ENOTSUP && p->ckpt.refusal[0]) {
		sync_ended(p);
		primary_refused_guest(p);
		events_sync_failed(p->ctl, p->opts.secondary, p->last_error,
				   false);
		return;
	}
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
	if (ret != -ECANCELED)
		events_sync_failed(p->ctl, p->opts.secondary, p->last_error,
				   p->redial);
	sync_ended(p);
}

/* The migration thread's event_fd: live sync ended. Converged, the first
 * checkpoint (stop-and-copy) makes the pair. */
void primary_on_sync_done(struct evloop *l, int fd, uint32_t events,
			 void *opaque)
{
	struct primary *p = opaque;
	struct ram_save_stats st;
	int ret;

	(void)l;
	(void)fd;
	(void)events;
	if (!migration_join(&p->mig, &ret))
		return;
	if (ret == 0)
		ret = checkpoint_first(&p->ckpt);
	if (ret < 0) {
		sync_failed(p, ret);
		return;
	}
	p->redial_backoff_ms = 0;
	p->dial_failures = 0;
	p->last_error[0] = '\0';
	ram_state_get_stats(&p->rs, &st);
	p->last_sync_ms = (double)(evloop_now_ms() - p->mig.started_ms);
	p->last_sync_pages = st.pages_sent - p->mig.base.pages_sent +
			     p->mig.exec_pages;
	p->last_sync_bytes = st.bytes_sent - p->mig.base.bytes_sent +
			     p->mig.exec_bytes;
	p->last_sync_passes = p->mig.passes;
	p->last_sync_channels = p->mig.cfg.channels;
	p->last_sync_converged = p->mig.converged;
	colo_enter(p);
	events_protected(p->ctl, p->opts.secondary, p->last_sync_ms,
			 p->last_sync_pages, p->last_sync_bytes);
	log_info("protected: live sync took %.0f ms, %llu pages (%llu MiB of "
		 "data); pair in colo state", p->last_sync_ms,
		 (unsigned long long)p->last_sync_pages,
		 (unsigned long long)(p->last_sync_bytes >> 20));
}

void primary_on_link_lost(void *opaque, const char *why)
{
	secondary_lost(opaque, why);
}
