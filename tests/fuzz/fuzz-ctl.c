// SPDX-License-Identifier: MIT
/*
 * The control server fed what a client writes, by the real server (read
 * path, JSON tokener, dispatch, reply buffer) on a loop of our own, with
 * a pure handler for the daemons'. Each reply line must be an object with
 * "return" or "error"; the server must be done within bounded loop turns.
 */
#include <errno.h>
#include <stdbool.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl-server.h"
#include "evloop.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A pure stand-in for a daemon's handler: echoes its arguments, or fails
 * (with or without an error of its own) when asked to. */
/* Reads each argument it may get through the typed getters, as the real
 * handlers do; echoes the arguments when all of them were good. */
static int echo(void *o, struct json_object *args, struct json_object **ret,
		struct ctl_error *err)
{
	char host[256], port[16];
	const char *str;
	uint64_t n;
	bool fail = false;
	int r = 0;

	(void)o;
	if (ctl_arg_has(args, "fail"))
		r = ctl_arg_bool(args, "fail", &fail, err);
	if (!r && ctl_arg_has(args, "n"))
		r = ctl_arg_u64(args, "n", 1, 86400000, &n, err);
	if (!r && ctl_arg_has(args, "s"))
		r = ctl_arg_string(args, "s", 64, &str, err);
	if (!r && ctl_arg_has(args, "hp"))
		r = ctl_arg_hostport(args, "hp", host, sizeof(host), port,
				     sizeof(port), NULL, err);
	if (r || fail)
		return r ? r : -EINVAL;
	*ret = json_object_get(args);
	return 0;
}

static const struct ctl_command cmds[] = {
	{ "echo", echo, "fail,n,s,hp" },
	{ NULL, NULL, NULL },
};

/* Checks each complete line of buf[0, *len) and drops it. */
static void check_lines(char *buf, size_t *len)
{
	char *nl;

	while ((nl = memchr(buf, '\n', *len))) {
		struct json_object *o;

		*nl = 0;
		o = json_tokener_parse(buf);
		if (!o || !json_object_is_type(o, json_type_object) ||
		    json_object_object_get_ex(o, "return", NULL) ==
		    json_object_object_get_ex(o, "error", NULL))
			abort();
		json_object_put(o);
		*len -= (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, *len);
	}
}

static struct evloop *l;
static struct ctl_server *srv;

static void cleanup(void)          /* removes the socket file */
{
	ctl_server_free(srv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static char out[1 << 18];
	size_t nout = 0;
	ssize_t n = 1;
	int fd, turns;

	if (!l) {
		log_init("fuzz-ctl", LOG_LVL_ERROR);
		snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/fuzz-ctl-%d.sock",
			 (int)getpid());
		if (!(l = evloop_new()) ||
		    !(srv = ctl_server_new(l, sa.sun_path, cmds, NULL)) ||
		    atexit(cleanup))
			abort();
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (size > 16384 || fd < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    write(fd, data, size) != (ssize_t)size || shutdown(fd, SHUT_WR))
		abort();
	/* Serve until the server hangs up on us; read as it writes. */
	for (turns = 0; n > 0 && turns < 10000; turns++) {
		evloop_run_once(l, 100);
		while ((n = recv(fd, out + nout, sizeof(out) - 1 - nout,
				 MSG_DONTWAIT)) > 0) {
			nout += (size_t)n;
			check_lines(out, &nout);
			if (nout == sizeof(out) - 1)
				abort();     /* one reply of 256 KiB? */
		}
		if (n < 0 && errno != EAGAIN)
			abort();
		n = n < 0 ? 1 : n;
	}
	if (n != 0 || nout)              /* hung, or a reply without its '\n' */
		abort();
	close(fd);
	return 0;
}
