/* SPDX-License-Identifier: MIT */
/*
 * colo-drill, shared by its files:
 *
 *   colo-drill.c    arguments, the pair at the start
 *   drill-run.c     the steps: fault, detection, re-protection, verify
 *   drill-moment.c  landing the fault inside a checkpoint
 *   drill-check.c   reading every acknowledged write back
 *   drill-report.c  the report
 *   drill-writer.c  the client load that records every acknowledged write
 *   drill-client.c  a tiny RESP client (enough for INCR, SET, GET, PING)
 *   drill-lab.c     lab.env, colo-lab commands, the daemons' status
 */
#ifndef COLO_DRILL_H
#define COLO_DRILL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"          /* ctl/: the control-socket client */

void drill_sleep_ms(int64_t ms);

/* ---- drill-client.c: RESP over TCP ------------------------------------ */

enum resp_type { RESP_STATUS, RESP_ERROR, RESP_INT, RESP_BULK, RESP_NIL };

#define RESP_STR_MAX 512

struct resp_reply {
	enum resp_type type;
	long long num;                 /* RESP_INT */
	char str[RESP_STR_MAX];        /* STATUS, ERROR, BULK; NUL-terminated */
	size_t len;                    /* the whole length, even if truncated */
};

struct resp_conn {
	int fd;
	char *in;                      /* bytes read, not yet parsed */
	size_t in_len, in_off, in_cap;
};

/* "HOST:PORT", numeric. 0, or -errno (-ETIMEDOUT, -ECONNREFUSED, ...). */
int resp_connect(struct resp_conn *c, const char *hostport, int timeout_ms);
void resp_close(struct resp_conn *c);
/* Append one command, as a RESP array of bulk strings, to buf (*len grows);
 * returns -ENOBUFS when it does not fit. */
int resp_format(char *buf, size_t cap, size_t *len, int argc,
		const char *const argv[]);
int resp_write(struct resp_conn *c, const char *buf, size_t len);
/* One reply. 0, -ETIMEDOUT, -ECONNRESET (EOF), -EPROTO, or -errno. */
int resp_read(struct resp_conn *c, int timeout_ms, struct resp_reply *r);
/* One command, one reply. */
int resp_call(struct resp_conn *c, int timeout_ms, struct resp_reply *r,
	      int argc, const char *const argv[]);

/* ---- drill-writer.c: the load ------------------------------------------ */

/*
 * Op n (from 0): even n is INCR drill:counter, odd n is
 * SET drill:k:<n/2> v<n/2>-<tag>. The tag is new in every drill, so a value
 * left by an earlier drill cannot pass for one this drill wrote.
 */
struct writer {
	pthread_t thread;
	pthread_mutex_t lock;          /* guards the fields up to 'stats' */
	pthread_cond_t cond;
	char target[64];               /* HOST:PORT to (re)connect to */
	int fd;                        /* current connection, -1 if none */
	bool burst_wanted;             /* pipeline a burst, then say so */
	bool burst_sent;

	/* read by other threads while running */
	_Atomic int64_t fault_ms;      /* 0 until the fault */
	_Atomic int64_t first_ack_after_fault_ms;  /* 0 until then */
	_Atomic uint64_t acked;        /* replies that were acknowledgements */
	_Atomic bool stop;

	/* set before start, read-only after */
	char tag[32];
	int reply_timeout_ms;
	/* A write counts as "after the fault" when it was sent after it, and
	 * with this set, on a connection made after it (to the new side). */
	bool after_needs_new_conn;
	int64_t conn_ms;               /* when the current connection was made */

	/* stats: the writer thread's until it is joined */
	uint64_t next_op;
	uint64_t incr_acked, set_acked, acked_after_fault;
	long long max_incr;            /* highest INCR reply seen, -1 none */
	uint64_t errors, timeouts, disconnects, connects;
	uint8_t *set_ok;               /* [n/2]: that SET was acknowledged */
	size_t set_cap;
	long long *incr;               /* every acknowledged INCR reply */
	size_t incr_cap;               /* incr_acked of them are used */
};

int writer_start(struct writer *w, const char *target, const char *tag,
		 int reply_timeout_ms, bool after_needs_new_conn);
/* Connect to target from now on; drop the current connection if asked
 * (its unanswered requests then never count as acknowledged). */
void writer_retarget(struct writer *w, const char *target, bool drop);
/* Have requests in flight: send a pipelined burst, return once it is on
 * the wire (or after timeout_ms). */
void writer_burst(struct writer *w, int timeout_ms);
void writer_stop(struct writer *w);
void writer_free(struct writer *w);

/* ---- drill-lab.c: the lab ---------------------------------------------- */

#define LAB_MAX_VARS 128

struct lab {
	char dir[512];
	size_t nvars;
	char *key[LAB_MAX_VARS], *val[LAB_MAX_VARS];
};

int lab_load(struct lab *lab, const char *dir);
void lab_free(struct lab *lab);
/* The value of KEY, "" when missing. */
const char *lab_get(const struct lab *lab, const char *key);
/* Host-specific: lab_host(lab, "A", "PID") is HOST_A_PID. */
const char *lab_host(const struct lab *lab, const char *host, const char *k);
/* Run a program (argv[0] by path) with output into DIR/logs/drill.log;
 * returns its exit status, or -errno. */
int lab_run(const struct lab *lab, const char *const argv[]);
/* colo-lab --lab DIR CMD [ARG...] (NULL-terminated), then re-read lab.env. */
int lab_cmd(struct lab *lab, const char *cmd, ...);
/* Start a program without waiting (same output); its pid or -errno. */
int lab_spawn(const struct lab *lab, const char *const argv[]);

/* role and state of a daemon; false when its socket does not answer. */
bool lab_status(const char *ctl, char *role, size_t rsz, char *state,
		size_t ssz);
/* Poll until state matches (role too, unless NULL) or timeout; returns
 * the time it matched, or -1 (role/state then hold the last seen). */
int64_t lab_wait_state(const char *ctl, const char *role, const char *state,
		       int timeout_ms, int poll_ms);
/* Alive and not a zombie. */
bool lab_pid_alive(int pid);

#endif
