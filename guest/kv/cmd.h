/* SPDX-License-Identifier: MIT */
/*
 * The command table and what a command gets to work with. The table is
 * const data in the binary; guest RAM only ever holds data.
 */
#ifndef COLO_KV_CMD_H
#define COLO_KV_CMD_H

#include "kv.h"

struct kv_req {
	struct kv *kv;
	struct colo_guest *g;
	struct kv_root *root;
	struct kv_out *out;
	size_t argc;
	const uint8_t **argv;
	size_t *argl;
	bool close;             /* set by QUIT */
};

struct kv_cmd {
	const char *name;       /* lower case, as in error messages */
	void (*fn)(struct kv_req *r);
	int arity;              /* Redis's: n exactly, -n at least n */
};

const struct kv_cmd *cmd_lookup(const uint8_t *name, size_t len);

/* Shared replies and checks. */
void reply_oom(struct kv_req *r);
void reply_wrongtype(struct kv_req *r);
void reply_not_int(struct kv_req *r);
void reply_syntax(struct kv_req *r);
void reply_arity(struct kv_req *r, const char *name);
/* The value at key if it is of type; NULL when missing (*wrong false) or
 * of another type (*wrong true, WRONGTYPE already replied). */
struct kv_obj *lookup_typed(struct kv_req *r, size_t arg, enum kv_type type,
			    bool *wrong);
/* Parses argument i as an integer, replying the error when it is not. */
bool arg_int(struct kv_req *r, size_t i, int64_t *v);
bool arg_is(const struct kv_req *r, size_t i, const char *word);

/* cmd-container.c: a list, hash or set at key argument 1. */
/* The value at the key, made empty when missing; NULL when it is of
 * another type or cannot be made (WRONGTYPE or OOM already replied). */
struct kv_obj *lookup_or_create(struct kv_req *r, enum kv_type type);
/* Deletes the key when o (NULL: none) has no elements left. */
void delete_if_empty(struct kv_req *r, const struct kv_obj *o);
/* LLEN, HLEN, SCARD: the number of elements, 0 for a missing key. */
void reply_count(struct kv_req *r, enum kv_type type);
/* SMEMBERS, HGETALL: each member, or each field followed by its value, in
 * table order; an empty array for a missing key. */
void reply_dict(struct kv_req *r, enum kv_type type);
/* The optional count in argument 2 (1 without it); false when it is not an
 * integer >= 0, Redis's "value is out of range, must be positive" already
 * replied. */
bool arg_count(struct kv_req *r, int64_t *count);

/* cmd-string.c */
void cmd_get(struct kv_req *r);
void cmd_set(struct kv_req *r);
void cmd_setnx(struct kv_req *r);
void cmd_append(struct kv_req *r);
void cmd_strlen(struct kv_req *r);
void cmd_getrange(struct kv_req *r);
void cmd_mget(struct kv_req *r);
void cmd_mset(struct kv_req *r);
void cmd_incr(struct kv_req *r);
void cmd_incrby(struct kv_req *r);
void cmd_decr(struct kv_req *r);
void cmd_decrby(struct kv_req *r);
/* cmd-list.c */
void cmd_lpush(struct kv_req *r);
void cmd_rpush(struct kv_req *r);
void cmd_lpop(struct kv_req *r);
void cmd_rpop(struct kv_req *r);
void cmd_llen(struct kv_req *r);
void cmd_lrange(struct kv_req *r);
/* cmd-hash.c */
void cmd_hset(struct kv_req *r);
void cmd_hget(struct kv_req *r);
void cmd_hdel(struct kv_req *r);
void cmd_hlen(struct kv_req *r);
void cmd_hgetall(struct kv_req *r);
/* cmd-set.c */
void cmd_sadd(struct kv_req *r);
void cmd_srem(struct kv_req *r);
void cmd_scard(struct kv_req *r);
void cmd_smembers(struct kv_req *r);
void cmd_spop(struct kv_req *r);
void cmd_srandmember(struct kv_req *r);
/* cmd-info.c */
void cmd_info(struct kv_req *r);
/* cmd-keys.c */
void cmd_del(struct kv_req *r);
void cmd_exists(struct kv_req *r);
void cmd_dbsize(struct kv_req *r);
void cmd_flushall(struct kv_req *r);
void cmd_debug(struct kv_req *r);

#endif
