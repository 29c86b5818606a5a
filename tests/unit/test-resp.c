// SPDX-License-Identifier: MIT
/*
 * The RESP request parser: a pipelined stream of multibulk and inline
 * commands cut at every byte gives the same commands as when whole; bad
 * input is refused with Redis's error texts; integers parse as strictly as
 * Redis parses them.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "resp.h"
#include "tap.h"

#define MAX_CMDS 16
#define MAX_ARGS 4

/* What the stream below must parse to; "" ends a command's arguments. */
static const char *const want[][MAX_ARGS + 1] = {
	{ "SET", "key", "va\r\nl", "" },
	{ "PING", "" },
	{ "" },                         /* an empty inline line */
	{ "" },                         /* "*0" */
	{ "GET", "key", "" },
	{ "echo", "a", "b", "c", "" },  /* inline: blanks split */
	{ "DEL", "", "" },              /* an empty bulk: checked by length */
	{ "PING", "" },
};
#define NWANT (sizeof(want) / sizeof(want[0]))

static const char stream[] =
	"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nva\r\nl\r\n"
	"PING\r\n"
	"\r\n"
	"*0\r\n"
	"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"
	"  echo a\tb c \n"
	"*2\r\n$3\r\nDEL\r\n$0\r\n\r\n"
	"PING\n";

struct got {
	size_t argc[MAX_CMDS];
	char argv[MAX_CMDS][MAX_ARGS][8];
	size_t n;
};

/* Parses all complete commands at buf; returns the bytes consumed. */
static size_t parse_all(struct resp_cmd *c, struct resp_state *st,
			const uint8_t *buf, size_t len, struct got *g)
{
	size_t pos = 0, used;
	const char *err;
	int ret;

	while ((ret = resp_parse(c, st, buf + pos, len - pos, &used,
				 &err)) == 1) {
		CHECK(g->n < MAX_CMDS && c->argc <= MAX_ARGS);
		CHECK(used > 0 && used <= len - pos);
		g->argc[g->n] = c->argc;
		for (size_t i = 0; i < c->argc; i++) {
			CHECK(c->argl[i] < 8);
			memcpy(g->argv[g->n][i], c->argv[i], c->argl[i]);
			g->argv[g->n][i][c->argl[i]] = 0;
		}
		g->n++;
		pos += used;
	}
	CHECK_EQ(ret, 0);
	return pos;
}

static void check_got(const struct got *g)
{
	CHECK_EQ(g->n, NWANT);
	for (size_t i = 0; i < NWANT; i++) {
		size_t argc = 0;

		while (argc < MAX_ARGS && want[i][argc][0])
			argc++;
		if (i == 6)
			argc = 2;       /* DEL and its empty argument */
		CHECK_EQ(g->argc[i], argc);
		for (size_t k = 0; k < argc; k++)
			CHECK(!strcmp(g->argv[i][k], want[i][k]));
	}
}

/* Cut once at every point, as a connection buffer would see it. */
static void test_split_points(void)
{
	size_t len = sizeof(stream) - 1;
	struct resp_cmd c = { 0 };
	uint8_t buf[sizeof(stream)];

	for (size_t cut = 0; cut <= len; cut++) {
		struct resp_state st = { 0 };
		struct got g = { 0 };
		size_t have = cut, used;

		memcpy(buf, stream, cut);
		used = parse_all(&c, &st, buf, have, &g);
		memmove(buf, buf + used, have - used);
		have -= used;
		memcpy(buf + have, stream + cut, len - cut);
		have += len - cut;
		CHECK_EQ(parse_all(&c, &st, buf, have, &g), have);
		CHECK_EQ(st.pos, 0);
		check_got(&g);
	}
	resp_cmd_free(&c);
}

