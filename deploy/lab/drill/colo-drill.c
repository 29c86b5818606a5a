// SPDX-License-Identifier: MIT
/*
 * colo-drill failover|secondary-loss|partition: a fault, on purpose,
 * against a running lab pair (deploy/lab/colo-lab), under a client load
 * that remembers every write it was told about.
 *
 *   start ── load ──► fault ──► detected ──► serving again ──► re-protected
 *            (writer)  kill -9   status says   first acked       new
 *                      or cut    so            write after it    secondary,
 *                                                                colo, verify
 *
 * failover        kill -9 the primary; the writer goes to the secondary's
 *                 service; a new secondary on the dead host protects the
 *                 promoted one (colo-lab start-secondary + protect).
 * secondary-loss  kill -9 the secondary; the writer stays on the primary,
 *                 which goes on alone; a secondary restarted on the same
 *                 host is dialled again by the primary itself.
 * partition       the replication link goes down (clients still reach both
 *                 hosts). The writer drops its connection to the primary at
 *                 once and goes to the secondary. Without a fence both
 *                 sides may serve: the drill reports it, then fences the
 *                 old primary (kill -9, as a cluster manager would), heals
 *                 the link and re-protects as after a failover.
 *
 * Then it reads every acknowledged write back from the serving side and
 * asks that side to verify (PVM and SVM RAM identical). Exit 0 only when
 * no acknowledged write is missing and verify said identical. The lab's
 * env file is kept current (colo-lab refresh), so drills can follow each
 * other: after a failover the old secondary's host is the primary's.
 *
 * Its files:
 *
 *   colo-drill.c    arguments, the pair at the start
 *   drill-run.c     the steps: fault, detection, re-protection, verify
 *   drill-moment.c  landing the fault inside a checkpoint
 *   drill-check.c   reading every acknowledged write back
 *   drill-report.c  the report
 *   drill-writer.c  the client load that records every acknowledged write
 *   drill-client.c  a tiny RESP client (enough for INCR, SET, GET, PING)
 *   drill-lab.c     lab.env, colo-lab commands, the daemons' status
 *
 * and from ctl/ the control-socket client (client.h) colo-ctl uses too.
 *
 * A lab tool, not the operator's: it kills daemons and cuts links, so it
 * is built beside colo-ctl but installed only with -Dlab=true.
 */
#include "client.h"
#include "drill-run.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int lookup(const char *s, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	return (end == s || *end || errno || *v > max || s[0] == '-') ? -1 : 0;
}

static const char drill_usage[] =
	"usage: colo-drill failover|secondary-loss|partition [OPTIONS]\n"
	"\n"
	"A fault against the lab pair (deploy/lab/colo-lab) under a client load\n"
	"that records every acknowledged write; then re-protection, verify and\n"
	"a read-back of every acknowledged write. Exit 0 only if none was lost\n"
	"and verify said identical.\n"
	"\n"
	"  --lab DIR          the lab (default $COLO_LAB_DIR, else /run/colo-lab)\n"
	"  --seed N           seeds the moment of the fault (default: the clock)\n"
	"  --duration-ms N    load before the fault: it comes at a random moment\n"
	"                     in the middle half of N ms (default 3000)\n"
	"  --at MOMENT        any (default), checkpoint (colo-ctl checkpoint just\n"
	"                     before the fault), held (a pipelined burst in\n"
	"                     flight), sync (right after a live sync of a freshly\n"
	"                     restarted secondary)\n"
	"  --no-force         a fenced secondary stays fenced (default: run\n"
	"                     colo-ctl failover on it, as the operator)\n";

/* Print "colo-drill: REASON" and the usage to stderr. */
static int usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("colo-drill: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fputs(drill_usage, stderr);
	return CLI_EXIT_USAGE;
}

