// SPDX-License-Identifier: MIT
/*
 * colo-ctl status [--json | --watch]: the daemon's role, state and
 * counters. The fields we know get a friendly line; any others are shown
 * as they come, so a daemon can add fields without a new colo-ctl.
 * --watch follows live sync until the pair is protected (watch.c).
 */
#include "client.h"
#include "subcommands.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <string.h>

/* Fields printed by print_known(), in this order; the rest follow. */
static const char *const known[] = {
	"role", "state", "checkpoints", "last_checkpoint", "last_pause_ms",
	"last_pages", "last_bytes", "ram_bytes", "mismatches", NULL,
};

static bool is_known(const char *key)
{
	for (int i = 0; known[i]; i++)
		if (!strcmp(key, known[i]))
			return true;
	return false;
}

/*
 * "  phases: barrier 0.31 ms, scan 0.52 ms, ..." in the daemon's order:
 * where the pause went (the primary's), or this side's part (the
 * secondary's).
 */
static void print_phases(struct json_object *last)
{
	struct json_object *ph;
	const char *sep = "";

	if (!json_object_object_get_ex(last, "phases_ms", &ph) ||
	    !json_object_is_type(ph, json_type_object))
		return;
	printf("  phases:");
	json_object_object_foreach(ph, k, v) {
		printf("%s %s %.2f ms", sep, k, json_object_get_double(v));
		sep = ",";
	}
	putchar('\n');
}

/*
 * "1234 pages, 5.0 MiB, pause 12.3 ms" from whichever parts are there;
 * any other members of a nested last_checkpoint are appended.
 */
static void print_last(struct json_object *o, const char *pfx)
{
	char key[32], hb[32];
	const char *sep = "";
	uint64_t v;
	double ms;
	bool any = false;

	snprintf(key, sizeof(key), "%spages", pfx);
	if (cli_get_u64(o, key, &v)) {
		printf("last checkpoint: %" PRIu64 " pages", v);
		sep = ", ";
		any = true;
	}
	snprintf(key, sizeof(key), "%sbytes", pfx);
	if (cli_get_u64(o, key, &v)) {
		printf("%s%s%s", any ? "" : "last checkpoint: ", sep,
		       cli_human_bytes(hb, sizeof(hb), v));
		sep = ", ";
		any = true;
	}
	snprintf(key, sizeof(key), "%spause_ms", pfx);
	if (cli_get_double(o, key, &ms)) {
		printf("%s%spause %.1f ms", any ? "" : "last checkpoint: ", sep,
		       ms);
		any = true;
	}
	if (!any)
		return;
	if (!*pfx) {
		json_object_object_foreach(o, k, val)
			if (strcmp(k, "id") && strcmp(k, "pages") &&
			    strcmp(k, "bytes") && strcmp(k, "pause_ms") &&
			    strcmp(k, "phases_ms"))
				printf(", %s %s", k, cli_value_str(val));
	}
	putchar('\n');
	if (!*pfx)
		print_phases(o);
}

/* Flat objects read better as "a=1 b=2" than as JSON. */
static void print_other(const char *key, struct json_object *val)
{
	const char *sep = "";

	printf("%s:", key);
	if (!json_object_is_type(val, json_type_object)) {
		printf(" %s\n", cli_value_str(val));
		return;
	}
	json_object_object_foreach(val, k, v) {
		printf("%s %s=%s", sep, k, cli_value_str(v));
		sep = ",";
	}
	putchar('\n');
}

static void print_known(struct json_object *st)
{
	struct json_object *m;
	uint64_t v;
	char hb[32];

	if (json_object_object_get_ex(st, "role", &m))
		printf("role: %s\n", cli_value_str(m));
	if (json_object_object_get_ex(st, "state", &m))
		printf("state: %s\n", cli_value_str(m));
	if (cli_get_u64(st, "checkpoints", &v))
		printf("checkpoints: %" PRIu64 "\n", v);
	/* Either a nested object or flat last_* fields. */
	if (json_object_object_get_ex(st, "last_checkpoint", &m) &&
	    json_object_is_type(m, json_type_object))
		print_last(m, "");
	else
		print_last(st, "last_");
	if (cli_get_u64(st, "ram_bytes", &v))
		printf("ram_bytes: %" PRIu64 " (%s)\n", v,
		       cli_human_bytes(hb, sizeof(hb), v));
	if (cli_get_u64(st, "mismatches", &v))
		printf("mismatches: %" PRIu64 "\n", v);
}

int status_main(const struct cli *cli, int argc, char *argv[])
{
	struct json_object *st;
	bool json = false;
	int rc;

	if (argc == 2 && !strcmp(argv[1], "--watch")) {
		struct cli_stream ev;

		cli_catch_interrupt();
		if (cli_subscribe(cli, &ev))
			return CLI_EXIT_FAIL;
		rc = cli_watch_sync(cli, &ev);
		cli_stream_close(&ev);
		return rc;
	}
	if (argc == 2 && !strcmp(argv[1], "--json"))
		json = true;
	else if (argc != 1)
		return cli_usage_error("status: unexpected argument %s",
				       argv[argc - 1]);
	rc = cli_call(cli, "status", NULL, &st);
	if (rc)
		return rc;
	if (json) {
		printf("%s\n", cli_value_str(st));
	} else {
		print_known(st);
		json_object_object_foreach(st, key, val)
			if (!is_known(key))
				print_other(key, val);
	}
	json_object_put(st);
	return CLI_EXIT_OK;
}
