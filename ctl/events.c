// SPDX-License-Identifier: MIT
/*
 * colo-ctl events [--json]: the daemon's events as they happen, one line
 * each, until the daemon hangs up or we are interrupted (SIGINT, SIGTERM:
 * exit 0, as for any stream a person stops). For people:
 *
 *   12:00:01.234 CHECKPOINT reason=periodic id=7 pause=3.1ms pages=120
 *
 * (local time; a member named x_ms shows as x=Nms), or the daemon's own
 * line with --json, for scripts and cluster managers.
 */
#include "client.h"
#include "subcommands.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void print_time(struct json_object *ev)
{
	struct json_object *ts;
	uint64_t sec = 0, usec = 0;
	time_t t;
	struct tm tm;

	if (json_object_object_get_ex(ev, "timestamp", &ts)) {
		cli_get_u64(ts, "seconds", &sec);
		cli_get_u64(ts, "microseconds", &usec);
	}
	t = (time_t)sec;
	localtime_r(&t, &tm);
	printf("%02d:%02d:%02d.%03u", tm.tm_hour, tm.tm_min, tm.tm_sec,
	       (unsigned)(usec / 1000));
}

/* "key=value", strings with a space in quotes, x_ms as x=Nms. */
static void print_member(const char *key, struct json_object *v)
{
	size_t len = strlen(key);
	const char *s = cli_value_str(v);

	if (len > 3 && !strcmp(key + len - 3, "_ms") &&
	    (json_object_is_type(v, json_type_double) ||
	     json_object_is_type(v, json_type_int))) {
		printf(" %.*s=%.1fms", (int)(len - 3), key,
		       json_object_get_double(v));
		return;
	}
	if (json_object_is_type(v, json_type_string) && strchr(s, ' '))
		printf(" %s=\"%s\"", key, s);
	else
		printf(" %s=%s", key, s);
}

/* One event line for people; false when the line is not an event. */
static bool print_human(const char *line)
{
	struct json_object *ev = json_tokener_parse(line), *name, *data;

	if (!ev || !json_object_object_get_ex(ev, "event", &name)) {
		json_object_put(ev);
		return false;
	}
	print_time(ev);
	printf(" %s", json_object_get_string(name));
	if (json_object_object_get_ex(ev, "data", &data) &&
	    json_object_is_type(data, json_type_object)) {
		json_object_object_foreach(data, k, v)
			print_member(k, v);
	}
	putchar('\n');
	json_object_put(ev);
	return true;
}

int events_main(const struct cli *cli, int argc, char *argv[])
{
	struct cli_stream st;
	bool json = false;
	char *line;
	int rc;

	if (argc == 2 && !strcmp(argv[1], "--json"))
		json = true;
	else if (argc != 1)
		return cli_usage_error("events: unexpected argument %s",
				       argv[argc - 1]);
	cli_catch_interrupt();
	if (cli_subscribe(cli, &st))
		return CLI_EXIT_FAIL;
	while ((rc = cli_stream_next(&st, -1, &line)) > 0) {
		if (json)
			puts(line);
		else
			print_human(line);
		/* A pipe to a script must see each event as it happens. */
		fflush(stdout);
	}
	cli_stream_close(&st);
	if (rc == -ECONNRESET || cli_interrupted())
		return CLI_EXIT_OK;
	fprintf(stderr, "colo-ctl: events: %s\n", strerror(-rc));
	return CLI_EXIT_FAIL;
}
