// SPDX-License-Identifier: MIT
/*
 * What the list, hash and set commands share: the key's value found or
 * made, deleted once empty (Redis keeps no empty containers, so an empty
 * one was made by this command), counted and listed, and the optional
 * count of LPOP, RPOP and SPOP.
 */
#include "cmd.h"

/* How many elements a list, hash or set holds. */
static uint64_t elements(const struct kv_obj *o)
{
	return o->type == KV_LIST ? o->list.count : o->dict.count;
}

struct kv_obj *lookup_or_create(struct kv_req *r, enum kv_type type)
{
	bool wrong;
	struct kv_obj *o = lookup_typed(r, 1, type, &wrong);

	if (wrong)
		return NULL;
	if (o)
		return o;
	o = obj_new(r->g, type);
	if (!o || db_set(r->g, r->root, r->argv[1], r->argl[1], o)) {
		obj_free(r->g, o);
		reply_oom(r);
		return NULL;
	}
	return o;
}

void delete_if_empty(struct kv_req *r, const struct kv_obj *o)
{
	if (o && !elements(o))
		db_delete(r->g, r->root, r->argv[1], r->argl[1]);
}

void reply_count(struct kv_req *r, enum kv_type type)
{
	bool wrong;
	struct kv_obj *o = lookup_typed(r, 1, type, &wrong);

	if (!wrong)
		reply_int(r->out, o ? (int64_t)elements(o) : 0);
}

void reply_dict(struct kv_req *r, enum kv_type type)
{
	bool wrong, values = type == KV_HASH;
	struct kv_obj *o = lookup_typed(r, 1, type, &wrong);
	struct dict_iter it;
	struct dict_entry *e;

	if (wrong)
		return;
	reply_array(r->out, o ? o->dict.count * (values ? 2 : 1) : 0);
	if (!o)
		return;
	dict_iter_init(&it, &o->dict);
	while ((e = dict_iter_next(&it))) {
		reply_bulk(r->out, e->key, e->klen);
		if (values) {
			const struct kv_str *v = e->val;

			reply_bulk(r->out, v->data, v->len);
		}
	}
}

bool arg_count(struct kv_req *r, int64_t *count)
{
	*count = 1;
	if (r->argc <= 2)
		return true;
	/* Redis gives this one text for a count that is not even a number. */
	if (resp_strtoll(r->argv[2], r->argl[2], count) || *count < 0) {
		reply_error(r->out, "ERR value is out of range, must be positive");
		return false;
	}
	return true;
}
