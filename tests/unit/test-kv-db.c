// SPDX-License-Identifier: MIT
/*
 * colo-kv's command layer over a local guest (no daemon): fixed command
 * sequences checked byte for byte against what Redis 7 replies, the store
 * against a naive model on random operations, and a guest resumed from the
 * same RAM finding its data.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "colo-guest-local.h"
#include "colo-guest.h"
#include "kv.h"
#include "tap.h"

#define RAM_BYTES (64u << 20)

static struct kv kv;
static uint32_t conn = 1;

/* Sends argv as one multibulk command; returns the reply, NUL-terminated. */
static const char *cmdv(const char *const *argv, size_t argc)
{
	char buf[8192];
	size_t n = (size_t)snprintf(buf, sizeof(buf), "*%zu\r\n", argc);

	for (size_t i = 0; i < argc; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "$%zu\r\n%s\r\n",
				      strlen(argv[i]), argv[i]);
	CHECK(n < sizeof(buf));
	reply_reset(&kv.out);
	kv_feed(&kv, conn, (const uint8_t *)buf, n);
	reply_raw(&kv.out, "", 1);
	CHECK(!kv.out.failed);
	return (const char *)kv.out.buf;
}

#define CMD(...) cmdv((const char *const[]){ __VA_ARGS__ },                \
		      sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(char *))

#define EXPECT(reply, ...)                                                  \
	do {                                                                \
		const char *got_ = CMD(__VA_ARGS__);                        \
		if (strcmp(got_, reply)) {                                  \
			fprintf(stderr, "%s:%d: got \"%s\" want \"%s\"\n",  \
				__FILE__, __LINE__, got_, reply);           \
			exit(1);                                            \
		}                                                           \
	} while (0)

#define WRONGTYPE "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
#define NOTINT "-ERR value is not an integer or out of range\r\n"
#define RANGE "-ERR value is out of range, must be positive\r\n"
#define DEBUG_REFUSED "-ERR DEBUG command not allowed. If the "                \
	"enable-debug-command option is set to \"local\", you can run it "    \
	"from a local connection, otherwise you need to set this option in " \
	"the configuration file, and then restart the server.\r\n"

