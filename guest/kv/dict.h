/* SPDX-License-Identifier: MIT */
/*
 * A chained hash table in guest RAM: the keyspace, and each hash and set
 * value. Keys are copied into their entries; values are opaque pointers
 * into guest RAM. The hash function has a fixed seed, as both hosts must
 * agree on every bucket; iteration order ("table order") is therefore the
 * same on both, which is what makes SPOP and HGETALL deterministic.
 */
#ifndef COLO_KV_DICT_H
#define COLO_KV_DICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct colo_guest;

struct dict_entry {
	struct dict_entry *next;
	void *val;
	uint64_t hash;
	uint32_t klen;
	uint8_t key[];
};

struct dict {
	struct dict_entry **buckets;
	uint64_t size;          /* buckets, a power of two, or 0 */
	uint64_t count;
};

struct dict_iter {
	const struct dict *d;
	uint64_t bucket;
	struct dict_entry *next;
};

struct dict_entry *dict_find(const struct dict *d, const void *key,
			     size_t klen);
/* Finds key or adds it with val NULL; *added tells which. NULL when out of
 * guest RAM. */
struct dict_entry *dict_add(struct colo_guest *g, struct dict *d,
			    const void *key, size_t klen, bool *added);
/* Unlinks and frees key's entry; returns its value through *val. 1 when
 * found, 0 when not. */
int dict_delete(struct colo_guest *g, struct dict *d, const void *key,
		size_t klen, void **val);
/* Frees every entry, passing each value to free_val (may be NULL). The
 * callback is an argument, never stored in guest RAM. */
void dict_clear(struct colo_guest *g, struct dict *d,
		void (*free_val)(struct colo_guest *g, void *val));

/* The first entry in table order, or NULL when empty. */
struct dict_entry *dict_first(const struct dict *d);
/* Iteration in table order. The table must not change meanwhile: a
 * delete may shrink it. */
void dict_iter_init(struct dict_iter *it, const struct dict *d);
struct dict_entry *dict_iter_next(struct dict_iter *it);

#endif
