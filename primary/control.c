// SPDX-License-Identifier: MIT
/*
 * The primary's control commands: status, checkpoint, verify, set, protect,
 * failover. Arguments are read only through the ctl_arg_ getters, and each
 * command's list in the table below is all it accepts.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf-file.h"
#include "ctl-server.h"
#include "digest.h"
#include "events.h"
#include "evloop.h"
#include "primary-int.h"
#include "status-json.h"
#include "tunables.h"
#include "log.h"

/* In the order they happen; receive overlaps send (see ckpt_phases). */
static json_object *phases_json(const struct ckpt_phases *ph)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "barrier", json_object_new_double(ph->barrier));
	json_object_object_add(o, "scan", json_object_new_double(ph->scan));
	json_object_object_add(o, "send", json_object_new_double(ph->send));
	json_object_object_add(o, "apply", json_object_new_double(ph->apply));
	json_object_object_add(o, "flush", json_object_new_double(ph->flush));
	json_object_object_add(o, "ack", json_object_new_double(ph->ack));
	json_object_object_add(o, "resume", json_object_new_double(ph->resume));
	json_object_object_add(o, "receive", json_object_new_double(ph->receive));
	return o;
}

static json_object *ckpt_json(const struct ckpt_result *r)
{
	json_object *o = json_object_new_object(), *cpu;

	json_object_object_add(o, "id", json_object_new_uint64(r->id));
	json_object_object_add(o, "pause_ms",
			       json_object_new_double(r->pause_ms));
	json_object_object_add(o, "pages", json_object_new_uint64(r->pages));
	json_object_object_add(o, "bytes", json_object_new_uint64(r->bytes));
	json_object_object_add(o, "delta_pages",
			       json_object_new_uint64(r->delta_pages));
	json_object_object_add(o, "delta_bytes",
			       json_object_new_uint64(r->delta_bytes));
	json_object_object_add(o, "own_pages",
			       json_object_new_uint64(r->own_pages));
	json_object_object_add(o, "phases_ms", phases_json(&r->phases));
	cpu = json_object_new_object();
	json_object_object_add(cpu, "primary",
			       json_object_new_double(r->phases.cpu));
	json_object_object_add(cpu, "secondary",
			       json_object_new_double(r->phases.secondary_cpu));
	json_object_object_add(o, "cpu_ms", cpu);
	return o;
}

/* When the secondary is dialled next: -1 when it is not going to be. */
static void add_redial(json_object *o, struct primary *p)
{
	uint64_t now = evloop_now_ms();
	int64_t in = -1;

	if (p->state == COLO_STATE_STANDALONE && p->redial &&
	    p->opts.secondary)
		in = p->redial_at_ms > now ? (int64_t)(p->redial_at_ms - now) : 0;
	json_object_object_add(o, "next_dial_in_ms", json_object_new_int64(in));
	json_object_object_add(o, "dial_failures",
			       json_object_new_uint64(p->dial_failures));
}

/* What runs as the guest: its kind, the program and its arguments. */
static void add_guest(json_object *o, struct primary *p)
{
	json_object *args = json_object_new_array();
	const char *const *a;

	for (a = p->opts.guest_args; a && *a; a++)
		json_object_array_add(args, json_object_new_string(*a));
	json_object_object_add(o, "guest_kind", json_object_new_string(
				       p->opts.exec ? "exec" : "libcolo-guest"));
	json_object_object_add(o, "guest", json_object_new_string(
				       p->opts.guest ? p->opts.guest : ""));
	json_object_object_add(o, "guest_args", args);
	if (p->opts.exec)
		json_object_object_add(o, "exec_port",
				       json_object_new_int(p->opts.exec_port));
}

/* Live sync as it goes, for `status` while syncing and `protect --wait`
 * (the caller checks mig.connected: started_ms is readable from then). */
static json_object *sync_progress(struct primary *p)
{
	json_object *o = json_object_new_object();
	struct sync_progress sp;

	primary_sync_progress(p, &sp);
	json_object_object_add(o, "pages_sent",
			       json_object_new_uint64(sp.pages_sent));
	json_object_object_add(o, "pages_remaining",
			       json_object_new_uint64(sp.pages_left));
	json_object_object_add(o, "bytes_sent",
			       json_object_new_uint64(sp.bytes_sent));
	json_object_object_add(o, "bytes_remaining", json_object_new_uint64(
				       sp.pages_left << RAM_PAGE_SHIFT));
	json_object_object_add(o, "percent",
			       json_object_new_double(100 * sp.done));
	json_object_object_add(o, "mib_per_s",
			       json_object_new_double(sp.mib_per_s));
	json_object_object_add(o, "eta_s", sp.eta_s >= 0 ?
			       json_object_new_double(sp.eta_s) : NULL);
	return o;
}

