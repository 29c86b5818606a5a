/* SPDX-License-Identifier: MIT */
/*
 * colo-primary: runs the PVM, serves its clients through a proxy, mirrors
 * their input to the secondary, compares outputs and checkpoints.
 */
#ifndef COLO_PRIMARY_H
#define COLO_PRIMARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guestproc.h"
#include "proc-launch.h"
#include "proc-stop.h"
#include "proto.h"
#include "ramblock.h"
#include "tunables.h"

struct conf;

/* The tunables' fields are filled from the table
 * (common/control/tunables.h). */
struct primary_opts {
	const char *service;            /* HOST:PORT clients connect to */
	const char *control;            /* control socket path */
	const char *guest;              /* guest binary, or the --exec program */
	const char *const *guest_args;  /* its argv after the path, NULL-ended */
	/* --exec: guest is an unmodified program listening on exec_port
	 * inside its namespace (pvm_start_exec), not a libcolo-guest one. */
	bool exec;
	uint16_t exec_port;
	uint64_t ram_bytes;
	const char *secondary;          /* HOST:PORT, NULL: standalone */
	const char *tls_creds;          /* directory, NULL with insecure */
	/* The name the secondary's certificate must carry; NULL: the host
	 * part of secondary (QEMU's tls-hostname). */
	const char *tls_hostname;
	/* Identities the peer's certificate must carry one of (QEMU's
	 * tls-authz; see xport_tls_ctx_set_authz); none: any from the CA. */
	const char *const *tls_authz;
	size_t ntls_authz;
	bool insecure;
	/* --transport rdma: the link runs over RDMA, bound to the TLS (or
	 * --insecure TCP) connection; pages placed by RDMA WRITE. */
	bool rdma;
	const char *metrics;            /* ADDR:PORT of /metrics, NULL: off */
	unsigned checkpoint_delay_ms;   /* periodic checkpoint */
	unsigned compare_timeout_ms;    /* oldest held output before a ckpt */
	unsigned max_wait_ms;           /* one ram_save_iterate at most */
	unsigned clear_bitmap_shift;
	unsigned heartbeat_ms;          /* interval of heartbeats */
	unsigned failover_timeout_ms;   /* silence before the peer is lost */
	/* What one client, or all of them, can make the daemon hold (I9). */
	uint64_t client_output_limit;   /* unwritten output: disconnect */
	uint64_t client_input_limit;    /* input the guest is behind on:
					 * stop reading that client */
	uint64_t max_held_output;       /* held for comparison: checkpoint */
	unsigned max_clients;           /* 0: from RLIMIT_NOFILE */
	uint64_t xbzrle_cache_size;     /* checkpoint pages kept for deltas;
					 * 0: every page whole */
	/* Connections of a live sync (--channels, 1..PROTO_MAX_CHANNELS):
	 * TLS or TCP only, never RDMA nor an --exec guest. */
	unsigned channels;
	/* The file and flags it started with, for query-config; NULL:
	 * none kept (conf-file.h). */
	const struct conf *conf;
};

/*
 * A running guest handed over by a secondary that takes over: the SVM
 * becomes the PVM of a primary that starts standalone.
 */
struct primary_adopt {
	struct ram_layout ram;          /* moved in */
	struct guestproc guest;         /* moved in, running */
	/* Or, with opts.exec, an unmodified program: running, seized by
	 * this thread, no connection left (proc_guest_detach). */
	struct proc_child exec_child;   /* moved in */
	struct proc_stop *exec_tracer;  /* moved in */
	uint64_t input_seq;             /* events the guest has had */
	uint32_t next_conn_id;          /* above every id the guest has seen */
	const uint32_t *open_conns;     /* connections it believes are open */
	size_t nopen;
	struct proto_generation gen;    /* the pair's, as of the last checkpoint */
};

/* Every field 0/NULL but the tunables, which get the table's defaults. */
void primary_opts_defaults(struct primary_opts *o);
/* Sets the field of a colo-primary tunable; v is checked by the caller. */
void primary_opts_set(struct primary_opts *o, enum tunable_id id, uint64_t v);
/* The carried ones, as the device state and `status` show them. */
void primary_opts_tunables(const struct primary_opts *o,
			   struct proto_tunables *t);
/* Runs until SIGTERM/SIGINT (0) or a fatal error (-errno). */
int primary_run(const struct primary_opts *o);
/* The same, around a guest that already runs (see primary_adopt). */
int primary_run_adopted(const struct primary_opts *o,
			struct primary_adopt *adopt);

#endif
