// SPDX-License-Identifier: MIT
/*
 * The command table, the checks and replies commands share, and the
 * connection and server commands: PING ECHO QUIT SELECT CONFIG COMMAND
 * FUNCTION (INFO is in cmd-info.c). The last three answer just enough for redis-cli
 * and redis-benchmark to be happy, with Redis's errors where they refuse.
 */
#include "cmd.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "colo-guest.h"

static void cmd_ping(struct kv_req *r);
static void cmd_echo(struct kv_req *r);
static void cmd_quit(struct kv_req *r);
static void cmd_select(struct kv_req *r);
static void cmd_config(struct kv_req *r);
static void cmd_command(struct kv_req *r);
static void cmd_function(struct kv_req *r);

static const struct kv_cmd commands[] = {
	{ "get", cmd_get, 2 },
	{ "set", cmd_set, -3 },
	{ "setnx", cmd_setnx, 3 },
	{ "del", cmd_del, -2 },
	{ "exists", cmd_exists, -2 },
	{ "append", cmd_append, 3 },
	{ "strlen", cmd_strlen, 2 },
	{ "getrange", cmd_getrange, 4 },
	{ "mget", cmd_mget, -2 },
	{ "mset", cmd_mset, -3 },
	{ "incr", cmd_incr, 2 },
	{ "incrby", cmd_incrby, 3 },
	{ "decr", cmd_decr, 2 },
	{ "decrby", cmd_decrby, 3 },
	{ "lpush", cmd_lpush, -3 },
	{ "rpush", cmd_rpush, -3 },
	{ "lpop", cmd_lpop, -2 },
	{ "rpop", cmd_rpop, -2 },
	{ "llen", cmd_llen, 2 },
	{ "lrange", cmd_lrange, 4 },
	{ "hset", cmd_hset, -4 },
	{ "hget", cmd_hget, 3 },
	{ "hdel", cmd_hdel, -3 },
	{ "hlen", cmd_hlen, 2 },
	{ "hgetall", cmd_hgetall, 2 },
	{ "sadd", cmd_sadd, -3 },
	{ "srem", cmd_srem, -3 },
	{ "scard", cmd_scard, 2 },
	{ "smembers", cmd_smembers, 2 },
	{ "spop", cmd_spop, -2 },
	{ "srandmember", cmd_srandmember, -2 },
	{ "ping", cmd_ping, -1 },
	{ "echo", cmd_echo, 2 },
	{ "dbsize", cmd_dbsize, 1 },
	{ "flushall", cmd_flushall, -1 },
	{ "flushdb", cmd_flushall, -1 },
	{ "quit", cmd_quit, -1 },
	{ "select", cmd_select, 2 },
	{ "config", cmd_config, -2 },
	{ "info", cmd_info, -1 },
	{ "command", cmd_command, -1 },
	{ "function", cmd_function, -2 },
	{ "debug", cmd_debug, -2 },
};

const struct kv_cmd *cmd_lookup(const uint8_t *name, size_t len)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strlen(commands[i].name) == len &&
		    !strncasecmp(commands[i].name, (const char *)name, len))
			return &commands[i];
	return NULL;
}

void reply_oom(struct kv_req *r)
{
	reply_error(r->out, "OOM command not allowed when used memory > 'maxmemory'.");
}

void reply_wrongtype(struct kv_req *r)
{
	reply_error(r->out, "WRONGTYPE Operation against a key holding the wrong kind of value");
}

void reply_not_int(struct kv_req *r)
{
	reply_error(r->out, "ERR value is not an integer or out of range");
}

void reply_syntax(struct kv_req *r)
{
	reply_error(r->out, "ERR syntax error");
}

void reply_arity(struct kv_req *r, const char *name)
{
	reply_errorf(r->out, "ERR wrong number of arguments for '%s' command",
		     name);
}

struct kv_obj *lookup_typed(struct kv_req *r, size_t arg, enum kv_type type,
			    bool *wrong)
{
	struct kv_obj *o = db_lookup(r->root, r->argv[arg], r->argl[arg]);

	*wrong = o && o->type != type;
	if (*wrong) {
		reply_wrongtype(r);
		return NULL;
	}
	return o;
}

bool arg_int(struct kv_req *r, size_t i, int64_t *v)
{
	if (resp_strtoll(r->argv[i], r->argl[i], v) == 0)
		return true;
	reply_not_int(r);
	return false;
}

