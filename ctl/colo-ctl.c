// SPDX-License-Identifier: MIT
/*
 * colo-ctl: the operator's CLI over a daemon's control socket.
 *
 *   colo-ctl [-s PATH] [-t SECONDS] COMMAND [ARGS]
 *
 * The socket is -s PATH, else $COLO_CTL_SOCKET, else /run/colo/colo.sock.
 * Commands are a table, one file each, as in WireGuard's wg.
 */
#include "client.h"
#include "subcommands.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/run/colo/colo.sock"
/* Checkpoints and verify of a large guest take a while. */
#define DEFAULT_TIMEOUT_S 120

static const struct {
	const char *name;
	int (*fn)(const struct cli *cli, int argc, char *argv[]);
	const char *args;
	const char *help;
} subcommands[] = {
	{ "status", status_main, "[--json | --watch]",
	  "Show role, state and counters; --watch: follow live sync to colo" },
	{ "checkpoint", checkpoint_main, "", "Take a checkpoint now" },
	{ "verify", verify_main, "",
	  "Compare PVM and SVM memory; exit 1 if they differ" },
	{ "set", set_main, "NAME VALUE", "Change a runtime setting" },
	{ "failover", failover_main, "",
	  "Secondary: take over now (fenced or not); primary: stop "
	  "protecting and re-dialling" },
	{ "drop-fenced", drop_fenced_main, "",
	  "Secondary: discard its fenced SVM so a new primary may sync it" },
	{ "protect", protect_main, "[--wait] HOST:PORT",
	  "Live-sync a new secondary and be protected by it" },
	{ "config", config_main, "[--json]",
	  "Print the daemon's configuration (file and flags) as INI" },
	{ "events", events_main, "[--json]",
	  "Print the daemon's events as they happen, until EOF or ^C" },
	{ "help", help_main, "", "Show this message" },
};

void cli_print_usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: colo-ctl [-s PATH] [-t SECONDS] COMMAND [ARGS]\n\n"
		   "commands:\n");
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++) {
		char syn[64];

		snprintf(syn, sizeof(syn), "%s %s", subcommands[i].name,
			 subcommands[i].args);
		fprintf(f, "  %-27s %s\n", syn, subcommands[i].help);
	}
	fprintf(f, "\noptions:\n"
		   "  -s PATH     control socket (default $COLO_CTL_SOCKET, else %s)\n"
		   "  -t SECONDS  how long to wait for a reply (default %d)\n",
		DEFAULT_SOCKET, DEFAULT_TIMEOUT_S);
}

int cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("colo-ctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cli_print_usage(stderr);
	return CLI_EXIT_USAGE;
}

int help_main(const struct cli *cli, int argc, char *argv[])
{
	(void)cli;
	(void)argv;
	if (argc > 1)
		return cli_usage_error("help takes no arguments");
	cli_print_usage(stdout);
	return CLI_EXIT_OK;
}

static int parse_timeout(const char *s, int *ms)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || !(v > 0) || v > 86400)
		return -1;
	*ms = (int)(v * 1000);
	return 0;
}

int main(int argc, char *argv[])
{
	struct cli cli = {
		.socket = getenv("COLO_CTL_SOCKET"),
		.timeout_ms = DEFAULT_TIMEOUT_S * 1000,
	};
	size_t i;
	int opt;

	if (!cli.socket || !*cli.socket)
		cli.socket = DEFAULT_SOCKET;
	/* '+': stop at the command, its own options are its business. */
	while ((opt = getopt(argc, argv, "+s:t:h")) != -1) {
		switch (opt) {
		case 's':
			cli.socket = optarg;
			break;
		case 't':
			if (parse_timeout(optarg, &cli.timeout_ms) < 0)
				return cli_usage_error("bad timeout: %s",
						       optarg);
			break;
		case 'h':
			cli_print_usage(stdout);
			return CLI_EXIT_OK;
		default:
			cli_print_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return cli_usage_error("no command given");
	if (!strcmp(argv[optind], "--help"))
		return help_main(&cli, 1, argv + optind);
	/* The failover drill was a subcommand; it is the lab's now. */
	if (!strcmp(argv[optind], "drill")) {
		fputs("colo-ctl: the failover drill is its own program now: colo-drill (deploy/lab/drill, installed with -Dlab=true)\n",
		      stderr);
		return CLI_EXIT_USAGE;
	}
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (!strcmp(argv[optind], subcommands[i].name))
			return subcommands[i].fn(&cli, argc - optind,
						 argv + optind);
	return cli_usage_error("unknown command: %s", argv[optind]);
}