static void test_strings(void)
{
	EXPECT("$-1\r\n", "GET", "k");
	EXPECT("+OK\r\n", "SET", "k", "hello");
	EXPECT("$5\r\nhello\r\n", "get", "k");
	EXPECT("$-1\r\n", "SET", "k", "x", "NX");
	EXPECT("+OK\r\n", "SET", "k", "world", "XX");
	EXPECT("$-1\r\n", "SET", "nope", "x", "XX");
	EXPECT("-ERR syntax error\r\n", "SET", "k", "x", "NX", "XX");
	EXPECT(":0\r\n", "SETNX", "k", "v");
	EXPECT(":1\r\n", "SETNX", "k2", "v");
	EXPECT(":10\r\n", "APPEND", "k", "abcde");
	EXPECT(":3\r\n", "APPEND", "new", "abc");
	EXPECT(":10\r\n", "STRLEN", "k");
	EXPECT(":0\r\n", "STRLEN", "missing");
	EXPECT("*3\r\n$10\r\nworldabcde\r\n$-1\r\n$1\r\nv\r\n",
	       "MGET", "k", "missing", "k2");
	EXPECT("+OK\r\n", "MSET", "a", "1", "b", "2");
	EXPECT("-ERR wrong number of arguments for 'mset' command\r\n",
	       "MSET", "a", "1", "b");
	EXPECT(":2\r\n", "INCR", "a");
	EXPECT(":12\r\n", "INCRBY", "a", "10");
	EXPECT(":11\r\n", "DECR", "a");
	EXPECT(":-89\r\n", "DECRBY", "a", "100");
	EXPECT(":1\r\n", "INCR", "counter");
	EXPECT(NOTINT, "INCR", "k");
	EXPECT(NOTINT, "INCRBY", "a", "1x");
	EXPECT(NOTINT, "INCRBY", "a", " 1");
	EXPECT("+OK\r\n", "SET", "big", "9223372036854775807");
	EXPECT("-ERR increment or decrement would overflow\r\n", "INCR", "big");
	EXPECT("-ERR increment or decrement would overflow\r\n",
	       "INCRBY", "big", "1");
	EXPECT(NOTINT, "INCRBY", "big", "9223372036854775808");
	EXPECT("-ERR decrement would overflow\r\n",
	       "DECRBY", "big", "-9223372036854775808");
	EXPECT("+OK\r\n", "SET", "lead", "007");
	EXPECT(NOTINT, "INCR", "lead");
	EXPECT(":2\r\n", "DEL", "a", "b", "nothing");
	EXPECT(":3\r\n", "EXISTS", "k", "k", "k2");
	EXPECT("-ERR wrong number of arguments for 'get' command\r\n", "GET");
	EXPECT("-ERR wrong number of arguments for 'get' command\r\n",
	       "GET", "a", "b");
	EXPECT("+OK\r\n", "SET", "empty", "");
	EXPECT("$0\r\n\r\n", "GET", "empty");
	/* SET ... GET: the old value, whether or not NX/XX let it set. */
	EXPECT("$-1\r\n", "SET", "sg", "1", "GET");
	EXPECT("$1\r\n1\r\n", "SET", "sg", "2", "get", "NX");
	EXPECT("$1\r\n1\r\n", "SET", "sg", "3", "XX", "GET");
	EXPECT("$1\r\n3\r\n", "GET", "sg");
	EXPECT("$-1\r\n", "SET", "sg2", "x", "GET", "XX");
	EXPECT(":0\r\n", "EXISTS", "sg2");
	EXPECT("-ERR syntax error\r\n", "SET", "sg", "v", "GET", "NX", "XX");
	EXPECT("-ERR syntax error\r\n", "SET", "sg", "v", "EX", "10");
	EXPECT(":1\r\n", "RPUSH", "sgl", "a");
	EXPECT(WRONGTYPE, "SET", "sgl", "v", "GET");
	EXPECT(":1\r\n", "LLEN", "sgl");
	EXPECT("+OK\r\n", "SET", "sgl", "v");
	/* GETRANGE with Redis's index rules, huge ones included. */
	EXPECT("+OK\r\n", "SET", "hw", "Hello World");
	EXPECT("$4\r\nHell\r\n", "GETRANGE", "hw", "0", "3");
	EXPECT("$3\r\nrld\r\n", "GETRANGE", "hw", "-3", "-1");
	EXPECT("$1\r\nH\r\n", "GETRANGE", "hw", "0", "-100");
	EXPECT("$0\r\n\r\n", "GETRANGE", "hw", "-1", "-5");
	EXPECT("$0\r\n\r\n", "GETRANGE", "hw", "100", "200");
	EXPECT("$11\r\nHello World\r\n", "GETRANGE", "hw",
	       "-9223372036854775808", "9223372036854775807");
	EXPECT("$1\r\nH\r\n", "GETRANGE", "hw", "-9223372036854775808",
	       "-9223372036854775808");
	EXPECT("$0\r\n\r\n", "GETRANGE", "hw", "9223372036854775807",
	       "9223372036854775807");
	EXPECT(NOTINT, "GETRANGE", "hw", "0", "9223372036854775808");
	EXPECT("$0\r\n\r\n", "GETRANGE", "missing", "0", "-1");
	EXPECT("$0\r\n\r\n", "GETRANGE", "empty", "-1", "0");
}

