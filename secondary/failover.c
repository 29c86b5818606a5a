// SPDX-License-Identifier: MIT
/*
 * Failover, seen from the secondary.
 *
 * The SVM has had every input the primary sent it, and the primary released
 * no output that the SVM did not also produce or that a checkpoint it
 * acknowledged did not cover (I5). So when the primary is lost, the SVM's
 * own state is consistent with everything any client has seen: it carries
 * on from there. A checkpoint that was arriving is dropped whole (I7).
 *
 * Split brain: a secondary that merely cannot reach its primary cannot tell
 * a dead primary from a cut link. Without --takeover-requires-fence it takes
 * over anyway (and both may serve). With it, the fence command decides: it
 * must make sure the primary no longer serves (power it off, revoke its
 * address, ask the arbiter) and exit 0; otherwise this side does not serve.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"
#include "primary.h"
#include "secondary-int.h"
#include "tunables.h"
#include "xport.h"

#define FENCE_TIMEOUT_MS 30000

void conns_add(struct secondary *s, uint32_t id)
{
	if (id > s->max_conn_id)
		s->max_conn_id = id;
	if (s->nconns == s->conns_cap) {
		size_t cap = s->conns_cap ? s->conns_cap * 2 : 64;
		uint32_t *c = realloc(s->conns, cap * sizeof(*c));

		if (!c)
			return;   /* only costs a stale connection after takeover */
		s->conns = c;
		s->conns_cap = cap;
	}
	s->conns[s->nconns++] = id;
}

void conns_remove(struct secondary *s, uint32_t id)
{
	size_t i;

	for (i = 0; i < s->nconns; i++) {
		if (s->conns[i] == id) {
			s->conns[i] = s->conns[--s->nconns];
			return;
		}
	}
}

int conns_replace(struct secondary *s, const uint32_t *ids, size_t n)
{
	size_t i;

	s->nconns = 0;
	for (i = 0; i < n; i++)
		conns_add(s, ids[i]);
	return s->nconns == n ? 0 : -ENOMEM;
}

/* Runs the fence command; its exit status, -1 when it could not run or
 * ran too long, or -2 when a stop signal came first (the command is then
 * killed: a stop request must not wait for a fence). */
