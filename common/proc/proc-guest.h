/* SPDX-License-Identifier: MIT */
/*
 * An unmodified program as a guest: the events a libcolo-guest program
 * reads from its channel, given to a program that only knows TCP.
 *
 *   open  -> a TCP connection of the daemon's to the program's port, made
 *            inside its network namespace (non-blocking)
 *   data  -> written to that connection (queued, never a blocking write)
 *   close -> shutdown(SHUT_WR): a half-close, the program still answers
 *   what the program writes on a connection -> ops.output
 *   the program's end of a connection closing -> ops.close
 *   the program exiting -> ops.died
 *
 * Both daemons need this for their copy of the program (the PVM's, and
 * the SVM's next), which is why it lives with the rest of the process
 * backend and not in primary/.
 *
 * Threads: everything here belongs to the thread that runs the loop and
 * called proc_guest_start (the program gets SIGKILL when that thread
 * exits, see proc-launch.h).
 */
#ifndef COLO_PROC_GUEST_H
#define COLO_PROC_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proc-launch.h"

struct evloop;
struct proc_conn;

struct proc_guest_ops {
	/* The program's bytes on conn, and its close of conn. */
	void (*output)(void *opaque, uint32_t conn, const uint8_t *data,
		       size_t len);
	void (*close)(void *opaque, uint32_t conn);
	/* The program exited (reaped already). */
	void (*died)(void *opaque);
};

struct proc_guest {
	struct evloop *loop;
	const struct proc_guest_ops *ops;
	void *opaque;
	struct proc_child child;        /* child.pid < 0: not running */
	uint16_t port;                  /* the program's, in its namespace */
	struct proc_conn **conns;
	size_t nconns, cap;
	/* Connections that failed at open are closed from the loop, as the
	 * program's close would be, never from inside proc_guest_open. */
	int deferred_fd;                /* eventfd */
	/* The input stream over all connections, as a channel counts it:
	 * bytes queued since start, and bytes the program's sockets took
	 * (or that were dropped with a connection the program closed). */
	uint64_t queued_end;
	uint64_t written;
};

void proc_guest_init(struct proc_guest *g, struct evloop *loop,
		     const struct proc_guest_ops *ops, void *opaque);

/*
 * Launches path with args (proc_launch, the shim found by
 * proc_guest_shim_path) and waits until it accepts connections on port,
 * at most timeout_ms. 0, or -errno with the reason logged in one line:
 * the program is stopped again then.
 */
int proc_guest_start(struct proc_guest *g, const char *path,
		     const char *const *args, uint16_t port, int timeout_ms);
/* Kills the program (if it runs) and closes every connection. */
void proc_guest_stop(struct proc_guest *g);
bool proc_guest_running(const struct proc_guest *g);

/*
 * The shim to preload: the build tree's when the running daemon is the
 * build tree's (tests), else the installed one (libdir/colo).
 */
const char *proc_guest_shim_path(void);

/* The events. Each returns 0, or -ECHILD when the program is not running;
 * a connection that fails is reported through ops.close, from the loop. */
int proc_guest_open(struct proc_guest *g, uint32_t conn);
int proc_guest_write(struct proc_guest *g, uint32_t conn, const void *data,
		     size_t len);
int proc_guest_shutdown(struct proc_guest *g, uint32_t conn);

#endif
