// SPDX-License-Identifier: MIT
/* The secondary's control commands. */
#include <errno.h>
#include <json-c/json.h>

#include "ctl-server.h"
#include "digest.h"
#include "secondary-int.h"
#include "status-json.h"

static const char *state_for_status(const struct secondary *s)
{
	return s->state == IN_HELLO || s->state == IN_SYNC ? "syncing" :
	       s->state == IN_CKPT ? "colo" : in_state_name(s->state);
}

/* Which state the SVM holds (I8), and the settings it would serve with. */
static void add_generation(json_object *o, const struct secondary *s)
{
	status_add_generation(o, &s->gen);
	json_object_object_add(o, "kept_fenced_svm_pid",
			       json_object_new_int(s->kept.have ?
						   s->kept.svm.pid : -1));
	json_object_object_add(o, "primary_tunables", s->have_tunables ?
			       status_tunables(&s->tunables) :
			       json_object_new_object());
}

static int cmd_status(void *opaque, json_object *args, json_object **ret,
		      struct ctl_error *err)
{
	struct secondary *s = opaque;
	json_object *o = json_object_new_object(), *last;
	char hex[2 * DIGEST_LEN + 1];

	(void)args;
	(void)err;
	digest_hex(s->guest_digest, hex);
	json_object_object_add(o, "role", json_object_new_string("secondary"));
	json_object_object_add(o, "state",
			       json_object_new_string(state_for_status(s)));
	json_object_object_add(o, "checkpoints",
			       json_object_new_uint64(s->ckpt_count));
	last = json_object_new_object();
	json_object_object_add(last, "pages",
			       json_object_new_uint64(s->last_ckpt_pages));
	json_object_object_add(last, "bytes",
			       json_object_new_uint64(s->last_ckpt_pages << 12));
	json_object_object_add(last, "flushed_pages",
			       json_object_new_uint64(s->last_ckpt_flushed));
	json_object_object_add(last, "pause_ms",
			       json_object_new_double(s->last_ckpt_apply_ms));
	json_object_object_add(o, "last_checkpoint", last);
	json_object_object_add(o, "ram_bytes",
			       json_object_new_uint64(s->have_ram ?
					ram_layout_bytes(&s->ram) : 0));
	json_object_object_add(o, "mismatches", json_object_new_uint64(0));
	json_object_object_add(o, "input_seq",
			       json_object_new_uint64(s->input_seq));
	json_object_object_add(o, "primary",
			       json_object_new_string(s->link ? s->peer : ""));
	json_object_object_add(o, "svm_pid",
			       json_object_new_int(s->svm.pid));
	json_object_object_add(o, "guest_sha256", json_object_new_string(hex));
	json_object_object_add(o, "last_error",
			       json_object_new_string(s->last_error));
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

	(void)args;
	if (!s->kept.have &&
	    (s->svm.pid < 0 || (s->state != IN_COLO && s->state != IN_CKPT &&
				s->state != IN_FENCED))) {
		ctl_error_set(err, "GenericError",
			      "nothing to take over with: state %s (the SVM "
			      "runs only once live sync is complete)",
			      in_state_name(s->state));
		return -ENOTCONN;
	}
	secondary_primary_lost(s, "failover forced by the operator", true);
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
	if (fenced_discard(s) < 0) {
		ctl_error_set(err, "GenericError",
			      "no fenced SVM to drop: state %s",
			      in_state_name(s->state));
		return -ENOENT;
	}
	*ret = json_object_new_object();
	json_object_object_add(*ret, "state", json_object_new_string(
				       state_for_status(s)));
	return 0;
}

static const struct ctl_command secondary_commands[] = {
	/* None takes arguments: the server refuses any before we run. */
	{ "status", cmd_status, NULL },
	{ "failover", cmd_failover, NULL },
	{ "drop-fenced", cmd_drop_fenced, NULL },
	{ NULL, NULL, NULL },
};

int secondary_control_init(struct secondary *s)
{
	s->ctl = ctl_server_new(s->loop, s->opts.control, secondary_commands,
				s);
	return s->ctl ? 0 : -EINVAL;
}
