// SPDX-License-Identifier: MIT
/* colo-secondary: command line. Bad flags stop start-up with a one-line reason. */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dirtylog.h"
#include "log.h"
#include "primary.h"
#include "ram-save.h"
#include "secondary.h"

/* --tls-authz may repeat; a pair has few members. */
#define MAX_AUTHZ 32

static const char usage[] =
	"usage: colo-secondary --listen HOST:PORT --service HOST:PORT\n"
	"                      --control PATH --guest PATH\n"
	"                      (--tls-creds DIR [--tls-authz ID]... | --insecure)\n"
	"                      [--heartbeat-ms MS] [--failover-timeout-ms MS]\n"
	"                      [--takeover-requires-fence CMD] [--verbose]\n"
	"                      [--guest-arg ARG]...\n"
	"  as primary after a takeover, until a checkpoint brings the old\n"
	"  primary's values: [--checkpoint-delay MS] [--compare-timeout MS]\n"
	"                    [--max-wait MS] [--clear-bitmap-shift N]\n";

enum { OPT_LISTEN = 256, OPT_SERVICE, OPT_CONTROL, OPT_GUEST, OPT_TLS,
       OPT_INSECURE, OPT_VERBOSE, OPT_HELP, OPT_HB, OPT_FOTIMEOUT,
       OPT_FENCE, OPT_DELAY, OPT_TIMEOUT, OPT_MAXWAIT, OPT_SHIFT,
       OPT_TLS_AUTHZ, OPT_GUEST_ARG };

static const struct option options[] = {
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "service", required_argument, NULL, OPT_SERVICE },
	{ "control", required_argument, NULL, OPT_CONTROL },
	{ "guest", required_argument, NULL, OPT_GUEST },
	{ "guest-arg", required_argument, NULL, OPT_GUEST_ARG },
	{ "tls-creds", required_argument, NULL, OPT_TLS },
	{ "tls-authz", required_argument, NULL, OPT_TLS_AUTHZ },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "heartbeat-ms", required_argument, NULL, OPT_HB },
	{ "failover-timeout-ms", required_argument, NULL, OPT_FOTIMEOUT },
	{ "takeover-requires-fence", required_argument, NULL, OPT_FENCE },
	{ "checkpoint-delay", required_argument, NULL, OPT_DELAY },
	{ "compare-timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "max-wait", required_argument, NULL, OPT_MAXWAIT },
	{ "clear-bitmap-shift", required_argument, NULL, OPT_SHIFT },
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
	struct primary_opts d;
	struct secondary_opts o = { 0 };
	const char *authz[MAX_AUTHZ];
	uint64_t v;
	enum log_level level = LOG_LVL_INFO;
	/* --guest-arg's in order, NULL-ended: never more than our own
	 * arguments. On the stack, so every early return is leak-free. */
	const char *gargs[argc + 1];
	size_t ngargs = 0;
	char why[320];
	int c, ret;

	memset(gargs, 0, sizeof(gargs));
	o.guest_args = gargs;

	/* One set of defaults: the primary's. */
	primary_opts_defaults(&d);
	o.tls_authz = authz;
	o.heartbeat_ms = d.heartbeat_ms;
	o.failover_timeout_ms = d.failover_timeout_ms;
	o.checkpoint_delay_ms = d.checkpoint_delay_ms;
	o.compare_timeout_ms = d.compare_timeout_ms;
	o.max_wait_ms = d.max_wait_ms;
	o.clear_bitmap_shift = d.clear_bitmap_shift;

	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN: o.listen = optarg; break;
		case OPT_SERVICE: o.service = optarg; break;
		case OPT_CONTROL: o.control = optarg; break;
		case OPT_GUEST: o.guest = optarg; break;
		case OPT_GUEST_ARG: gargs[ngargs++] = optarg; break;
		case OPT_TLS: o.tls_creds = optarg; break;
		case OPT_TLS_AUTHZ:
			if (!*optarg)
				return die("--tls-authz: empty identity");
			if (o.ntls_authz == MAX_AUTHZ)
				return die("--tls-authz: too many identities");
			authz[o.ntls_authz++] = optarg;
			break;
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
		case OPT_DELAY:
			if (parse_ms(optarg, &o.checkpoint_delay_ms))
				return die("--checkpoint-delay: not a time in "
					   "ms (1..86400000)");
			break;
		case OPT_TIMEOUT:
			if (parse_ms(optarg, &o.compare_timeout_ms))
				return die("--compare-timeout: not a time in "
					   "ms (1..86400000)");
			break;
		case OPT_MAXWAIT:
			if (parse_ms(optarg, &o.max_wait_ms))
				return die("--max-wait: not a time in ms "
					   "(1..86400000)");
			break;
		case OPT_SHIFT:
			if (config_parse_u64(optarg, CLEAR_BITMAP_SHIFT_MIN,
					     CLEAR_BITMAP_SHIFT_MAX, &v))
				return die("--clear-bitmap-shift: not in 6..31");
			o.clear_bitmap_shift = (unsigned)v;
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
	if (o.insecure && o.ntls_authz)
		return die("--tls-authz needs TLS, not --insecure");
	if (!o.tls_creds && !o.insecure)
		return die("--tls-creds DIR is required (or --insecure for "
			   "plain TCP)");
	log_init("colo-secondary", level);
	/* Say it now, in one line, rather than when the first guest starts. */
	if (dirtylog_probe(why, sizeof(why)) < 0) {
		log_error("%s", why);
		return 1;
	}
	ret = secondary_run(&o);
	return ret < 0 ? 1 : 0;
}