static int cmd_status(void *opaque, json_object *args, json_object **ret,
		      struct ctl_error *err)
{
	struct primary *p = opaque;
	json_object *o = json_object_new_object(), *reasons, *sync;
	const char *state;
	struct proto_tunables tun;
	struct cmp_stats cs;
	struct ram_save_stats rs;
	char hex[2 * DIGEST_LEN + 1];

	(void)args;
	(void)err;
	cmp_get_stats(p->ckpt.cmp, &cs);
	ram_state_get_stats(&p->rs, &rs);
	digest_hex(p->guest_digest, hex);
	json_object_object_add(o, "role", json_object_new_string("primary"));
	/* Read once: the migration thread may connect meanwhile, and the
	 * progress below must agree with the state shown. */
	state = primary_state_name(p);
	json_object_object_add(o, "state", json_object_new_string(state));
	json_object_object_add(o, "checkpoints",
			       json_object_new_uint64(p->ckpt.count));
	json_object_object_add(o, "last_checkpoint", ckpt_json(&p->ckpt.last));
	json_object_object_add(o, "link_rtt_us", primary_link_rtt_us(p) >= 0 ?
			       json_object_new_int64(primary_link_rtt_us(p)) :
			       NULL);
	reasons = json_object_new_object();
	json_object_object_add(reasons, "mismatch",
			       json_object_new_uint64(p->ckpt.mismatches));
	json_object_object_add(reasons, "timeout",
			       json_object_new_uint64(p->ckpt.timeouts));
	json_object_object_add(reasons, "periodic",
			       json_object_new_uint64(p->ckpt.periodic));
	json_object_object_add(reasons, "manual",
			       json_object_new_uint64(p->ckpt.manual));
	json_object_object_add(reasons, "held_output",
			       json_object_new_uint64(p->ckpt.held));
	json_object_object_add(o, "checkpoint_reasons", reasons);
	json_object_object_add(o, "checkpoints_put_off",
			       json_object_new_uint64(p->ckpt.put_offs));
	json_object_object_add(o, "ram_bytes",
			       json_object_new_uint64(ram_layout_bytes(&p->ram)));
	json_object_object_add(o, "mismatches",
			       json_object_new_uint64(cs.mismatches));
	json_object_object_add(o, "held_bytes",
			       json_object_new_uint64(cs.held_bytes));
	json_object_object_add(o, "clients",
			       json_object_new_uint64(
				       proxy_nclients(&p->proxy)));
	json_object_object_add(o, "released_bytes",
			       json_object_new_uint64(cs.released_bytes));
	json_object_object_add(o, "clients",
			       json_object_new_uint64(
				       proxy_nclients(&p->proxy)));
	json_object_object_add(o, "input_seq",
			       json_object_new_uint64(p->pvm.input_seq));
	json_object_object_add(o, "guest_pid",
			       json_object_new_int(pvm_pid(&p->pvm)));
	add_guest(o, p);
	json_object_object_add(o, "hinted_pages",
			       json_object_new_uint64(rs.hinted_pages));
	status_add_transport(o, p->opts.rdma, p->opts.insecure);
	json_object_object_add(o, "placed_pages",
			       json_object_new_uint64(rs.placed_pages));
	json_object_object_add(o, "delta_pages",
			       json_object_new_uint64(rs.delta_pages));
	sync = json_object_new_object();
	json_object_object_add(sync, "ms",
			       json_object_new_double(p->last_sync_ms));
	json_object_object_add(sync, "pages",
			       json_object_new_uint64(p->last_sync_pages));
	json_object_object_add(sync, "bytes",
			       json_object_new_uint64(p->last_sync_bytes));
	json_object_object_add(sync, "passes",
			       json_object_new_int(p->last_sync_passes));
	json_object_object_add(sync, "channels",
			       json_object_new_int((int)p->last_sync_channels));
	json_object_object_add(sync, "converged",
			       json_object_new_boolean(p->last_sync_converged));
	json_object_object_add(o, "live_sync", sync);
	/* Once the secondary answered: "syncing", not "connecting". */
	if (!strcmp(state, "syncing"))
		json_object_object_add(o, "sync_progress", sync_progress(p));
	primary_tunables(p, &tun);
	json_object_object_add(o, "tunables", status_tunables(&tun));
	json_object_object_add(o, "secondary",
			       json_object_new_string(p->opts.secondary ?
						      p->opts.secondary : ""));
	json_object_object_add(o, "guest_sha256", json_object_new_string(hex));
	json_object_object_add(o, "secondary_losses",
			       json_object_new_uint64(p->secondary_losses));
	add_redial(o, p);
	status_add_generation(o, &p->gen);
	json_object_object_add(o, "last_error",
			       json_object_new_string(p->last_error));
	*ret = o;
	return 0;
}

