// SPDX-License-Identifier: MIT
/*
 * The control server, with the loop driven right here and plain sockets as
 * clients: replies byte for byte, requests split and batched, every error
 * path, and the socket file's life cycle.
 */
#include "ctl-server.h"
#include "evloop.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct ctx {
	int calls;
};

static int cmd_add(void *opaque, struct json_object *args,
		   struct json_object **ret, struct ctl_error *err)
{
	struct ctx *x = opaque;
	struct json_object *a, *b;

	x->calls++;
	if (!args || !json_object_object_get_ex(args, "a", &a) ||
	    !json_object_object_get_ex(args, "b", &b)) {
		ctl_error_set(err, "GenericError", "need %s and %s", "a", "b");
		return -EINVAL;
	}
	*ret = json_object_new_object();
	json_object_object_add(*ret, "sum", json_object_new_int(
		json_object_get_int(a) + json_object_get_int(b)));
	return 0;
}

static int cmd_nothing(void *opaque, struct json_object *args,
		       struct json_object **ret, struct ctl_error *err)
{
	(void)opaque;
	(void)args;
	(void)ret;
	(void)err;
	return 0;
}

static int cmd_busy(void *opaque, struct json_object *args,
		    struct json_object **ret, struct ctl_error *err)
{
	(void)opaque;
	(void)args;
	(void)ret;
	(void)err;
	return -EBUSY;      /* no err filled: the server says why */
}

static const struct ctl_command cmds[] = {
	{ "add", cmd_add, "a,b" },
	{ "nothing", cmd_nothing, NULL },
	{ "busy", cmd_busy, NULL },
	{ NULL, NULL, NULL },
};

/*
 * The typed getters, one row per case: the arguments as JSON, which getter
 * with which bounds, and the outcome (rc, the value, or words the error
 * must hold: the argument's name always, and what was wrong).
 */
enum getter { G_STR, G_U64, G_BOOL, G_HOSTPORT };

struct arg_case {
	const char *json;
	enum getter g;
	uint64_t min, max;          /* G_U64; G_STR: max is maxlen */
	int rc;
	const char *want;           /* value (as text) or part of the error */
};

