// SPDX-License-Identifier: MIT
/*
 * Set commands: SADD SREM SCARD SMEMBERS SPOP SRANDMEMBER. Members are
 * dict keys with no value. SPOP and SRANDMEMBER take members in table
 * order rather than at random: the guest must compute the same thing on
 * both hosts.
 */
#include "cmd.h"

void cmd_sadd(struct kv_req *r)
{
	struct kv_obj *o = lookup_or_create(r, KV_SET);
	int64_t n = 0;
	bool added;

	if (!o)
		return;
	for (size_t i = 2; i < r->argc; i++) {
		if (!dict_add(r->g, &o->dict, r->argv[i], r->argl[i], &added)) {
			delete_if_empty(r, o);
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
	delete_if_empty(r, o);
	reply_int(r->out, n);
}

void cmd_scard(struct kv_req *r)
{
	reply_count(r, KV_SET);
}

void cmd_smembers(struct kv_req *r)
{
	reply_dict(r, KV_SET);
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
	int64_t count;

	if (r->argc > 3) {
		reply_syntax(r);
		return;
	}
	if (!arg_count(r, &count))
		return;
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
	delete_if_empty(r, o);
}

/* Replies n members in table order, starting over at the end when
 * repeat (a negative SRANDMEMBER count), else at most the set's size. */
static void reply_members(struct kv_req *r, const struct kv_obj *o,
			  uint64_t n, bool repeat)
{
	struct dict_iter it;
	struct dict_entry *e;

	if (!repeat && n > o->dict.count)
		n = o->dict.count;
	reply_array(r->out, n);
	dict_iter_init(&it, &o->dict);
	while (n) {
		e = dict_iter_next(&it);
		if (!e) {
			dict_iter_init(&it, &o->dict);
			continue;
		}
		reply_bulk(r->out, e->key, e->klen);
		n--;
	}
}

/* SRANDMEMBER key [count], with Redis 7.0's checks in its order: the
 * count (any long but LONG_MIN, whose negation would overflow), then the
 * key. A negative count may repeat members. */
void cmd_srandmember(struct kv_req *r)
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
		if (count == INT64_MIN) {
			reply_error(r->out, "ERR value is out of range, value must "
				    "between -9223372036854775807 and "
				    "9223372036854775807");
			return;
		}
	}
	o = lookup_typed(r, 1, KV_SET, &wrong);
	if (wrong)
		return;
	if (r->argc == 2) {
		if (o)
			reply_bulk(r->out, dict_first(&o->dict)->key,
				   dict_first(&o->dict)->klen);
		else
			reply_nil(r->out);
	} else if (!o) {
		reply_array(r->out, 0);
	} else {
		reply_members(r, o, count < 0 ? (uint64_t)-count
					      : (uint64_t)count, count < 0);
	}
}
