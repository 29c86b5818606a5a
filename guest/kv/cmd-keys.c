// SPDX-License-Identifier: MIT
/*
 * Keyspace commands: DEL EXISTS DBSIZE FLUSHALL (FLUSHDB too), and DEBUG
 * FILLRANDOM, which benchmarks use to fill guest RAM with incompressible data.
 */
#include "cmd.h"

#include <stdio.h>
#include <string.h>

#include "colo-guest.h"

#define FILL_CHUNK (64u * 1024)

void cmd_del(struct kv_req *r)
{
	int64_t n = 0;

	for (size_t i = 1; i < r->argc; i++)
		n += db_delete(r->g, r->root, r->argv[i], r->argl[i]);
	reply_int(r->out, n);
}

void cmd_exists(struct kv_req *r)
{
	int64_t n = 0;

	/* Like Redis, a key named twice counts twice. */
	for (size_t i = 1; i < r->argc; i++)
		n += db_lookup(r->root, r->argv[i], r->argl[i]) != NULL;
	reply_int(r->out, n);
}

void cmd_dbsize(struct kv_req *r)
{
	reply_int(r->out, (int64_t)r->root->keys.count);
}

/* FLUSHALL [ASYNC | SYNC]: always synchronous here. With one database,
 * FLUSHDB is the same command and runs this. */
void cmd_flushall(struct kv_req *r)
{
	if (r->argc > 2 || (r->argc == 2 && !arg_is(r, 1, "async") &&
			    !arg_is(r, 1, "sync"))) {
		reply_syntax(r);
		return;
	}
	db_flush(r->g, r->root);
	reply_status(r->out, "OK");
}

/* xorshift64*, its state in guest RAM: the same bytes on both hosts. */
static uint64_t fill_rand(struct kv_root *root)
{
	uint64_t x = root->fill_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	root->fill_state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* One value of n random bytes under the next __fill:N key. */
static int fill_one(struct kv_req *r, size_t n)
{
	struct kv_obj *o = obj_new(r->g, KV_STRING);
	char key[32];
	int klen;

	if (!o)
		return -1;
	o->str.data = colo_alloc(r->g, n);
	if (!o->str.data) {
		obj_free(r->g, o);
		return -1;
	}
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = fill_rand(r->root);

		memcpy(o->str.data + i, &v, n - i < 8 ? n - i : 8);
	}
	o->str.len = o->str.cap = n;
	klen = snprintf(key, sizeof(key), "__fill:%llu",
			(unsigned long long)r->root->fill_next++);
	if (db_set(r->g, r->root, key, (size_t)klen, o)) {
		obj_free(r->g, o);
		return -1;
	}
	return 0;
}

/* DEBUG FILLRANDOM <bytes>: only with --enable-debug-command yes, as in
 * Redis 7 (any client could otherwise fill guest RAM and inflate every
 * checkpoint). Refused after the arity check, with Redis's text. */
void cmd_debug(struct kv_req *r)
{
	int64_t bytes;
	size_t n;

	if (!r->kv->debug_enabled) {
		reply_error(r->out, "ERR DEBUG command not allowed. If the "
			    "enable-debug-command option is set to \"local\", "
			    "you can run it from a local connection, otherwise "
			    "you need to set this option in the configuration "
			    "file, and then restart the server.");
		return;
	}
	if (!arg_is(r, 1, "fillrandom")) {
		reply_errorf(r->out, "ERR unknown subcommand '%.*s'. Try DEBUG HELP.",
			     (int)(r->argl[1] < 128 ? r->argl[1] : 128),
			     (const char *)r->argv[1]);
		return;
	}
	if (r->argc != 3) {
		reply_arity(r, "debug|fillrandom");
		return;
	}
	if (!arg_int(r, 2, &bytes))
		return;
	if (bytes < 0) {
		reply_error(r->out, "ERR value is out of range, must be positive");
		return;
	}
	while (bytes > 0) {
		n = bytes < FILL_CHUNK ? (size_t)bytes : FILL_CHUNK;
		if (fill_one(r, n)) {
			reply_oom(r);
			return;
		}
		bytes -= (int64_t)n;
	}
	reply_status(r->out, "OK");
}
