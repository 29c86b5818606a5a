/* SPDX-License-Identifier: MIT */
/*
 * One request, one reply over the control socket, and the few printing
 * helpers around it: the control-socket client that colo-ctl and the lab's
 * colo-drill both link (ctl/meson.build: ctl_client_dep). Messages go to
 * stderr prefixed with the running program's name ("colo-ctl: ...").
 */
#ifndef COLO_CTL_CLIENT_H
#define COLO_CTL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

struct cli {
	const char *socket;    /* control socket path */
	int timeout_ms;        /* for the whole reply */
};

/*
 * Send {"execute": cmd, "arguments": args} (args may be NULL; it is
 * consumed) and wait for the reply. Returns CLI_EXIT_OK with *ret set to
 * the "return" object (put it when done), or CLI_EXIT_FAIL after printing
 * why: cannot connect, timeout, or "COMMAND failed: DESC".
 */
int cli_call(const struct cli *cli, const char *cmd, struct json_object *args,
	     struct json_object **ret);

/*
 * A connection subscribed to the daemon's events (stream.c). cli_subscribe
 * connects and subscribes: CLI_EXIT_OK, or CLI_EXIT_FAIL after saying why.
 * cli_stream_next waits up to timeout_ms (-1: for ever) for the next
 * line: 1 with *line set (NUL-terminated, valid until the next call), 0
 * on timeout, -ECONNRESET at EOF, -EINTR when a signal came, -errno.
 */
struct cli_stream {
	int fd;
	char *buf;
	size_t len, cap, taken;
};
int cli_subscribe(const struct cli *cli, struct cli_stream *st);
int cli_stream_next(struct cli_stream *st, int timeout_ms, char **line);
void cli_stream_close(struct cli_stream *st);

/* CLOCK_MONOTONIC in ms. */
int64_t cli_now_ms(void);

/* Write all of buf to a socket (EINTR and short writes retried, no
 * SIGPIPE). 0 or -errno. */
int cli_send_all(int fd, const char *buf, size_t len);

/* Helpers over a reply object: false when the member is missing. */
bool cli_get_u64(struct json_object *o, const char *key, uint64_t *v);
bool cli_get_double(struct json_object *o, const char *key, double *v);
/* "512 B", "4.0 KiB", "5.0 MiB", ... into buf. */
const char *cli_human_bytes(char *buf, unsigned size, uint64_t bytes);
/* A value as a human reads it: strings bare, the rest as compact JSON. */
const char *cli_value_str(struct json_object *v);

#endif
