// SPDX-License-Identifier: MIT
/*
 * The keyspace: one dict from key name to value object, rooted in guest
 * RAM so that a resumed guest finds it where the checkpoint left it.
 */
#include "db.h"

#include <errno.h>
#include <string.h>

#include "colo-guest.h"

struct kv_root *db_root_new(struct colo_guest *g)
{
	struct kv_root *root = colo_calloc(g, 1, sizeof(*root));

	if (!root)
		return NULL;
	root->magic = KV_ROOT_MAGIC;
	root->fill_state = 0x853c49e6748fea9bULL;
	return root;
}

struct kv_obj *db_lookup(struct kv_root *root, const void *key, size_t klen)
{
	struct dict_entry *e = dict_find(&root->keys, key, klen);

	return e ? e->val : NULL;
}

int db_set(struct colo_guest *g, struct kv_root *root, const void *key,
	   size_t klen, struct kv_obj *o)
{
	bool added;
	struct dict_entry *e = dict_add(g, &root->keys, key, klen, &added);

	if (!e)
		return -ENOMEM;
	if (!added)
		obj_free(g, e->val);
	e->val = o;
	return 0;
}

int db_delete(struct colo_guest *g, struct kv_root *root, const void *key,
	      size_t klen)
{
	void *val;

	if (!dict_delete(g, &root->keys, key, klen, &val))
		return 0;
	obj_free(g, val);
	return 1;
}

static void free_obj_val(struct colo_guest *g, void *val)
{
	obj_free(g, val);
}

void db_flush(struct colo_guest *g, struct kv_root *root)
{
	dict_clear(g, &root->keys, free_obj_val);
}
