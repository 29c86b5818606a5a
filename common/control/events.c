// SPDX-License-Identifier: MIT
/*
 * The events' names and JSON. Each event is worded here, once, and handed
 * to the control server as a finished line: the server knows subscribers
 * and queues, not what an event means.
 */
#include "events.h"

#include "ctl-server.h"

#include <errno.h>
#include <json-c/json.h>
#include <string.h>

static const char *const mode_names[] = {
	[EVENTS_MODE_PRIMARY] = "primary",
	[EVENTS_MODE_SECONDARY] = "secondary",
};

static const char *const exit_reason_names[] = {
	[EVENTS_EXIT_REQUEST] = "request",
	[EVENTS_EXIT_ERROR] = "error",
	[EVENTS_EXIT_PROCESSING] = "processing",
};

struct json_object *events_object(const char *name, struct json_object *data,
				  const struct timespec *when)
{
	struct json_object *ev = json_object_new_object();
	struct json_object *ts = json_object_new_object();

	json_object_object_add(ts, "seconds",
			       json_object_new_int64((int64_t)when->tv_sec));
	json_object_object_add(ts, "microseconds",
			       json_object_new_int64(when->tv_nsec / 1000));
	json_object_object_add(ev, "event", json_object_new_string(name));
	json_object_object_add(ev, "data",
			       data ? data : json_object_new_object());
	json_object_object_add(ev, "timestamp", ts);
	return ev;
}

int events_emit(struct ctl_server *s, const char *name,
		struct json_object *data)
{
	struct json_object *ev;
	struct timespec now;
	const char *txt;
	int n;

	/* No subscriber, no work: most daemons have none most of the time. */
	if (!s || !ctl_server_subscribers(s)) {
		json_object_put(data);
		return 0;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	ev = events_object(name, data, &now);
	txt = json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN |
					     JSON_C_TO_STRING_NOSLASHESCAPE);
	n = txt ? ctl_server_broadcast(s, txt, strlen(txt)) : -ENOMEM;
	json_object_put(ev);
	return n;
}

static void add_str(struct json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, json_object_new_string(v ? v : ""));
}

static void add_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

void events_protected(struct ctl_server *s, const char *peer, double sync_ms,
		      uint64_t pages, uint64_t bytes)
{
	struct json_object *d = json_object_new_object();

	add_str(d, "peer", peer);
	if (sync_ms >= 0)
		json_object_object_add(d, "sync_ms",
				       json_object_new_double(sync_ms));
	add_u64(d, "pages", pages);
	add_u64(d, "bytes", bytes);
	events_emit(s, EVENT_PROTECTED, d);
}

void events_checkpoint(struct ctl_server *s, const char *reason, uint64_t id,
		       double pause_ms, uint64_t pages, uint64_t bytes)
{
	struct json_object *d = json_object_new_object();

	add_str(d, "reason", reason);
	add_u64(d, "id", id);
	json_object_object_add(d, "pause_ms", json_object_new_double(pause_ms));
	add_u64(d, "pages", pages);
	add_u64(d, "bytes", bytes);
	events_emit(s, EVENT_CHECKPOINT, d);
}

void events_mismatch(struct ctl_server *s, uint32_t conn, const char *what)
{
	struct json_object *d = json_object_new_object();

	add_u64(d, "connection", conn);
	add_str(d, "what", what);
	events_emit(s, EVENT_MISMATCH, d);
}

void events_secondary_lost(struct ctl_server *s, const char *why)
{
	struct json_object *d = json_object_new_object();

	add_str(d, "why", why);
	events_emit(s, EVENT_SECONDARY_LOST, d);
}

void events_colo_exit(struct ctl_server *s, enum events_colo_mode mode,
		      enum events_exit_reason reason, const char *why)
{
	struct json_object *d = json_object_new_object();

	add_str(d, "mode", mode_names[mode]);
	add_str(d, "reason", exit_reason_names[reason]);
	add_str(d, "why", why);
	events_emit(s, EVENT_COLO_EXIT, d);
}

void events_fenced(struct ctl_server *s, const char *why, int fence_status)
{
	struct json_object *d = json_object_new_object();

	add_str(d, "why", why);
	json_object_object_add(d, "fence_status",
			       json_object_new_int(fence_status));
	events_emit(s, EVENT_FENCED, d);
}

void events_failover_requested(struct ctl_server *s, const char *role)
{
	struct json_object *d = json_object_new_object();

	add_str(d, "role", role);
	events_emit(s, EVENT_FAILOVER_REQUESTED, d);
}

void events_sync_started(struct ctl_server *s, const char *secondary)
{
	struct json_object *d = json_object_new_object();

	add_str(d, "secondary", secondary);
	events_emit(s, EVENT_SYNC_STARTED, d);
}

void events_sync_failed(struct ctl_server *s, const char *secondary,
			const char *error, bool retry)
{
	struct json_object *d = json_object_new_object();

	add_str(d, "secondary", secondary);
	add_str(d, "error", error);
	json_object_object_add(d, "retry", json_object_new_boolean(retry));
	events_emit(s, EVENT_SYNC_FAILED, d);
}
