// SPDX-License-Identifier: MIT
/* The daemons' shared refusals of a flag or config value (daemon-args.h). */
#include "daemon-args.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

static const char *daemon_name = "colo";

void args_init(const char *daemon)
{
	daemon_name = daemon;
}

void args_die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s%s: ", log_early_error_prefix(), daemon_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(2);
}

bool args_transport(const char *where, const char *arg)
{
	if (!strcmp(arg, "tls"))
		return false;
	if (!strcmp(arg, "rdma"))
		return true;
	args_die("%s: '%s' is not a transport (tls or rdma)", where, arg);
}

void args_check_rdma(bool rdma, bool built)
{
	if (rdma && (!built || getenv("COLO_TEST_FAKE_NO_RDMA")))
		args_die("--transport rdma: this build has no RDMA (it was "
			 "built without librdmacm and libibverbs)");
}

uint16_t args_port(const char *where, const char *arg)
{
	uint64_t v;

	/* config_parse_u64 takes digits only: no sign, no space. */
	if (config_parse_u64(arg, 1, 65535, &v) < 0)
		args_die("%s: '%s' is not a TCP port (1-65535)", where, arg);
	return (uint16_t)v;
}

const char *args_hostport(const char *where, const char *arg)
{
	char host[256], port[16];

	if (config_parse_hostport(arg, host, sizeof(host), port,
				  sizeof(port)) < 0)
		args_die("%s: '%s' is not ADDR:PORT (port 1-65535, [v6]:port "
			 "for IPv6)", where, arg);
	return arg;
}

const char *args_program(const char *where, const char *name)
{
	static char path[4096];
	int ret = config_find_program(name, path, sizeof(path));

	if (ret == -ENOENT)
		args_die("%s: '%s' %s", where, name, strchr(name, '/') ?
			 "does not exist" : "is not in PATH");
	if (ret == -EACCES)
		args_die("%s: '%s' is not an executable file", where, name);
	if (ret < 0)
		args_die("%s: '%s': %s", where, name, strerror(-ret));
	return path;
}

void args_check_exec(bool exec, uint16_t exec_port, size_t nguest_args)
{
	if (exec_port && !exec)
		args_die("--exec-port: only with --exec PROGRAM [ARGS...]");
	if (!exec)
		return;
	if (nguest_args)
		args_die("--guest-arg: with --exec, the program's arguments "
			 "follow it");
	if (!exec_port)
		args_die("--exec-port PORT is required with --exec");
}
