// SPDX-License-Identifier: MIT
/*
 * colo-ctl protect [--wait] HOST:PORT: have a primary (the original or a
 * promoted secondary) dial that secondary and live-sync it. The daemon
 * answers at once ("syncing"); `status` says "colo" when protection is
 * established. With --wait we subscribe to the events first (so the end
 * cannot slip by), then follow the sync to its end (watch.c).
 */
#include "client.h"
#include "subcommands.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

int protect_main(const struct cli *cli, int argc, char *argv[])
{
	struct json_object *args, *r;
	struct cli_stream ev;
	bool wait = argc == 3 && !strcmp(argv[1], "--wait");
	const char *addr = argv[argc - 1];
	int rc;

	if ((argc != 2 && !wait) || !strchr(addr, ':'))
		return cli_usage_error("protect takes [--wait] and one HOST:PORT, the secondary's --listen address");
	if (wait) {
		cli_catch_interrupt();
		if (cli_subscribe(cli, &ev))
			return CLI_EXIT_FAIL;
	}
	args = json_object_new_object();
	json_object_object_add(args, "secondary",
			       json_object_new_string(addr));
	rc = cli_call(cli, "protect", args, &r);
	if (rc) {
		if (wait)
			cli_stream_close(&ev);
		return rc;
	}
	if (!json_object_object_length(r))
		printf("protect: dialling %s\n", addr);
	json_object_object_foreach(r, key, val)
		printf("%s: %s\n", key, cli_value_str(val));
	json_object_put(r);
	if (!wait)
		return CLI_EXIT_OK;
	fflush(stdout);
	rc = cli_watch_sync(cli, &ev);
	cli_stream_close(&ev);
	return rc;
}
