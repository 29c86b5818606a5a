// SPDX-License-Identifier: MIT
/*
 * colo-ctl config [--json]: the configuration the daemon started with, as
 * the INI its --print-config prints (the daemon renders it, so the two
 * cannot differ), or with --json each setting and where it came from.
 */
#include "client.h"
#include "subcommands.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

int config_main(const struct cli *cli, int argc, char *argv[])
{
	struct json_object *r, *ini;
	bool json = false;
	int rc;

	if (argc == 2 && !strcmp(argv[1], "--json"))
		json = true;
	else if (argc != 1)
		return cli_usage_error("config: unexpected argument %s",
				       argv[argc - 1]);
	rc = cli_call(cli, "query-config", NULL, &r);
	if (rc)
		return rc;
	if (json) {
		printf("%s\n", json_object_to_json_string_ext(
			       r, JSON_C_TO_STRING_PRETTY |
			       JSON_C_TO_STRING_NOSLASHESCAPE));
	} else if (json_object_object_get_ex(r, "ini", &ini) &&
		   json_object_is_type(ini, json_type_string)) {
		fputs(json_object_get_string(ini), stdout);
	} else {
		fprintf(stderr, "colo-ctl: config: the reply has no 'ini'\n");
		rc = CLI_EXIT_FAIL;
	}
	json_object_put(r);
	return rc;
}