static int parse_args(struct drill *d, int argc, char *argv[])
{
	const char *env_dir = getenv("COLO_LAB_DIR");
	uint64_t v;
	int i, k;

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(drill_usage, stdout);
		return -1;
	}
	if (argc < 2)
		return usage_error("which drill? failover, secondary-loss or partition");
	k = lookup(argv[1], drill_kind_names, DRILL__MAX);
	if (k < 0)
		return usage_error("unknown kind '%s'", argv[1]);
	d->kind = (enum drill_kind)k;
	d->at = AT_ANY;
	d->duration_ms = 3000;
	d->force = true;
	d->seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
	snprintf(d->lab.dir, sizeof(d->lab.dir), "%s",
		 env_dir && *env_dir ? env_dir : "/run/colo-lab");
	for (i = 2; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--no-force")) {
			d->force = false;
			continue;
		}
		if (!val)
			return usage_error("%s needs a value", a);
		i++;
		if (!strcmp(a, "--lab")) {
			snprintf(d->lab.dir, sizeof(d->lab.dir), "%s", val);
		} else if (!strcmp(a, "--seed")) {
			if (parse_u64(val, UINT64_MAX, &d->seed))
				return usage_error("bad seed '%s'", val);
		} else if (!strcmp(a, "--duration-ms")) {
			if (parse_u64(val, 3600000, &v) || v < 200)
				return usage_error("--duration-ms: 200..3600000, not '%s'",
						   val);
			d->duration_ms = (int)v;
		} else if (!strcmp(a, "--at")) {
			k = lookup(val, drill_moment_names, AT__MAX);
			if (k < 0)
				return usage_error("--at any|checkpoint|held|sync, not '%s'",
						   val);
			d->at = (enum drill_moment)k;
		} else {
			return usage_error("unknown option '%s'", a);
		}
	}
	return 0;
}

/* The pair as it is now, from lab.env; it has to be protected. */
static int snapshot(struct drill *d)
{
	struct lab *lab = &d->lab;
	const char *fo;
	int ret = lab_load(lab, lab->dir);

	if (ret < 0) {
		fprintf(stderr, "colo-drill: no lab at %s (%s): run deploy/lab/colo-lab up\n",
			lab->dir, strerror(-ret));
		return -1;
	}
	snprintf(d->p.host, sizeof(d->p.host), "%s", lab_get(lab, "PRIMARY_HOST"));
	snprintf(d->s.host, sizeof(d->s.host), "%s", lab_get(lab, "SECONDARY_HOST"));
	if (!d->p.host[0] || !d->s.host[0] || !strcmp(d->p.host, d->s.host)) {
		fprintf(stderr, "colo-drill: %s/lab.env names no primary and secondary\n",
			lab->dir);
		return -1;
	}
	drill_host_load(lab, &d->p);
	drill_host_load(lab, &d->s);
	if (!lab_pid_alive(d->p.pid) || !lab_pid_alive(d->s.pid)) {
		fprintf(stderr, "colo-drill: the lab's %s is not running\n",
			lab_pid_alive(d->p.pid) ? "secondary" : "primary");
		return -1;
	}
	if (lab_wait_state(d->p.ctl, "primary", "colo", 60000, 50) < 0) {
		fprintf(stderr, "colo-drill: the primary on host %s is not in colo state\n",
			d->p.host);
		return -1;
	}
	fo = lab_get(lab, "FAILOVER_TIMEOUT_MS");
	d->failover_timeout_ms = *fo ? atoi(fo) : 1000;
	return 0;
}

int main(int argc, char *argv[])
{
	struct drill d = { 0 };
	int rc;

	rc = parse_args(&d, argc, argv);
	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	d.rng = d.seed;
	if (snapshot(&d) < 0) {
		lab_free(&d.lab);
		return CLI_EXIT_FAIL;
	}
	drill_run(&d);
	drill_report(&d);
	rc = drill_passed(&d) ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	writer_free(&d.w);
	lab_free(&d.lab);
	return rc;
}
