/* SPDX-License-Identifier: MIT */
/*
 * What both daemons' `status` says about the pair's state and settings, in
 * one shape: the pair id and generation (I8), and the tunables.
 */
#ifndef COLO_STATUS_JSON_H
#define COLO_STATUS_JSON_H

#include <stdbool.h>

#include "proto.h"

struct json_object;

/* Adds "transport": "rdma" (--transport rdma, with or without
 * --insecure), "tls", or "tcp" (--insecure alone). */
void status_add_transport(struct json_object *o, bool rdma, bool insecure);
/* Adds "pair_id" (16 hex digits) and "generation" to o. */
void status_add_generation(struct json_object *o,
			   const struct proto_generation *g);
/* A new object: each tunable the device state carries, by its name in the
 * tunables table ("checkpoint-delay": 20000, ...). */
struct json_object *status_tunables(const struct proto_tunables *t);

#endif
