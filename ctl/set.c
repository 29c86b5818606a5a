// SPDX-License-Identifier: MIT
/*
 * colo-ctl set NAME VALUE: change a runtime setting. The value goes as a
 * string; the daemon parses it as the setting's type.
 */
#include "client.h"
#include "subcommands.h"

#include <json-c/json.h>

int set_main(const struct cli *cli, int argc, char *argv[])
{
	struct json_object *args, *r, *v;
	int rc;

	if (argc != 3)
		return cli_usage_error("set needs NAME and VALUE");
	args = json_object_new_object();
	json_object_object_add(args, "name", json_object_new_string(argv[1]));
	json_object_object_add(args, "value", json_object_new_string(argv[2]));
	rc = cli_call(cli, "set", args, &r);
	if (rc)
		return rc;
	/* Show what the daemon made of it, if it says: {NAME: v}. */
	if (json_object_object_get_ex(r, argv[1], &v) ||
	    json_object_object_get_ex(r, "value", &v))
		printf("%s = %s\n", argv[1], cli_value_str(v));
	else
		printf("%s = %s\n", argv[1], argv[2]);
	json_object_put(r);
	return CLI_EXIT_OK;
}
