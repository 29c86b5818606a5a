// SPDX-License-Identifier: MIT
/*
 * The hash table behind the keyspace, hashes and sets. It doubles when the
 * load reaches 1 and halves when it falls under 1/8, rehashing all at once:
 * simple, and the pause is a few ms per million keys. Every resize
 * allocates from the guest heap, so it happens at the same point on both
 * hosts.
 */
#include "dict.h"

#include <string.h>

#include "colo-guest.h"

#define DICT_MIN_SIZE 8

/* FNV-1a: fast enough, and seedless so that both hosts agree. */
static uint64_t hash_key(const void *key, size_t klen)
{
	const uint8_t *p = key;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < klen; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h ^ (h >> 29);
}

static void rehash(struct colo_guest *g, struct dict *d, uint64_t size)
{
	struct dict_entry **nb = colo_calloc(g, size, sizeof(*nb));
	uint64_t i;

	/* Out of memory: the table keeps working, just with longer chains. */
	if (!nb)
		return;
	for (i = 0; i < d->size; i++) {
		struct dict_entry *e = d->buckets[i], *next;

		/* Re-linking in bucket order keeps the result deterministic. */
		for (; e; e = next) {
			uint64_t b = e->hash & (size - 1);

			next = e->next;
			e->next = nb[b];
			nb[b] = e;
		}
	}
	colo_free(g, d->buckets);
	d->buckets = nb;
	d->size = size;
}

struct dict_entry *dict_find(const struct dict *d, const void *key,
			     size_t klen)
{
	uint64_t h;
	struct dict_entry *e;

	if (!d->size)
		return NULL;
	h = hash_key(key, klen);
	for (e = d->buckets[h & (d->size - 1)]; e; e = e->next)
		if (e->hash == h && e->klen == klen &&
		    !memcmp(e->key, key, klen))
			return e;
	return NULL;
}

struct dict_entry *dict_add(struct colo_guest *g, struct dict *d,
			    const void *key, size_t klen, bool *added)
{
	struct dict_entry *e = dict_find(d, key, klen);
	uint64_t b;

	*added = false;
	if (e)
		return e;
	if (klen > UINT32_MAX)
		return NULL;
	if (d->count >= d->size)
		rehash(g, d, d->size ? d->size * 2 : DICT_MIN_SIZE);
	if (!d->size)
		return NULL;
	e = colo_alloc(g, sizeof(*e) + klen);
	if (!e)
		return NULL;
	e->hash = hash_key(key, klen);
	e->klen = (uint32_t)klen;
	e->val = NULL;
	memcpy(e->key, key, klen);
	b = e->hash & (d->size - 1);
	e->next = d->buckets[b];
	d->buckets[b] = e;
	d->count++;
	*added = true;
	return e;
}

int dict_delete(struct colo_guest *g, struct dict *d, const void *key,
		size_t klen, void **val)
{
	struct dict_entry **pp, *e;
	uint64_t h;

	if (!d->size)
		return 0;
	h = hash_key(key, klen);
	for (pp = &d->buckets[h & (d->size - 1)]; (e = *pp); pp = &e->next) {
		if (e->hash != h || e->klen != klen || memcmp(e->key, key, klen))
			continue;
		*pp = e->next;
		if (val)
			*val = e->val;
		colo_free(g, e);
		d->count--;
		if (d->size > DICT_MIN_SIZE && d->count < d->size / 8)
			rehash(g, d, d->size / 2);
		return 1;
	}
	return 0;
}

void dict_clear(struct colo_guest *g, struct dict *d,
		void (*free_val)(struct colo_guest *g, void *val))
{
	uint64_t i;

	for (i = 0; i < d->size; i++) {
		struct dict_entry *e = d->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			if (free_val)
				free_val(g, e->val);
			colo_free(g, e);
		}
	}
	colo_free(g, d->buckets);
	memset(d, 0, sizeof(*d));
}

struct dict_entry *dict_first(const struct dict *d)
{
	for (uint64_t i = 0; i < d->size; i++)
		if (d->buckets[i])
			return d->buckets[i];
	return NULL;
}

void dict_iter_init(struct dict_iter *it, const struct dict *d)
{
	it->d = d;
	it->bucket = 0;
	it->next = d->size ? d->buckets[0] : NULL;
}

struct dict_entry *dict_iter_next(struct dict_iter *it)
{
	struct dict_entry *e;

	while (!it->next) {
		if (++it->bucket >= it->d->size)
			return NULL;
		it->next = it->d->buckets[it->bucket];
	}
	e = it->next;
	it->next = e->next;
	return e;
}
