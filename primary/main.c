// SPDX-License-Identifier: MIT
/* colo-primary: command line. Bad flags stop start-up with a one-line reason. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dirtylog.h"
#include "log.h"
#include "primary.h"
#include "tunables.h"

/* --tls-authz may repeat; a pair has few members. */
#define MAX_AUTHZ 32

static const char usage[] =
	"usage: colo-primary --service HOST:PORT --control PATH --guest PATH\n"
	"                    [--secondary HOST:PORT]\n"
	"                    (--tls-creds DIR [--tls-hostname NAME]\n"
	"                     [--tls-authz ID]... | --insecure)\n"
	"                    [--guest-arg ARG]... [--metrics ADDR:PORT]\n"
	"                    [--verbose] [TUNABLE]...\n"
	"       colo-primary --service HOST:PORT --control PATH [--verbose]\n"
	"                    [TUNABLE]... --exec-port PORT\n"
	"                    --exec PROGRAM [ARGS...]\n"
	"  --exec runs an unmodified program (an absolute path) that listens\n"
	"  on --exec-port; it takes the rest of the command line, so it comes\n"
	"  last. The secondary runs the same PROGRAM and ARGS with --exec.\n"
	"tunables:\n";

/* A tunable's getopt value is OPT_TUNABLE + its id. */
enum { OPT_SERVICE = 256, OPT_CONTROL, OPT_GUEST, OPT_SECONDARY,
       OPT_TLS, OPT_INSECURE, OPT_VERBOSE, OPT_HELP, OPT_TLS_HOST,
       OPT_TLS_AUTHZ, OPT_GUEST_ARG, OPT_EXEC, OPT_EXEC_PORT,
       OPT_METRICS, OPT_TUNABLE = 512 };

/* The tunables' entries follow these (see main). */
static const struct option fixed_options[] = {
	{ "service", required_argument, NULL, OPT_SERVICE },
	{ "control", required_argument, NULL, OPT_CONTROL },
	{ "guest", required_argument, NULL, OPT_GUEST },
	{ "guest-arg", required_argument, NULL, OPT_GUEST_ARG },
	{ "exec", required_argument, NULL, OPT_EXEC },
	{ "exec-port", required_argument, NULL, OPT_EXEC_PORT },
	{ "secondary", required_argument, NULL, OPT_SECONDARY },
	{ "tls-creds", required_argument, NULL, OPT_TLS },
	{ "tls-hostname", required_argument, NULL, OPT_TLS_HOST },
	{ "tls-authz", required_argument, NULL, OPT_TLS_AUTHZ },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "metrics", required_argument, NULL, OPT_METRICS },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "help", no_argument, NULL, OPT_HELP },
};
#define NFIXED (sizeof(fixed_options) / sizeof(fixed_options[0]))

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

static void print_usage(FILE *f)
{
	fputs(usage, f);
	tunables_print_help(f, TUNABLE_PRIMARY);
}

static uint16_t parse_port(const char *flag, const char *arg)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || v < 1 || v > 65535 ||
	    arg[0] == '-' || arg[0] == '+')
		die("%s: '%s' is not a TCP port (1-65535)", flag, arg);
	return (uint16_t)v;
}

/* --metrics ADDR:PORT, checked now; whether it can listen, at start. */
static const char *metrics_flag(const char *arg)
{
	char host[256], port[16];

	if (config_parse_hostport(arg, host, sizeof(host), port,
				  sizeof(port)) < 0)
		die("--metrics: '%s' is not ADDR:PORT (port 1-65535, "
		    "[v6]:port for IPv6)", arg);
	return arg;
}

/* --exec and what it excludes or needs, once every flag is in. */
static void check_exec(const struct primary_opts *o, size_t ngargs)
{
	if (o->exec_port && !o->exec)
		die("--exec-port: only with --exec PROGRAM [ARGS...]");
	if (!o->exec)
		return;
	if (ngargs)
		die("--guest-arg: with --exec, the program's arguments follow "
		    "it");
	if (o->guest[0] != '/')
		die("--exec: PROGRAM must be an absolute path, not '%s'",
		    o->guest);
	if (!o->exec_port)
		die("--exec-port PORT is required with --exec");
}

static void parse_tunable(struct primary_opts *o, enum tunable_id id,
			  const char *arg)
{
	char why[256];
	uint64_t v;

	if (tunable_parse(&tunables[id], arg, &v, why, sizeof(why)))
		die("%s", why);
	primary_opts_set(o, id, v);
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
	struct option options[NFIXED + TUNABLE__MAX + 1];
	char why[320];
	size_t nopt;
	int c, ret;

	memcpy(options, fixed_options, sizeof(fixed_options));
	nopt = NFIXED + tunables_options(TUNABLE_PRIMARY, OPT_TUNABLE,
					 options + NFIXED);
	memset(&options[nopt], 0, sizeof(options[nopt]));
	memset(gargs, 0, sizeof(gargs));
	primary_opts_defaults(&o);
	o.tls_authz = authz;
	o.guest_args = gargs;
	/* "+": no reordering, so that nothing after --exec PROGRAM (its own
	 * arguments) is taken for ours. */
	while (!o.exec &&
	       (c = getopt_long(argc, argv, "+", options, NULL)) != -1) {
		switch (c) {
		case OPT_SERVICE: o.service = optarg; break;
		case OPT_CONTROL: o.control = optarg; break;
		case OPT_GUEST:
			if (o.guest)
				die("--guest and --exec exclude each other");
			o.guest = optarg;
			break;
		case OPT_EXEC:
			if (o.guest)
				die("--exec and --guest exclude each other");
			o.exec = true;
			o.guest = optarg;
			/* argv ends with NULL: the rest is the program's. */
			o.guest_args = (const char *const *)&argv[optind];
			break;
		case OPT_EXEC_PORT:
			o.exec_port = parse_port("--exec-port", optarg);
			break;
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
		case OPT_METRICS: o.metrics = metrics_flag(optarg); break;
		case OPT_VERBOSE: level = LOG_LVL_DEBUG; break;
		case OPT_HELP: print_usage(stdout); return 0;
		default:
			if (c < OPT_TUNABLE ||
			    c >= OPT_TUNABLE + TUNABLE__MAX) {
				print_usage(stderr);
				return 2;
			}
			parse_tunable(&o, (enum tunable_id)(c - OPT_TUNABLE),
				      optarg);
		}
	}
	if (!o.exec && optind < argc)
		die("unexpected argument '%s'", argv[optind]);
	if (!o.service)
		die("--service HOST:PORT is required");
	if (!o.control)
		die("--control PATH is required");
	if (!o.guest)
		die("--guest PATH (or --exec PROGRAM [ARGS...]) is required");
	check_exec(&o, ngargs);
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