static const struct arg_case arg_cases[] = {
	{ "{\"x\":\"abc\"}", G_STR, 0, 8, 0, "abc" },
	{ "{\"x\":\"\"}", G_STR, 0, 8, 0, "" },
	{ "{}", G_STR, 0, 8, -ENOENT, "'x' is missing" },
	{ "{\"x\":null}", G_STR, 0, 8, -EINVAL, "'x': got null, expected string" },
	{ "{\"x\":5}", G_STR, 0, 8, -EINVAL, "'x': got int, expected string" },
	{ "{\"x\":[\"a\"]}", G_STR, 0, 8, -EINVAL, "got array" },
	{ "{\"x\":{\"a\":1}}", G_STR, 0, 8, -EINVAL, "got object" },
	{ "{\"x\":true}", G_STR, 0, 8, -EINVAL, "got boolean" },
	{ "{\"x\":\"abcdefghi\"}", G_STR, 0, 8, -ERANGE, "'x' is too long: 9" },
	{ "{\"x\":\"a\\u0000b\"}", G_STR, 0, 8, -EINVAL, "'x' contains a NUL" },

	{ "{\"x\":250}", G_U64, 1, 1000, 0, "250" },
	{ "{\"x\":\"250\"}", G_U64, 1, 1000, 0, "250" },
	{ "{\"x\":1}", G_U64, 1, 1000, 0, "1" },
	{ "{\"x\":1000}", G_U64, 1, 1000, 0, "1000" },
	{ "{\"x\":18446744073709551615}", G_U64, 0, UINT64_MAX, 0,
	  "18446744073709551615" },
	{ "{\"x\":\"18446744073709551615\"}", G_U64, 0, UINT64_MAX, 0,
	  "18446744073709551615" },
	{ "{\"x\":0}", G_U64, 1, 1000, -ERANGE, "'x' is out of range: 0, expected 1..1000" },
	{ "{\"x\":1001}", G_U64, 1, 1000, -ERANGE, "out of range: 1001" },
	{ "{\"x\":-1}", G_U64, 1, 1000, -ERANGE, "out of range: -1" },
	{ "{\"x\":-9223372036854775808}", G_U64, 0, UINT64_MAX, -ERANGE,
	  "out of range" },
	{ "{\"x\":\"-5\"}", G_U64, 1, 1000, -ERANGE, "out of range: -5" },
	{ "{\"x\":18446744073709551616}", G_U64, 1, 1000, -ERANGE, "out of range" },
	{ "{\"x\":\"18446744073709551616\"}", G_U64, 0, UINT64_MAX, -ERANGE,
	  "out of range: 18446744073709551616" },
	{ "{\"x\":1e300}", G_U64, 1, 1000, -EINVAL, "got double, expected integer" },
	{ "{\"x\":2.5}", G_U64, 1, 1000, -EINVAL, "got double" },
	{ "{\"x\":null}", G_U64, 1, 1000, -EINVAL, "'x': got null, expected integer" },
	{ "{}", G_U64, 1, 1000, -ENOENT, "'x' is missing" },
	{ "{\"x\":true}", G_U64, 1, 1000, -EINVAL, "got boolean" },
	{ "{\"x\":[250]}", G_U64, 1, 1000, -EINVAL, "got array" },
	{ "{\"x\":{}}", G_U64, 1, 1000, -EINVAL, "got object" },
	{ "{\"x\":\"\"}", G_U64, 1, 1000, -EINVAL, "'x' is not a whole number" },
	{ "{\"x\":\" 5\"}", G_U64, 1, 1000, -EINVAL, "not a whole number" },
	{ "{\"x\":\"0x10\"}", G_U64, 1, 1000, -EINVAL, "not a whole number" },
	{ "{\"x\":\"5ms\"}", G_U64, 1, 1000, -EINVAL, "not a whole number" },
	{ "{\"x\":\"5\\u0000\"}", G_U64, 1, 1000, -EINVAL, "not a whole number" },
	{ "{\"x\":\"-\"}", G_U64, 1, 1000, -EINVAL, "not a whole number" },

	{ "{\"x\":true}", G_BOOL, 0, 0, 0, "1" },
	{ "{\"x\":false}", G_BOOL, 0, 0, 0, "0" },
	{ "{\"x\":1}", G_BOOL, 0, 0, -EINVAL, "got int, expected boolean" },
	{ "{\"x\":\"true\"}", G_BOOL, 0, 0, -EINVAL, "got string" },
	{ "{\"x\":null}", G_BOOL, 0, 0, -EINVAL, "got null" },
	{ "{}", G_BOOL, 0, 0, -ENOENT, "'x' is missing" },

	{ "{\"x\":\"10.0.0.2:7000\"}", G_HOSTPORT, 0, 0, 0, "10.0.0.2 7000" },
	{ "{\"x\":\"[::1]:7000\"}", G_HOSTPORT, 0, 0, 0, "::1 7000" },
	{ "{\"x\":\"host\"}", G_HOSTPORT, 0, 0, -EINVAL, "'x' is not HOST:PORT" },
	{ "{\"x\":\"host:0\"}", G_HOSTPORT, 0, 0, -EINVAL, "not HOST:PORT" },
	{ "{\"x\":\"host:65536\"}", G_HOSTPORT, 0, 0, -EINVAL, "not HOST:PORT" },
	{ "{\"x\":\":7000\"}", G_HOSTPORT, 0, 0, -EINVAL, "not HOST:PORT" },
	{ "{\"x\":\"::1:7000\"}", G_HOSTPORT, 0, 0, -EINVAL, "not HOST:PORT" },
	{ "{\"x\":7000}", G_HOSTPORT, 0, 0, -EINVAL, "got int, expected string" },
	{ "{\"x\":null}", G_HOSTPORT, 0, 0, -EINVAL, "got null" },
	{ "{}", G_HOSTPORT, 0, 0, -ENOENT, "'x' is missing" },
};

/* Run one getter; on success print the value into got. */
static int run_getter(const struct arg_case *c, struct json_object *args,
		      char *got, size_t size, struct ctl_error *err)
{
	char host[64], port[8];
	const char *str;
	uint64_t u;
	bool b;
	int rc;

	switch (c->g) {
	case G_STR:
		rc = ctl_arg_string(args, "x", c->max, &str, err);
		if (!rc)
			snprintf(got, size, "%s", str);
		return rc;
	case G_U64:
		rc = ctl_arg_u64(args, "x", c->min, c->max, &u, err);
		if (!rc)
			snprintf(got, size, "%llu", (unsigned long long)u);
		return rc;
	case G_BOOL:
		rc = ctl_arg_bool(args, "x", &b, err);
		if (!rc)
			snprintf(got, size, "%d", b);
		return rc;
	case G_HOSTPORT:
		rc = ctl_arg_hostport(args, "x", host, sizeof(host), port,
				      sizeof(port), NULL, err);
		if (!rc)
			snprintf(got, size, "%s %s", host, port);
		return rc;
	}
	return -EINVAL;
}

