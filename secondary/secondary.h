/* SPDX-License-Identifier: MIT */
/*
 * colo-secondary: receives the primary's checkpoints into its RAM cache,
 * runs the SVM on the same input, and sends the SVM's output back for
 * comparison.
 */
#ifndef COLO_SECONDARY_H
#define COLO_SECONDARY_H

#include <stdbool.h>
#include <stddef.h>

#include "proto.h"

struct conf;

struct secondary_opts {
	const char *listen;        /* HOST:PORT for the primary */
	const char *service;       /* HOST:PORT served after a takeover */
	const char *control;
	const char *guest;              /* guest binary, or the --exec program */
	const char *const *guest_args;  /* its argv after the path, NULL-ended */
	/* --exec: guest is an unmodified program listening on exec_port
	 * inside its namespace (proc-guest.h), not a libcolo-guest one. */
	bool exec;
	uint16_t exec_port;
	const char *tls_creds;     /* NULL with insecure */
	/* Identities the primary's certificate must carry one of (QEMU's
	 * tls-authz; see xport_tls_ctx_set_authz); none: any from the CA.
	 * After a takeover the same list holds for the new secondary. */
	const char *const *tls_authz;
	size_t ntls_authz;
	bool insecure;
	/* --transport rdma: the primary's link runs over RDMA, bound to
	 * its TLS (or --insecure TCP) connection; after a takeover, the
	 * new primary's link too. */
	bool rdma;
	const char *fence_cmd;          /* run before serving; 0 = go ahead */
	const char *metrics;            /* ADDR:PORT of /metrics, NULL: off;
					 * the primary's after a takeover */
	/* heartbeat-ms and failover-timeout-ms, and, as primary after a
	 * takeover until the old primary's values arrive with a checkpoint
	 * (they always have by then; see failover.c), the rest of the
	 * carried tunables (common/control/tunables.h). */
	struct proto_tunables tunables;
	/* The file and flags it started with, for query-config; NULL:
	 * none kept (conf-file.h). */
	const struct conf *conf;
};

/* Runs until SIGTERM/SIGINT (0) or a fatal error (-errno). After a
 * takeover it goes on as a primary (primary_run_adopted) in the same call. */
int secondary_run(const struct secondary_opts *o);

#endif