bool arg_is(const struct kv_req *r, size_t i, const char *word)
{
	return strlen(word) == r->argl[i] &&
	       !strncasecmp(word, (const char *)r->argv[i], r->argl[i]);
}

static void cmd_ping(struct kv_req *r)
{
	if (r->argc > 2)
		reply_arity(r, "ping");
	else if (r->argc == 2)
		reply_bulk(r->out, r->argv[1], r->argl[1]);
	else
		reply_status(r->out, "PONG");
}

static void cmd_echo(struct kv_req *r)
{
	reply_bulk(r->out, r->argv[1], r->argl[1]);
}

static void cmd_quit(struct kv_req *r)
{
	reply_status(r->out, "OK");
	r->close = true;
}

static void cmd_select(struct kv_req *r)
{
	int64_t db;

	if (!arg_int(r, 1, &db))
		return;
	if (db != 0)
		reply_error(r->out, "ERR DB index is out of range");
	else
		reply_status(r->out, "OK");
}

static void reply_unknown_subcommand(struct kv_req *r, const char *cmd)
{
	reply_errorf(r->out, "ERR unknown subcommand '%.*s'. Try %s HELP.",
		     (int)(r->argl[1] < 128 ? r->argl[1] : 128),
		     (const char *)r->argv[1], cmd);
}

/*
 * colo-kv has no parameters: CONFIG GET matches none (an empty list, which
 * is all redis-benchmark asks for) and CONFIG SET knows none, with Redis's
 * arity and syntax checks first. RESETSTAT zeroes INFO's counters.
 */
static void cmd_config(struct kv_req *r)
{
	if (arg_is(r, 1, "get")) {
		if (r->argc < 3)
			reply_arity(r, "config|get");
		else
			reply_array(r->out, 0);
	} else if (arg_is(r, 1, "set")) {
		if (r->argc < 4)
			reply_arity(r, "config|set");
		else if (r->argc % 2)
			reply_syntax(r);
		else
			reply_errorf(r->out, "ERR Unknown option or number of "
				     "arguments for CONFIG SET - '%.*s'",
				     (int)(r->argl[2] < 128 ? r->argl[2] : 128),
				     (const char *)r->argv[2]);
	} else if (arg_is(r, 1, "resetstat")) {
		if (r->argc != 2) {
			reply_arity(r, "config|resetstat");
			return;
		}
		r->root->commands_processed = 0;
		r->root->connections_received = 0;
		reply_status(r->out, "OK");
	} else {
		reply_unknown_subcommand(r, "CONFIG");
	}
}

/* COMMAND COUNT and LIST from the table. redis-cli asks COMMAND DOCS at
 * start, and an empty answer is fine by it: COMMAND, DOCS and INFO answer
 * an empty list rather than Redis's documentation. */
static void cmd_command(struct kv_req *r)
{
	size_t n = sizeof(commands) / sizeof(commands[0]);

	if (r->argc == 1 || arg_is(r, 1, "docs") || arg_is(r, 1, "info")) {
		reply_array(r->out, 0);
	} else if (arg_is(r, 1, "count")) {
		if (r->argc != 2)
			reply_arity(r, "command|count");
		else
			reply_int(r->out, (int64_t)n);
	} else if (arg_is(r, 1, "list") && r->argc == 2) {
		reply_array(r->out, n);
		for (size_t i = 0; i < n; i++)
			reply_cbulk(r->out, commands[i].name);
	} else {
		reply_unknown_subcommand(r, "COMMAND");
	}
}

/* colo-kv runs no Lua: there are never functions, so FUNCTION FLUSH (which
 * Redis's test suite sends before each group of tests) has nothing to do.
 * Loading one is refused as an unknown subcommand. */
static void cmd_function(struct kv_req *r)
{
	if (!arg_is(r, 1, "flush"))
		reply_unknown_subcommand(r, "FUNCTION");
	else if (r->argc > 3)
		reply_error(r->out, "ERR unknown subcommand or wrong number of "
			    "arguments for 'flush'. Try FUNCTION HELP.");
	else if (r->argc == 3 && !arg_is(r, 2, "async") && !arg_is(r, 2, "sync"))
		reply_error(r->out, "ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
	else
		reply_status(r->out, "OK");
}
