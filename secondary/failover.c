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

/* Runs the fence command; its exit status, or -1 when it could not run or
 * ran too long. */
static int run_fence(const char *cmd)
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
		incoming_reset(s, why);
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
		rc = run_fence(s->opts.fence_cmd);
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

void secondary_tick(struct secondary *s)
{
	uint64_t now = evloop_now_ms();
	char why[96];

	if ((s->state != IN_COLO && s->state != IN_CKPT) || !s->link)
		return;
	if (now - s->link_rx_ms >= s->opts.failover_timeout_ms) {
		snprintf(why, sizeof(why), "no message for %llu ms",
			 (unsigned long long)(now - s->link_rx_ms));
		secondary_primary_lost(s, why, false);
		return;
	}
	if (sec_link_heartbeat(s) < 0)
		secondary_primary_lost(s, "cannot send a heartbeat", false);
}

/*
 * Go on as a primary around the SVM. Whatever the secondary held besides
 * the guest and its RAM is gone by now (secondary_run tore it down).
 */
int secondary_handover(struct secondary *s)
{
	struct primary_opts o;
	struct primary_adopt a = { 0 };
	int ret;

	primary_opts_defaults(&o);
	o.service = s->opts.service;
	o.control = s->opts.control;
	o.guest = s->opts.guest;
	o.ram_bytes = ram_layout_bytes(&s->ram);
	o.tls_creds = s->opts.tls_creds;
	o.insecure = s->opts.insecure;
	o.heartbeat_ms = s->opts.heartbeat_ms;
	o.failover_timeout_ms = s->opts.failover_timeout_ms;

	a.ram = s->ram;
	a.guest = s->svm;
	a.input_seq = s->input_seq;
	a.next_conn_id = s->max_conn_id + 1;
	a.open_conns = s->conns;
	a.nopen = s->nconns;
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
