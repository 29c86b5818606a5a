// SPDX-License-Identifier: MIT
/*
 * Set commands: SADD SREM SCARD SMEMBERS SPOP. Members are dict keys with
 * no value. SPOP takes members in table order rather than at random: the
 * guest must compute the same thing on both hosts.
 */
#include "cmd.h"

void cmd_sadd(struct kv_req *r)
{
	bool wrong, added;
	struct kv_obj *o = lookup_typed(r, 1, KV_SET, &wrong);
	int64_t n = 0;

	if (wrong)
		return;
	if (!o) {
		o = obj_new(r->g, KV_SET);
		if (!o || db_set(r->g, r->root, r->argv[1], r->argl[1], o)) {
			obj_free(r->g, o);
			reply_oom(r);
			return;
		}
	}
	for (size_t i = 2; i < r->argc; i++) {
		if (!dict_add(r->g, &o->dict, r->argv[i], r->argl[i], &added)) {
			if (!o->dict.count)
				db_delete(r->g, r->root, r->argv[1], r->argl[1]);
			reply_oom(r);
			return;
		}
		n += added;
	}
	reply_int(r->out, n);
}

void cmd_srem(struct kv_req *r)
{
	bool wrong;
	struct kv_obj *o = lookup_typed(r, 1, KV_SET, &wrong);
	int64_t n = 0;

	if (wrong)
		return;
	for (size_t i = 2; o && i < r->argc; i++)
		n += dict_delete(r->g, &o->dict, r->argv[i], r->argl[i], NULL);
	if (o && !o->dict.count)
		db_delete(r->g, r->root, r->argv[1], r->argl[1]);
	reply_int(r->out, n);
}

void cmd_scard(struct kv_req *r)
{
	bool wrong;
	struct kv_obj *o = lookup_typed(r, 1, KV_SET, &wrong);

	if (!wrong)
		reply_int(r->out, o ? (int64_t)o->dict.count : 0);
}

void cmd_smembers(struct kv_req *r)
{
	bool wrong;
	struct kv_obj *o = lookup_typed(r, 1, KV_SET, &wrong);
	struct dict_iter it;
	struct dict_entry *e;

	if (wrong)
		return;
	reply_array(r->out, o ? o->dict.count : 0);
	if (!o)
		return;
	dict_iter_init(&it, &o->dict);
	while ((e = dict_iter_next(&it)))
		reply_bulk(r->out, e->key, e->klen);
}

/* Replies the set's first member and removes it. */
static void pop_first(struct kv_req *r, struct kv_obj *o)
{
	struct dict_entry *e = dict_first(&o->dict);

	reply_bulk(r->out, e->key, e->klen);
	/* e dies in the delete; its key is already in the reply. */
	dict_delete(r->g, &o->dict, e->key, e->klen, NULL);
}

/* SPOP key [count] */
void cmd_spop(struct kv_req *r)
{
	bool wrong;
	struct kv_obj *o;
	int64_t count = 1;

	if (r->argc > 3) {
		reply_syntax(r);
		return;
	}
	if (r->argc == 3) {
		if (!arg_int(r, 2, &count))
			return;
		if (count < 0) {
			reply_error(r->out, "ERR value is out of range, must be positive");
			return;
		}
	}
	o = lookup_typed(r, 1, KV_SET, &wrong);
	if (wrong)
		return;
	if (r->argc == 2 && !o) {
		reply_nil(r->out);
		return;
	}
	if (r->argc == 3) {
		if (o && (uint64_t)count > o->dict.count)
			count = (int64_t)o->dict.count;
		if (!o)
			count = 0;
		reply_array(r->out, (uint64_t)count);
	}
	while (count--)
		pop_first(r, o);
	if (o && !o->dict.count)
		db_delete(r->g, r->root, r->argv[1], r->argl[1]);
}
