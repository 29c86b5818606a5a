/* SPDX-License-Identifier: MIT */
/*
 * colo-ctl's subcommands, one file each. Each gets its own name in argv[0]
 * and returns the process exit code: 0 done, 1 failed (already said why on
 * stderr), 2 bad usage.
 */
#ifndef COLO_CTL_SUBCOMMANDS_H
#define COLO_CTL_SUBCOMMANDS_H

#include <stdbool.h>
#include <stdio.h>

struct cli;

/* Print "colo-ctl: REASON" and the usage to stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
void cli_print_usage(FILE *stream);

int status_main(const struct cli *cli, int argc, char *argv[]);
int checkpoint_main(const struct cli *cli, int argc, char *argv[]);
int verify_main(const struct cli *cli, int argc, char *argv[]);
int set_main(const struct cli *cli, int argc, char *argv[]);
int failover_main(const struct cli *cli, int argc, char *argv[]);
int drop_fenced_main(const struct cli *cli, int argc, char *argv[]);
int protect_main(const struct cli *cli, int argc, char *argv[]);
int config_main(const struct cli *cli, int argc, char *argv[]);
int events_main(const struct cli *cli, int argc, char *argv[]);
int help_main(const struct cli *cli, int argc, char *argv[]);

struct cli_stream;
/* watch.c: wait on ev (subscribed) until the pair is protected, showing
 * live sync's progress: CLI_EXIT_OK in colo, CLI_EXIT_FAIL (reason said)
 * when live sync failed, nothing is going to sync, or on SIGINT. */
int cli_watch_sync(const struct cli *cli, struct cli_stream *ev);
/* SIGINT and SIGTERM end waits (poll gets EINTR) instead of the process. */
void cli_catch_interrupt(void);
bool cli_interrupted(void);

#endif
