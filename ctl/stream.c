// SPDX-License-Identifier: MIT
/*
 * A control connection kept open for the events: subscribe once, then
 * read whole lines as they come.
 *
 *   colo-ctl                      daemon
 *      │── {"execute":"subscribe"} ─►│
 *      │◄──────── {"return":{}} ─────│
 *      │◄──── {"event": ...} ────────│   ... until EOF or we stop
 *
 * Unlike a single reply, a stream has lines after the one we return, so
 * what was read past a newline is kept for the next call.
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
#include <unistd.h>

/* An event line longer than this is not one a daemon sends. */
#define STREAM_LINE_MAX (1u << 20)

static void consume(struct cli_stream *st)
{
	if (st->taken) {
		memmove(st->buf, st->buf + st->taken, st->len - st->taken);
		st->len -= st->taken;
		st->taken = 0;
	}
}

int cli_stream_next(struct cli_stream *st, int timeout_ms, char **line)
{
	int64_t end = cli_now_ms() + timeout_ms;

	consume(st);
	for (;;) {
		char *nl = st->len ? memchr(st->buf, '\n', st->len) : NULL;
		struct pollfd p = { .fd = st->fd, .events = POLLIN };
		int64_t left = end - cli_now_ms();
		ssize_t n;

		if (nl) {
			*nl = '\0';
			st->taken = (size_t)(nl - st->buf) + 1;
			*line = st->buf;
			return 1;
		}
		if (st->len + 1 >= st->cap) {
			size_t cap = st->cap ? st->cap * 2 : 4096;
			char *b = cap <= STREAM_LINE_MAX ?
				  realloc(st->buf, cap) : NULL;

			if (!b)
				return -EMSGSIZE;
			st->buf = b;
			st->cap = cap;
		}
		if (timeout_ms >= 0 && left <= 0)
			return 0;
		n = poll(&p, 1, timeout_ms < 0 ? -1 : (int)left);
		if (n < 0)
			return -errno;       /* EINTR too: a signal to heed */
		if (n == 0)
			continue;
		n = recv(st->fd, st->buf + st->len, st->cap - st->len - 1,
			 MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		st->len += (size_t)n;
	}
}

int cli_subscribe(const struct cli *cli, struct cli_stream *st)
{
	static const char req[] = "{\"execute\":\"subscribe\"}\n";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct json_object *reply = NULL, *r;
	char *line;
	int rc;

	memset(st, 0, sizeof(*st));
	st->fd = -1;
	if (strlen(cli->socket) >= sizeof(sa.sun_path)) {
		rc = -ENAMETOOLONG;
		goto out_say;
	}
	memcpy(sa.sun_path, cli->socket, strlen(cli->socket) + 1);
	st->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (st->fd < 0 ||
	    connect(st->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		goto out_say;
	}
	rc = cli_send_all(st->fd, req, sizeof(req) - 1);
	if (!rc)
		rc = cli_stream_next(st, cli->timeout_ms, &line);
	if (rc == 0)
		rc = -ETIMEDOUT;
	if (rc < 0)
		goto out_say;
	reply = json_tokener_parse(line);
	if (!reply || !json_object_object_get_ex(reply, "return", &r)) {
		fprintf(stderr, "%s: subscribe refused: %s\n",
			program_invocation_short_name, line);
		json_object_put(reply);
		cli_stream_close(st);
		return CLI_EXIT_FAIL;
	}
	json_object_put(reply);
	return CLI_EXIT_OK;

out_say:
	fprintf(stderr, "%s: cannot subscribe to the events of %s: %s\n",
		program_invocation_short_name, cli->socket, strerror(-rc));
	cli_stream_close(st);
	return CLI_EXIT_FAIL;
}

void cli_stream_close(struct cli_stream *st)
{
	if (st->fd >= 0)
		close(st->fd);
	free(st->buf);
	memset(st, 0, sizeof(*st));
	st->fd = -1;
}
