// SPDX-License-Identifier: MIT
/*
 * Hash commands: HSET HGET HDEL HLEN HGETALL. Fields are dict keys; their
 * values are struct kv_str. HGETALL lists fields in table order, which is
 * the same on both hosts.
 */
#include "cmd.h"

#include "colo-guest.h"

void cmd_hset(struct kv_req *r)
{
	struct kv_obj *o;
	bool added;
	struct dict_entry *e;
	struct kv_str *v;
	int64_t created = 0;

	if (r->argc % 2) {
		reply_arity(r, "hset");
		return;
	}
	o = lookup_or_create(r, KV_HASH);
	if (!o)
		return;
	for (size_t i = 2; i < r->argc; i += 2) {
		v = str_new(r->g, r->argv[i + 1], r->argl[i + 1]);
		e = v ? dict_add(r->g, &o->dict, r->argv[i], r->argl[i], &added)
		      : NULL;
		if (!e) {
			colo_free(r->g, v);
			delete_if_empty(r, o);
			reply_oom(r);
			return;
		}
		colo_free(r->g, e->val);
		e->val = v;
		created += added;
	}
	reply_int(r->out, created);
}

void cmd_hget(struct kv_req *r)
{
	bool wrong;
	struct kv_obj *o = lookup_typed(r, 1, KV_HASH, &wrong);
	struct dict_entry *e;
	struct kv_str *v;

	if (wrong)
		return;
	e = o ? dict_find(&o->dict, r->argv[2], r->argl[2]) : NULL;
	if (!e) {
		reply_nil(r->out);
		return;
	}
	v = e->val;
	reply_bulk(r->out, v->data, v->len);
}

void cmd_hdel(struct kv_req *r)
{
	bool wrong;
	struct kv_obj *o = lookup_typed(r, 1, KV_HASH, &wrong);
	int64_t n = 0;
	void *v;

	if (wrong)
		return;
	for (size_t i = 2; o && i < r->argc; i++) {
		if (dict_delete(r->g, &o->dict, r->argv[i], r->argl[i], &v)) {
			colo_free(r->g, v);
			n++;
		}
	}
	delete_if_empty(r, o);
	reply_int(r->out, n);
}

void cmd_hlen(struct kv_req *r)
{
	reply_count(r, KV_HASH);
}

void cmd_hgetall(struct kv_req *r)
{
	reply_dict(r, KV_HASH);
}
