// SPDX-License-Identifier: MIT
/*
 * List commands: LPUSH RPUSH LPOP RPOP LLEN LRANGE. A list that becomes
 * empty is deleted, as in Redis.
 */
#include "cmd.h"

#include "colo-guest.h"

static void push(struct kv_req *r, bool front)
{
	struct kv_obj *o = lookup_or_create(r, KV_LIST);
	struct kv_str *s;

	if (!o)
		return;
	for (size_t i = 2; i < r->argc; i++) {
		s = str_new(r->g, r->argv[i], r->argl[i]);
		if (!s || list_push(r->g, &o->list, s, front)) {
			colo_free(r->g, s);
			delete_if_empty(r, o);
			reply_oom(r);
			return;
		}
	}
	reply_int(r->out, (int64_t)o->list.count);
}

void cmd_lpush(struct kv_req *r)
{
	push(r, true);
}

void cmd_rpush(struct kv_req *r)
{
	push(r, false);
}

/* LPOP/RPOP key [count]: a bulk without count, an array with it. */
static void pop(struct kv_req *r, bool front)
{
	bool wrong;
	struct kv_obj *o;
	struct kv_str *s;
	int64_t count;

	if (r->argc > 3) {
		reply_arity(r, front ? "lpop" : "rpop");
		return;
	}
	if (!arg_count(r, &count))
		return;
	o = lookup_typed(r, 1, KV_LIST, &wrong);
	if (wrong)
		return;
	if (!o) {
		if (r->argc == 3)
			reply_nil_array(r->out);
		else
			reply_nil(r->out);
		return;
	}
	if (r->argc == 3) {
		if ((uint64_t)count > o->list.count)
			count = (int64_t)o->list.count;
		reply_array(r->out, (uint64_t)count);
	}
	while (count--) {
		s = list_pop(&o->list, front);
		reply_bulk(r->out, s->data, s->len);
		colo_free(r->g, s);
	}
	delete_if_empty(r, o);
}

void cmd_lpop(struct kv_req *r)
{
	pop(r, true);
}

void cmd_rpop(struct kv_req *r)
{
	pop(r, false);
}

void cmd_llen(struct kv_req *r)
{
	reply_count(r, KV_LIST);
}

void cmd_lrange(struct kv_req *r)
{
	bool wrong;
	struct kv_obj *o;
	int64_t start, stop, n;

	if (!arg_int(r, 2, &start) || !arg_int(r, 3, &stop))
		return;
	o = lookup_typed(r, 1, KV_LIST, &wrong);
	if (wrong)
		return;
	n = o ? (int64_t)o->list.count : 0;
	/* Redis's rules: negative counts from the end, then clamp. */
	if (start < 0)
		start = n + start;
	if (stop < 0)
		stop = n + stop;
	if (start < 0)
		start = 0;
	if (start > stop || start >= n) {
		reply_array(r->out, 0);
		return;
	}
	if (stop >= n)
		stop = n - 1;
	reply_array(r->out, (uint64_t)(stop - start + 1));
	for (int64_t i = start; i <= stop; i++) {
		struct kv_str *s = list_at(&o->list, (uint64_t)i);

		reply_bulk(r->out, s->data, s->len);
	}
}
