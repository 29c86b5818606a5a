// SPDX-License-Identifier: MIT
/*
 * A stand-in daemon for colo-ctl's test: the real control server with
 * canned commands. "set fail NAME" makes command NAME fail from then on,
 * "set differ yes" makes verify report differences, "set emit REASON"
 * sends subscribers a CHECKPOINT event with that reason. Runs until
 * SIGTERM.
 */
#include "ctl-server.h"
#include "events.h"
#include "evloop.h"

#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct fake {
	char fail[32];
	bool differ;
	struct ctl_server *s;
};

static struct json_object *parse(const char *s)
{
	return json_tokener_parse(s);
}

static int failing(struct fake *f, const char *cmd, struct ctl_error *err)
{
	if (strcmp(f->fail, cmd))
		return 0;
	ctl_error_set(err, "GenericError", "%s refused by the fake daemon", cmd);
	return -EIO;
}

static int cmd_status(void *opaque, struct json_object *args,
		      struct json_object **ret, struct ctl_error *err)
{
	(void)args;
	if (failing(opaque, "status", err))
		return -EIO;
	*ret = parse("{\"role\":\"primary\",\"state\":\"protected\","
		     "\"checkpoints\":7,\"last_checkpoint\":{\"id\":7,"
		     "\"pages\":1234,\"bytes\":5242880,\"pause_ms\":12.34,"
		     "\"flushed_pages\":99,\"phases_ms\":{\"barrier\":0.5,"
		     "\"scan\":1.25,\"send\":8}},\"checkpoint_reasons\":{"
		     "\"mismatch\":2,\"manual\":5},"
		     "\"ram_bytes\":1073741824,\"mismatches\":3,"
		     "\"peer\":\"10.0.0.2:7000\"}");
	return 0;
}

static int cmd_checkpoint(void *opaque, struct json_object *args,
			  struct json_object **ret, struct ctl_error *err)
{
	(void)args;
	if (failing(opaque, "checkpoint", err))
		return -EIO;
	*ret = parse("{\"id\":7,\"pages\":1234,\"bytes\":5242880,"
		     "\"pause_ms\":12.3}");
	return 0;
}

static int cmd_verify(void *opaque, struct json_object *args,
		      struct json_object **ret, struct ctl_error *err)
{
	struct fake *f = opaque;

	(void)args;
	if (failing(f, "verify", err))
		return -EIO;
	*ret = parse(f->differ ?
		"{\"identical\":false,\"chunks\":64,\"differing\":["
		"{\"block\":0,\"start\":4096,\"length\":4096},"
		"{\"block\":1,\"start\":1048576,\"length\":8192}]}" :
		"{\"identical\":true,\"chunks\":64,\"differing\":[]}");
	return 0;
}

static int cmd_set(void *opaque, struct json_object *args,
		   struct json_object **ret, struct ctl_error *err)
{
	struct fake *f = opaque;
	const char *name, *value;
	int rc;

	(void)ret;
	rc = ctl_arg_string(args, "name", 32, &name, err);
	if (!rc)
		rc = ctl_arg_string(args, "value", sizeof(f->fail) - 1, &value,
				    err);
	if (rc)
		return rc;
	if (!strcmp(name, "fail"))
		snprintf(f->fail, sizeof(f->fail), "%s", value);
	else if (!strcmp(name, "differ"))
		f->differ = !strcmp(value, "yes");
	else if (!strcmp(name, "emit"))
		events_checkpoint(f->s, value, 7, 2.5, 120, 491520);
	else
		return -ENOENT;        /* the server words it */
	return 0;
}

static int cmd_failover(void *opaque, struct json_object *args,
			struct json_object **ret, struct ctl_error *err)
{
	(void)opaque;
	(void)args;
	(void)ret;
	(void)err;
	return 0;
}

static const struct ctl_command cmds[] = {
	{ "status", cmd_status, NULL },
	{ "checkpoint", cmd_checkpoint, NULL },
	{ "verify", cmd_verify, NULL },
	{ "set", cmd_set, "name,value" },
	{ "failover", cmd_failover, NULL },
	{ NULL, NULL, NULL },
};

int main(int argc, char *argv[])
{
	struct fake f = { .fail = "" };
	struct ctl_server *s;
	struct evloop *l;
	sigset_t mask;

	if (argc != 2) {
		fprintf(stderr, "usage: %s SOCKET\n", argv[0]);
		return 2;
	}
	/* SIGTERM ends the loop between events: poll for it each round. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	l = evloop_new();
	s = l ? ctl_server_new(l, argv[1], cmds, &f) : NULL;
	if (!s)
		return 1;
	f.s = s;
	for (;;) {
		sigset_t pend;

		if (evloop_run_once(l, 50) < 0)
			break;
		sigpending(&pend);
		if (sigismember(&pend, SIGTERM))
			break;
	}
	ctl_server_free(s);
	evloop_free(l);
	return 0;
}
