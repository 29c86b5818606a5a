// SPDX-License-Identifier: MIT
/* colo-secondary: command line. Bad flags stop start-up with a one-line reason. */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dirtylog.h"
#include "log.h"
#include "secondary.h"
#include "tunables.h"

/* --tls-authz may repeat; a pair has few members. */
#define MAX_AUTHZ 32

static const char usage[] =
	"usage: colo-secondary --listen HOST:PORT --service HOST:PORT\n"
	"                      --control PATH --guest PATH\n"
	"                      (--tls-creds DIR [--tls-authz ID]... | --insecure)\n"
	"                      [--takeover-requires-fence CMD] [--verbose]\n"
	"                      [--guest-arg ARG]... [--metrics ADDR:PORT]\n"
	"                      [TUNABLE]...\n"
	"       colo-secondary ... [TUNABLE]... --exec-port PORT\n"
	"                      --exec PROGRAM [ARGS...]\n"
	"  --exec: the SVM is an unmodified program, started as the primary's\n"
	"  (the same PROGRAM and ARGS, an absolute path); it takes the rest of\n"
	"  the command line, so it comes last\n"
	"tunables (all but heartbeat-ms and failover-timeout-ms serve as\n"
	"primary after a takeover, until a checkpoint brings the old\n"
	"primary's values):\n";

/* A tunable's getopt value is OPT_TUNABLE + its id. */
enum { OPT_LISTEN = 256, OPT_SERVICE, OPT_CONTROL, OPT_GUEST, OPT_TLS,
       OPT_INSECURE, OPT_VERBOSE, OPT_HELP, OPT_FENCE, OPT_TLS_AUTHZ,
       OPT_GUEST_ARG, OPT_EXEC, OPT_EXEC_PORT, OPT_METRICS,
       OPT_TUNABLE = 512 };

/* The tunables' entries follow these (see main). */
static const struct option fixed_options[] = {
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "service", required_argument, NULL, OPT_SERVICE },
	{ "control", required_argument, NULL, OPT_CONTROL },
	{ "guest", required_argument, NULL, OPT_GUEST },
	{ "guest-arg", required_argument, NULL, OPT_GUEST_ARG },
	{ "exec", required_argument, NULL, OPT_EXEC },
	{ "exec-port", required_argument, NULL, OPT_EXEC_PORT },
	{ "tls-creds", required_argument, NULL, OPT_TLS },
	{ "tls-authz", required_argument, NULL, OPT_TLS_AUTHZ },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "metrics", required_argument, NULL, OPT_METRICS },
	{ "takeover-requires-fence", required_argument, NULL, OPT_FENCE },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "help", no_argument, NULL, OPT_HELP },
};
#define NFIXED (sizeof(fixed_options) / sizeof(fixed_options[0]))

static int die(const char *msg)
{
	fprintf(stderr, "colo-secondary: %s\n", msg);
	return 2;
}

/* 0, or the port's value; a bad one is reported by the caller. */
static int port_of(const char *arg)
{
	char *end;
	long v;

	v = strtol(arg, &end, 10);
	if (!*arg || *end || v < 1 || v > 65535)
		return 0;
	return (int)v;
}

/* --exec and what it excludes or needs, once every flag is in; NULL: fine. */
static const char *check_exec(const struct secondary_opts *o, size_t ngargs)
{
	if (o->exec_port && !o->exec)
		return "--exec-port: only with --exec PROGRAM [ARGS...]";
	if (!o->exec)
		return NULL;
	if (ngargs)
		return "--guest-arg: with --exec, the program's arguments "
		       "follow it";
	if (o->guest[0] != '/')
		return "--exec: PROGRAM must be an absolute path";
	if (!o->exec_port)
		return "--exec-port PORT is required with --exec";
	return NULL;
}

