/* SPDX-License-Identifier: MIT */
/*
 * The one table of the daemons' tunables: for each, the name its flag and
 * the control `set` use, its default, range, unit, help text and who may
 * change it. The flags, --help, `set`, `status`, the device state and the
 * takeover read it; nothing else writes a default or a range down.
 *
 * Iterate with
 *	for (id = 0; id < TUNABLE__MAX; id++) { t = &tunables[id]; ... }
 */
#ifndef COLO_TUNABLES_H
#define COLO_TUNABLES_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "proto.h"

struct option;

enum tunable_id {
	/* The device state carries these six, in this order (proto.c). */
	TUNABLE_CHECKPOINT_DELAY,
	TUNABLE_COMPARE_TIMEOUT,
	TUNABLE_MAX_WAIT,
	TUNABLE_CLEAR_BITMAP_SHIFT,
	TUNABLE_HEARTBEAT,
	TUNABLE_FAILOVER_TIMEOUT,
	/* colo-primary's own, fixed at start. */
	TUNABLE_RAM,
	TUNABLE_CLIENT_OUTPUT_LIMIT,
	TUNABLE_CLIENT_INPUT_LIMIT,
	TUNABLE_MAX_HELD_OUTPUT,
	TUNABLE_MAX_CLIENTS,
	TUNABLE_XBZRLE_CACHE_SIZE,
	TUNABLE_CHANNELS,
	TUNABLE__MAX
};

enum tunable_unit {
	TUNABLE_MS,        /* a time in milliseconds */
	TUNABLE_COUNT,     /* a plain number */
	TUNABLE_BYTES,     /* a size: "4096", "64K", "1G" */
};

/* Who takes it, and who may change it at run time. */
enum {
	TUNABLE_PRIMARY = 1 << 0,    /* a flag of colo-primary */
	TUNABLE_SECONDARY = 1 << 1,  /* a flag of colo-secondary */
	TUNABLE_CARRIED = 1 << 2,    /* in struct proto_tunables and `status` */
	TUNABLE_SET = 1 << 3,        /* the primary's `set` changes it */
	TUNABLE_ZERO_AUTO = 1 << 4,  /* default 0: the daemon picks */
};

struct tunable {
	const char *name;          /* "--name" and the `set` and status key */
	enum tunable_unit unit;
	uint64_t def;              /* within min..max, or 0 with ZERO_AUTO */
	uint64_t min, max;
	uint64_t align;            /* a value must be a multiple; 0: any */
	unsigned flags;
	const char *help;          /* one line, no trailing period */
};

extern const struct tunable tunables[TUNABLE__MAX];

/* By name, NULL if there is none. */
const struct tunable *tunable_find(const char *name);
enum tunable_id tunable_id(const struct tunable *t);
/* 0 when v is a value t may take, -ERANGE when not. */
int tunable_check(const struct tunable *t, uint64_t v);
/* A flag's text to a value: 0, or -EINVAL/-ERANGE with the one-line
 * reason in why ("--max-wait: 'x' is not a time in ms (1..86400000)"). */
int tunable_parse(const struct tunable *t, const char *s, uint64_t *v,
		  char *why, size_t len);
/* The same, the reason naming the value as label says: a config file's
 * "/etc/colo/primary.conf:7: max-wait" where a flag says "--max-wait". */
int tunable_parse_as(const struct tunable *t, const char *s,
		     const char *label, uint64_t *v, char *why, size_t len);
/* v as an operator writes it and tunable_parse reads it back: "64M" for
 * a size, digits otherwise; returns what snprintf does. */
int tunable_format(const struct tunable *t, uint64_t v, char *buf,
		   size_t len);
/* "  --max-wait MS  <help> (default 50; 1..86400000)" into buf; returns
 * what snprintf does. */
int tunable_help(const struct tunable *t, char *buf, size_t len);
/* tunable_help's lines for every tunable with flag set, in table order:
 * the tunables part of a daemon's --help. */
void tunables_print_help(FILE *f, unsigned flag);
/* The names of the tunables with all of flags set, ", " between them. */
void tunables_names(unsigned flags, char *buf, size_t len);
/* getopt_long entries for the tunables with flag set into out (room for
 * TUNABLE__MAX): each has has_arg required and val = val_base + its id.
 * Returns how many were written. */
size_t tunables_options(unsigned flag, int val_base, struct option *out);

/* The carried tunables: the device state's struct, by id. get returns 0
 * for an id the struct does not carry; put ignores it. */
uint64_t tunables_get(const struct proto_tunables *pt, enum tunable_id id);
void tunables_put(struct proto_tunables *pt, enum tunable_id id, uint64_t v);
void tunables_carried_defaults(struct proto_tunables *pt);
/* 0 when every value is in range and the peer is declared lost only after
 * a heartbeat could have come; -ERANGE when not (I6). */
int tunables_check_carried(const struct proto_tunables *pt);

#endif