static int run_fence(struct secondary *s, const char *cmd)
{
	uint64_t deadline = evloop_now_ms() + FENCE_TIMEOUT_MS;
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return -1;
		if (secondary_stop_requested(s)) {
			log_warn("stop requested: fence command killed");
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -2;
		}
		if (evloop_now_ms() >= deadline) {
			log_error("fence command still running after %d ms; "
				  "killed", FENCE_TIMEOUT_MS);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		usleep(10000);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void secondary_primary_lost(struct secondary *s, const char *why, bool forced)
{
	bool have_svm = s->svm.pid > 0 &&
			(s->state == IN_COLO || s->state == IN_CKPT ||
			 s->state == IN_FENCED);
	int rc;

	if (!have_svm) {
		/* Brings back a fenced SVM kept during a sync, if any. */
		incoming_reset(s, why);
		if (s->state != IN_FENCED || !forced)
			return;
	}
	if (s->link) {
		log_error("primary %s lost: %s", s->peer, why);
		sec_link_close(s);
	}
	snprintf(s->last_error, sizeof(s->last_error), "primary %s lost: %s",
		 s->peer, why);
	if (s->state == IN_CKPT)
		log_warn("checkpoint %llu had not fully arrived: dropped; the "
			 "SVM goes on from its own state",
			 (unsigned long long)s->ckpt_id);
	if (!s->lost_ms)
		s->lost_ms = evloop_now_ms();
	if (!forced && s->opts.fence_cmd) {
		log_info("running the fence command before serving: %s",
			 s->opts.fence_cmd);
		rc = run_fence(s, s->opts.fence_cmd);
		if (rc != 0) {
			s->state = IN_FENCED;
			log_error("fence command failed (status %d): NOT serving, "
				  "the primary may still be; `colo-ctl failover` "
				  "forces the takeover", rc);
			snprintf(s->last_error, sizeof(s->last_error),
				 "primary lost (%s); fence failed with status "
				 "%d: not serving", why, rc);
			return;
		}
	}
	log_warn("taking over: the SVM becomes the primary%s",
		 forced ? " (forced by the operator)" : "");
	s->takeover = true;
	s->stop = true;
}

/*
 * Silence and heartbeats. A primary silent for failover_timeout_ms is gone
 * in every state: in colo state that is a lost primary (take over); before
 * it, only this connection ends, so that a peer that died during the hello
 * or the sync cannot hold our only link slot.
 */
void secondary_tick(struct secondary *s)
{
	uint64_t now = evloop_now_ms();
	char why[96];

	sec_link_pending_tick(s);
	if (!s->link)
		return;
	if (now - s->link_rx_ms >= s->opts.tunables.failover_timeout_ms) {
		snprintf(why, sizeof(why), "no message for %llu ms",
			 (unsigned long long)(now - s->link_rx_ms));
		if (s->state == IN_COLO || s->state == IN_CKPT)
			secondary_primary_lost(s, why, false);
		else
			sec_link_failed(s, -ETIMEDOUT, why);
		return;
	}
	if (sec_link_heartbeat(s) < 0) {
		if (s->state == IN_COLO || s->state == IN_CKPT)
			secondary_primary_lost(s, "cannot send a heartbeat",
					       false);
		else
			sec_link_failed(s, -EPIPE, "cannot send a heartbeat");
	}
}

void fenced_keep(struct secondary *s)
{
	struct sec_kept_svm *k = &s->kept;

	evloop_del(s->loop, s->svm.chan_fd);
	evloop_del(s->loop, s->svm.hint_fd);
	ramcache_deinit(&s->cache);
	k->ram = s->ram;
	k->svm = s->svm;
	k->dlog = s->dlog;
	k->input_seq = s->input_seq;
	k->conns = s->conns;
	k->nconns = s->nconns;
	k->conns_cap = s->conns_cap;
	k->max_conn_id = s->max_conn_id;
	k->gen = s->gen;
	k->tunables = s->tunables;
	k->have = true;
	memset(&s->ram, 0, sizeof(s->ram));
	memset(&s->dlog, 0, sizeof(s->dlog));
	s->have_ram = false;
	s->svm.pid = -1;
	s->conns = NULL;
	s->nconns = s->conns_cap = 0;
	s->max_conn_id = 0;
	log_info("fenced SVM (pid %d, pair %016llx generation %llu) kept "
		 "until the new sync's first checkpoint", (int)k->svm.pid,
		 (unsigned long long)k->gen.pair_id,
		 (unsigned long long)k->gen.generation);
}

/* After incoming_reset: the sync failed, the kept SVM is ours again. */
bool fenced_restore(struct secondary *s)
{
	struct sec_kept_svm *k = &s->kept;

	if (!k->have)
		return false;
	free(s->conns);
	s->ram = k->ram;
	s->svm = k->svm;
	s->dlog = k->dlog;
	s->input_seq = k->input_seq;
	s->conns = k->conns;
	s->nconns = k->nconns;
	s->conns_cap = k->conns_cap;
	s->max_conn_id = k->max_conn_id;
	s->gen = k->gen;
	s->tunables = k->tunables;
	s->have_tunables = true;
	memset(k, 0, sizeof(*k));
	s->have_ram = incoming_cache_init(s) == 0;
	if (s->have_ram) {
		ramcache_lock(&s->cache);
		s->cache.dlog = &s->dlog;
		ramcache_unlock(&s->cache);
	} else {
		log_error("cannot set up a RAM cache for the fenced SVM; it "
			  "can still serve after `colo-ctl failover`");
	}
	if (evloop_add(s->loop, s->svm.chan_fd, EV_READ, svm_on_readable,
		       s) < 0 ||
	    evloop_add(s->loop, s->svm.hint_fd, EV_READ, svm_on_hint, s) < 0)
		log_error("cannot watch the fenced SVM's channels");
	s->state = IN_FENCED;
	log_warn("the sync that was to replace the fenced SVM failed: SVM "
		 "(pid %d) fenced again, not serving", (int)s->svm.pid);
	return true;
}

void fenced_drop_kept(struct secondary *s)
{
	struct sec_kept_svm *k = &s->kept;

	if (!k->have)
		return;
	dirtylog_close(&k->dlog);
	guestproc_stop(&k->svm);
	ram_layout_destroy(&k->ram);
	free(k->conns);
	memset(k, 0, sizeof(*k));
	log_info("the new primary's state is in place: old fenced SVM gone");
}

int fenced_discard(struct secondary *s)
{
	if (s->kept.have) {
		fenced_drop_kept(s);
		return 0;
	}
	if (s->state != IN_FENCED)
		return -ENOENT;
	log_warn("operator discards the fenced SVM (pair %016llx generation "
		 "%llu): waiting for a primary", (unsigned long long)s->gen.pair_id,
		 (unsigned long long)s->gen.generation);
	incoming_reset(s, "fenced SVM discarded by the operator");
	s->state = IN_WAITING;
	memset(&s->gen, 0, sizeof(s->gen));
	return 0;
}

/*
 * Go on as a primary around the SVM. Whatever the secondary held besides
 * the guest and its RAM is gone by now (secondary_run tore it down).
 */
int secondary_handover(struct secondary *s)
{
	struct primary_opts o;
	struct primary_adopt a = { 0 };
	const struct proto_tunables *t;
	size_t i;
	int ret;

	primary_opts_defaults(&o);
	o.service = s->opts.service;
	o.control = s->opts.control;
	o.guest = s->opts.guest;
	o.guest_args = s->opts.guest_args;
	o.ram_bytes = ram_layout_bytes(&s->ram);
	o.tls_creds = s->opts.tls_creds;
	/* Fail closed: the operator's restriction of the peer outlives the
	 * role change; the dialled name is checked as on any primary. */
	o.tls_authz = s->opts.tls_authz;
	o.ntls_authz = s->opts.ntls_authz;
	o.insecure = s->opts.insecure;
	/* The pair's settings follow its primary, `set` included; before its
	 * first checkpoint, ours. The rest are the table's defaults. */
	t = s->have_tunables ? &s->tunables : &s->opts.tunables;
	for (i = 0; i < TUNABLE__MAX; i++)
		if (tunables[i].flags & TUNABLE_CARRIED)
			primary_opts_set(&o, (enum tunable_id)i,
					 tunables_get(t, (enum tunable_id)i));
	log_info("as primary: checkpoint-delay %u ms, compare-timeout %u ms, "
		 "max-wait %u ms, clear-bitmap-shift %u, heartbeat %u ms, "
		 "failover-timeout %u ms (%s)", o.checkpoint_delay_ms,
		 o.compare_timeout_ms, o.max_wait_ms, o.clear_bitmap_shift,
		 o.heartbeat_ms, o.failover_timeout_ms,
		 s->have_tunables ? "the old primary's" : "our flags");

	a.ram = s->ram;
	a.guest = s->svm;
	a.input_seq = s->input_seq;
	a.next_conn_id = s->max_conn_id + 1;
	a.open_conns = s->conns;
	a.nopen = s->nconns;
	a.gen = s->gen;
	s->have_ram = false;
	s->svm.pid = -1;
	log_info("serving clients on %s as the primary, %llu ms after the "
		 "primary was lost", o.service,
		 (unsigned long long)(evloop_now_ms() - s->lost_ms));
	ret = primary_run_adopted(&o, &a);
	free(s->conns);
	s->conns = NULL;
	return ret;
}
