// SPDX-License-Identifier: MIT
/*
 * colo-ctl protect HOST:PORT: have a primary (the original or a promoted
 * secondary) dial that secondary and live-sync it. The daemon answers at
 * once ("syncing"); `status` says "colo" when protection is established.
 */
#include "client.h"
#include "subcommands.h"

#include <json-c/json.h>
#include <string.h>

int protect_main(const struct cli *cli, int argc, char *argv[])
{
	struct json_object *args, *r;
	int rc;

	if (argc != 2 || !strchr(argv[1], ':'))
		return cli_usage_error("protect takes one HOST:PORT, the secondary's --listen address");
	args = json_object_new_object();
	json_object_object_add(args, "secondary",
			       json_object_new_string(argv[1]));
	rc = cli_call(cli, "protect", args, &r);
	if (rc)
		return rc;
	if (!json_object_object_length(r))
		printf("protect: dialling %s\n", argv[1]);
	json_object_object_foreach(r, key, val)
		printf("%s: %s\n", key, cli_value_str(val));
	json_object_put(r);
	return CLI_EXIT_OK;
}