static void test_lists(void)
{
	EXPECT(":3\r\n", "LPUSH", "l", "a", "b", "c");
	EXPECT(":4\r\n", "RPUSH", "l", "d");
	EXPECT("*4\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n$1\r\nd\r\n",
	       "LRANGE", "l", "0", "-1");
	EXPECT("*2\r\n$1\r\nb\r\n$1\r\na\r\n", "LRANGE", "l", "1", "2");
	EXPECT("*1\r\n$1\r\nd\r\n", "LRANGE", "l", "-1", "100");
	EXPECT("*0\r\n", "LRANGE", "l", "5", "10");
	EXPECT("*0\r\n", "LRANGE", "missing", "0", "-1");
	EXPECT(NOTINT, "LRANGE", "l", "x", "1");
	EXPECT(":4\r\n", "LLEN", "l");
	EXPECT("$1\r\nc\r\n", "LPOP", "l");
	EXPECT("$1\r\nd\r\n", "RPOP", "l");
	EXPECT("*2\r\n$1\r\nb\r\n$1\r\na\r\n", "LPOP", "l", "5");
	EXPECT(":0\r\n", "EXISTS", "l");
	EXPECT("$-1\r\n", "LPOP", "l");
	EXPECT("*-1\r\n", "LPOP", "l", "2");
	EXPECT("-ERR value is out of range, must be positive\r\n",
	       "RPOP", "l", "-1");
	/* Redis 7.0 says the same for a count that is no number at all. */
	EXPECT(RANGE, "LPOP", "l", "abc");
	EXPECT(RANGE, "RPOP", "l", "1.5");
	EXPECT("-ERR wrong number of arguments for 'lpop' command\r\n",
	       "LPOP", "l", "1", "1");
	EXPECT(":3\r\n", "RPUSH", "l", "a", "b", "c");
	EXPECT("*0\r\n", "LPOP", "l", "0");
	EXPECT("*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n",
	       "LRANGE", "l", "-9223372036854775808", "9223372036854775807");
	EXPECT("*0\r\n", "LRANGE", "l",
	       "-9223372036854775808", "-9223372036854775808");
	EXPECT("*0\r\n", "LRANGE", "l", "9223372036854775807",
	       "9223372036854775807");
	EXPECT(NOTINT, "LRANGE", "l", "0", "9223372036854775808");
	EXPECT("*3\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n",
	       "RPOP", "l", "9223372036854775807");
	EXPECT(WRONGTYPE, "LPUSH", "k", "x");
	EXPECT(":1\r\n", "RPUSH", "l2", "x");
	EXPECT(WRONGTYPE, "GET", "l2");
	EXPECT(WRONGTYPE, "INCR", "l2");
	EXPECT(WRONGTYPE, "APPEND", "l2", "x");
	EXPECT("+OK\r\n", "SET", "l2", "now a string");
	EXPECT("$12\r\nnow a string\r\n", "GET", "l2");
}

