// SPDX-License-Identifier: MIT
/* colo-ctl failover: ask the daemon to fail over; print what it says. */
#include "client.h"
#include "subcommands.h"

#include <json-c/json.h>

int failover_main(const struct cli *cli, int argc, char *argv[])
{
	struct json_object *r;
	int rc;

	(void)argv;
	if (argc != 1)
		return cli_usage_error("failover takes no arguments");
	rc = cli_call(cli, "failover", NULL, &r);
	if (rc)
		return rc;
	if (!json_object_object_length(r))
		printf("failover: ok\n");
	json_object_object_foreach(r, key, val)
		printf("%s: %s\n", key, cli_value_str(val));
	json_object_put(r);
	return CLI_EXIT_OK;
}
