// SPDX-License-Identifier: MIT
/*
 * INFO [section ...], with Redis 7.0's rules: no argument means
 * "default"; "all" and "everything" add every section colo-kv has (it has
 * no commandstats, latencystats or modules, which are what they add in
 * Redis); names are case-insensitive and may repeat; sections come out in
 * Redis's order whatever the order asked, separated by an empty line; a
 * name colo-kv does not have adds nothing, so an unknown one alone gives
 * an empty reply.
 *
 * Every field is computed from guest RAM only: the reply is compared
 * between PVM and SVM, so a field that differs between hosts (a pid, an
 * uptime, CPU time) would force a checkpoint on every INFO.
 */
#include "cmd.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "colo-guest.h"

struct info_text {
	char buf[2048];
	size_t len;
};

static void add(struct info_text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add(struct info_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, sizeof(t->buf) - t->len, fmt, ap);
	va_end(ap);
	/* The sections are a few fixed lines: they always fit. */
	if (n > 0 && (size_t)n < sizeof(t->buf) - t->len)
		t->len += (size_t)n;
}

static void info_server(struct kv_req *r, struct info_text *t)
{
	(void)r;
	add(t, "# Server\r\nredis_version:7.0.0-colo\r\n"
	       "redis_mode:standalone\r\narch_bits:%zu\r\n",
	    sizeof(void *) * 8);
}

static void info_clients(struct kv_req *r, struct info_text *t)
{
	add(t, "# Clients\r\nconnected_clients:%llu\r\nblocked_clients:0\r\n",
	    (unsigned long long)r->root->conns.count);
}

static void info_memory(struct kv_req *r, struct info_text *t)
{
	struct colo_heap_stats st;

	colo_heap_stats(r->g, &st);
	add(t, "# Memory\r\nused_memory:%llu\r\ntotal_system_memory:%llu\r\n",
	    (unsigned long long)st.used_bytes,
	    (unsigned long long)st.ram_bytes);
}

static void info_stats(struct kv_req *r, struct info_text *t)
{
	add(t, "# Stats\r\ntotal_connections_received:%llu\r\n"
	       "total_commands_processed:%llu\r\n",
	    (unsigned long long)r->root->connections_received,
	    (unsigned long long)r->root->commands_processed);
}

/* The pair's secondary is no Redis replica: to a client this is a master
 * without replicas. */
static void info_replication(struct kv_req *r, struct info_text *t)
{
	(void)r;
	add(t, "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n");
}

static void info_cluster(struct kv_req *r, struct info_text *t)
{
	(void)r;
	add(t, "# Cluster\r\ncluster_enabled:0\r\n");
}

/* As in Redis, an empty database has no line. */
static void info_keyspace(struct kv_req *r, struct info_text *t)
{
	add(t, "# Keyspace\r\n");
	if (r->root->keys.count)
		add(t, "db0:keys=%llu,expires=0,avg_ttl=0\r\n",
		    (unsigned long long)r->root->keys.count);
}

/* In Redis's order; all of them are "default" sections there. */
static const struct {
	const char *name;
	void (*fill)(struct kv_req *r, struct info_text *t);
} sections[] = {
	{ "server", info_server },
	{ "clients", info_clients },
	{ "memory", info_memory },
	{ "stats", info_stats },
	{ "replication", info_replication },
	{ "cluster", info_cluster },
	{ "keyspace", info_keyspace },
};
#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))

/* Marks the sections the arguments name; none at all means "default". */
static void select_sections(const struct kv_req *r, bool want[NSECTIONS])
{
	bool every;

	for (size_t s = 0; s < NSECTIONS; s++)
		want[s] = r->argc == 1;
	for (size_t i = 1; i < r->argc; i++) {
		every = arg_is(r, i, "default") || arg_is(r, i, "all") ||
			arg_is(r, i, "everything");
		for (size_t s = 0; s < NSECTIONS; s++)
			if (every || arg_is(r, i, sections[s].name))
				want[s] = true;
	}
}

void cmd_info(struct kv_req *r)
{
	bool want[NSECTIONS];
	struct info_text t = { .len = 0 };
	size_t shown = 0;

	select_sections(r, want);
	for (size_t s = 0; s < NSECTIONS; s++) {
		if (!want[s])
			continue;
		if (shown++)
			add(&t, "\r\n");
		sections[s].fill(r, &t);
	}
	reply_bulk(r->out, t.buf, t.len);
}