static void test_hashes_sets(void)
{
	EXPECT(":2\r\n", "HSET", "h", "f1", "v1", "f2", "v2");
	EXPECT(":0\r\n", "HSET", "h", "f1", "V1");
	EXPECT("$2\r\nV1\r\n", "HGET", "h", "f1");
	EXPECT("$-1\r\n", "HGET", "h", "nope");
	EXPECT("$-1\r\n", "HGET", "nope", "f");
	EXPECT(":2\r\n", "HLEN", "h");
	EXPECT("-ERR wrong number of arguments for 'hset' command\r\n",
	       "HSET", "h", "f1", "v1", "f2");
	EXPECT(":1\r\n", "HDEL", "h", "f1", "zz");
	EXPECT("*2\r\n$2\r\nf2\r\n$2\r\nv2\r\n", "HGETALL", "h");
	EXPECT("*0\r\n", "HGETALL", "nope");
	EXPECT(":1\r\n", "HDEL", "h", "f2");
	EXPECT(":0\r\n", "EXISTS", "h");
	EXPECT(WRONGTYPE, "HGET", "k", "f");

	EXPECT(":2\r\n", "SADD", "s", "m1", "m2", "m1");
	EXPECT(":2\r\n", "SCARD", "s");
	EXPECT(":1\r\n", "SREM", "s", "m1", "zz");
	EXPECT("*1\r\n$2\r\nm2\r\n", "SMEMBERS", "s");
	EXPECT("*0\r\n", "SMEMBERS", "nope");
	EXPECT("$2\r\nm2\r\n", "SPOP", "s");
	EXPECT(":0\r\n", "EXISTS", "s");
	EXPECT("$-1\r\n", "SPOP", "s");
	EXPECT("*0\r\n", "SPOP", "s", "3");
	EXPECT(RANGE, "SPOP", "s", "-1");
	EXPECT(RANGE, "SPOP", "s", "abc");
	EXPECT("-ERR syntax error\r\n", "SPOP", "s", "1", "2");
	/* SRANDMEMBER: the count first, then the key; table order. */
	EXPECT("$-1\r\n", "SRANDMEMBER", "nope");
	EXPECT("*0\r\n", "SRANDMEMBER", "nope", "-5");
	EXPECT(NOTINT, "SRANDMEMBER", "k", "abc");
	EXPECT("-ERR value is out of range, value must between "
	       "-9223372036854775807 and 9223372036854775807\r\n",
	       "SRANDMEMBER", "nope", "-9223372036854775808");
	EXPECT("-ERR syntax error\r\n", "SRANDMEMBER", "s", "1", "2");
	EXPECT(WRONGTYPE, "SRANDMEMBER", "k", "0");
	EXPECT(":1\r\n", "SADD", "one", "m");
	EXPECT("$1\r\nm\r\n", "SRANDMEMBER", "one");
	EXPECT("*0\r\n", "SRANDMEMBER", "one", "0");
	EXPECT("*1\r\n$1\r\nm\r\n", "SRANDMEMBER", "one",
	       "9223372036854775807");
	EXPECT("*3\r\n$1\r\nm\r\n$1\r\nm\r\n$1\r\nm\r\n",
	       "SRANDMEMBER", "one", "-3");
	EXPECT(":1\r\n", "SCARD", "one");
	EXPECT(":1\r\n", "DEL", "one");
	EXPECT(":3\r\n", "SADD", "s", "a", "b", "c");
	CHECK(!strncmp(CMD("SPOP", "s", "2"), "*2\r\n$1\r\n", 8));
	EXPECT(":1\r\n", "SCARD", "s");
	EXPECT(WRONGTYPE, "SADD", "k", "x");
	EXPECT(WRONGTYPE, "HSET", "s", "f", "v");
}

static void test_server(void)
{
	EXPECT("+PONG\r\n", "PING");
	EXPECT("$2\r\nhi\r\n", "PING", "hi");
	EXPECT("$3\r\nfoo\r\n", "ECHO", "foo");
	EXPECT("*0\r\n", "CONFIG", "GET", "save");
	EXPECT("-ERR wrong number of arguments for 'config|get' command\r\n",
	       "CONFIG", "GET");
	EXPECT("-ERR wrong number of arguments for 'config|set' command\r\n",
	       "CONFIG", "SET", "a");
	EXPECT("-ERR syntax error\r\n", "CONFIG", "SET", "a", "b", "c");
	EXPECT("-ERR Unknown option or number of arguments for CONFIG SET - "
	       "'maxmemory'\r\n", "CONFIG", "SET", "maxmemory", "1");
	EXPECT("-ERR unknown subcommand 'foo'. Try CONFIG HELP.\r\n",
	       "CONFIG", "foo");
	EXPECT("-ERR unknown subcommand 'foo'. Try COMMAND HELP.\r\n",
	       "COMMAND", "foo");
	CHECK(!strncmp(CMD("COMMAND", "COUNT"), ":", 1));
	EXPECT("-ERR DB index is out of range\r\n", "SELECT", "16");
	EXPECT(NOTINT, "SELECT", "x");
	EXPECT("*0\r\n", "COMMAND", "DOCS");
	EXPECT("*0\r\n", "COMMAND");
	EXPECT("+OK\r\n", "SELECT", "0");
	EXPECT("-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n",
	       "FOO", "a", "b");
	EXPECT("-ERR unknown command 'foo', with args beginning with: \r\n",
	       "foo");
	CHECK(strstr(CMD("INFO"), "redis_version:7.0.0-colo\r\n"));
	CHECK(strstr(CMD("INFO"), "# Keyspace\r\ndb0:keys="));
	/* DEBUG only with --enable-debug-command yes; arity comes first. */
	EXPECT("-ERR wrong number of arguments for 'debug' command\r\n",
	       "DEBUG");
	EXPECT(DEBUG_REFUSED, "DEBUG", "FILLRANDOM", "200000");
	EXPECT(DEBUG_REFUSED, "debug", "nosuchthing");
	EXPECT(":0\r\n", "EXISTS", "__fill:0");
	kv.debug_enabled = true;
	EXPECT("+OK\r\n", "DEBUG", "FILLRANDOM", "200000");
	EXPECT(":65536\r\n", "STRLEN", "__fill:0");
	EXPECT(":3392\r\n", "STRLEN", "__fill:3");
	EXPECT("+OK\r\n", "FLUSHDB");
	EXPECT(":0\r\n", "DBSIZE");
	EXPECT("-ERR syntax error\r\n", "FLUSHDB", "foo");
	EXPECT("+OK\r\n", "FUNCTION", "FLUSH");
	EXPECT("-ERR FUNCTION FLUSH only supports SYNC|ASYNC option\r\n",
	       "FUNCTION", "FLUSH", "x");
	EXPECT("-ERR unknown subcommand 'LOAD'. Try FUNCTION HELP.\r\n",
	       "FUNCTION", "LOAD", "x");
	EXPECT("+OK\r\n", "SET", "x", "1");
	EXPECT(":1\r\n", "DBSIZE");
	CHECK(strstr(CMD("INFO"), "db0:keys=1,"));
	EXPECT("+OK\r\n", "QUIT");
}

