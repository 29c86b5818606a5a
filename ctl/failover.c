// SPDX-License-Identifier: MIT
/*
 * colo-ctl failover | drop-fenced: the two decisions an operator takes over
 * a pair's copies; each asks the daemon and prints what it says.
 */
#include "client.h"
#include "subcommands.h"

#include <json-c/json.h>

static int call_and_print(const struct cli *cli, int argc, const char *cmd)
{
	struct json_object *r;
	int rc;

	if (argc != 1)
		return cli_usage_error("%s takes no arguments", cmd);
	rc = cli_call(cli, cmd, NULL, &r);
	if (rc)
		return rc;
	if (!json_object_object_length(r))
		printf("%s: ok\n", cmd);
	json_object_object_foreach(r, key, val)
		printf("%s: %s\n", key, cli_value_str(val));
	json_object_put(r);
	return CLI_EXIT_OK;
}

int failover_main(const struct cli *cli, int argc, char *argv[])
{
	(void)argv;
	return call_and_print(cli, argc, "failover");
}

int drop_fenced_main(const struct cli *cli, int argc, char *argv[])
{
	(void)argv;
	return call_and_print(cli, argc, "drop-fenced");
}
