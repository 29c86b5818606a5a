/* SPDX-License-Identifier: MIT */
/* One drill's state, its steps (drill-run.c) and its report (drill-report.c). */
#ifndef COLO_DRILL_RUN_H
#define COLO_DRILL_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "drill-check.h"
#include "drill-lab.h"
#include "drill-writer.h"

enum drill_kind { DRILL_FAILOVER, DRILL_SECONDARY_LOSS, DRILL_PARTITION,
		  DRILL__MAX };
enum drill_moment { AT_ANY, AT_CHECKPOINT, AT_HELD, AT_SYNC, AT__MAX };

/* One host's daemon, as lab.env named it when the drill began. */
struct drill_host {
	char host[4];                  /* "A" or "B" */
	int pid;
	char ctl[512];
	char service[64];
	char ns[64];
	char repl_if[32];
};

#define DRILL_NOTES 8

struct drill {
	struct lab lab;
	enum drill_kind kind;
	enum drill_moment at;
	uint64_t seed, rng;
	int duration_ms;
	bool force;                    /* `failover` a fenced secondary */
	int failover_timeout_ms;

	struct drill_host p, s;        /* the pair at the start */
	const struct drill_host *serve;  /* who serves after the fault */
	struct writer w;
	bool writer_running;
	int ckpt_fd;                   /* control socket of the checkpoint */
	int ckpt_lead_ms;              /* asked for this long before the fault */
	const char *ckpt_outcome;      /* "done", "cut" or NULL */

	/* the timeline, monotonic ms; 0 = did not happen */
	int64_t t_start, t_fault, t_detect, t_serve, t_colo;
	char detect_state[64];         /* what the serving side said */
	bool old_primary_served;       /* partition: split brain seen */
	bool fenced;                   /* the secondary said "fenced" */
	bool forced;                   /* ... and we ran `failover` */
	bool redialled;                /* secondary-loss: no protect needed */
	char final_state[32];
	int verify;                    /* 1 identical, 0 differ, -1 not run */
	char verify_msg[256];
	struct drill_check chk;
	bool checked;

	char notes[DRILL_NOTES][256];
	int nnotes;
	char failed[256];              /* why the drill stopped early */
};

/* drill-moment.c: dirty 8 MiB of guest RAM through the primary's service;
 * ask for a checkpoint without waiting (returns the socket, or -errno);
 * then its outcome: 1 it completed, 0 no reply, -1 an error reply. */
int drill_ballast(struct drill *d);
int drill_ckpt_request(const char *ctl);
int drill_ckpt_outcome(int fd, int timeout_ms);

void drill_host_load(const struct lab *lab, struct drill_host *h);
void drill_note(struct drill *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* fault, detection, serving again, re-protection, verify, read-back */
void drill_run(struct drill *d);
void drill_report(const struct drill *d);
bool drill_passed(const struct drill *d);

extern const char *const drill_kind_names[DRILL__MAX];
extern const char *const drill_moment_names[AT__MAX];

#endif
