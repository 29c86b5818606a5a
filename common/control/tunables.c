// SPDX-License-Identifier: MIT
/*
 * The tunables table and what reads it. A range is written here once; a
 * flag's refusal, --help, `set` and the device state's check all say it
 * from these rows.
 */
#include "tunables.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

/* A day: longer than any sane checkpoint, heartbeat or timeout. */
#define MS_MAX 86400000u
#define BOTH (TUNABLE_PRIMARY | TUNABLE_SECONDARY | TUNABLE_CARRIED)

const struct tunable tunables[TUNABLE__MAX] = {
	[TUNABLE_CHECKPOINT_DELAY] = {
		"checkpoint-delay", TUNABLE_MS, 20000, 1, MS_MAX, 0,
		BOTH | TUNABLE_SET, "periodic checkpoint" },
	[TUNABLE_COMPARE_TIMEOUT] = {
		"compare-timeout", TUNABLE_MS, 3000, 1, MS_MAX, 0,
		BOTH | TUNABLE_SET,
		"oldest held output before a checkpoint" },
	[TUNABLE_MAX_WAIT] = {
		"max-wait", TUNABLE_MS, 50, 1, MS_MAX, 0, BOTH | TUNABLE_SET,
		"one live-sync iteration at most" },
	/* 18: one clear covers 1 GiB of 4 KiB pages; 31 keeps a chunk's
	 * page count in a u32, 6 keeps the clear bitmap small. */
	[TUNABLE_CLEAR_BITMAP_SHIFT] = {
		"clear-bitmap-shift", TUNABLE_COUNT, 18, 6, 31, 0, BOTH,
		"log2 of the pages one dirty-log clear covers" },
	[TUNABLE_HEARTBEAT] = {
		"heartbeat-ms", TUNABLE_MS, 200, 1, MS_MAX, 0, BOTH,
		"interval of heartbeats" },
	[TUNABLE_FAILOVER_TIMEOUT] = {
		"failover-timeout-ms", TUNABLE_MS, 1000, 1, MS_MAX, 0, BOTH,
		"silence before the peer is lost (> heartbeat-ms)" },
	[TUNABLE_RAM] = {
		"ram", TUNABLE_BYTES, 256ULL << 20, 1 << 20, UINT64_MAX, 4096,
		TUNABLE_PRIMARY, "guest RAM" },
	/* Below 64K a single reply of the guest's could pass a limit. */
	[TUNABLE_CLIENT_OUTPUT_LIMIT] = {
		"client-output-limit", TUNABLE_BYTES, 64ULL << 20, 64 << 10,
		UINT64_MAX, 0, TUNABLE_PRIMARY,
		"a client's unwritten output before it is cut off" },
	[TUNABLE_CLIENT_INPUT_LIMIT] = {
		"client-input-limit", TUNABLE_BYTES, 4ULL << 20, 64 << 10,
		UINT64_MAX, 0, TUNABLE_PRIMARY,
		"a client's input the guest lags: stop reading it" },
	[TUNABLE_MAX_HELD_OUTPUT] = {
		"max-held-output", TUNABLE_BYTES, 16ULL << 20, 64 << 10,
		UINT64_MAX, 0, TUNABLE_PRIMARY,
		"output held for comparison before a checkpoint" },
	/* The device state carries at most 65536 connection ids. */
	[TUNABLE_MAX_CLIENTS] = {
		"max-clients", TUNABLE_COUNT, 0, 1, 65536, 0,
		TUNABLE_PRIMARY | TUNABLE_ZERO_AUTO,
		"clients at once" },
	/* 64M: 16384 pages, eight checkpoints of a busy key-value guest;
	 * 0 sends every checkpoint page whole. */
	[TUNABLE_XBZRLE_CACHE_SIZE] = {
		"xbzrle-cache-size", TUNABLE_BYTES, 64ULL << 20, 0,
		1ULL << 40, 4096, TUNABLE_PRIMARY,
		"last sent checkpoint pages kept to send deltas" },
	/* Live sync only; PROTO_MAX_CHANNELS connections at most. */
	[TUNABLE_CHANNELS] = {
		"channels", TUNABLE_COUNT, 1, 1, PROTO_MAX_CHANNELS, 0,
		TUNABLE_PRIMARY,
		"connections (TLS or TCP) a live sync spreads RAM over" },
};