/* --metrics ADDR:PORT, checked now; whether it can listen, at start. */
static bool metrics_flag_ok(const char *arg, char *why, size_t whylen)
{
	char host[256], port[16];

	if (config_parse_hostport(arg, host, sizeof(host), port,
				  sizeof(port)) == 0)
		return true;
	snprintf(why, whylen, "--metrics: '%s' is not ADDR:PORT (port "
		 "1-65535, [v6]:port for IPv6)", arg);
	return false;
}

static void print_usage(FILE *f)
{
	fputs(usage, f);
	tunables_print_help(f, TUNABLE_SECONDARY);
}

int main(int argc, char **argv)
{
	struct secondary_opts o = { 0 };
	const struct tunable *t;
	const char *authz[MAX_AUTHZ];
	uint64_t v;
	enum log_level level = LOG_LVL_INFO;
	/* --guest-arg's in order, NULL-ended: never more than our own
	 * arguments. On the stack, so every early return is leak-free. */
	const char *gargs[argc + 1];
	size_t ngargs = 0;
	struct option options[NFIXED + TUNABLE__MAX + 1];
	char why[320];
	size_t nopt;
	int c, ret;

	memcpy(options, fixed_options, sizeof(fixed_options));
	nopt = NFIXED + tunables_options(TUNABLE_SECONDARY, OPT_TUNABLE,
					 options + NFIXED);
	memset(&options[nopt], 0, sizeof(options[nopt]));
	memset(gargs, 0, sizeof(gargs));
	o.guest_args = gargs;
	o.tls_authz = authz;
	/* The table's defaults, the same a primary starts from. */
	tunables_carried_defaults(&o.tunables);

	/* "+": no reordering, so that nothing after --exec PROGRAM (its own
	 * arguments) is taken for ours. */
	while (!o.exec &&
	       (c = getopt_long(argc, argv, "+", options, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN: o.listen = optarg; break;
		case OPT_SERVICE: o.service = optarg; break;
		case OPT_CONTROL: o.control = optarg; break;
		case OPT_GUEST:
			if (o.guest)
				return die("--guest and --exec exclude each "
					   "other");
			o.guest = optarg;
			break;
		case OPT_EXEC:
			if (o.guest)
				return die("--exec and --guest exclude each "
					   "other");
			o.exec = true;
			o.guest = optarg;
			/* argv ends with NULL: the rest is the program's. */
			o.guest_args = (const char *const *)&argv[optind];
			break;
		case OPT_EXEC_PORT:
			c = port_of(optarg);
			if (!c)
				return die("--exec-port: not a TCP port "
					   "(1-65535)");
			o.exec_port = (uint16_t)c;
			break;
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
		case OPT_METRICS:
			if (!metrics_flag_ok(optarg, why, sizeof(why)))
				return die(why);
			o.metrics = optarg;
			break;
		case OPT_FENCE:
			if (!*optarg)
				return die("--takeover-requires-fence: empty "
					   "command");
			o.fence_cmd = optarg;
			break;
		case OPT_VERBOSE: level = LOG_LVL_DEBUG; break;
		case OPT_HELP: print_usage(stdout); return 0;
		default:
			if (c < OPT_TUNABLE ||
			    c >= OPT_TUNABLE + TUNABLE__MAX) {
				print_usage(stderr);
				return 2;
			}
			t = &tunables[c - OPT_TUNABLE];
			if (tunable_parse(t, optarg, &v, why, sizeof(why)))
				return die(why);
			tunables_put(&o.tunables, tunable_id(t), v);
		}
	}
	if (!o.exec && optind < argc)
		return die("unexpected argument");
	if (!o.listen)
		return die("--listen HOST:PORT is required");
	if (!o.service)
		return die("--service HOST:PORT is required");
	if (!o.control)
		return die("--control PATH is required");
	if (!o.guest)
		return die("--guest PATH (or --exec PROGRAM [ARGS...]) is "
			   "required");
	if (check_exec(&o, ngargs))
		return die(check_exec(&o, ngargs));
	if (o.tunables.failover_timeout_ms <= o.tunables.heartbeat_ms)
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
