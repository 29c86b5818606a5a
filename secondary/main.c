// SPDX-License-Identifier: MIT
/* colo-secondary: command line. Bad flags stop start-up with a one-line reason. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "secondary.h"

static const char usage[] =
	"usage: colo-secondary --listen HOST:PORT --service HOST:PORT\n"
	"                      --control PATH --guest PATH\n"
	"                      (--tls-creds DIR | --insecure) [--verbose]\n";

enum { OPT_LISTEN = 256, OPT_SERVICE, OPT_CONTROL, OPT_GUEST, OPT_TLS,
       OPT_INSECURE, OPT_VERBOSE, OPT_HELP };

static const struct option options[] = {
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "service", required_argument, NULL, OPT_SERVICE },
	{ "control", required_argument, NULL, OPT_CONTROL },
	{ "guest", required_argument, NULL, OPT_GUEST },
	{ "tls-creds", required_argument, NULL, OPT_TLS },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static int die(const char *msg)
{
	fprintf(stderr, "colo-secondary: %s\n", msg);
	return 2;
}

int main(int argc, char **argv)
{
	struct secondary_opts o = { 0 };
	enum log_level level = LOG_LVL_INFO;
	int c;

	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN: o.listen = optarg; break;
		case OPT_SERVICE: o.service = optarg; break;
		case OPT_CONTROL: o.control = optarg; break;
		case OPT_GUEST: o.guest = optarg; break;
		case OPT_TLS: o.tls_creds = optarg; break;
		case OPT_INSECURE: o.insecure = true; break;
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
	if (o.tls_creds && o.insecure)
		return die("--tls-creds and --insecure exclude each other");
	if (!o.tls_creds && !o.insecure)
		return die("--tls-creds DIR is required (or --insecure for "
			   "plain TCP)");
	log_init("colo-secondary", level);
	return secondary_run(&o) < 0 ? 1 : 0;
}
