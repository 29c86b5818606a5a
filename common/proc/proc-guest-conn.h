/* SPDX-License-Identifier: MIT */
/*
 * proc-guest's inside, shared by its files and nobody else:
 *
 *   proc-guest.c        the program: start, stop, exit, ptrace (pause,
 *                       resume, the pump timer)
 *   proc-guest-conn.c   the sockets: open, connect, flush, read, drain
 *   proc-guest-input.c  each connection's queue and input history
 *
 * One connection's input, as a stream:
 *
 *   | history: written, kept until a trim | queue: not yet written |
 *   hist[0 .. hist_len)                     buf[start .. end)
 *
 * proc_guest_input_tail is the end of the history plus the queue.
 */
#ifndef COLO_PROC_GUEST_CONN_H
#define COLO_PROC_GUEST_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proc-guest.h"

struct proc_conn {
	uint32_t id;
	int fd;                 /* -1: failed at open, closed from the loop */
	bool connecting;        /* connect() still in progress */
	bool shut_wanted;       /* the client half-closed: SHUT_WR once the
				 * queue is written */
	bool shut_done;
	uint8_t *buf;           /* input not yet taken by the program */
	size_t start, end, cap;
	uint8_t *hist;          /* input taken, since the last trim */
	size_t hist_len, hist_cap;
	uint8_t *last;          /* failed: what the program wrote before its
				 * end went away, passed on before the close */
	size_t last_len;
};

/* proc-guest-conn.c */
struct proc_conn *proc_conn_find(const struct proc_guest *g, uint32_t id);
void proc_conn_free(struct proc_guest *g, struct proc_conn *c);
void proc_conn_closed(struct proc_guest *g, struct proc_conn *c);
void proc_conn_fail(struct proc_guest *g, struct proc_conn *c);
/* Writes what the socket and the history cap take, watches for more. A
 * failure fails the connection (reported from the loop). */
void proc_conn_push(struct proc_guest *g, struct proc_conn *c);
/* The loop's callback on proc_guest's deferred_fd: connections that
 * failed are reported closed. */
void proc_conn_on_deferred(struct evloop *l, int fd, uint32_t events,
			   void *opaque);

/* proc-guest-input.c */
size_t proc_conn_queued(const struct proc_conn *c);
int proc_conn_queue(struct proc_conn *c, const void *data, size_t len);
/* How much of the queue may be written now: all of it, or what the
 * history has room for. */
size_t proc_conn_writable(const struct proc_guest *g,
			  const struct proc_conn *c);
/* n bytes of the queue were written: into the history they go. Room was
 * made by proc_conn_reserve first, so this cannot fail. */
void proc_conn_taken(struct proc_guest *g, struct proc_conn *c, size_t n);
int proc_conn_reserve(const struct proc_guest *g, struct proc_conn *c,
		      size_t n);
void proc_conn_free_input(struct proc_conn *c);

#endif
