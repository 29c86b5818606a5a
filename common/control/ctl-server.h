/* SPDX-License-Identifier: MIT */
/*
 * The control socket: a unix stream socket speaking JSON in the style of
 * QMP. Each request is one JSON object, {"execute": NAME, "arguments": {..}},
 * answered by one line, {"return": {..}} or {"error": {"class": C,
 * "desc": D}}. Malformed JSON gets an error reply and ends that connection,
 * never the daemon. json-c does the parsing and printing.
 *
 * Events: a client that sends {"execute": "subscribe"} (built in, answered
 * {"return": {}}) is a subscriber from then on: every line the daemon
 * broadcasts (events.h words them) goes to it, between the replies to its
 * own requests. A subscriber that does not read is never waited for: its
 * unsent events are bounded by CTL_EVENT_QUEUE_MAX bytes, and past that it
 * is dropped with a log line.
 */
#ifndef COLO_CTL_SERVER_H
#define COLO_CTL_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evloop;
struct json_object;

struct ctl_error {
	char cls[32];     /* "GenericError", "CommandNotFound", ... */
	char desc[256];
};

/*
 * A command handler. args is the request's "arguments" object (or NULL),
 * holding no member outside the command's list (the server has checked);
 * read them with the ctl_arg_ getters below, never with json-c directly,
 * so that null, a wrong type or an absurd value is an error reply and not
 * a crash. On success return 0 and set *ret to a new object (NULL means
 * {}); on failure return -errno and fill err.
 */
typedef int (*ctl_cmd_fn)(void *opaque, struct json_object *args,
			  struct json_object **ret, struct ctl_error *err);

struct ctl_command {
	const char *name;
	ctl_cmd_fn fn;
	/* The arguments it takes, comma-separated ("name,value"); NULL: none.
	 * Any other member of "arguments" is refused before fn runs. */
	const char *args;
};

struct ctl_server;

/* The most a subscriber may have unsent; then it is dropped. */
#define CTL_EVENT_QUEUE_MAX (256u << 10)

/* Binds path (replacing a stale socket file), registers with the loop.
 * cmds ends with a {NULL, NULL} entry. NULL on failure, reason logged. */
struct ctl_server *ctl_server_new(struct evloop *l, const char *path,
				  const struct ctl_command *cmds, void *opaque);
void ctl_server_free(struct ctl_server *s);   /* unlinks the path */

/*
 * One line (without its newline) to every subscriber, written as far as
 * each socket takes it now; the rest waits in that subscriber's bounded
 * queue. Never blocks. On the loop's thread only (the one that made the
 * server): a call from another thread is refused (-EPERM, logged).
 * Returns the number of subscribers that got it queued. NULL s: 0.
 */
int ctl_server_broadcast(struct ctl_server *s, const char *line, size_t len);
/* How many clients have subscribed (and not been dropped). */
size_t ctl_server_subscribers(const struct ctl_server *s);

/* Fill err in one line: ctl_error_set(err, "GenericError", "fmt", ...). */
void ctl_error_set(struct ctl_error *err, const char *cls, const char *fmt,
		   ...) __attribute__((format(printf, 3, 4)));

/* 0 when every member of args is named in the comma-separated list
 * (NULL: none may be), else -EINVAL naming the first stranger in err. The
 * server calls it with the command's list before the handler runs. */
int ctl_args_allowed(struct json_object *args, const char *list,
		     struct ctl_error *err);

/*
 * Typed getters for a handler's arguments, in the style of QMP's input
 * visitor. Each returns 0 and sets *out, or -errno with err set to a
 * GenericError that names the argument and what is wrong with it:
 * -ENOENT missing (or args NULL), -EINVAL null or wrong type or malformed,
 * -ERANGE out of range or too long. An optional argument is read only when
 * ctl_arg_has() says it is there; a present null is still an error.
 */
bool ctl_arg_has(struct json_object *args, const char *name);
/* A string of at most maxlen bytes, without NUL bytes; *out points into
 * args. */
int ctl_arg_string(struct json_object *args, const char *name, size_t maxlen,
		   const char **out, struct ctl_error *err);
/* A whole number in [min, max], given as a JSON integer or as a string of
 * decimal digits ("250"): colo-ctl sends what the operator typed. */
int ctl_arg_u64(struct json_object *args, const char *name, uint64_t min,
		uint64_t max, uint64_t *out, struct ctl_error *err);
/* JSON true or false, nothing else. */
int ctl_arg_bool(struct json_object *args, const char *name, bool *out,
		 struct ctl_error *err);
/* "host:port" or "[v6]:port" (config_parse_hostport); host and port are
 * filled, *out (may be NULL) points to the whole string inside args. */
int ctl_arg_hostport(struct json_object *args, const char *name, char *host,
		     size_t hostlen, char *port, size_t portlen,
		     const char **out, struct ctl_error *err);

#endif
