// SPDX-License-Identifier: MIT
/*
 * String commands: GET SET SETNX APPEND STRLEN GETRANGE MGET MSET and the
 * INCR family, with Redis's replies and errors.
 */
#include "cmd.h"

#include <errno.h>
#include <stdio.h>

/* Binds key to a string of these bytes, reusing a string already there. */
static int set_string(struct kv_req *r, size_t karg, const void *p, size_t n)
{
	struct kv_obj *o = db_lookup(r->root, r->argv[karg], r->argl[karg]);

	if (o && o->type == KV_STRING)
		return obj_str_set(r->g, o, p, n);
	o = obj_new(r->g, KV_STRING);
	if (!o)
		return -ENOMEM;
	if (obj_str_set(r->g, o, p, n) ||
	    db_set(r->g, r->root, r->argv[karg], r->argl[karg], o)) {
		obj_free(r->g, o);
		return -ENOMEM;
	}
	return 0;
}

void cmd_get(struct kv_req *r)
{
	bool wrong;
	struct kv_obj *o = lookup_typed(r, 1, KV_STRING, &wrong);

	if (wrong)
		return;
	if (!o)
		reply_nil(r->out);
	else
		reply_bulk(r->out, o->str.data, o->str.len);
}

/*
 * SET key value [NX | XX] [GET]. With GET the reply is the old value (nil
 * when none; WRONGTYPE, and nothing set, when it is no string) whether or
 * not NX or XX let the set happen, as in Redis 7.0. The expiry options
 * are refused as a syntax error: colo-kv keeps no expiry times.
 */
void cmd_set(struct kv_req *r)
{
	bool nx = false, xx = false, get = false, wrong;
	struct kv_obj *old;

	for (size_t i = 3; i < r->argc; i++) {
		if (arg_is(r, i, "nx") && !xx) {
			nx = true;
		} else if (arg_is(r, i, "xx") && !nx) {
			xx = true;
		} else if (arg_is(r, i, "get")) {
			get = true;
		} else {
			reply_syntax(r);
			return;
		}
	}
	old = db_lookup(r->root, r->argv[1], r->argl[1]);
	if (get) {
		old = lookup_typed(r, 1, KV_STRING, &wrong);
		if (wrong)
			return;
		if (old)
			reply_bulk(r->out, old->str.data, old->str.len);
		else
			reply_nil(r->out);
	}
	if ((nx && old) || (xx && !old)) {
		if (!get)
			reply_nil(r->out);
		return;
	}
	/* set_string reuses old's buffer: the GET reply is already copied. */
	if (set_string(r, 1, r->argv[2], r->argl[2]))
		reply_oom(r);
	else if (!get)
		reply_status(r->out, "OK");
}

void cmd_setnx(struct kv_req *r)
{
	if (db_lookup(r->root, r->argv[1], r->argl[1]))
		reply_int(r->out, 0);
	else if (set_string(r, 1, r->argv[2], r->argl[2]))
		reply_oom(r);
	else
		reply_int(r->out, 1);
}

void cmd_append(struct kv_req *r)
{
	bool wrong;
	struct kv_obj *o = lookup_typed(r, 1, KV_STRING, &wrong);

	if (wrong)
		return;
	if (!o) {
		if (set_string(r, 1, r->argv[2], r->argl[2]))
			reply_oom(r);
		else
			reply_int(r->out, (int64_t)r->argl[2]);
		return;
	}
	if (obj_str_append(r->g, o, r->argv[2], r->argl[2]))
		reply_oom(r);
	else
		reply_int(r->out, (int64_t)o->str.len);
}

void cmd_strlen(struct kv_req *r)
{
	bool wrong;
	struct kv_obj *o = lookup_typed(r, 1, KV_STRING, &wrong);

	if (!wrong)
		reply_int(r->out, o ? (int64_t)o->str.len : 0);
}

/* GETRANGE key start end: Redis's index rules, in its order (an empty
 * string for a missing key). */
void cmd_getrange(struct kv_req *r)
{
	bool wrong;
	struct kv_obj *o;
	int64_t start, end, n;

	if (!arg_int(r, 2, &start) || !arg_int(r, 3, &end))
		return;
	o = lookup_typed(r, 1, KV_STRING, &wrong);
	if (wrong)
		return;
	n = o ? (int64_t)o->str.len : 0;
	if (start < 0 && end < 0 && start > end) {
		reply_bulk(r->out, "", 0);
		return;
	}
	if (start < 0)
		start = n + start;
	if (end < 0)
		end = n + end;
	if (start < 0)
		start = 0;
	if (end < 0)
		end = 0;
	if (end >= n)
		end = n - 1;
	if (start > end || n == 0)
		reply_bulk(r->out, "", 0);
	else
		reply_bulk(r->out, o->str.data + start, (size_t)(end - start + 1));
}

void cmd_mget(struct kv_req *r)
{
	reply_array(r->out, r->argc - 1);
	for (size_t i = 1; i < r->argc; i++) {
		struct kv_obj *o = db_lookup(r->root, r->argv[i], r->argl[i]);

		if (o && o->type == KV_STRING)
			reply_bulk(r->out, o->str.data, o->str.len);
		else
			reply_nil(r->out);
	}
}

void cmd_mset(struct kv_req *r)
{
	if (r->argc % 2 == 0) {
		reply_arity(r, "mset");
		return;
	}
	for (size_t i = 1; i < r->argc; i += 2) {
		if (set_string(r, i, r->argv[i + 1], r->argl[i + 1])) {
			reply_oom(r);
			return;
		}
	}
	reply_status(r->out, "OK");
}

static void incr_by(struct kv_req *r, int64_t delta)
{
	bool wrong;
	struct kv_obj *o = lookup_typed(r, 1, KV_STRING, &wrong);
	int64_t v = 0;
	char num[24];
	int n;

	if (wrong)
		return;
	if (o && resp_strtoll(o->str.data, o->str.len, &v)) {
		reply_not_int(r);
		return;
	}
	if ((delta > 0 && v > INT64_MAX - delta) ||
	    (delta < 0 && v < INT64_MIN - delta)) {
		reply_error(r->out, "ERR increment or decrement would overflow");
		return;
	}
	v += delta;
	n = snprintf(num, sizeof(num), "%lld", (long long)v);
	if (set_string(r, 1, num, (size_t)n))
		reply_oom(r);
	else
		reply_int(r->out, v);
}

void cmd_incr(struct kv_req *r)
{
	incr_by(r, 1);
}

void cmd_decr(struct kv_req *r)
{
	incr_by(r, -1);
}

void cmd_incrby(struct kv_req *r)
{
	int64_t d;

	if (arg_int(r, 2, &d))
		incr_by(r, d);
}

void cmd_decrby(struct kv_req *r)
{
	int64_t d;

	if (!arg_int(r, 2, &d))
		return;
	if (d == INT64_MIN)
		reply_error(r->out, "ERR decrement would overflow");
	else
		incr_by(r, -d);
}
