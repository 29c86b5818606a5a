// SPDX-License-Identifier: MIT
/* colo-ctl checkpoint: take one now and say what it cost. */
#include "client.h"
#include "subcommands.h"

#include <inttypes.h>
#include <json-c/json.h>

int checkpoint_main(const struct cli *cli, int argc, char *argv[])
{
	struct json_object *r;
	uint64_t id = 0, pages = 0, bytes = 0;
	double pause = 0;
	char hb[32];
	int rc;

	(void)argv;
	if (argc != 1)
		return cli_usage_error("checkpoint takes no arguments");
	rc = cli_call(cli, "checkpoint", NULL, &r);
	if (rc)
		return rc;
	cli_get_u64(r, "id", &id);
	cli_get_u64(r, "pages", &pages);
	cli_get_u64(r, "bytes", &bytes);
	cli_get_double(r, "pause_ms", &pause);
	printf("checkpoint %" PRIu64 ": %" PRIu64 " pages, %s, pause %.1f ms\n",
	       id, pages, cli_human_bytes(hb, sizeof(hb), bytes), pause);
	json_object_put(r);
	return CLI_EXIT_OK;
}