/* The "# Name" headers of an INFO reply, in order, space-separated. */
static const char *headers(const char *info)
{
	static char out[256];
	const char *p = info;
	size_t n = 0;

	out[0] = 0;
	while ((p = strstr(p, "# "))) {
		const char *end = strstr(p, "\r\n");

		CHECK(end && n + (size_t)(end - p) + 1 < sizeof(out));
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%.*s",
				      n ? " " : "", (int)(end - p - 2), p + 2);
		p = end;
	}
	return out;
}

/* INFO [section ...] as Redis 7.0 answers it (see cmd-info.c). */
static void test_info(void)
{
	static const char *const every[] = { NULL, "default", "all",
					      "everything", "ALL" };
	const char *all = "Server Clients Memory Stats Replication Cluster "
			  "Keyspace";

	EXPECT("+OK\r\n", "FLUSHALL");
	for (size_t i = 0; i < sizeof(every) / sizeof(every[0]); i++) {
		const char *got = every[i] ? CMD("INFO", every[i]) : CMD("INFO");

		if (strcmp(headers(got), all)) {
			fprintf(stderr, "INFO %s: %s\n", every[i] ? every[i] : "",
				headers(got));
			exit(1);
		}
	}
	EXPECT("$0\r\n\r\n", "INFO", "nosuchsection");
	EXPECT("$0\r\n\r\n", "INFO", "commandstats");
	/* No line for an empty database. */
	EXPECT("$12\r\n# Keyspace\r\n\r\n", "INFO", "keyspace");
	EXPECT("$48\r\n# Replication\r\nrole:master\r\nconnected_slaves:0\r\n\r\n",
	       "INFO", "replication");
	EXPECT("+OK\r\n", "SET", "x", "1");
	/* Redis's order whatever the order asked, one empty line between. */
	EXPECT("$119\r\n# Server\r\nredis_version:7.0.0-colo\r\n"
	       "redis_mode:standalone\r\narch_bits:64\r\n\r\n"
	       "# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n\r\n",
	       "INFO", "KEYSPACE", "nope", "server", "keyspace");
	CHECK(!strcmp(headers(CMD("INFO", "memory", "clients")),
		      "Clients Memory"));
	/* A command is counted once it has run; RESETSTAT's own counts. */
	EXPECT("+OK\r\n", "CONFIG", "RESETSTAT");
	CHECK(strstr(CMD("INFO", "stats"), "total_commands_processed:1\r\n"));
	EXPECT("-ERR unknown command 'nope', with args beginning with: \r\n",
	       "nope");
	CHECK(strstr(CMD("INFO", "stats"), "total_commands_processed:2\r\n"));
	CHECK(strstr(CMD("INFO", "clients"), "connected_clients:1\r\n"));
}