static void test_getters(void)
{
	size_t i;

	for (i = 0; i < sizeof(arg_cases) / sizeof(arg_cases[0]); i++) {
		const struct arg_case *c = &arg_cases[i];
		struct json_object *args = json_tokener_parse(c->json);
		struct ctl_error err = { "", "" };
		char got[128] = "";
		int rc;

		CHECK(args);
		rc = run_getter(c, args, got, sizeof(got), &err);
		if (rc != c->rc || (rc == 0 && strcmp(got, c->want)) ||
		    (rc && (strcmp(err.cls, "GenericError") ||
			    !strstr(err.desc, c->want)))) {
			fprintf(stderr, "case %zu %s: rc %d (want %d), value "
				"'%s', error '%s' (want '%s')\n", i, c->json,
				rc, c->rc, got, err.desc, c->want);
			CHECK(!"getter case failed");
		}
		json_object_put(args);
	}
	/* No arguments at all is "missing", never a crash. */
	{
		struct ctl_error err = { "", "" };
		uint64_t u;

		CHECK_EQ(ctl_arg_u64(NULL, "x", 0, 1, &u, &err), -ENOENT);
		CHECK(!ctl_arg_has(NULL, "x"));
	}
}

/* A 100 KB value is refused with a short reply quoting a little of it. */
static void test_huge_value(void)
{
	size_t n = 100 * 1024;
	char *big = malloc(n + 1);
	struct json_object *args = json_object_new_object();
	struct ctl_error err = { "", "" };
	uint64_t u;

	CHECK(big);
	memset(big, '7', n);
	big[n] = '\0';
	json_object_object_add(args, "x", json_object_new_string(big));
	CHECK_EQ(ctl_arg_u64(args, "x", 1, 1000, &u, &err), -ERANGE);
	CHECK(strstr(err.desc, "'x' is out of range: 7777"));
	CHECK(strlen(err.desc) < 200);
	big[0] = 'z';
	json_object_object_add(args, "x", json_object_new_string(big));
	CHECK_EQ(ctl_arg_u64(args, "x", 1, 1000, &u, &err), -EINVAL);
	CHECK(strstr(err.desc, "'x' is not a whole number: 'z777"));
	json_object_put(args);
	free(big);
}