const struct tunable *tunable_find(const char *name)
{
	size_t i;

	for (i = 0; name && i < TUNABLE__MAX; i++)
		if (!strcmp(tunables[i].name, name))
			return &tunables[i];
	return NULL;
}

enum tunable_id tunable_id(const struct tunable *t)
{
	return (enum tunable_id)(t - tunables);
}

int tunable_check(const struct tunable *t, uint64_t v)
{
	if (v < t->min || v > t->max || (t->align && v % t->align))
		return -ERANGE;
	return 0;
}

/* 65536 -> "64K": sizes as an operator writes them. */
static void size_str(uint64_t v, char *buf, size_t len)
{
	static const char suffix[] = "KMGT";
	int i = -1;

	while (v && !(v & 1023) && i < 3) {
		v >>= 10;
		i++;
	}
	if (i < 0)
		snprintf(buf, len, "%llu", (unsigned long long)v);
	else
		snprintf(buf, len, "%llu%c", (unsigned long long)v, suffix[i]);
}

/* What a value must be, after "is not ": "a time in ms (1..86400000)". */
static void describe(const struct tunable *t, char *buf, size_t len)
{
	char min[24], align[24];

	switch (t->unit) {
	case TUNABLE_MS:
		snprintf(buf, len, "a time in ms (%llu..%llu)",
			 (unsigned long long)t->min,
			 (unsigned long long)t->max);
		return;
	case TUNABLE_COUNT:
		snprintf(buf, len, "in %llu..%llu", (unsigned long long)t->min,
			 (unsigned long long)t->max);
		return;
	case TUNABLE_BYTES:
		size_str(t->min, min, sizeof(min));
		size_str(t->align, align, sizeof(align));
		snprintf(buf, len, "a size of at least %s%s%s%s", min,
			 t->align ? " in whole " : "", t->align ? align : "",
			 t->align ? " pages" : "");
		return;
	}
	snprintf(buf, len, "valid");
}

int tunable_parse(const struct tunable *t, const char *s, uint64_t *v,
		  char *why, size_t len)
{
	char flag[64];

	snprintf(flag, sizeof(flag), "--%s", t->name);
	return tunable_parse_as(t, s, flag, v, why, len);
}

int tunable_parse_as(const struct tunable *t, const char *s,
		     const char *label, uint64_t *v, char *why, size_t len)
{
	char what[160];
	int ret;

	if (t->unit == TUNABLE_BYTES) {
		/* A size is never 0 to config_parse_size; "off" is, for a
		 * tunable whose range starts there. */
		if (t->min == 0 && s && !strcmp(s, "0")) {
			*v = 0;
			return 0;
		}
		ret = config_parse_size(s, v);
		if (!ret)
			ret = tunable_check(t, *v);
	} else {
		ret = config_parse_u64(s, t->min, t->max, v);
	}
	if (ret) {
		describe(t, what, sizeof(what));
		snprintf(why, len, "%s: '%s' is not %s", label, s, what);
	}
	return ret;
}

int tunable_format(const struct tunable *t, uint64_t v, char *buf,
		   size_t len)
{
	char s[24];

	if (t->unit == TUNABLE_BYTES)
		size_str(v, s, sizeof(s));
	else
		snprintf(s, sizeof(s), "%llu", (unsigned long long)v);
	return snprintf(buf, len, "%s", s);
}

static const char *metavar(enum tunable_unit u)
{
	return u == TUNABLE_MS ? "MS" : u == TUNABLE_BYTES ? "SIZE" : "N";
}

/* The range as --help shows it: "1..86400000 ms", "at least 64K". */
static void range_str(const struct tunable *t, char *buf, size_t len)
{
	char min[24], align[24];

	if (t->unit != TUNABLE_BYTES) {
		snprintf(buf, len, "%llu..%llu%s", (unsigned long long)t->min,
			 (unsigned long long)t->max,
			 t->unit == TUNABLE_MS ? " ms" : "");
		return;
	}
	size_str(t->min, min, sizeof(min));
	size_str(t->align, align, sizeof(align));
	snprintf(buf, len, "at least %s%s%s%s", min, t->align ? ", whole " : "",
		 t->align ? align : "", t->align ? " pages" : "");
}

