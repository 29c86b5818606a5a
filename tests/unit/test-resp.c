// SPDX-License-Identifier: MIT
/*
 * The RESP request parser: a pipelined stream of multibulk and inline
 * commands cut at every byte gives the same commands as when whole; bad
 * input is refused with Redis's error texts; inline lines split into the
 * arguments Redis 7.0.15 gets from them (each row of the table below was
 * checked against a real redis-server); integers parse as strictly as
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

/* An argument with its length, so that it may hold a NUL byte. */
struct arg {
	const char *p;
	size_t n;
};
#define A(s) { s, sizeof(s) - 1 }
#define NONE { { NULL, 0 } }
#define REJECT NONE, -1   /* unbalanced quotes */

/* An inline line (without its "\r\n") and the arguments it gives, or
 * argc -1: refused. */
static const struct {
	struct arg line;
	struct arg argv[MAX_ARGS];
	int argc;
} inline_cases[] = {
	{ A("set \"k\" v"), { A("set"), A("k"), A("v") }, 3 },
	{ A("set 'k' v"), { A("set"), A("k"), A("v") }, 3 },
	{ A("set \"a b\" c"), { A("set"), A("a b"), A("c") }, 3 },
	{ A("echo \"\\n\\r\\t\\b\\a\\\\\\\"\""),
	  { A("echo"), A("\n\r\t\b\a\\\"") }, 2 },
	{ A("echo \"\\x41\\x4a\\x6b\""), { A("echo"), A("AJk") }, 2 },
	{ A("echo \"\\xAf\""), { A("echo"), A("\xaf") }, 2 },
	{ A("echo \"\\x00\""), { A("echo"), A("\0") }, 2 },
	/* Not two hex digits, or an upper-case X: an ordinary escape. */
	{ A("echo \"\\x4g\""), { A("echo"), A("x4g") }, 2 },
	{ A("echo \"\\X41\""), { A("echo"), A("X41") }, 2 },
	{ A("echo \"\\q\""), { A("echo"), A("q") }, 2 },
	{ A("echo 'it\\'s'"), { A("echo"), A("it's") }, 2 },
	{ A("echo 'a\\nb'"), { A("echo"), A("a\\nb") }, 2 },
	{ A("echo \"\""), { A("echo"), A("") }, 2 },
	{ A("\"\" ''"), { A(""), A("") }, 2 },
	{ A("echo a\"b c\""), { A("echo"), A("ab c") }, 2 },
	{ A("'a\"b' \"a'b\""), { A("a\"b"), A("a'b") }, 2 },
	{ A("  a\tb  "), { A("a"), A("b") }, 2 },
	/* \v and \f are skipped between words but do not end one. */
	{ A("a\vb"), { A("a\vb") }, 1 },
	{ A("\v\fa"), { A("a") }, 1 },
	{ A("\"a\"\vb"), { A("a"), A("b") }, 2 },
	{ A("a\rb"), { A("a"), A("b") }, 2 },
	{ A("\"a\rb\""), { A("a\rb") }, 1 },
	{ A(""), NONE, 0 },
	{ A("   "), NONE, 0 },
	{ A("echo \"a\"b"), REJECT },
	{ A("echo 'a'b"), REJECT },
	{ A("'a'\"b\""), REJECT },
	{ A("echo \"abc"), REJECT },
	{ A("echo 'abc"), REJECT },
	{ A("echo \"abc\\\""), REJECT },
	{ A("echo \"a\\"), REJECT },
	{ A("ab\""), REJECT },
	/*
	 * A NUL byte ends the line for the splitter, as it does for
	 * sdssplitargs. (Redis 7.0 itself never gets that far: it looks for
	 * the "\n" with strchr, which stops at the NUL, so it waits for the
	 * line until the inline limit. Here the "\n" is found.)
	 */
	{ A("a\0b c"), { A("a") }, 1 },
	{ A("\"a\0b\""), REJECT },
};

static void test_inline_split(void)
{
	static const char *const ends[] = { "\r\n", "\n" };
	struct resp_cmd c = { 0 };
	uint8_t buf[64];

	for (size_t i = 0; i < sizeof(inline_cases) / sizeof(inline_cases[0]);
	     i++) {
		const struct arg *line = &inline_cases[i].line;
		bool reject = inline_cases[i].argc < 0;

		for (size_t e = 0; e < 2; e++) {
			struct resp_state st = { 0 };
			size_t len = line->n + strlen(ends[e]), used = 0;
			const char *err = NULL;
			int ret;

			CHECK(len <= sizeof(buf));
			memcpy(buf, line->p, line->n);
			memcpy(buf + line->n, ends[e], strlen(ends[e]));
			ret = resp_parse(&c, &st, buf, len, &used, &err);
			if (ret != (reject ? -EPROTO : 1))
				fprintf(stderr, "inline case %zu\n", i);
			if (reject) {
				CHECK_EQ(ret, -EPROTO);
				CHECK(!strcmp(err, "unbalanced quotes in request"));
				continue;
			}
			CHECK_EQ(ret, 1);
			CHECK_EQ(used, len);
			CHECK_EQ(c.argc, inline_cases[i].argc);
			for (size_t k = 0; k < c.argc; k++) {
				CHECK_EQ(c.argl[k], inline_cases[i].argv[k].n);
				CHECK(!memcmp(c.argv[k], inline_cases[i].argv[k].p,
					      c.argl[k]));
			}
		}
	}
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
	test_inline_split();
	test_strtoll();
	return 0;
}
