/* SPDX-License-Identifier: MIT */
/*
 * The drill's client load (drill-writer.c): a thread that writes to the
 * serving side and records every write it was told about.
 */
#ifndef COLO_DRILL_WRITER_H
#define COLO_DRILL_WRITER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

#endif
