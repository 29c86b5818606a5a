// SPDX-License-Identifier: MIT
/* colo-secondary: command line. Bad flags stop start-up with a one-line reason. */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "dirtylog.h"
#include "log.h"
#include "secondary.h"

static const char usage[] =
	"usage: colo-secondary --listen HOST:PORT --service HOST:PORT\n"
	"                      --control PATH --guest PATH\n"
	"                      (--tls-creds DIR | --insecure)\n"
	"                      [--heartbeat-ms MS] [--failover-timeout-ms MS]\n"
	"                      [--takeover-requires-fence CMD] [--verbose]\n";

enum { OPT_LISTEN = 256, OPT_SERVICE, OPT_CONTROL, OPT_GUEST, OPT_TLS,
       OPT_INSECURE, OPT_VERBOSE, OPT_HELP, OPT_HB, OPT_FOTIMEOUT,
       OPT_FENCE };

static const struct option options[] = {
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "service", required_argument, NULL, OPT_SERVICE },
	{ "control", required_argument, NULL, OPT_CONTROL },
	{ "guest", required_argument, NULL, OPT_GUEST },
	{ "tls-creds", required_argument, NULL, OPT_TLS },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "heartbeat-ms", required_argument, NULL, OPT_HB },
	{ "failover-timeout-ms", required_argument, NULL, OPT_FOTIMEOUT },
	{ "takeover-requires-fence", required_argument, NULL, OPT_FENCE },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static int parse_ms(const char *s, unsigned *out)
{
	uint64_t v;

	if (config_parse_u64(s, 1, 86400000, &v))
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int die(const char *msg)
{
	fprintf(stderr, "colo-secondary: %s\n", msg);
	return 2;
}

int main(int argc, char **argv)
{
	struct secondary_opts o = {
		.heartbeat_ms = 200,
		.failover_timeout_ms = 1000,
	};
	enum log_level level = LOG_LVL_INFO;
	char why[320];
	int c;

	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN: o.listen = optarg; break;
		case OPT_SERVICE: o.service = optarg; break;
		case OPT_CONTROL: o.control = optarg; break;
		case OPT_GUEST: o.guest = optarg; break;
		case OPT_TLS: o.tls_creds = optarg; break;
		case OPT_INSECURE: o.insecure = true; break;
		case OPT_HB:
			if (parse_ms(optarg, &o.heartbeat_ms))
				return die("--heartbeat-ms: not a time in ms "
					   "(1..86400000)");
			break;
		case OPT_FOTIMEOUT:
			if (parse_ms(optarg, &o.failover_timeout_ms))
				return die("--failover-timeout-ms: not a time in "
					   "ms (1..86400000)");
			break;
		case OPT_FENCE:
			if (!*optarg)
				return die("--takeover-requires-fence: empty "
					   "command");
			o.fence_cmd = optarg;
			break;
		case OPT_VERBOSE: level = LOG_LVL_DEBUG; break;
		case OPT_HELP: fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind < argc)
		return die("unexpected argument");
	if (!o.listen)
		return die("--listen HOST:PORT is required");
	if (!o.service)
		return die("--service HOST:PORT is required");
	if (!o.control)
		return die("--control PATH is required");
	if (!o.guest)
		return die("--guest PATH is required");
	if (o.failover_timeout_ms <= o.heartbeat_ms)
		return die("--failover-timeout-ms must be longer than "
			   "--heartbeat-ms");
	if (o.tls_creds && o.insecure)
		return die("--tls-creds and --insecure exclude each other");
	if (!o.tls_creds && !o.insecure)
		return die("--tls-creds DIR is required (or --insecure for "
			   "plain TCP)");
	log_init("colo-secondary", level);
	/* Say it now, in one line, rather than when the first guest starts. */
	if (dirtylog_probe(why, sizeof(why)) < 0) {
		log_error("%s", why);
		return 1;
	}
	return secondary_run(&o) < 0 ? 1 : 0;
}