static int not_protected(struct primary *p, struct ctl_error *err)
{
	ctl_error_set(err, "GenericError",
		      "no checkpoint possible: pair is in state %s%s%s",
		      colo_state_name(p->state), p->last_error[0] ? "; " : "",
		      p->last_error);
	return -ENOTCONN;
}

/* checkpoint and verify, when the secondary's "not now" outlasted the
 * bound (checkpoint.h's CKPT_NOT_NOW_MAX_MS). */
static void not_now_given_up(struct ctl_error *err)
{
	ctl_error_set(err, "GenericError", "checkpoint given up: the "
		      "secondary put it off for %d ms, the program keeping a "
		      "file open that its copy does not hold (the secondary's "
		      "log names it); the secondary is lost, re-protection "
		      "follows", CKPT_NOT_NOW_MAX_MS);
}

static int cmd_checkpoint(void *opaque, json_object *args, json_object **ret,
			  struct ctl_error *err)
{
	struct primary *p = opaque;
	struct ckpt_result r;
	int rc;

	(void)args;
	if (p->state != COLO_STATE_COLO)
		return not_protected(p, err);
	p->ckpt.manual++;
	p->ckpt.reason = "manual";
	rc = colo_checkpoint(p, false, CKPT_CHILD_WAIT_MS, &r);
	if (rc == -EAGAIN) {
		ctl_error_set(err, "GenericError", "checkpoint put off: the "
			      "program has a child (BGSAVE?) after waiting "
			      "for it; it is taken once the child ends");
		ckpt_result_free(&r);
		return rc;
	}
	if (rc == -EBUSY) {
		not_now_given_up(err);
		ckpt_result_free(&r);
		return rc;
	}
	if (rc < 0) {
		ctl_error_set(err, "GenericError", "checkpoint failed: %s",
			      strerror(-rc));
		ckpt_result_free(&r);
		return rc;
	}
	*ret = ckpt_json(&r);
	ckpt_result_free(&r);
	return 0;
}

static int cmd_verify(void *opaque, json_object *args, json_object **ret,
		      struct ctl_error *err)
{
	struct primary *p = opaque;
	struct ckpt_result r;
	json_object *o, *diffs;
	size_t i;
	int rc;

	(void)args;
	if (p->state != COLO_STATE_COLO)
		return not_protected(p, err);
	p->ckpt.manual++;
	p->ckpt.reason = "manual";
	rc = colo_checkpoint(p, true, CKPT_CHILD_WAIT_MS, &r);
	if (rc == -EBUSY) {
		not_now_given_up(err);
		ckpt_result_free(&r);
		return rc;
	}
	if (rc < 0) {
		ctl_error_set(err, "GenericError", "verify failed: %s",
			      strerror(-rc));
		ckpt_result_free(&r);
		return rc;
	}
	/* The checkpoint went through, but "identical" would be a guess. */
	if (r.diff_err < 0) {
		rc = r.diff_err;
		ctl_error_set(err, "GenericError", "cannot list the chunks "
			      "that differ: %s", strerror(-rc));
		ckpt_result_free(&r);
		return rc;
	}
	o = ckpt_json(&r);
	json_object_object_add(o, "identical",
			       json_object_new_boolean(r.ndiff == 0));
	json_object_object_add(o, "chunks", json_object_new_uint64(r.nchunks));
	json_object_object_add(o, "chunk_bytes",
			       json_object_new_uint64((uint64_t)r.chunk_pages <<
						      RAM_PAGE_SHIFT));
	diffs = json_object_new_array();
	for (i = 0; i < r.ndiff; i++) {
		json_object *d = json_object_new_object();
		/* An --exec program's chunks are named by their address. */
		uint64_t base = p->opts.exec ? 0 :
				p->ram.blocks[r.diff[i].block].guest_addr;

		json_object_object_add(d, "block",
				       json_object_new_uint64(r.diff[i].block));
		json_object_object_add(d, "start",
				       json_object_new_uint64(r.diff[i].offset));
		json_object_object_add(d, "length",
				       json_object_new_uint64(r.diff[i].length));
		json_object_object_add(d, "guest_addr",
				       json_object_new_uint64(base +
							      r.diff[i].offset));
		json_object_array_add(diffs, d);
	}
	json_object_object_add(o, "differing", diffs);
	if (r.ndiff)
		log_error("verify: %zu chunks differ between PVM and SVM",
			  r.ndiff);
	ckpt_result_free(&r);
	*ret = o;
	return 0;
}

#define TUNABLE_NAME_MAX 64

/* The tunables table says which names `set` takes and their ranges. */
static int cmd_set(void *opaque, json_object *args, json_object **ret,
		   struct ctl_error *err)
{
	struct primary *p = opaque;
	const struct tunable *t;
	char names[256];
	const char *name;
	uint64_t v;
	int rc;

