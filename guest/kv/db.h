/* SPDX-License-Identifier: MIT */
/*
 * colo-kv's data in guest RAM: the root (found again through
 * colo_guest_root after a checkpoint), the keyspace and its values.
 * Nothing here holds a function pointer or an address outside guest RAM.
 */
#ifndef COLO_KV_DB_H
#define COLO_KV_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dict.h"
#include "resp.h"

struct colo_guest;

#define KV_ROOT_MAGIC 0x31766b2d6f6c6f63ULL    /* "colo-kv1" */

enum kv_type {
	KV_STRING = 1,
	KV_LIST,
	KV_HASH,        /* dict: field -> struct kv_str * */
	KV_SET,         /* dict: member -> NULL */
};

/* A list element or hash field value. */
struct kv_str {
	uint64_t len;
	uint8_t data[];
};

/* A list is a ring of element pointers, cap a power of two. */
struct kv_list {
	struct kv_str **items;
	uint64_t head, count, cap;
};

struct kv_obj {
	uint32_t type;
	uint32_t pad;
	union {
		struct {
			uint8_t *data;
			uint64_t len, cap;
		} str;
		struct kv_list list;
		struct dict dict;
	};
};

struct kv_root {
	uint64_t magic;
	struct dict keys;       /* name -> struct kv_obj * */
	struct dict conns;      /* conn id (4 bytes) -> struct kv_conn * */
	uint64_t fill_next;     /* DEBUG FILLRANDOM: next __fill:N */
	uint64_t fill_state;    /* its PRNG, so each call continues it */
	uint64_t connections_received;  /* INFO stats, as Redis counts them */
	uint64_t commands_processed;
};

/* A client connection: the bytes of a command not yet complete, and how
 * far the parser has checked them (kept with them, so that a checkpoint
 * never pairs one side's bytes with the other side's progress). */
struct kv_conn {
	uint8_t *buf;
	uint64_t len, cap;
	struct resp_state parse;
};

struct kv_root *db_root_new(struct colo_guest *g);

struct kv_obj *db_lookup(struct kv_root *root, const void *key, size_t klen);
/* Binds key to o, freeing what it held. 0 or -ENOMEM (o is then not
 * consumed). */
int db_set(struct colo_guest *g, struct kv_root *root, const void *key,
	   size_t klen, struct kv_obj *o);
/* 1 deleted, 0 not there. */
int db_delete(struct colo_guest *g, struct kv_root *root, const void *key,
	      size_t klen);
void db_flush(struct colo_guest *g, struct kv_root *root);

struct kv_obj *obj_new(struct colo_guest *g, enum kv_type type);
void obj_free(struct colo_guest *g, struct kv_obj *o);
/* Replaces a string object's bytes; 0 or -ENOMEM (o unchanged). */
int obj_str_set(struct colo_guest *g, struct kv_obj *o, const void *p,
		size_t n);
int obj_str_append(struct colo_guest *g, struct kv_obj *o, const void *p,
		   size_t n);

struct kv_str *str_new(struct colo_guest *g, const void *p, size_t n);

/* Lists: push/pop at either end; index i counts from the head. */
int list_push(struct colo_guest *g, struct kv_list *l, struct kv_str *s,
	      bool front);
struct kv_str *list_pop(struct kv_list *l, bool front);
struct kv_str *list_at(const struct kv_list *l, uint64_t i);

#endif
