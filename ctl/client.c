// SPDX-License-Identifier: MIT
/*
 * One request and its reply over the control socket:
 *
 *   colo-ctl, colo-drill           daemon
 *      │── {"execute": ...}\n ──────►│
 *      │◄──── {"return": {..}}\n ────│   or {"error": {"class","desc"}}
 *
 * The reply is one line; we read until its newline or the deadline.
 * Failures are said on stderr under the program's own name
 * (program_invocation_short_name), as err(3) does.
 */
#include "client.h"

#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* A reply bigger than this is not one we want to print anyway. */
#define REPLY_MAX (64u << 20)

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

int cli_send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int64_t cli_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read up to the first newline into a new NUL-terminated string. */
static int recv_line(int fd, int timeout_ms, char **line)
{
	int64_t end = cli_now_ms() + timeout_ms;
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap), *nl = NULL;

	if (!buf)
		return -ENOMEM;
	while (!nl) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = end - cli_now_ms();
		ssize_t n;

		if (left <= 0) {
			free(buf);
			return -ETIMEDOUT;
		}
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR) {
			free(buf);
			return -errno;
		}
		if (len + 1 == cap) {
			char *b = cap < REPLY_MAX ? realloc(buf, cap * 2) : NULL;

			if (!b) {
				free(buf);
				return -EMSGSIZE;
			}
			buf = b;
			cap *= 2;
		}
		n = recv(fd, buf + len, cap - len - 1, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			free(buf);
			return -errno;
		}
		if (n == 0) {
			free(buf);
			return -ECONNRESET;
		}
		nl = memchr(buf + len, '\n', (size_t)n);
		len += (size_t)n;
	}
	*nl = '\0';
	*line = buf;
	return 0;
}

static struct json_object *make_request(const char *cmd,
					struct json_object *args)
{
	struct json_object *req = json_object_new_object();

	json_object_object_add(req, "execute", json_object_new_string(cmd));
	if (args)
		json_object_object_add(req, "arguments", args);
	return req;
}

/* Split a reply into its "return" or print its "error". */
static int read_reply(const char *cmd, const char *line,
		      struct json_object **ret)
{
	struct json_object *reply = json_tokener_parse(line), *r, *e, *d;
	int rc = CLI_EXIT_FAIL;

	if (!reply || !json_object_is_type(reply, json_type_object)) {
		fprintf(stderr, "%s: %s: malformed reply: %s\n",
			program_invocation_short_name, cmd, line);
	} else if (json_object_object_get_ex(reply, "return", &r) &&
		   json_object_is_type(r, json_type_object)) {
		*ret = json_object_get(r);
		rc = CLI_EXIT_OK;
	} else if (json_object_object_get_ex(reply, "error", &e)) {
		fprintf(stderr, "%s: %s failed: %s\n",
			program_invocation_short_name, cmd,
			json_object_object_get_ex(e, "desc", &d) ?
				json_object_get_string(d) : "(no reason given)");
	} else {
		fprintf(stderr, "%s: %s: reply has neither a return object nor an error: %s\n",
			program_invocation_short_name, cmd, line);
	}
	json_object_put(reply);
	return rc;
}

int cli_call(const struct cli *cli, const char *cmd, struct json_object *args,
	     struct json_object **ret)
{
	struct json_object *req = make_request(cmd, args);
	char *line = NULL, *txt;
	int fd, rc;

	fd = connect_to(cli->socket);
	if (fd < 0) {
		fprintf(stderr, "%s: cannot connect to %s: %s\n",
			program_invocation_short_name, cli->socket,
			strerror(-fd));
		json_object_put(req);
		return CLI_EXIT_FAIL;
	}
	if (asprintf(&txt, "%s\n", json_object_to_json_string_ext(req,
		     JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)) < 0)
		txt = NULL;
	json_object_put(req);
	rc = txt ? cli_send_all(fd, txt, strlen(txt)) : -ENOMEM;
	free(txt);
	if (!rc)
		rc = recv_line(fd, cli->timeout_ms, &line);
	close(fd);
	if (rc == -ETIMEDOUT) {
		fprintf(stderr, "%s: %s: no reply within %d s\n",
			program_invocation_short_name, cmd,
			cli->timeout_ms / 1000);
		return CLI_EXIT_FAIL;
	}
	if (rc == -ECONNRESET) {
		fprintf(stderr, "%s: %s: the daemon closed the connection\n",
			program_invocation_short_name, cmd);
		return CLI_EXIT_FAIL;
	}
	if (rc < 0) {
		fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name,
			cmd, strerror(-rc));
		return CLI_EXIT_FAIL;
	}
	rc = read_reply(cmd, line, ret);
	free(line);
	return rc;
}