/* Pipelines, inline commands, partial commands across events, errors. */
static void test_feed(void)
{
	const char *in = "PING\r\nSET p 1\r\n*2\r\n$3\r\nGET\r\n$1\r\np\r\nIN";
	bool close;

	conn = 7;
	kv_open(&kv, conn);
	reply_reset(&kv.out);
	close = kv_feed(&kv, conn, (const uint8_t *)in, strlen(in));
	CHECK(!close);
	CHECK_EQ(kv.out.len, 7 + 5 + 7);
	CHECK(!memcmp(kv.out.buf, "+PONG\r\n+OK\r\n$1\r\n1\r\n", kv.out.len));
	reply_reset(&kv.out);
	close = kv_feed(&kv, conn, (const uint8_t *)"CR p\r", 5);
	CHECK(!close && kv.out.len == 0);
	close = kv_feed(&kv, conn, (const uint8_t *)"\n", 1);
	CHECK(!close);
	CHECK_EQ(kv.out.len, 4);
	CHECK(!memcmp(kv.out.buf, ":2\r\n", 4));
	reply_reset(&kv.out);
	in = "*1\r\n$4\r\nPING\r\n*x\r\nPING\r\n";
	close = kv_feed(&kv, conn, (const uint8_t *)in, strlen(in));
	CHECK(close);
	reply_raw(&kv.out, "", 1);
	CHECK(!strcmp((char *)kv.out.buf,
		      "+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n"));
	kv_close(&kv, conn);
	/* Another connection's half command does not mix with this one. */
	reply_reset(&kv.out);
	kv_feed(&kv, 8, (const uint8_t *)"*2\r\n$3\r\nGET", 11);
	kv_feed(&kv, 9, (const uint8_t *)"PING\r\n", 6);
	CHECK_EQ(kv.out.len, 7);
	kv_feed(&kv, 8, (const uint8_t *)"\r\n$1\r\np\r\n", 9);
	CHECK_EQ(kv.out.len, 7 + 7);
	kv_close(&kv, 8);
	kv_close(&kv, 9);
	conn = 1;
}

/* Typed inline, quotes are syntax, not part of the key (issue 13); an
 * unbalanced quote is refused as Redis refuses it, and the connection
 * closes after the commands before it have run. */
static void test_inline_quotes(void)
{
	const char *in = "SET \"q k\" '\\'v\\''\r\nSET \"k\"x y\r\nPING\r\n";
	bool close;

	conn = 10;
	kv_open(&kv, conn);
	reply_reset(&kv.out);
	close = kv_feed(&kv, conn, (const uint8_t *)in, strlen(in));
	CHECK(close);
	reply_raw(&kv.out, "", 1);
	CHECK(!strcmp((char *)kv.out.buf, "+OK\r\n-ERR Protocol error: "
		      "unbalanced quotes in request\r\n"));
	kv_close(&kv, conn);
	conn = 1;
	EXPECT("$3\r\n'v'\r\n", "GET", "q k");
	EXPECT(":0\r\n", "EXISTS", "\"q k\"");
	EXPECT(":0\r\n", "EXISTS", "k");
}


/* The naive model: eight keys, each of one type with small contents. */
enum { M_NONE, M_STR, M_LIST, M_SET, M_HASH };
#define NKEYS 8
#define LIST_MAX 64

struct mkey {
	int type;
	char str[256];
	int list[LIST_MAX];
	size_t llen;
	uint32_t set;           /* bit i: member "m<i>" */
	int hash[16];           /* field "f<i>" -> value, -1 when absent */
};

static struct mkey model[NKEYS];
static char exp_buf[16384];
static size_t exp_len;

static void want_f(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	exp_len += (size_t)vsnprintf(exp_buf + exp_len, sizeof(exp_buf) - exp_len,
				     fmt, ap);
	va_end(ap);
	CHECK(exp_len < sizeof(exp_buf));
}

static void exp_bulk(const char *s)
{
	want_f("$%zu\r\n%s\r\n", strlen(s), s);
}

static void mkey_clear(struct mkey *k)
{
	memset(k, 0, sizeof(*k));
	memset(k->hash, 0xff, sizeof(k->hash));
}

