// SPDX-License-Identifier: MIT
/*
 * Live sync: the migration thread dials the secondary, then pre-copies RAM
 * while the PVM keeps serving. Each ram_save_iterate sends for at most
 * max_wait and gives bitmap_mutex back; after each full pass the dirty log
 * is synced again. When what is left is small, the thread says so through
 * event_fd, and the owner's first checkpoint (stop-and-copy, on the main
 * thread) ends the sync.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "evloop.h"
#include "image-save.h"
#include "link.h"
#include "log.h"
#include "migration.h"
#include "xport.h"

/* Small enough to send in a short pause: 8 MiB. */
#define CONVERGED_PAGES 2048
/* A guest that dirties faster than we send never converges; stop-and-copy
 * after this many passes anyway, with a longer pause. */
#define MAX_PASSES 30
#define MAX_EXEC_PASSES 5

/* Between live-sync steps: stop when called off, keep the link alive. */
static int sync_before_step(void *opaque)
{
	struct migration *m = opaque;

	if (atomic_load(&m->cancel))
		return -ECANCELED;
	return link_sync_liveness(m->link, m->cfg.heartbeat_ms,
				  m->cfg.failover_timeout_ms, m->error,
				  sizeof(m->error));
}

static int live_sync(struct migration *m)
{
	struct ram_live_sync ls = {
		.max_wait_ms = m->max_wait_ms,
		.converged_pages = CONVERGED_PAGES,
		.max_passes = MAX_PASSES,
		.before_step = sync_before_step,
		.opaque = m,
	};

	int ret;

	m->link->rx_ms = m->link->hb_ms = evloop_now_ms();
	ret = dial_channels(m);
	if (ret < 0)
		return ret;
	ls.chans = &m->chans.rc;
	ret = ram_save_live_sync(m->rs, m->link->x, &ls);
	/* The secondary takes the first checkpoint only once every channel
	 * has ended: it holds pages that must land before it. */
	if (ret == 0)
		ret = mig_channels_end(&m->chans);
	mig_channels_close(&m->chans);
	m->passes = ls.passes;
	m->converged = ls.converged;
	return ret;
}

/*
 * A process guest: its own pages whole while it runs, then what changed,
 * pass after pass, until a pass is small enough for the first checkpoint
 * to send the rest in a short pause (or MAX_EXEC_PASSES: a program that
 * writes faster than we send pays a longer first pause, as RAM does).
 */
static int exec_live_sync(struct migration *m)
{
	struct image_save_idle idle = { sync_before_step, m };
	struct image_save_stats st = { 0 };
	int ret = 0;

	m->link->rx_ms = m->link->hb_ms = evloop_now_ms();
	for (unsigned pass = 0; pass < MAX_EXEC_PASSES && ret == 0; pass++) {
		ret = image_save_live(m->cfg.exec_base, m->cfg.exec_pid,
				      m->cfg.exec_pidfd, pass == 0,
				      m->link->x, &idle, &st);
		if (ret < 0)
			break;
		m->exec_pages += st.pages;
		m->exec_bytes += st.bytes;
		log_info("live sync pass %u: %llu pages (%llu bytes) of the "
			 "program's own", pass + 1,
			 (unsigned long long)st.pages,
			 (unsigned long long)st.bytes);
		if (pass > 0 && st.pages <= CONVERGED_PAGES)
			break;
	}
	return ret == 0 ? xport_flush(m->link->x) : ret;
}

static void *migration_thread(void *opaque)
{
	struct migration *m = opaque;
	uint64_t one = 1;
	int ret;

	ret = dial_secondary(m);
	if (ret == 0) {
		/* Before connected: whoever sees connected may read it. */
		m->started_ms = evloop_now_ms();
		atomic_store(&m->connected, true);
		ret = m->cfg.identity ? exec_live_sync(m) : live_sync(m);
		if (ret < 0 && ret != -ECANCELED && !m->error[0])
			snprintf(m->error, sizeof(m->error),
				 "live sync failed: %s", strerror(-ret));
	}
	atomic_store(&m->result, ret);
	if (write(m->event_fd, &one, sizeof(one)) < 0)
		log_error("waking the main thread: %s", strerror(errno));
	return NULL;
}

int migration_init(struct migration *m, struct link *link,
		   struct ram_state *rs, const struct ram_layout *ram,
		   _Atomic unsigned *max_wait_ms)
{
	memset(m, 0, sizeof(*m));
	m->link = link;
	m->rs = rs;
	m->ram = ram;
	m->max_wait_ms = max_wait_ms;
	m->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	m->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->cancel_fd < 0 || m->event_fd < 0)
		return -errno;
	return 0;
}

void migration_deinit(struct migration *m)
{
	migration_cancel(m);
	if (m->event_fd >= 0)
		close(m->event_fd);
	if (m->cancel_fd >= 0)
		close(m->cancel_fd);
	m->event_fd = m->cancel_fd = -1;
	free(m->cfg.identity);
	m->cfg.identity = NULL;
}

int migration_start(struct migration *m, const struct migration_config *cfg)
{
	uint64_t v;
	int ret;

	if (m->running)
		return -EBUSY;
	/* A cancel left from the last attempt must not end this one. */
	while (read(m->cancel_fd, &v, sizeof(v)) > 0)
		;
	atomic_store(&m->cancel, false);
	atomic_store(&m->refused, false);
	atomic_store(&m->connected, false);
	m->error[0] = '\0';
	free(m->cfg.identity);
	m->exec_pages = m->exec_bytes = 0;
	m->passes = 0;
	m->converged = false;
	m->cfg = *cfg;
	if (cfg->identity) {
		m->cfg.identity = malloc(cfg->identity_len);
		if (!m->cfg.identity)
			return -ENOMEM;
		memcpy(m->cfg.identity, cfg->identity, cfg->identity_len);
	}
	ram_state_lock(m->rs);
	/* A new secondary has nothing: everything is dirty again. */
	ram_state_reset_dirty(m->rs);
	m->base = m->rs->stats;
	ram_state_unlock(m->rs);
	m->link->peer = cfg->secondary;
	ret = pthread_create(&m->thread, NULL, migration_thread, m);
	if (ret)
		return -ret;
	m->running = true;
	return 0;
}

void migration_cancel(struct migration *m)
{
	uint64_t one = 1;

	if (!m->running)
		return;
	atomic_store(&m->cancel, true);
	if (write(m->cancel_fd, &one, sizeof(one)) < 0)
		log_error("cancelling live sync: %s", strerror(errno));
	pthread_join(m->thread, NULL);
	m->running = false;
}

bool migration_join(struct migration *m, int *result)
{
	uint64_t v;

	if (read(m->event_fd, &v, sizeof(v)) < 0 || !m->running)
		return false;
	pthread_join(m->thread, NULL);
	m->running = false;
	*result = atomic_load(&m->result);
	return true;
}
