// SPDX-License-Identifier: MIT
/* colo-primary: command line. Bad flags stop start-up with a one-line reason. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dirtylog.h"
#include "log.h"
#include "primary.h"

/* --tls-authz may repeat; a pair has few members. */
#define MAX_AUTHZ 32

static const char usage[] =
	"usage: colo-primary --service HOST:PORT --control PATH --guest PATH\n"
	"                    --ram SIZE [--secondary HOST:PORT]\n"
	"                    (--tls-creds DIR [--tls-hostname NAME]\n"
	"                     [--tls-authz ID]... | --insecure)\n"
	"                    [--checkpoint-delay MS] [--compare-timeout MS]\n"
	"                    [--max-wait MS] [--clear-bitmap-shift N]\n"
	"                    [--heartbeat-ms MS] [--failover-timeout-ms MS]\n"
	"                    [--client-output-limit SIZE] [--client-input-limit SIZE]\n"
	"                    [--max-held-output SIZE] [--max-clients N] [--verbose]\n"
	"                    [--guest-arg ARG]...\n";

enum { OPT_SERVICE = 256, OPT_CONTROL, OPT_GUEST, OPT_RAM, OPT_SECONDARY,
       OPT_TLS, OPT_INSECURE, OPT_DELAY, OPT_TIMEOUT, OPT_MAXWAIT, OPT_SHIFT,
       OPT_VERBOSE, OPT_HELP, OPT_HB, OPT_FOTIMEOUT, OPT_TLS_HOST,
       OPT_TLS_AUTHZ, OPT_OUTLIMIT, OPT_INLIMIT, OPT_HELD, OPT_MAXCLIENTS,
       OPT_GUEST_ARG };

static const struct option options[] = {
	{ "service", required_argument, NULL, OPT_SERVICE },
	{ "control", required_argument, NULL, OPT_CONTROL },
	{ "guest", required_argument, NULL, OPT_GUEST },
	{ "guest-arg", required_argument, NULL, OPT_GUEST_ARG },
	{ "ram", required_argument, NULL, OPT_RAM },
	{ "secondary", required_argument, NULL, OPT_SECONDARY },
	{ "tls-creds", required_argument, NULL, OPT_TLS },
	{ "tls-hostname", required_argument, NULL, OPT_TLS_HOST },
	{ "tls-authz", required_argument, NULL, OPT_TLS_AUTHZ },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "checkpoint-delay", required_argument, NULL, OPT_DELAY },
	{ "compare-timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "max-wait", required_argument, NULL, OPT_MAXWAIT },
	{ "clear-bitmap-shift", required_argument, NULL, OPT_SHIFT },
	{ "heartbeat-ms", required_argument, NULL, OPT_HB },
	{ "failover-timeout-ms", required_argument, NULL, OPT_FOTIMEOUT },
	{ "client-output-limit", required_argument, NULL, OPT_OUTLIMIT },
	{ "client-input-limit", required_argument, NULL, OPT_INLIMIT },
	{ "max-held-output", required_argument, NULL, OPT_HELD },
	{ "max-clients", required_argument, NULL, OPT_MAXCLIENTS },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
						    noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "colo-primary: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(2);
}

static unsigned parse_ms(const char *flag, const char *s)
{
	uint64_t v;

	if (config_parse_u64(s, 1, 86400000, &v))
		die("%s: '%s' is not a time in ms (1..86400000)", flag, s);
	return (unsigned)v;
}

/* Below 64K a single reply of the guest's could pass the limit. */
static uint64_t parse_limit(const char *flag, const char *s)
{
	uint64_t v;

	if (config_parse_size(s, &v) || v < (64 << 10))
		die("%s: '%s' is not a size of at least 64K", flag, s);
	return v;
}