static int mkey_count(void)
{
	int n = 0;

	for (int i = 0; i < NKEYS; i++)
		n += model[i].type != M_NONE;
	return n;
}

/* Set members come back in table order: compare them as a set. */
static void check_smembers(const char *key, uint32_t want)
{
	const char *p = CMD("SMEMBERS", key);
	uint32_t got = 0;
	unsigned int n, m;

	CHECK(sscanf(p, "*%u", &n) == 1);
	CHECK_EQ(n, __builtin_popcount(want));
	for (p = strchr(p, '\n') + 1; n--; p = strchr(strchr(p, '\n') + 1, '\n') + 1) {
		CHECK(sscanf(p, "$%*u\r\nm%u", &m) == 1 && m < 32);
		got |= 1u << m;
	}
	CHECK_EQ(got, want);
}

static void model_step(uint64_t *seed)
{
	uint64_t r = test_rand(seed);
	int ki = (int)(r % NKEYS), v = (int)((r >> 8) % 32);
	struct mkey *k = &model[ki];
	char key[8], val[16], fld[8];
	const char *got;
	bool wrong;

	snprintf(key, sizeof(key), "k%d", ki);
	snprintf(val, sizeof(val), "v%d", v);
	exp_len = 0;
	exp_buf[0] = 0;
	switch ((r >> 16) % 16) {
	case 0:
		got = CMD("SET", key, val);
		mkey_clear(k);
		k->type = M_STR;
		strcpy(k->str, val);
		want_f("+OK\r\n");
		break;
	case 1:
		got = CMD("GET", key);
		if (k->type == M_NONE)
			want_f("$-1\r\n");
		else if (k->type == M_STR)
			exp_bulk(k->str);
		else
			want_f(WRONGTYPE);
		break;
	case 2:
		if (k->type == M_STR &&
		    strlen(k->str) + strlen(val) >= sizeof(k->str)) {
			got = CMD("SET", key, val);     /* the model's limit */
			strcpy(k->str, val);
			want_f("+OK\r\n");
			break;
		}
		got = CMD("APPEND", key, val);
		if (k->type == M_NONE || k->type == M_STR) {
			k->type = M_STR;
			strcat(k->str, val);
			want_f(":%zu\r\n", strlen(k->str));
		} else {
			want_f(WRONGTYPE);
		}
		break;
	case 3:
		got = CMD("DEL", key);
		want_f(":%d\r\n", k->type != M_NONE);
		mkey_clear(k);
		break;
	case 4:
	case 5:
		wrong = k->type != M_NONE && k->type != M_LIST;
		if (!wrong && k->llen == LIST_MAX) {
			got = CMD("LLEN", key);
			want_f(":%d\r\n", LIST_MAX);
			break;
		}
		got = CMD(r & 1 ? "LPUSH" : "RPUSH", key, val);
		if (wrong) {
			want_f(WRONGTYPE);
			break;
		}
		k->type = M_LIST;
		if (r & 1) {
			memmove(k->list + 1, k->list, k->llen * sizeof(int));
			k->list[0] = v;
		} else {
			k->list[k->llen] = v;
		}
		want_f(":%zu\r\n", ++k->llen);
		break;
	case 6:
		got = CMD(r & 1 ? "LPOP" : "RPOP", key);
		if (k->type == M_NONE) {
			want_f("$-1\r\n");
		} else if (k->type != M_LIST) {
			want_f(WRONGTYPE);
		} else {
			int e = r & 1 ? k->list[0] : k->list[k->llen - 1];

			if (r & 1)
				memmove(k->list, k->list + 1, (k->llen - 1) * sizeof(int));
			k->llen--;
			snprintf(val, sizeof(val), "v%d", e);
			exp_bulk(val);
			if (!k->llen)
				mkey_clear(k);
		}
		break;
	case 7:
		got = CMD("LRANGE", key, "0", "-1");
		if (k->type != M_NONE && k->type != M_LIST) {
			want_f(WRONGTYPE);
			break;
		}
		want_f("*%zu\r\n", k->llen);
		for (size_t i = 0; i < k->llen; i++) {
			snprintf(val, sizeof(val), "v%d", k->list[i]);
			exp_bulk(val);
		}
		break;
	case 8:
	case 9:
		snprintf(val, sizeof(val), "m%d", v);
		got = CMD(r & 1 ? "SADD" : "SREM", key, val);
		if (k->type != M_NONE && k->type != M_SET) {
			want_f(WRONGTYPE);
			break;
		}
		want_f(":%d\r\n", r & 1 ? !(k->set >> v & 1) : (int)(k->set >> v & 1));
		if (r & 1) {
			k->type = M_SET;
			k->set |= 1u << v;
		} else {
			k->set &= ~(1u << v);
			if (!k->set)
				mkey_clear(k);
		}
		break;
	case 10:
		if (k->type == M_SET || k->type == M_NONE) {
			check_smembers(key, k->set);
			return;
		}
		got = CMD("SCARD", key);
		want_f(WRONGTYPE);
		break;
	case 11:
	case 12:
		snprintf(fld, sizeof(fld), "f%d", v % 16);
		got = r & 1 ? CMD("HSET", key, fld, val) : CMD("HDEL", key, fld);
		if (k->type != M_NONE && k->type != M_HASH) {
			want_f(WRONGTYPE);
			break;
		}
		if (r & 1) {
			if (k->type == M_NONE)
				mkey_clear(k);
			want_f(":%d\r\n", k->hash[v % 16] < 0);
			k->type = M_HASH;
			k->hash[v % 16] = v;
			break;
		}
		want_f(":%d\r\n", k->hash[v % 16] >= 0);
		k->hash[v % 16] = -1;
		wrong = true;
		for (int i = 0; i < 16; i++)
			wrong &= k->hash[i] < 0;
		if (wrong)
			mkey_clear(k);
		break;
	case 13:
		snprintf(fld, sizeof(fld), "f%d", v % 16);
		got = CMD("HGET", key, fld);
		if (k->type != M_NONE && k->type != M_HASH) {
			want_f(WRONGTYPE);
		} else if (k->type == M_NONE || k->hash[v % 16] < 0) {
			want_f("$-1\r\n");
		} else {
			snprintf(val, sizeof(val), "v%d", k->hash[v % 16]);
			exp_bulk(val);
		}
		break;
	case 14:
		got = CMD("EXISTS", key);
		want_f(":%d\r\n", k->type != M_NONE);
		break;
	default:
		got = CMD("DBSIZE");
		want_f(":%d\r\n", mkey_count());
		break;
	}
	if (strcmp(got, exp_buf)) {
		fprintf(stderr, "model: key %s: got \"%s\" want \"%s\"\n", key,
			got, exp_buf);
		exit(1);
	}
}