int tunable_help(const struct tunable *t, char *buf, size_t len)
{
	char flag[48], def[24], range[96];

	snprintf(flag, sizeof(flag), "--%s %s", t->name, metavar(t->unit));
	if (t->flags & TUNABLE_ZERO_AUTO)
		snprintf(def, sizeof(def), "from RLIMIT_NOFILE");
	else if (t->unit == TUNABLE_BYTES)
		size_str(t->def, def, sizeof(def));
	else
		snprintf(def, sizeof(def), "%llu", (unsigned long long)t->def);
	range_str(t, range, sizeof(range));
	return snprintf(buf, len, "  %-28s %s\n  %-28s default %s, %s%s",
			flag, t->help, "", def, range,
			t->flags & TUNABLE_SET ? "; a primary's `set` changes it" : "");
}

void tunables_print_help(FILE *f, unsigned flag)
{
	char line[256];
	size_t i;

	for (i = 0; i < TUNABLE__MAX; i++) {
		if (!(tunables[i].flags & flag))
			continue;
		tunable_help(&tunables[i], line, sizeof(line));
		fprintf(f, "%s\n", line);
	}
}

void tunables_names(unsigned flags, char *buf, size_t len)
{
	size_t i, used = 0;

	if (len)
		buf[0] = '\0';
	for (i = 0; i < TUNABLE__MAX && used < len; i++) {
		if ((tunables[i].flags & flags) != flags)
			continue;
		used += (size_t)snprintf(buf + used, len - used, "%s%s",
					 used ? ", " : "", tunables[i].name);
	}
}

size_t tunables_options(unsigned flag, int val_base, struct option *out)
{
	size_t i, n = 0;

	for (i = 0; i < TUNABLE__MAX; i++) {
		if (!(tunables[i].flags & flag))
			continue;
		out[n].name = tunables[i].name;
		out[n].has_arg = required_argument;
		out[n].flag = NULL;
		out[n].val = val_base + (int)i;
		n++;
	}
	return n;
}

/* Where the device state keeps each carried tunable. */
static uint32_t *carried(struct proto_tunables *pt, enum tunable_id id)
{
	switch (id) {
	case TUNABLE_CHECKPOINT_DELAY: return &pt->checkpoint_delay_ms;
	case TUNABLE_COMPARE_TIMEOUT: return &pt->compare_timeout_ms;
	case TUNABLE_MAX_WAIT: return &pt->max_wait_ms;
	case TUNABLE_CLEAR_BITMAP_SHIFT: return &pt->clear_bitmap_shift;
	case TUNABLE_HEARTBEAT: return &pt->heartbeat_ms;
	case TUNABLE_FAILOVER_TIMEOUT: return &pt->failover_timeout_ms;
	default: return NULL;
	}
}

uint64_t tunables_get(const struct proto_tunables *pt, enum tunable_id id)
{
	const uint32_t *f = carried((struct proto_tunables *)pt, id);

	return f ? *f : 0;
}

void tunables_put(struct proto_tunables *pt, enum tunable_id id, uint64_t v)
{
	uint32_t *f = carried(pt, id);

	if (f)
		*f = (uint32_t)v;
}

void tunables_carried_defaults(struct proto_tunables *pt)
{
	size_t i;

	memset(pt, 0, sizeof(*pt));
	for (i = 0; i < TUNABLE__MAX; i++)
		tunables_put(pt, (enum tunable_id)i, tunables[i].def);
}

int tunables_check_carried(const struct proto_tunables *pt)
{
	size_t i;

	for (i = 0; i < TUNABLE__MAX; i++)
		if ((tunables[i].flags & TUNABLE_CARRIED) &&
		    tunable_check(&tunables[i],
				  tunables_get(pt, (enum tunable_id)i)))
			return -ERANGE;
	if (pt->failover_timeout_ms <= pt->heartbeat_ms)
		return -ERANGE;
	return 0;
}
