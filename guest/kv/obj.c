// SPDX-License-Identifier: MIT
/*
 * Value objects: strings (a growable byte buffer), lists (a ring of
 * elements) and the dicts behind hashes and sets. All in guest RAM.
 */
#include "db.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "colo-guest.h"

struct kv_obj *obj_new(struct colo_guest *g, enum kv_type type)
{
	struct kv_obj *o = colo_calloc(g, 1, sizeof(*o));

	if (o)
		o->type = type;
	return o;
}

static void free_str_val(struct colo_guest *g, void *val)
{
	colo_free(g, val);
}

void obj_free(struct colo_guest *g, struct kv_obj *o)
{
	struct kv_str *s;

	if (!o)
		return;
	switch (o->type) {
	case KV_STRING:
		colo_free(g, o->str.data);
		break;
	case KV_LIST:
		while ((s = list_pop(&o->list, true)))
			colo_free(g, s);
		colo_free(g, o->list.items);
		break;
	case KV_HASH:
		dict_clear(g, &o->dict, free_str_val);
		break;
	case KV_SET:
		dict_clear(g, &o->dict, NULL);
		break;
	}
	colo_free(g, o);
}

static int str_reserve(struct colo_guest *g, struct kv_obj *o, uint64_t n)
{
	uint64_t cap;
	uint8_t *nd;

	if (n <= o->str.cap)
		return 0;
	/* Grow by half again so that APPEND loops stay linear. */
	cap = n + n / 2;
	if (cap < 16)
		cap = 16;
	nd = colo_realloc(g, o->str.data, cap);
	if (!nd)
		return -ENOMEM;
	o->str.data = nd;
	o->str.cap = cap;
	return 0;
}

int obj_str_set(struct colo_guest *g, struct kv_obj *o, const void *p,
		size_t n)
{
	uint8_t *nd;

	/* Exact size for a fresh value; a much larger old buffer is given
	 * back rather than kept. */
	if (n > o->str.cap || n < o->str.cap / 4) {
		nd = colo_alloc(g, n ? n : 1);
		if (!nd)
			return -ENOMEM;
		colo_free(g, o->str.data);
		o->str.data = nd;
		o->str.cap = n ? n : 1;
	}
	if (n)
		memcpy(o->str.data, p, n);
	o->str.len = n;
	return 0;
}

int obj_str_append(struct colo_guest *g, struct kv_obj *o, const void *p,
		   size_t n)
{
	int err = str_reserve(g, o, o->str.len + n);

	if (err)
		return err;
	if (n)
		memcpy(o->str.data + o->str.len, p, n);
	o->str.len += n;
	return 0;
}

struct kv_str *str_new(struct colo_guest *g, const void *p, size_t n)
{
	struct kv_str *s = colo_alloc(g, sizeof(*s) + n);

	if (!s)
		return NULL;
	s->len = n;
	if (n)
		memcpy(s->data, p, n);
	return s;
}

static int list_grow(struct colo_guest *g, struct kv_list *l)
{
	uint64_t cap = l->cap ? l->cap * 2 : 8, i;
	struct kv_str **items;

	if (cap > SIZE_MAX / sizeof(*items))
		return -ENOMEM;
	items = colo_alloc(g, cap * sizeof(*items));
	if (!items)
		return -ENOMEM;
	for (i = 0; i < l->count; i++)
		items[i] = l->items[(l->head + i) & (l->cap - 1)];
	colo_free(g, l->items);
	l->items = items;
	l->cap = cap;
	l->head = 0;
	return 0;
}

int list_push(struct colo_guest *g, struct kv_list *l, struct kv_str *s,
	      bool front)
{
	int err;

	if (l->count == l->cap) {
		err = list_grow(g, l);
		if (err)
			return err;
	}
	if (front) {
		l->head = (l->head - 1) & (l->cap - 1);
		l->items[l->head] = s;
	} else {
		l->items[(l->head + l->count) & (l->cap - 1)] = s;
	}
	l->count++;
	return 0;
}

struct kv_str *list_pop(struct kv_list *l, bool front)
{
	struct kv_str *s;

	if (!l->count)
		return NULL;
	if (front) {
		s = l->items[l->head];
		l->head = (l->head + 1) & (l->cap - 1);
	} else {
		s = l->items[(l->head + l->count - 1) & (l->cap - 1)];
	}
	l->count--;
	return s;
}

struct kv_str *list_at(const struct kv_list *l, uint64_t i)
{
	return l->items[(l->head + i) & (l->cap - 1)];
}
