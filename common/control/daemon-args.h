/* SPDX-License-Identifier: MIT */
/*
 * The refusals both daemons' flags and config keys share: one line on
 * stderr ("colo-primary: --exec-port: '0' is not a TCP port (1-65535)",
 * with journald's <3> when stderr is its stream) and exit status 2. Where
 * a value came from ("--metrics", "/etc/colo/primary.conf:7: metrics")
 * is the caller's to say (conf-file.h's conf_where).
 *
 * For main() and the parsing it calls, before any thread exists.
 */
#ifndef COLO_DAEMON_ARGS_H
#define COLO_DAEMON_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The name every refusal starts with; not copied. */
void args_init(const char *daemon);
/* The refusal: "daemon: " fmt, then exit 2. */
_Noreturn void args_die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* A TCP port, 1-65535. */
uint16_t args_port(const char *where, const char *arg);
/* ADDR:PORT (or [v6]:PORT), checked; whether it can listen is start-up's
 * business. Returns arg. */
const char *args_hostport(const char *where, const char *arg);
/* --exec PROGRAM as the shell finds it (config_find_program), absolute:
 * both hosts must run the same path, which the memory maps name. One per
 * process: the path lives in a static buffer. */
const char *args_program(const char *where, const char *name);
/* --transport TRANSPORT: true for "rdma", false for "tls". */
bool args_transport(const char *where, const char *arg);
/* --transport rdma asked of a build without RDMA (built: xport_rdma_built;
 * COLO_TEST_FAKE_NO_RDMA in the environment stands in for such a build
 * in the tests). */
void args_check_rdma(bool rdma, bool built);
/* The start-up warning of --insecure with --transport rdma (after
 * log_init), the same words on both daemons. */
#define ARGS_INSECURE_RDMA_WARNING \
	"--insecure with --transport rdma: the RDMA connection is bound " \
	"by a token sent in clear: no authentication, no encryption"
/* --exec and what it excludes or needs, once every flag is in. */
void args_check_exec(bool exec, uint16_t exec_port, size_t nguest_args);

#endif
