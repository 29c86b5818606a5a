/* SPDX-License-Identifier: MIT */
/*
 * The control socket: a unix stream socket speaking JSON in the style of
 * QMP. Each request is one JSON object, {"execute": NAME, "arguments": {..}},
 * answered by one line, {"return": {..}} or {"error": {"class": C,
 * "desc": D}}. Malformed JSON gets an error reply and ends that connection,
 * never the daemon. json-c does the parsing and printing.
 */
#ifndef COLO_CTL_SERVER_H
#define COLO_CTL_SERVER_H

struct evloop;
struct json_object;

struct ctl_error {
	char cls[32];     /* "GenericError", "CommandNotFound", ... */
	char desc[256];
};

/*
 * A command handler. args is the request's "arguments" object (or NULL).
 * On success return 0 and set *ret to a new object (NULL means {}); on
 * failure return -errno and fill err.
 */
typedef int (*ctl_cmd_fn)(void *opaque, struct json_object *args,
			  struct json_object **ret, struct ctl_error *err);

struct ctl_command {
	const char *name;
	ctl_cmd_fn fn;
};

struct ctl_server;

/* Binds path (replacing a stale socket file), registers with the loop.
 * cmds ends with a {NULL, NULL} entry. NULL on failure, reason logged. */
struct ctl_server *ctl_server_new(struct evloop *l, const char *path,
				  const struct ctl_command *cmds, void *opaque);
void ctl_server_free(struct ctl_server *s);   /* unlinks the path */

/* Fill err in one line: ctl_error_set(err, "GenericError", "fmt", ...). */
void ctl_error_set(struct ctl_error *err, const char *cls, const char *fmt,
		   ...) __attribute__((format(printf, 3, 4)));

#endif
