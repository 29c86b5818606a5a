// SPDX-License-Identifier: MIT
/*
 * A drill's steps, in order: arm (load running, the chosen moment), fault,
 * detection, serving again, (partition: fence the old primary, heal the
 * link), re-protection, verify, read-back. A step that fails records why
 * in d->failed; the later steps that make no sense then are skipped, and
 * the writes are still read back when someone serves.
 */
#include "drill-run.h"
#include "drill-client.h"
#include "client.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DETECT_TIMEOUT_MS 30000
#define SERVE_TIMEOUT_MS 30000
#define COLO_TIMEOUT_MS 120000
#define REDIAL_WAIT_MS 15000
#define GONE_TIMEOUT_MS 10000
#define TAIL_MS 300                  /* load before and after re-protection */

static uint64_t rnd(struct drill *d)
{
	uint64_t z = (d->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int64_t rnd_range(struct drill *d, int64_t lo, int64_t hi)
{
	return hi <= lo ? lo : lo + (int64_t)(rnd(d) % (uint64_t)(hi - lo + 1));
}

void drill_host_load(const struct lab *lab, struct drill_host *h)
{
	char key[32];

	h->pid = atoi(lab_host(lab, h->host, "PID"));
	snprintf(h->ctl, sizeof(h->ctl), "%s", lab_host(lab, h->host, "CTL"));
	snprintf(h->service, sizeof(h->service), "%s",
		 lab_host(lab, h->host, "SERVICE"));
	snprintf(h->ns, sizeof(h->ns), "%s", lab_host(lab, h->host, "NS"));
	snprintf(key, sizeof(key), "REPL_IF_%s", h->host);
	snprintf(h->repl_if, sizeof(h->repl_if), "%s", lab_get(lab, key));
}

void drill_note(struct drill *d, const char *fmt, ...)
{
	va_list ap;

	if (d->nnotes == DRILL_NOTES)
		return;
	va_start(ap, fmt);
	vsnprintf(d->notes[d->nnotes++], sizeof(d->notes[0]), fmt, ap);
	va_end(ap);
}

static void fail(struct drill *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void fail(struct drill *d, const char *fmt, ...)
{
	va_list ap;

	if (d->failed[0])
		return;
	va_start(ap, fmt);
	vsnprintf(d->failed, sizeof(d->failed), fmt, ap);
	va_end(ap);
}

static int lab_do(struct drill *d, const char *cmd, const char *host)
{
	int ret = lab_cmd(&d->lab, cmd, host, (const char *)NULL);

	if (ret)
		fail(d, "colo-lab %s %s failed (%d); see %s/logs/drill.log",
		     cmd, host ? host : "", ret, d->lab.dir);
	return ret;
}

static int64_t wait_colo(const char *ctl, int timeout_ms)
{
	return lab_wait_state(ctl, "primary", "colo", timeout_ms, 2);
}

/* For the sync moment: a fresh secondary, so the primary live-syncs it
 * while the writer runs; we go on the moment the pair is in colo again. */
static void resync(struct drill *d)
{
	if (lab_do(d, "stop", d->s.host) || lab_do(d, "start-secondary", d->s.host))
		return;
	drill_host_load(&d->lab, &d->s);
	if (wait_colo(d->p.ctl, REDIAL_WAIT_MS) < 0) {
		drill_note(d, "sync moment: the primary did not re-dial the restarted secondary; used colo-lab protect");
		if (lab_do(d, "protect", d->s.host))
			return;
		if (wait_colo(d->p.ctl, COLO_TIMEOUT_MS) < 0)
			fail(d, "sync moment: the pair did not reach colo again");
	}
}

static void arm(struct drill *d)
{
	char tag[32];
	int64_t end;
	int fo = d->failover_timeout_ms;

	snprintf(tag, sizeof(tag), "%" PRIx64 "-%" PRIx64, d->seed,
		 (uint64_t)cli_now_ms());
	if (writer_start(&d->w, d->p.service, tag, fo * 5 > 5000 ? fo * 5 : 5000,
			 d->kind != DRILL_SECONDARY_LOSS)) {
		fail(d, "cannot start the writer thread");
		return;
	}
	d->writer_running = true;
	d->t_start = cli_now_ms();
	end = d->t_start + 10000;
	while (!atomic_load(&d->w.acked) && cli_now_ms() < end)
		drill_sleep_ms(5);
	if (!atomic_load(&d->w.acked)) {
		fail(d, "no write acknowledged by the primary (%s) in 10 s",
		     d->p.service);
		return;
	}
	if (d->at == AT_SYNC) {
		resync(d);
		drill_sleep_ms(rnd_range(d, 0, 20));
	} else {
		int64_t at = d->t_start + rnd_range(d, d->duration_ms / 4,
						    3 * d->duration_ms / 4);

		if (at > cli_now_ms())
			drill_sleep_ms(at - cli_now_ms());
	}
}

static void fault(struct drill *d)
{
	if (d->at == AT_CHECKPOINT) {
		int ret = drill_ballast(d);

		if (ret < 0)
			drill_note(d, "ballast before the checkpoint: %s",
				   strerror(-ret));
		d->ckpt_fd = drill_ckpt_request(d->p.ctl);
		if (d->ckpt_fd < 0)
			drill_note(d, "could not ask for a checkpoint: %s",
				   strerror(-d->ckpt_fd));
		d->ckpt_lead_ms = (int)rnd_range(d, 2, 25);
		drill_sleep_ms(d->ckpt_lead_ms);
	} else if (d->at == AT_HELD) {
		writer_burst(&d->w, 1000);
	}
	if (d->kind == DRILL_PARTITION) {
		/* What the primary answers from the cut on may be a decision
		 * the secondary never saw: stop listening to it first. */
		writer_retarget(&d->w, d->s.service, true);
	}
	d->t_fault = cli_now_ms();
	atomic_store(&d->w.fault_ms, d->t_fault);
	switch (d->kind) {
	case DRILL_FAILOVER:
		/* Reconnect to the secondary from now on; the connection to
		 * the primary ends by itself with its process. */
		writer_retarget(&d->w, d->s.service, false);
		kill(d->p.pid, SIGKILL);
		d->serve = &d->s;
		break;
	case DRILL_SECONDARY_LOSS:
		kill(d->s.pid, SIGKILL);
		d->serve = &d->p;
		break;
	case DRILL_PARTITION: {
		const char *argv[] = { "ip", "netns", "exec", d->p.ns, "ip",
				       "link", "set", d->p.repl_if, "down",
				       NULL };
		int ret = lab_run(&d->lab, argv);

		d->serve = &d->s;
		if (ret)
			fail(d, "ip netns exec %s ip link set %s down: exit %d",
			     d->p.ns, d->p.repl_if, ret);
		break;
	}
	default:
		break;
	}
}

static bool detected(const struct drill *d, const char *role,
		     const char *state)
{
	if (d->kind == DRILL_SECONDARY_LOSS)
		return state[0] && strcmp(state, "colo");
	return !strcmp(role, "primary") || !strcmp(state, "fenced");
}

static void force_failover(struct drill *d)
{
	struct cli cli = { .socket = d->serve->ctl, .timeout_ms = 30000 };
	struct json_object *r;

	drill_note(d, "host %s is fenced (its fence command refused); the drill, as operator, runs colo-ctl failover",
		   d->serve->host);
	if (cli_call(&cli, "failover", NULL, &r)) {
		fail(d, "colo-ctl failover on host %s failed", d->serve->host);
		return;
	}
	json_object_put(r);
	d->forced = true;
	if (lab_wait_state(d->serve->ctl, "primary", "standalone",
			   DETECT_TIMEOUT_MS, 5) < 0)
		fail(d, "host %s did not take over after colo-ctl failover",
		     d->serve->host);
}

static void detect(struct drill *d)
{
	int64_t end = d->t_fault + DETECT_TIMEOUT_MS;
	char role[32] = "", state[32] = "";
	bool ok;

	do {
		ok = lab_status(d->serve->ctl, role, sizeof(role), state,
				sizeof(state));
		if (ok && detected(d, role, state)) {
			d->t_detect = cli_now_ms();
			snprintf(d->detect_state, sizeof(d->detect_state),
				 "%s/%s", role, state);
			break;
		}
		drill_sleep_ms(5);
	} while (cli_now_ms() < end);
	if (!d->t_detect) {
		fail(d, "host %s did not react in %d s (last status: %s/%s)",
		     d->serve->host, DETECT_TIMEOUT_MS / 1000,
		     ok ? role : "(no answer)", ok ? state : "");
		return;
	}
	if (!strcmp(state, "fenced")) {
		d->fenced = true;
		if (d->force)
			force_failover(d);
		else
			fail(d, "host %s is fenced and --no-force was given",
			     d->serve->host);
	}
}

static void wait_serving(struct drill *d)
{
	int64_t end = d->t_fault + SERVE_TIMEOUT_MS, t;

	while (!(t = atomic_load(&d->w.first_ack_after_fault_ms)) &&
	       cli_now_ms() < end)
		drill_sleep_ms(2);
	if (!t) {
		fail(d, "no write acknowledged by %s within %d s of the fault",
		     d->serve->service, SERVE_TIMEOUT_MS / 1000);
		return;
	}
	d->t_serve = t;
}

/* Partition: is the old primary still answering clients? Then fence it,
 * as an outside cluster manager would, and heal the link. */
static void isolate_old_primary(struct drill *d)
{
	struct resp_conn c;
	struct resp_reply r;
	const char *ping[] = { "PING" };
	char role[32], state[32];

	if (lab_pid_alive(d->p.pid)) {
		int64_t t = cli_now_ms();
		bool st = lab_status(d->p.ctl, role, sizeof(role), state,
				     sizeof(state));
		int ret;

		if (st)
			drill_note(d, "old primary on host %s, %lld ms after the cut: %s/%s",
				   d->p.host, (long long)(t - d->t_fault), role,
				   state);
		else
			drill_note(d, "old primary on host %s (pid %d) is alive but its control socket did not answer status within 5 s (asked %lld ms after the cut)",
				   d->p.host, d->p.pid,
				   (long long)(t - d->t_fault));
		ret = resp_connect(&c, d->p.service, 1000);
		if (ret == 0) {
			ret = resp_call(&c, 3000, &r, 1, ping);
			d->old_primary_served = ret == 0 && r.type == RESP_STATUS;
			resp_close(&c);
		}
		if (d->old_primary_served)
			drill_note(d, "split brain: host %s (old primary) and host %s both answered clients; no fence was configured",
				   d->p.host, d->serve->host);
		else
			drill_note(d, "old primary on host %s did not answer PING on %s: %s",
				   d->p.host, d->p.service,
				   ret ? strerror(-ret) : "error reply");
		lab_do(d, "kill", d->p.host);
	} else {
		drill_note(d, "old primary on host %s was already gone (fenced)",
			   d->p.host);
	}
	lab_do(d, "heal", NULL);
}

/* The killed daemon gone for good: a busy host takes a while to end a
 * process (colo-lab refuses a second daemon on a host whose first still
 * runs, as an operator would). */
static void wait_gone(struct drill *d, const struct drill_host *h)
{
	int64_t end = cli_now_ms() + GONE_TIMEOUT_MS;

	while (lab_pid_alive(h->pid) && cli_now_ms() < end)
		drill_sleep_ms(10);
	if (lab_pid_alive(h->pid))
		fail(d, "pid %d on host %s still runs %d s after kill -9",
		     h->pid, h->host, GONE_TIMEOUT_MS / 1000);
}

static void reprotect(struct drill *d)
{
	const struct drill_host *sec = d->kind == DRILL_SECONDARY_LOSS ? &d->s : &d->p;
	char role[32];

	if (d->kind != DRILL_PARTITION)
		wait_gone(d, sec);
	if (d->failed[0] || lab_do(d, "refresh", NULL) ||
	    lab_do(d, "start-secondary", sec->host))
		return;
	if (d->kind == DRILL_SECONDARY_LOSS &&
	    (d->t_colo = wait_colo(d->serve->ctl, REDIAL_WAIT_MS)) > 0) {
		d->redialled = true;
	} else {
		if (d->kind == DRILL_SECONDARY_LOSS)
			drill_note(d, "the primary did not dial the restarted secondary in %d s; used colo-lab protect",
				   REDIAL_WAIT_MS / 1000);
		if (lab_do(d, "protect", sec->host))
			return;
		d->t_colo = wait_colo(d->serve->ctl, COLO_TIMEOUT_MS);
	}
	lab_status(d->serve->ctl, role, sizeof(role), d->final_state,
		   sizeof(d->final_state));
	if (d->t_colo < 0) {
		d->t_colo = 0;
		fail(d, "host %s not back in colo state in %d s (state %s)",
		     d->serve->host, COLO_TIMEOUT_MS / 1000, d->final_state);
	}
}

static void verify(struct drill *d)
{
	struct cli cli = { .socket = d->serve->ctl, .timeout_ms = 120000 };
	struct json_object *r, *same;

	d->verify = -1;
	if (cli_call(&cli, "verify", NULL, &r)) {
		snprintf(d->verify_msg, sizeof(d->verify_msg), "verify failed");
		return;
	}
	if (json_object_object_get_ex(r, "identical", &same)) {
		d->verify = json_object_get_boolean(same) ? 1 : 0;
		snprintf(d->verify_msg, sizeof(d->verify_msg), "%s",
			 d->verify ? "identical" : "DIFFERENT");
	} else {
		snprintf(d->verify_msg, sizeof(d->verify_msg),
			 "reply without 'identical'");
	}
	json_object_put(r);
}

static void stop_writer(struct drill *d)
{
	if (d->writer_running)
		writer_stop(&d->w);
	d->writer_running = false;
}

void drill_run(struct drill *d)
{
	d->verify = -1;
	d->ckpt_fd = -1;
	arm(d);
	if (d->failed[0]) {
		stop_writer(d);
		return;
	}
	fault(d);
	if (!d->failed[0])
		detect(d);
	if (!d->failed[0])
		wait_serving(d);
	if (d->kind == DRILL_PARTITION)
		isolate_old_primary(d);
	if (!d->failed[0]) {
		drill_sleep_ms(TAIL_MS);
		reprotect(d);
	}
	if (!d->failed[0])
		drill_sleep_ms(TAIL_MS);
	stop_writer(d);
	if (d->ckpt_fd >= 0) {
		int out = drill_ckpt_outcome(d->ckpt_fd, 30000);

		d->ckpt_outcome = out == 1 ? "done" : "cut";
		drill_note(d, "checkpoint asked for %d ms before the fault (8 MiB dirtied first): %s",
			   d->ckpt_lead_ms, out == 1 ? "it completed before the fault" :
			   out == 0 ? "no reply: the fault cut it short" :
			   "it failed: the fault cut it short");
	}
	if (!d->failed[0])
		verify(d);
	/* Read back whatever the outcome, if someone serves. */
	if (d->serve)
		d->checked = drill_check(d->serve->service, &d->w, &d->chk) == 0;
	lab_cmd(&d->lab, "refresh", (const char *)NULL);
}
