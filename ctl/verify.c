// SPDX-License-Identifier: MIT
/*
 * colo-ctl verify: ask the daemon to compare PVM and SVM memory. Exits 0
 * when identical and 1 when not, so scripts can use it as a check. A
 * difference is listed one chunk a line, "block B: 0xOFFSET +0xLENGTH",
 * the offset within RAM block B.
 */
#include "client.h"
#include "subcommands.h"

#include <inttypes.h>
#include <json-c/json.h>

static int print_ranges(struct json_object *diff)
{
	size_t i, n = diff ? json_object_array_length(diff) : 0;

	printf("differ: %zu range%s\n", n, n == 1 ? "" : "s");
	for (i = 0; i < n; i++) {
		struct json_object *rg = json_object_array_get_idx(diff, i);
		uint64_t block, start = 0, len = 0;

		/* Offsets are within a block: name it when the reply does. */
		if (cli_get_u64(rg, "block", &block))
			printf("block %" PRIu64 ": ", block);
		cli_get_u64(rg, "start", &start);
		cli_get_u64(rg, "length", &len);
		printf("0x%" PRIx64 " +0x%" PRIx64 "\n", start, len);
	}
	return CLI_EXIT_FAIL;
}

int verify_main(const struct cli *cli, int argc, char *argv[])
{
	struct json_object *r, *same, *diff = NULL;
	int rc;

	(void)argv;
	if (argc != 1)
		return cli_usage_error("verify takes no arguments");
	rc = cli_call(cli, "verify", NULL, &r);
	if (rc)
		return rc;
	if (!json_object_object_get_ex(r, "identical", &same) ||
	    !json_object_is_type(same, json_type_boolean)) {
		fprintf(stderr, "colo-ctl: verify: reply lacks 'identical'\n");
		rc = CLI_EXIT_FAIL;
	} else if (json_object_get_boolean(same)) {
		printf("identical\n");
		rc = CLI_EXIT_OK;
	} else {
		json_object_object_get_ex(r, "differing", &diff);
		if (diff && !json_object_is_type(diff, json_type_array))
			diff = NULL;
		rc = print_ranges(diff);
	}
	json_object_put(r);
	return rc;
}
