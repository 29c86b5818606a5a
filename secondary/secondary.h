/* SPDX-License-Identifier: MIT */
/*
 * colo-secondary: receives the primary's checkpoints into its RAM cache,
 * runs the SVM on the same input, and sends the SVM's output back for
 * comparison.
 */
#ifndef COLO_SECONDARY_H
#define COLO_SECONDARY_H

#include <stdbool.h>

struct secondary_opts {
	const char *listen;        /* HOST:PORT for the primary */
	const char *service;       /* HOST:PORT served after a takeover */
	const char *control;
	const char *guest;
	const char *tls_creds;     /* NULL with insecure */
	bool insecure;
};

/* Runs until SIGTERM/SIGINT (0) or a fatal error (-errno). */
int secondary_run(const struct secondary_opts *o);

#endif
