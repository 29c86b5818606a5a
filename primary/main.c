// SPDX-License-Identifier: MIT
/* colo-primary: command line and config file. A bad flag or key stops
 * start-up with a one-line reason. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf-file.h"
#include "daemon-args.h"
#include "dirtylog.h"
#include "log.h"
#include "primary.h"
#include "tunables.h"
#include "xport-rdma.h"

/* --tls-authz may repeat; a pair has few members. */
#define MAX_AUTHZ 32
/* Read when there and no --config is given. */
#define DEFAULT_CONFIG "/etc/colo/primary.conf"

static const char usage[] =
	"usage: colo-primary [--config PATH] [--print-config]\n"
	"                    --service HOST:PORT --control PATH --guest PATH\n"
	"                    [--secondary HOST:PORT]\n"
	"                    (--tls-creds DIR [--tls-hostname NAME]\n"
	"                     [--tls-authz ID]... | --insecure)\n"
	"                    [--transport tls|rdma]\n"
	"                    [--guest-arg ARG]... [--metrics ADDR:PORT]\n"
	"                    [--verbose] [TUNABLE]...\n"
	"       colo-primary --service HOST:PORT --control PATH [--verbose]\n"
	"                    [TUNABLE]... --exec-port PORT\n"
	"                    --exec PROGRAM [ARGS...]\n"
	"  --exec runs an unmodified program (found in PATH) that listens\n"
	"  on --exec-port; it takes the rest of the command line, so it comes\n"
	"  last. The secondary runs the same PROGRAM and ARGS with --exec.\n"
	"  --config PATH: an INI file, keys under [primary] named as the flags\n"
	"  (default " DEFAULT_CONFIG ", if there); flags override it.\n"
	"  --print-config: print the configuration as such a file, and exit.\n"
	"tunables:\n";

/* A tunable's getopt value is OPT_TUNABLE + its id. */
enum { OPT_SERVICE = 256, OPT_CONTROL, OPT_GUEST, OPT_SECONDARY,
       OPT_TLS, OPT_INSECURE, OPT_VERBOSE, OPT_HELP, OPT_TLS_HOST,
       OPT_TLS_AUTHZ, OPT_GUEST_ARG, OPT_EXEC, OPT_EXEC_PORT,
       OPT_CONFIG, OPT_PRINT_CONFIG, OPT_METRICS, OPT_TRANSPORT,
       OPT_TUNABLE = 512 };

/* The tunables' entries follow these (see main). Each is also a key of
 * the config file (conf-file.h), but config, print-config and help. */
static const struct option fixed_options[] = {
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "print-config", no_argument, NULL, OPT_PRINT_CONFIG },
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
	{ "transport", required_argument, NULL, OPT_TRANSPORT },
	{ "metrics", required_argument, NULL, OPT_METRICS },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "help", no_argument, NULL, OPT_HELP },
};
#define NFIXED (sizeof(fixed_options) / sizeof(fixed_options[0]))

/* The keys that may be given again, each time one more value. */
static const char *const repeatable[] = { "guest-arg", "tls-authz", NULL };

static void print_usage(FILE *f)
{
	fputs(usage, f);
	tunables_print_help(f, TUNABLE_PRIMARY);
}

/* Where the repeatable flags' values go. */
struct lists {
	const char **authz;     /* MAX_AUTHZ */
	const char **gargs;     /* room for every entry */
	size_t ngargs;
	enum log_level level;
};

/* One flag, or one key of the file: where names it in an error. */
static void apply(struct primary_opts *o, struct lists *l,
		  const struct conf_entry *e)
{
	const char *arg = e->value;
	char where[320], why[512];
	uint64_t v;
	int id;

	conf_where(e, where, sizeof(where));
	switch (e->opt->val) {
	case OPT_SERVICE: o->service = arg; break;
	case OPT_CONTROL: o->control = arg; break;
	case OPT_GUEST:
		if (o->guest)
			args_die("%s and --exec exclude each other", where);
		o->guest = arg;
		break;
	case OPT_EXEC:
		if (o->guest)
			args_die("%s and --guest exclude each other", where);
		o->exec = true;
		o->guest = args_program(where, arg);
		o->guest_args = e->rest;
		break;
	case OPT_EXEC_PORT: o->exec_port = args_port(where, arg); break;
	case OPT_GUEST_ARG: l->gargs[l->ngargs++] = arg; break;
	case OPT_SECONDARY: o->secondary = arg; break;
	case OPT_TLS: o->tls_creds = arg; break;
	case OPT_TLS_HOST:
		if (!*arg)
			args_die("%s: empty name", where);
		o->tls_hostname = arg;
		break;
	case OPT_TLS_AUTHZ:
		if (!*arg)
			args_die("%s: empty identity", where);
		if (o->ntls_authz == MAX_AUTHZ)
			args_die("%s: more than %d identities", where, MAX_AUTHZ);
		l->authz[o->ntls_authz++] = arg;
		break;
	case OPT_INSECURE: o->insecure = true; break;
	case OPT_TRANSPORT: o->rdma = args_transport(where, arg); break;
	case OPT_METRICS: o->metrics = args_hostport(where, arg); break;
	case OPT_VERBOSE: l->level = LOG_LVL_DEBUG; break;
	default:
		id = e->opt->val - OPT_TUNABLE;
		if (id < 0 || id >= TUNABLE__MAX)
			args_die("%s: not a setting", where);
		if (tunable_parse_as(&tunables[id], arg, where, &v, why,
				     sizeof(why)))
			args_die("%s", why);
		primary_opts_set(o, (enum tunable_id)id, v);
	}
}