static void test_model(void)
{
	uint64_t seed = 42;

	EXPECT("+OK\r\n", "FLUSHALL");
	for (int i = 0; i < NKEYS; i++)
		mkey_clear(&model[i]);
	for (int i = 0; i < 200000; i++)
		model_step(&seed);
}

int main(void)
{
	void *ram = aligned_alloc(4096, RAM_BYTES);
	struct colo_guest *g;

	CHECK(ram);
	g = colo_guest_new_local(ram, RAM_BYTES, false);
	CHECK(g);
	CHECK(!colo_guest_resumed(g));
	CHECK_EQ(kv_init(&kv, g), 0);
	test_strings();
	test_lists();
	test_hashes_sets();
	test_server();
	test_feed();
	test_inline_quotes();
	test_info();
	test_model();

	/* A guest resumed on the same RAM finds the store as it was. */
	EXPECT("+OK\r\n", "SET", "survivor", "yes");
	kv_deinit(&kv);
	colo_guest_free(g);
	g = colo_guest_new_local(ram, RAM_BYTES, true);
	CHECK(g && colo_guest_resumed(g));
	CHECK_EQ(kv_init(&kv, g), 0);
	EXPECT("$3\r\nyes\r\n", "GET", "survivor");
	EXPECT("+OK\r\n", "SET", "after", "resume");
	kv_deinit(&kv);
	colo_guest_free(g);
	free(ram);
	return 0;
}