int main(int argc, char **argv)
{
	struct primary_opts o;
	const char *authz[MAX_AUTHZ];
	enum log_level level = LOG_LVL_INFO;
	/* --guest-arg's in order, NULL-ended: never more than our own
	 * arguments. On the stack, so every early return is leak-free. */
	const char *gargs[argc + 1];
	size_t ngargs = 0;
	char why[320];
	uint64_t v;
	int c, ret;

	memset(gargs, 0, sizeof(gargs));
	primary_opts_defaults(&o);
	o.tls_authz = authz;
	o.guest_args = gargs;
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case OPT_SERVICE: o.service = optarg; break;
		case OPT_CONTROL: o.control = optarg; break;
		case OPT_GUEST: o.guest = optarg; break;
		case OPT_GUEST_ARG: gargs[ngargs++] = optarg; break;
		case OPT_SECONDARY: o.secondary = optarg; break;
		case OPT_TLS: o.tls_creds = optarg; break;
		case OPT_TLS_HOST:
			if (!*optarg)
				die("--tls-hostname: empty name");
			o.tls_hostname = optarg;
			break;
		case OPT_TLS_AUTHZ:
			if (!*optarg)
				die("--tls-authz: empty identity");
			if (o.ntls_authz == MAX_AUTHZ)
				die("--tls-authz: more than %d identities",
				    MAX_AUTHZ);
			authz[o.ntls_authz++] = optarg;
			break;
		case OPT_INSECURE: o.insecure = true; break;
		case OPT_RAM:
			if (config_parse_size(optarg, &o.ram_bytes) ||
			    o.ram_bytes % 4096 || o.ram_bytes < (1 << 20))
				die("--ram: '%s' is not a size of at least 1M "
				    "in whole 4K pages", optarg);
			break;
		case OPT_DELAY:
			o.checkpoint_delay_ms = parse_ms("--checkpoint-delay",
							 optarg);
			break;
		case OPT_TIMEOUT:
			o.compare_timeout_ms = parse_ms("--compare-timeout",
							optarg);
			break;
		case OPT_MAXWAIT:
			o.max_wait_ms = parse_ms("--max-wait", optarg);
			break;
		case OPT_SHIFT:
			if (config_parse_u64(optarg, 6, 31, &v))
				die("--clear-bitmap-shift: '%s' is not in 6..31",
				    optarg);
			o.clear_bitmap_shift = (unsigned)v;
			break;
		case OPT_HB:
			o.heartbeat_ms = parse_ms("--heartbeat-ms", optarg);
			break;
		case OPT_FOTIMEOUT:
			o.failover_timeout_ms = parse_ms("--failover-timeout-ms",
							 optarg);
			break;
		case OPT_OUTLIMIT:
			o.client_output_limit = parse_limit(
				"--client-output-limit", optarg);
			break;
		case OPT_INLIMIT:
			o.client_input_limit = parse_limit(
				"--client-input-limit", optarg);
			break;
		case OPT_HELD:
			o.max_held_output = parse_limit("--max-held-output",
							optarg);
			break;
		case OPT_MAXCLIENTS:
			/* The device state carries at most 65536 ids. */
			if (config_parse_u64(optarg, 1, 65536, &v))
				die("--max-clients: '%s' is not in 1..65536",
				    optarg);
			o.max_clients = (unsigned)v;
			break;
		case OPT_VERBOSE: level = LOG_LVL_DEBUG; break;
		case OPT_HELP: fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind < argc)
		die("unexpected argument '%s'", argv[optind]);
	if (!o.service)
		die("--service HOST:PORT is required");
	if (!o.control)
		die("--control PATH is required");
	if (!o.guest)
		die("--guest PATH is required");
	if (o.failover_timeout_ms <= o.heartbeat_ms)
		die("--failover-timeout-ms must be longer than --heartbeat-ms");
	if (o.tls_creds && o.insecure)
		die("--tls-creds and --insecure exclude each other");
	if (o.insecure && (o.tls_hostname || o.ntls_authz))
		die("--tls-hostname and --tls-authz need TLS, not --insecure");
	if (o.secondary && !o.tls_creds && !o.insecure)
		die("--secondary needs --tls-creds DIR (or --insecure for "
		    "plain TCP)");

	log_init("colo-primary", level);
	/* Say it now, in one line, rather than when the first guest starts. */
	if (dirtylog_probe(why, sizeof(why)) < 0) {
		log_error("%s", why);
		return 1;
	}
	ret = primary_run(&o);
	return ret < 0 ? 1 : 0;
}
