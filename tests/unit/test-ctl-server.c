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
	{ "add", cmd_add },
	{ "nothing", cmd_nothing },
	{ "busy", cmd_busy },
	{ NULL, NULL },
};

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
	int fd = connect_to(path);

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
