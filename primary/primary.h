/* SPDX-License-Identifier: MIT */
/*
 * colo-primary: runs the PVM, serves its clients through a proxy, mirrors
 * their input to the secondary, compares outputs and checkpoints.
 */
#ifndef COLO_PRIMARY_H
#define COLO_PRIMARY_H

#include <stdbool.h>
#include <stdint.h>

struct primary_opts {
	const char *service;            /* HOST:PORT clients connect to */
	const char *control;            /* control socket path */
	const char *guest;              /* guest binary */
	uint64_t ram_bytes;
	const char *secondary;          /* HOST:PORT, NULL: standalone */
	const char *tls_creds;          /* directory, NULL with insecure */
	bool insecure;
	unsigned checkpoint_delay_ms;   /* periodic checkpoint */
	unsigned compare_timeout_ms;    /* oldest held output before a ckpt */
	unsigned max_wait_ms;           /* one ram_save_iterate at most */
	unsigned clear_bitmap_shift;
};

void primary_opts_defaults(struct primary_opts *o);
/* Runs until SIGTERM/SIGINT (0) or a fatal error (-errno). */
int primary_run(const struct primary_opts *o);

#endif