/* One byte at a time: every command appears exactly when complete. */
static void test_bytewise(void)
{
	size_t len = sizeof(stream) - 1, have = 0, used;
	struct resp_state st = { 0 };
	struct resp_cmd c = { 0 };
	uint8_t buf[sizeof(stream)];
	struct got g = { 0 };

	for (size_t i = 0; i < len; i++) {
		buf[have++] = (uint8_t)stream[i];
		used = parse_all(&c, &st, buf, have, &g);
		memmove(buf, buf + used, have - used);
		have -= used;
	}
	CHECK_EQ(have, 0);
	check_got(&g);
	resp_cmd_free(&c);
}

static void expect_error(const char *in, size_t len, const char *msg)
{
	struct resp_state st = { 0 };
	struct resp_cmd c = { 0 };
	const char *err = NULL;
	size_t used;

	CHECK_EQ(resp_parse(&c, &st, (const uint8_t *)in, len, &used, &err),
		 -EPROTO);
	CHECK(err && !strcmp(err, msg));
	resp_cmd_free(&c);
}

static void test_bad_input(void)
{
	struct resp_cmd c = { 0 };
	const char *err;
	size_t used;
	char *big;

#define BAD(in, msg) expect_error(in, sizeof(in) - 1, msg)
	BAD("*abc\r\n", "invalid multibulk length");
	BAD("*-\r\n", "invalid multibulk length");
	BAD("*2000000\r\n", "invalid multibulk length");
	BAD("*2\r\nfoo\r\n", "expected '$', got 'f'");
	BAD("*1\r\n$-5\r\n", "invalid bulk length");
	BAD("*1\r\n$x\r\n", "invalid bulk length");
	BAD("*1\r\n$\r\n", "invalid bulk length");
	BAD("*1\r\n$600000000\r\n", "invalid bulk length");
#undef BAD
	/* Incomplete is not an error; a huge bulk is waited for. */
	static const char *const partial[] = {
		"*1\r\n$3\r\nGE", "*1\r", "*1\r\n", "PIN", "*2\r\n$3\r\nGET\r\n",
		"*1\r\n$500000000\r\n", "*1\r\n$3\r\nGET\r",
	};
	for (size_t i = 0; i < sizeof(partial) / sizeof(partial[0]); i++) {
		struct resp_state st = { 0 };

		CHECK_EQ(resp_parse(&c, &st, (const uint8_t *)partial[i],
				    strlen(partial[i]), &used, &err), 0);
	}
	/* Endless lines are cut off, as Redis does. */
	big = malloc(RESP_INLINE_MAX + 2);
	CHECK(big);
	memset(big, 'a', RESP_INLINE_MAX + 1);
	expect_error(big, RESP_INLINE_MAX + 1, "too big inline request");
	big[0] = '*';
	expect_error(big, RESP_INLINE_MAX + 1, "too big mbulk count string");
	free(big);
	resp_cmd_free(&c);
}

static void test_strtoll(void)
{
	static const struct { const char *s; int ok; long long v; } cases[] = {
		{ "0", 1, 0 }, { "1", 1, 1 }, { "-1", 1, -1 },
		{ "9223372036854775807", 1, INT64_MAX },
		{ "-9223372036854775808", 1, INT64_MIN },
		{ "9223372036854775808", 0, 0 },
		{ "-9223372036854775809", 0, 0 },
		{ "99999999999999999999", 0, 0 },
		{ "-0", 0, 0 }, { "007", 0, 0 }, { "+1", 0, 0 }, { "", 0, 0 },
		{ " 1", 0, 0 }, { "1 ", 0, 0 }, { "-", 0, 0 }, { "1e3", 0, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t v = 12345;
		int ret = resp_strtoll((const uint8_t *)cases[i].s,
				       strlen(cases[i].s), &v);

		CHECK_EQ(ret, cases[i].ok ? 0 : -EINVAL);
		if (cases[i].ok)
			CHECK_EQ(v, cases[i].v);
	}
}

int main(void)
{
	test_split_points();
	test_bytewise();
	test_bad_input();
	test_strtoll();
	return 0;
}