static void test_allowed(void)
{
	struct json_object *args = json_tokener_parse(
		"{\"name\":1,\"value\":2,\"valu\":3}");
	struct ctl_error err = { "", "" };

	CHECK_EQ(ctl_args_allowed(NULL, NULL, &err), 0);
	CHECK_EQ(ctl_args_allowed(args, "name,value,valu", &err), 0);
	CHECK_EQ(ctl_args_allowed(args, "name,value", &err), -EINVAL);
	CHECK(strstr(err.desc, "Parameter 'valu' is unexpected"));
	CHECK_EQ(ctl_args_allowed(args, "nam,values,valuex", &err), -EINVAL);
	CHECK(strstr(err.desc, "Parameter 'name' is unexpected"));
	CHECK_EQ(ctl_args_allowed(args, NULL, &err), -EINVAL);
	json_object_put(args);
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	CHECK(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	CHECK_EQ(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void send_str(int fd, const char *s)
{
	CHECK_EQ(send(fd, s, strlen(s), MSG_NOSIGNAL), (long long)strlen(s));
}

/*
 * Run the loop until the client has a whole line (returned without the
 * newline) or sees EOF (returns false).
 */
static bool recv_line(struct evloop *l, int fd, char *line, size_t size)
{
	size_t n = 0;
	uint64_t end = evloop_now_ms() + 3000;

	while (evloop_now_ms() < end) {
		ssize_t r;
		size_t take;
		char *nl;

		CHECK(evloop_run_once(l, 5) >= 0);
		/* Peek first, so we never take bytes past the newline. */
		r = recv(fd, line + n, size - n - 1, MSG_DONTWAIT | MSG_PEEK);
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			return false;
		if (r < 0) {
			CHECK(errno == EAGAIN);
			continue;
		}
		nl = memchr(line + n, '\n', (size_t)r);
		take = nl ? (size_t)(nl - (line + n)) + 1 : (size_t)r;

		CHECK_EQ(recv(fd, line + n, take, 0), (long long)take);
		n += take;
		if (nl) {
			line[n - 1] = '\0';
			return true;
		}
	}
	CHECK(!"no reply in time");
	return false;
}

static void expect(struct evloop *l, int fd, const char *want)
{
	char line[4096];

	CHECK(recv_line(l, fd, line, sizeof(line)));
	if (strcmp(line, want)) {
		fprintf(stderr, "got  %s\nwant %s\n", line, want);
		CHECK(!"unexpected reply");
	}
}

static void expect_prefix(struct evloop *l, int fd, const char *want)
{
	char line[4096];

	CHECK(recv_line(l, fd, line, sizeof(line)));
	if (strncmp(line, want, strlen(want))) {
		fprintf(stderr, "got  %s\nwant %s...\n", line, want);
		CHECK(!"unexpected reply");
	}
}

static void expect_eof(struct evloop *l, int fd)
{
	char line[4096];

	CHECK(!recv_line(l, fd, line, sizeof(line)));
}

static void test_requests(struct evloop *l, const char *path, struct ctx *x)
{
	int fd = connect_to(path), calls;

	send_str(fd, "{\"execute\":\"add\",\"arguments\":{\"a\":2,\"b\":3}}\n");
	expect(l, fd, "{\"return\":{\"sum\":5}}");
	send_str(fd, "{\"execute\":\"nothing\"}");      /* no newline */
	expect(l, fd, "{\"return\":{}}");

	/* Split anywhere, even inside a string and a number. */
	send_str(fd, "  {\"execute\":\"ad");
	CHECK_EQ(evloop_run_once(l, 20) >= 0, 1);
	send_str(fd, "d\",\"arguments\":{\"a\":4");
	CHECK_EQ(evloop_run_once(l, 20) >= 0, 1);
	send_str(fd, "0,\"b\":2}}");
	expect(l, fd, "{\"return\":{\"sum\":42}}");

	/* Two requests in one write, answered in order; an id is echoed. */
	send_str(fd, "{\"execute\":\"add\",\"arguments\":{\"a\":1,\"b\":1}}"
		     "\n{\"execute\":\"nothing\",\"id\":\"x/1\"}\n");
	expect(l, fd, "{\"return\":{\"sum\":2}}");
	expect(l, fd, "{\"return\":{},\"id\":\"x/1\"}");

	send_str(fd, "{\"execute\":\"foo\"}\n");
	expect(l, fd, "{\"error\":{\"class\":\"CommandNotFound\","
		      "\"desc\":\"The command foo has not been found\"}}");
	send_str(fd, "{\"execute\":\"add\",\"arguments\":{}}\n");
	expect(l, fd, "{\"error\":{\"class\":\"GenericError\","
		      "\"desc\":\"need a and b\"}}");
	/* Arguments outside the command's list: refused, handler not run. */
	calls = x->calls;
	send_str(fd, "{\"execute\":\"add\",\"arguments\":{\"a\":1,"
		     "\"b\":2,\"c\":3}}\n");
	expect(l, fd, "{\"error\":{\"class\":\"GenericError\","
		      "\"desc\":\"Parameter 'c' is unexpected\"}}");
	send_str(fd, "{\"execute\":\"nothing\",\"arguments\":{\"x\":null}}\n");
	expect(l, fd, "{\"error\":{\"class\":\"GenericError\","
		      "\"desc\":\"Parameter 'x' is unexpected\"}}");
	send_str(fd, "{\"execute\":\"nothing\",\"arguments\":{}}\n");
	expect(l, fd, "{\"return\":{}}");
	CHECK_EQ(x->calls, calls);
	send_str(fd, "{\"execute\":\"busy\"}\n");
	expect_prefix(l, fd, "{\"error\":{\"class\":\"GenericError\","
			     "\"desc\":\"busy: ");

	/* Well-formed but wrong requests keep the connection. */
	send_str(fd, "[1,2]\n");
	expect_prefix(l, fd, "{\"error\":{\"class\":\"GenericError\"");
	send_str(fd, "\"status\"\n");
	expect_prefix(l, fd, "{\"error\":{\"class\":\"GenericError\"");
	send_str(fd, "{\"exec\":\"add\"}\n");
	expect_prefix(l, fd, "{\"error\":{\"class\":\"GenericError\"");
	send_str(fd, "{\"execute\":7}\n");
	expect_prefix(l, fd, "{\"error\":{\"class\":\"GenericError\"");
	send_str(fd, "{\"execute\":\"add\",\"arguments\":[1]}\n");
	expect_prefix(l, fd, "{\"error\":{\"class\":\"GenericError\"");
	send_str(fd, "{\"execute\":\"nothing\"}\n");
	expect(l, fd, "{\"return\":{}}");

	/* Malformed JSON: a reply, then the server hangs up. */
	send_str(fd, "{\"execute\":\"nothing\"}\n{\"execute\" 1}\n"
		     "{\"execute\":\"nothing\"}\n");
	expect(l, fd, "{\"return\":{}}");
	expect_prefix(l, fd, "{\"error\":{\"class\":\"GenericError\","
			     "\"desc\":\"JSON parse error: ");
	expect_eof(l, fd);
	close(fd);
	CHECK(x->calls >= 4);
}

/* Over 1 MiB inside one unfinished request: dropped without a reply. */
static void test_oversize(struct evloop *l, const char *path)
{
	int fd = connect_to(path);
	char junk[65536];
	size_t sent = 0;
	bool closed = false;

	memset(junk, 'a', sizeof(junk));
	send_str(fd, "{\"execute\":\"");
	while (sent < (3u << 20) && !closed) {
		ssize_t n = send(fd, junk, sizeof(junk),
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0)
			sent += (size_t)n;
		else if (errno == EPIPE || errno == ECONNRESET)
			closed = true;
		else
			CHECK(errno == EAGAIN);
		CHECK(evloop_run_once(l, 5) >= 0);
	}
	CHECK(closed || sent >= (1u << 20));
	expect_eof(l, fd);
	close(fd);
}

/* A client that leaves without reading its reply harms nobody. */
static void test_rude_client(struct evloop *l, const char *path)
{
	int fd = connect_to(path);

	for (int i = 0; i < 200; i++)
		send_str(fd, "{\"execute\":\"nothing\"}");
	close(fd);
	for (int i = 0; i < 10; i++)
		CHECK(evloop_run_once(l, 5) >= 0);
	fd = connect_to(path);
	send_str(fd, "{\"execute\":\"nothing\"}");
	expect(l, fd, "{\"return\":{}}");
	close(fd);
}

static void test_socket_file(struct evloop *l, const char *dir)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ctl_server *s, *s2;
	struct stat st;
	char path[256];
	int fd;

	/* A stale socket file (nobody listening) is replaced. */
	snprintf(path, sizeof(path), "%s/stale.sock", dir);
	CHECK(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	s = ctl_server_new(l, path, cmds, NULL);
	CHECK(s);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0600);
	/* A live one is not. */
	s2 = ctl_server_new(l, path, cmds, NULL);
	CHECK(!s2);
	ctl_server_free(s);
	CHECK(access(path, F_OK) < 0);

	/* Nor is a file that is not a socket. */
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	CHECK(fd >= 0);
	close(fd);
	CHECK(!ctl_server_new(l, path, cmds, NULL));
	CHECK_EQ(unlink(path), 0);
	ctl_server_free(NULL);
}

int main(void)
{
	char dir[] = "/tmp/colo-test-ctl-XXXXXX", path[256];
	struct ctx x = { 0 };
	struct ctl_server *s;
	struct evloop *l;

	test_getters();
	test_huge_value();
	test_allowed();
	CHECK(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ctl.sock", dir);
	l = evloop_new();
	CHECK(l);
	s = ctl_server_new(l, path, cmds, &x);
	CHECK(s);

	test_requests(l, path, &x);
	test_oversize(l, path);
	test_rude_client(l, path);
	/* Still serving after all that. */
	test_requests(l, path, &x);

	ctl_server_free(s);
	CHECK(access(path, F_OK) < 0);
	test_socket_file(l, dir);
	evloop_free(l);
	CHECK_EQ(rmdir(dir), 0);
	return 0;
}