	rc = ctl_arg_string(args, "name", TUNABLE_NAME_MAX, &name, err);
	if (rc)
		return rc;
	t = tunable_find(name);
	if (!t || !(t->flags & TUNABLE_SET)) {
		tunables_names(TUNABLE_SET, names, sizeof(names));
		ctl_error_set(err, "GenericError",
			      "Parameter 'name': unknown tunable '%s' (%s)",
			      name, names);
		return -EINVAL;
	}
	rc = ctl_arg_u64(args, "value", t->min, t->max, &v, err);
	if (rc)
		return rc;
	/* The migration thread reads max-wait; the rest are the main
	 * thread's. */
	if (tunable_id(t) == TUNABLE_MAX_WAIT)
		atomic_store(&p->max_wait_ms, (unsigned)v);
	else
		primary_set_tunable(p, tunable_id(t), v);
	log_info("%s set to %llu ms", name, (unsigned long long)v);
	*ret = json_object_new_object();
	json_object_object_add(*ret, name, json_object_new_uint64(v));
	return 0;
}

/* Protect this primary with the secondary at HOST:PORT (live sync). */
static int cmd_protect(void *opaque, json_object *args, json_object **ret,
		       struct ctl_error *err)
{
	struct primary *p = opaque;
	char host[256], port[16];
	const char *addr;
	int rc;

	rc = ctl_arg_hostport(args, "secondary", host, sizeof(host), port,
			      sizeof(port), &addr, err);
	if (rc)
		return rc;
	/* It is kept, and p->secondary_addr must hold it whole. */
	if (strlen(addr) >= sizeof(p->secondary_addr)) {
		ctl_error_set(err, "GenericError",
			      "Parameter 'secondary' is too long: %zu bytes",
			      strlen(addr));
		return -ERANGE;
	}
	/* Said now, not as a dial that fails again and again. */
	if (!p->opts.insecure && !p->opts.tls_creds) {
		ctl_error_set(err, "GenericError", "this primary was started "
			      "without --tls-creds (or --insecure): it cannot "
			      "dial a secondary");
		return -EINVAL;
	}
	if (p->state != COLO_STATE_STANDALONE || p->mig.running) {
		ctl_error_set(err, "GenericError",
			      "already %s with %s", colo_state_name(p->state),
			      p->opts.secondary ? p->opts.secondary : "?");
		return -EBUSY;
	}
	snprintf(p->secondary_addr, sizeof(p->secondary_addr), "%s", addr);
	p->opts.secondary = p->secondary_addr;
	p->redial = true;
	/* The operator asked anew: no backoff left from earlier failures. */
	p->redial_backoff_ms = 0;
	p->dial_failures = 0;
	rc = primary_sync_start(p);
	if (rc < 0) {
		ctl_error_set(err, "GenericError", "cannot start live sync "
			      "to %s: %s", addr, strerror(-rc));
		return rc;
	}
	log_info("protect: live sync to %s started by the operator", addr);
	*ret = json_object_new_object();
	json_object_object_add(*ret, "state", json_object_new_string(
				       colo_state_name(p->state)));
	return 0;
}

/* The operator (or a cluster manager) declares the secondary lost. */
static int cmd_failover(void *opaque, json_object *args, json_object **ret,
			struct ctl_error *err)
{
	struct primary *p = opaque;

	(void)args;
	(void)err;
	events_failover_requested(p->ctl, "primary");
	p->redial = false;
	primary_sync_cancel(p);
	p->failover_requested = true;
	if (p->state == COLO_STATE_COLO)
		secondary_lost(p, "failover forced by the operator");
	p->failover_requested = false;
	*ret = json_object_new_object();
	json_object_object_add(*ret, "role", json_object_new_string("primary"));
	json_object_object_add(*ret, "state", json_object_new_string(
				       colo_state_name(p->state)));
	return 0;
}

/* The file and flags this process started with (conf-file.h). */
static int cmd_query_config(void *opaque, json_object *args,
			    json_object **ret, struct ctl_error *err)
{
	struct primary *p = opaque;

	(void)args;
	if (!p->opts.conf) {
		ctl_error_set(err, "GenericError",
			      "no configuration kept by this daemon");
		return -ENOENT;
	}
	*ret = conf_json(p->opts.conf);
	return 0;
}

static const struct ctl_command primary_commands[] = {
	{ "protect", cmd_protect, "secondary" },
	{ "failover", cmd_failover, NULL },
	{ "status", cmd_status, NULL },
	{ "checkpoint", cmd_checkpoint, NULL },
	{ "verify", cmd_verify, NULL },
	{ "set", cmd_set, "name,value" },
	{ "query-config", cmd_query_config, NULL },
	{ NULL, NULL, NULL },
};

int primary_control_init(struct primary *p)
{
	p->ctl = ctl_server_new(p->loop, p->opts.control, primary_commands, p);
	return p->ctl ? 0 : -EINVAL;
}
