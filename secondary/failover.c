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

#include "events.h"
#include "evloop.h"
#include "failover.h"
#include "incoming.h"
#include "last-error.h"
#include "sec-link.h"
#include "log.h"
#include "primary.h"
#include "secondary.h"
#include "tunables.h"

#define FENCE_TIMEOUT_MS 30000

void failover_init(struct failover *f, struct incoming *in, struct svm *svm,
		   struct sec_link *link, struct last_error *last_error,
		   const char *fence_cmd,
		   bool (*stop_requested)(void *opaque), void *opaque)
{
	memset(f, 0, sizeof(*f));
	f->in = in;
	f->svm = svm;
	f->link = link;
	f->last_error = last_error;
	f->fence_cmd = fence_cmd;
	f->stop_requested = stop_requested;
	f->opaque = opaque;
}

static bool stop_requested(struct failover *f)
{
	return f->stop_requested && f->stop_requested(f->opaque);
}

/* Runs the fence command; its exit status, -1 when it could not run or
 * ran too long, or -2 when a stop signal came first (the command is then
 * killed: a stop request must not wait for a fence). */
static int run_fence(struct failover *f, const char *cmd)
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
		if (stop_requested(f)) {
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

void failover_connected(struct failover *f)
{
	f->lost_ms = 0;
}

bool failover_taking_over(const struct failover *f)
{
	return f->takeover;
}

void failover_abandon(struct failover *f)
{
	f->takeover = false;
}

void failover_primary_lost(struct failover *f, const char *why, bool forced)
{
	struct incoming *in = f->in;
	const char *peer = sec_link_peer(f->link);
	bool have_svm = svm_running(f->svm) &&
			(in->state == IN_COLO || in->state == IN_CKPT ||
			 in->state == IN_FENCED);
	int rc;

	if (!have_svm) {
		/* Brings back a fenced SVM kept during a sync, if any. */
		incoming_reset(in, why);
		if (in->state != IN_FENCED || !forced)
			return;
	}
	if (sec_link_connected(f->link)) {
		log_error("primary %s lost: %s", peer, why);
		sec_link_close(f->link);
	}
	last_error_set(f->last_error, "primary %s lost: %s", peer, why);
	if (in->state == IN_CKPT)
		log_warn("checkpoint %llu had not fully arrived: dropped; the "
			 "SVM goes on from its own state",
			 (unsigned long long)in->ckpt_id);
	if (!f->lost_ms)
		f->lost_ms = evloop_now_ms();
	if (!forced && f->fence_cmd) {
		log_info("running the fence command before serving: %s",
			 f->fence_cmd);
		rc = run_fence(f, f->fence_cmd);
		if (rc != 0) {
			incoming_fenced(in);
			log_error("fence command failed (status %d): NOT serving, "
				  "the primary may still be; `colo-ctl failover` "
				  "forces the takeover", rc);
			last_error_set(f->last_error, "primary lost (%s); fence "
				       "failed with status %d: not serving",
				       why, rc);
			events_fenced(f->events, why, rc);
			return;
		}
	}
	log_warn("taking over: the SVM becomes the primary%s",
		 forced ? " (forced by the operator)" : "");
	f->takeover = true;
	events_colo_exit(f->events, EVENTS_MODE_SECONDARY, forced ?
			 EVENTS_EXIT_REQUEST : EVENTS_EXIT_ERROR, why);
}

void failover_keep_fenced(void *opaque)
{
	struct failover *f = opaque;
	struct fenced_svm *k = &f->kept;

	svm_unwatch(f->svm);
	incoming_release(f->in, &k->ram, &k->gen, &k->tunables);
	svm_move(&k->svm, f->svm);
	k->have = true;
	log_info("fenced SVM (pid %d, pair %016llx generation %llu) kept "
		 "until the new sync's first checkpoint", (int)k->svm.proc.pid,
		 (unsigned long long)k->gen.pair_id,
		 (unsigned long long)k->gen.generation);
}

/* After incoming_reset: the sync failed, the kept SVM is ours again. */
void failover_restore_fenced(void *opaque)
{
	struct failover *f = opaque;
	struct fenced_svm *k = &f->kept;

	if (!k->have)
		return;
	svm_deinit(f->svm);
	svm_move(f->svm, &k->svm);
	if (incoming_adopt(f->in, &k->ram, &k->gen, &k->tunables) < 0)
		log_error("cannot set up a RAM cache for the fenced SVM; it "
			  "can still serve after `colo-ctl failover`");
	memset(k, 0, sizeof(*k));
	if (svm_watch(f->svm) < 0)
		log_error("cannot watch the fenced SVM's channels");
	log_warn("the sync that was to replace the fenced SVM failed: SVM "
		 "(pid %d) fenced again, not serving", (int)f->svm->proc.pid);
}

void failover_drop_kept(void *opaque)
{
	struct failover *f = opaque;
	struct fenced_svm *k = &f->kept;

	if (!k->have)
		return;
	svm_deinit(&k->svm);
	ram_layout_destroy(&k->ram);
	memset(k, 0, sizeof(*k));
	log_info("the new primary's state is in place: old fenced SVM gone");
}

int failover_discard_fenced(struct failover *f)
{
	if (f->kept.have) {
		failover_drop_kept(f);
		return 0;
	}
	if (f->in->state != IN_FENCED)
		return -ENOENT;
	log_warn("operator discards the fenced SVM (pair %016llx generation "
		 "%llu): waiting for a primary",
		 (unsigned long long)f->in->gen.pair_id,
		 (unsigned long long)f->in->gen.generation);
	/* Nothing is kept, so the reset leaves WAITING and no generation. */
	incoming_reset(f->in, "fenced SVM discarded by the operator");
	return 0;
}

void failover_leave(struct failover *f)
{
	struct fenced_svm *t = &f->serve;

	svm_unwatch(f->svm);
	f->serve_have_tunables = incoming_release(f->in, &t->ram, &t->gen,
						  &t->tunables);
	dirtylog_close(&f->svm->dlog);
	/* The program leaves the secondary's loop, which is about to go;
	 * its connections were the old primary's clients, gone with it. */
	if (f->svm->is_exec)
		svm_exec_detach(f->svm, &f->serve_child, &f->serve_tracer);
}

/*
 * Go on as a primary around the SVM. Whatever the secondary held besides
 * the guest and its RAM is gone by now (secondary_run tore it down).
 */
int failover_handover(struct failover *f, const struct secondary_opts *opts)
{
	const struct fenced_svm *t = &f->serve;
	struct primary_opts o;
	struct primary_adopt a = { 0 };
	const struct proto_tunables *pt;
	size_t i;
	int ret;

	primary_opts_defaults(&o);
	o.service = opts->service;
	o.control = opts->control;
	o.guest = opts->guest;
	o.guest_args = opts->guest_args;
	o.ram_bytes = ram_layout_bytes(&t->ram);
	o.tls_creds = opts->tls_creds;
	/* Fail closed: the operator's restriction of the peer outlives the
	 * role change; the dialled name is checked as on any primary. */
	o.tls_authz = opts->tls_authz;
	o.ntls_authz = opts->ntls_authz;
	o.insecure = opts->insecure;
	o.rdma = opts->rdma;
	o.conf = opts->conf;    /* query-config: what this process read */
	o.metrics = opts->metrics;
	/* The pair's settings follow its primary, `set` included; before its
	 * first checkpoint, ours. The rest are the table's defaults. */
	pt = f->serve_have_tunables ? &t->tunables : &opts->tunables;
	for (i = 0; i < TUNABLE__MAX; i++)
		if (tunables[i].flags & TUNABLE_CARRIED)
			primary_opts_set(&o, (enum tunable_id)i,
					 tunables_get(pt, (enum tunable_id)i));
	log_info("as primary: checkpoint-delay %u ms, compare-timeout %u ms, "
		 "max-wait %u ms, clear-bitmap-shift %u, heartbeat %u ms, "
		 "failover-timeout %u ms (%s)", o.checkpoint_delay_ms,
		 o.compare_timeout_ms, o.max_wait_ms, o.clear_bitmap_shift,
		 o.heartbeat_ms, o.failover_timeout_ms,
		 f->serve_have_tunables ? "the old primary's" : "our flags");

	a.ram = t->ram;
	a.guest = f->svm->proc;
	a.input_seq = f->svm->input_seq;
	a.next_conn_id = f->svm->max_conn_id + 1;
	a.open_conns = f->svm->conns;
	a.nopen = f->svm->nconns;
	if (opts->exec) {
		o.exec = true;
		o.exec_port = opts->exec_port;
		a.exec_child = f->serve_child;
		a.exec_tracer = f->serve_tracer;
		a.nopen = 0;        /* closed already, by svm_exec_detach */
	}
	a.gen = t->gen;
	f->svm->proc.pid = -1;
	log_info("serving clients on %s as the primary, %llu ms after the "
		 "primary was lost", o.service,
		 (unsigned long long)(evloop_now_ms() - f->lost_ms));
	ret = primary_run_adopted(&o, &a);
	svm_deinit(f->svm);
	return ret;
}