int main(int argc, char **argv)
{
	struct primary_opts o;
	const char *authz[MAX_AUTHZ];
	struct lists l = { .authz = authz, .level = LOG_LVL_INFO };
	struct option options[NFIXED + TUNABLE__MAX + 1];
	const struct conf_spec spec = {
		.daemon = "colo-primary", .section = "primary",
		.default_path = DEFAULT_CONFIG, .options = options,
		.repeatable = repeatable, .rest_option = "exec",
	};
	struct conf conf;
	char why[640];
	size_t nopt, i;
	char *ini;
	int ret;

	args_init("colo-primary");

	memcpy(options, fixed_options, sizeof(fixed_options));
	nopt = NFIXED + tunables_options(TUNABLE_PRIMARY, OPT_TUNABLE,
					 options + NFIXED);
	memset(&options[nopt], 0, sizeof(options[nopt]));
	conf_init(&conf, &spec);
	ret = conf_parse_args(&conf, argc, argv, why, sizeof(why));
	if (ret == CONF_USAGE) {
		print_usage(stderr);
		return 2;
	}
	if (ret < 0)
		args_die("%s", why);
	if (conf.help) {
		print_usage(stdout);
		return 0;
	}
	if (conf_read_file(&conf, why, sizeof(why)) < 0)
		args_die("%s", why);

	/* --guest-arg's in order, NULL-ended: never more than the entries.
	 * On the stack, so every early return is leak-free. */
	const char *gargs[conf.entries.n + 1];

	memset(gargs, 0, sizeof(gargs));
	l.gargs = gargs;
	primary_opts_defaults(&o);
	o.tls_authz = authz;
	o.guest_args = gargs;
	for (i = 0; i < conf.entries.n; i++)
		apply(&o, &l, &conf.entries.v[i]);
	if (!o.service)
		args_die("--service HOST:PORT is required");
	if (!o.control)
		args_die("--control PATH is required");
	if (!o.guest)
		args_die("--guest PATH (or --exec PROGRAM [ARGS...]) is required");
	args_check_exec(o.exec, o.exec_port, l.ngargs);
	if (o.failover_timeout_ms <= o.heartbeat_ms)
		args_die("--failover-timeout-ms must be longer than --heartbeat-ms");
	if (o.tls_creds && o.insecure)
		args_die("--tls-creds and --insecure exclude each other");
	if (o.insecure && (o.tls_hostname || o.ntls_authz))
		args_die("--tls-hostname and --tls-authz need TLS, not --insecure");
	if (o.secondary && !o.tls_creds && !o.insecure)
		args_die("--secondary needs --tls-creds DIR (or --insecure for "
		    "plain TCP)");
	args_check_rdma(o.rdma, xport_rdma_built());
	if (o.channels > 1 && o.rdma)
		args_die("--channels %u: RDMA places pages itself and runs one "
			 "connection; use --channels 1 with --transport rdma",
			 o.channels);
	if (o.channels > 1 && o.exec)
		args_die("--channels %u: an --exec program's live sync runs "
			 "over the one link; use --channels 1", o.channels);
	if (conf.print) {
		ini = conf_ini(&conf);
		if (!ini)
			args_die("--print-config: out of memory");
		fputs(ini, stdout);
		free(ini);
		conf_deinit(&conf);
		return 0;
	}
	o.conf = &conf;

	log_init("colo-primary", l.level);
	if (o.rdma && o.insecure)
		log_warn(ARGS_INSECURE_RDMA_WARNING);
	/* Say it now, in one line, rather than when the first guest starts. */
	if (dirtylog_probe(why, sizeof(why)) < 0) {
		log_error("%s", why);
		conf_deinit(&conf);
		return 1;
	}
	ret = primary_run(&o);
	conf_deinit(&conf);
	return ret < 0 ? 1 : 0;
}
