// SPDX-License-Identifier: MIT
/* The secondary's control commands. */
#include <errno.h>
#include <json-c/json.h>

#include "conf-file.h"
#include "ctl-server.h"
#include "digest.h"
#include "events.h"
#include "secondary-int.h"
#include "status-json.h"

const char *secondary_state_name(const struct secondary *s)
{
	return s->in.state == IN_HELLO || s->in.state == IN_SYNC ? "syncing" :
	       s->in.state == IN_CKPT ? "colo" : in_state_name(s->in.state);
}

/* Which state the SVM holds (I8), and the settings it would serve with. */
static void add_generation(json_object *o, const struct secondary *s)
{
	const struct fenced_svm *kept = &s->failover.kept;

	status_add_generation(o, &s->in.gen);
	json_object_object_add(o, "kept_fenced_svm_pid",
			       json_object_new_int(kept->have ?
						   kept->svm.proc.pid : -1));
	json_object_object_add(o, "primary_tunables", s->in.have_tunables ?
			       status_tunables(&s->in.tunables) :
			       json_object_new_object());
}

/* This side's part of the last checkpoint, in ms (proto_ckpt_ack's). */
static json_object *phases_json(const struct proto_ckpt_ack *a)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "receive",
			       json_object_new_double(a->receive_us / 1e3));
	json_object_object_add(o, "svm_barrier",
			       json_object_new_double(a->svm_barrier_us / 1e3));
	json_object_object_add(o, "flush",
			       json_object_new_double(a->flush_us / 1e3));
	json_object_object_add(o, "after_end",
			       json_object_new_double(a->end_us / 1e3));
	json_object_object_add(o, "cpu",
			       json_object_new_double(a->cpu_us / 1e3));
	return o;
}

static int cmd_status(void *opaque, json_object *args, json_object **ret,
		      struct ctl_error *err)
{
	struct secondary *s = opaque;
	json_object *o = json_object_new_object(), *last;
	char hex[2 * DIGEST_LEN + 1];

	(void)args;
	(void)err;
	digest_hex(s->in.guest_digest, hex);
	json_object_object_add(o, "role", json_object_new_string("secondary"));
	json_object_object_add(o, "state",
			       json_object_new_string(secondary_state_name(s)));
	json_object_object_add(o, "checkpoints",
			       json_object_new_uint64(s->in.ckpt_count));
	json_object_object_add(o, "checkpoints_not_now",
			       json_object_new_uint64(s->in.not_now));
	json_object_object_add(o, "link_rtt_us",
			       sec_link_connected(&s->link) &&
			       hb_rtt_us(&s->link.rtt) >= 0 ?
			       json_object_new_int64(hb_rtt_us(&s->link.rtt)) :
			       NULL);
	last = json_object_new_object();
	json_object_object_add(last, "pages",
			       json_object_new_uint64(s->in.last_ckpt_pages));
	json_object_object_add(last, "bytes",
			       json_object_new_uint64(s->in.last_ckpt_pages << 12));
	json_object_object_add(last, "flushed_pages",
			       json_object_new_uint64(s->in.last_ckpt_flushed));
	json_object_object_add(last, "pause_ms",
			       json_object_new_double(s->in.last_ckpt_apply_ms));
	json_object_object_add(last, "phases_ms",
			       phases_json(&s->in.last_phases));
	json_object_object_add(o, "last_checkpoint", last);
	json_object_object_add(o, "ram_bytes",
			       json_object_new_uint64(s->in.have_ram ?
					ram_layout_bytes(&s->in.ram) : 0));
	json_object_object_add(o, "mismatches", json_object_new_uint64(0));
	json_object_object_add(o, "input_seq",
			       json_object_new_uint64(s->svm.input_seq));
	json_object_object_add(o, "primary",
			       json_object_new_string(
				       sec_link_connected(&s->link) ?
				       sec_link_peer(&s->link) : ""));
	json_object_object_add(o, "svm_pid",
			       json_object_new_int(s->svm.proc.pid));
	json_object_object_add(o, "guest_sha256", json_object_new_string(hex));
	json_object_object_add(o, "last_error",
			       json_object_new_string(s->last_error.text));
	status_add_transport(o, s->opts.rdma, s->opts.insecure);
	json_object_object_add(o, "placed_pages",
			       json_object_new_uint64(s->in.placed_pages));
	json_object_object_add(o, "delta_pages",
			       json_object_new_uint64(s->in.delta_pages));
	add_generation(o, s);
	*ret = o;
	return 0;
}

/* Take over now, skipping the fence: the operator (or the cluster manager)
 * has decided, as with QEMU's x-colo-lost-heartbeat. */
static int cmd_failover(void *opaque, json_object *args, json_object **ret,
			struct ctl_error *err)
{
	struct secondary *s = opaque;
	enum in_state st = s->in.state;

	(void)args;
	if (!s->failover.kept.have &&
	    (s->svm.proc.pid < 0 || (st != IN_COLO && st != IN_CKPT &&
				     st != IN_FENCED))) {
		ctl_error_set(err, "GenericError",
			      "nothing to take over with: state %s (the SVM "
			      "runs only once live sync is complete)",
			      in_state_name(st));
		return -ENOTCONN;
	}
	events_failover_requested(s->ctl, "secondary");
	failover_primary_lost(&s->failover, "failover forced by the operator",
			      true);
	*ret = json_object_new_object();
	json_object_object_add(*ret, "role", json_object_new_string("primary"));
	json_object_object_add(*ret, "state",
			       json_object_new_string("standalone"));
	return 0;
}

/* Throw the fenced SVM away so that any primary may sync this secondary:
 * the operator's decision that the fenced state is not worth keeping. */
static int cmd_drop_fenced(void *opaque, json_object *args, json_object **ret,
			   struct ctl_error *err)
{
	struct secondary *s = opaque;

	(void)args;
	if (failover_discard_fenced(&s->failover) < 0) {
		ctl_error_set(err, "GenericError",
			      "no fenced SVM to drop: state %s",
			      in_state_name(s->in.state));
		return -ENOENT;
	}
	*ret = json_object_new_object();
	json_object_object_add(*ret, "state", json_object_new_string(
				       secondary_state_name(s)));
	return 0;
}

/* The file and flags this process started with (conf-file.h). */
static int cmd_query_config(void *opaque, json_object *args,
			    json_object **ret, struct ctl_error *err)
{
	struct secondary *s = opaque;

	(void)args;
	if (!s->opts.conf) {
		ctl_error_set(err, "GenericError",
			      "no configuration kept by this daemon");
		return -ENOENT;
	}
	*ret = conf_json(s->opts.conf);
	return 0;
}

static const struct ctl_command secondary_commands[] = {
	/* None takes arguments: the server refuses any before we run. */
	{ "status", cmd_status, NULL },
	{ "failover", cmd_failover, NULL },
	{ "drop-fenced", cmd_drop_fenced, NULL },
	{ "query-config", cmd_query_config, NULL },
	{ NULL, NULL, NULL },
};

int secondary_control_init(struct secondary *s)
{
	s->ctl = ctl_server_new(s->loop, s->opts.control, secondary_commands,
				s);
	return s->ctl ? 0 : -EINVAL;
}
