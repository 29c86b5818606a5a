/* SPDX-License-Identifier: MIT */
/*
 * An unmodified program as a guest: the events a libcolo-guest program
 * reads from its channel, given to a program that only knows TCP.
 *
 *   open  -> a TCP connection of the daemon's to the program's port, made
 *            inside its network namespace (non-blocking), from local port
 *            proc_conn_port(conn): the same two addresses on both hosts
 *   data  -> written to that connection (queued, never a blocking write)
 *   close -> shutdown(SHUT_WR): a half-close, the program still answers
 *   what the program writes on a connection -> ops.output
 *   the program's end of a connection closing -> ops.close
 *   the program exiting -> ops.died
 *
 * What a checkpoint needs besides:
 *
 *   the program held under ptrace from the moment it listens (proc-stop):
 *   proc_guest_pause / proc_guest_resume stop and start every thread, and
 *   a 10 ms timer in the loop pumps the tracer while it runs, so that
 *   signals and new threads are not held up;
 *   proc_guest_drain: the paused program's output in flight, read now;
 *   an input history per connection: every byte written into the
 *   program's socket is kept until the owner trims it, so that the bytes
 *   the program has not consumed yet can be given to its twin
 *   (proc_guest_input_tail, proc_guest_reset_input).
 *
 * Memory: the owner trims each connection's history at every checkpoint
 * (proc_guest_trim_history). A history that reaches history_cap stops
 * the writing to that connection until a trim: its input waits in the
 * queue, the queue's growth is the proxy's backpressure, nothing is lost
 * and nothing blocks. An owner that never checkpoints sets history_cap
 * to 0: no history is kept, writing never waits for a trim. An owner that
 * checkpoints only sometimes (a primary whose secondary may be away) sets
 * history_window instead: the last window bytes are kept, older ones
 * dropped as new ones are written, and writing never waits; a checkpoint
 * that needs more than the window (more unconsumed bytes than a socket's
 * buffers can hold) fails with proc_guest_input_tail's -EPROTO.
 *
 * Both daemons need this for their copy of the program (the PVM's, and
 * the SVM's next), which is why it lives with the rest of the process
 * backend and not in primary/.
 *
 * Threads: everything here belongs to the thread that runs the loop and
 * called proc_guest_start: the program gets SIGKILL when that thread
 * exits (see proc-launch.h), and ptrace binds the program to it.
 */
#ifndef COLO_PROC_GUEST_H
#define COLO_PROC_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proc-launch.h"

/* Per connection: the history's default bound (see above). */
#define PROC_GUEST_HISTORY_CAP (64u << 20)

struct evloop;
struct proc_conn;
struct proc_stop;

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
	struct proc_conn **conns;       /* in the order they were opened */
	size_t nconns, cap;
	size_t history_cap;             /* per connection; 0: keep none */
	size_t history_window;          /* nonzero: keep only the last this
					 * many bytes, never hold writes back */
	struct proc_stop *tracer;       /* NULL: not seized */
	int pump_fd;                    /* timerfd: pump the tracer */
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
/*
 * A takeover moves the running program to another proc_guest (another
 * loop): detach closes every connection (the program sees each one end:
 * they were the old primary's clients) and takes g's fds out of its loop;
 * the program runs on, still seized, and *child and *tracer get it (g is
 * left empty). adopt makes an initialised g (in its own loop) the
 * program's, on port; 0, or -errno with the program stopped. Both from
 * the thread that started the program.
 */
void proc_guest_detach(struct proc_guest *g, struct proc_child *child,
		       struct proc_stop **tracer);
int proc_guest_adopt(struct proc_guest *g, struct proc_child *child,
		     struct proc_stop *tracer, uint16_t port);

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

/*
 * Waits (blocking, at most timeout_ms) until every connection's connect
 * has ended: 0, or -ETIMEDOUT while one is still under way. A connect
 * that failed is no connection: reported through ops.close from the loop.
 */
int proc_guest_wait_connected(struct proc_guest *g, int timeout_ms);

/*
 * The program under ptrace, for proc-image and friends: NULL when it does
 * not run. Pause returns once every thread is stopped (0), or -ETIMEDOUT
 * / -ESRCH / -errno with the program running again (when it still runs);
 * resume lets them all go on. -ECHILD when the program does not run.
 * proc_guest_stop kills and reaps it paused or running. A program killed
 * by someone else while paused is noticed once resumed (its threads are
 * ours to reap, and the pump leaves held threads alone).
 */
struct proc_stop *proc_guest_tracer(struct proc_guest *g);
int proc_guest_pause(struct proc_guest *g, int timeout_ms);
int proc_guest_resume(struct proc_guest *g);

/*
 * The program's children (proc-guest-children.c): forks of it, alive or
 * not yet reaped, each side's own and never copied. Their count (their
 * pids in pids[max] when given), or -errno; -ECHILD when the program
 * does not run.
 */
int proc_guest_children(const struct proc_guest *g, pid_t *pids, size_t max);

/*
 * Pauses the program at a moment it has no child, for the PVM's
 * checkpoint: it runs on (the tracer pumped, idle(opaque) called every
 * few ms, its error returned) until it has none, at most wait_ms, then
 * is paused as proc_guest_pause(pause_ms) does. -EAGAIN when a child is
 * still there at wait_ms: the program runs, the caller tries later.
 */
int proc_guest_pause_childless(struct proc_guest *g, int wait_ms,
			       int pause_ms, int (*idle)(void *),
			       void *opaque);

/* Lets the program run (pumped, idle called) until it has n threads, at
 * most wait_ms: 0, -EAGAIN (still another count), or -errno. */
int proc_guest_wait_threads(struct proc_guest *g, size_t n, int wait_ms,
			    int (*idle)(void *), void *opaque);

/*
 * The same wait for the SVM, before an image is applied: then paused in
 * any case, and the children still there killed and reaped inside the
 * program (its memory is about to be the PVM's, which has none). With threads nonzero, also waits (wait_ms at most, after the
 * children) for the program to have that many threads, the image's: one
 * the PVM started a moment earlier (proc_guest_wait_threads). 0 with the
 * program paused, or -errno with it running.
 */
int proc_guest_pause_reaping(struct proc_guest *g, int wait_ms,
			     int pause_ms, size_t threads,
			     int (*idle)(void *), void *opaque);

/*
 * pause_reaping in two, for a caller that looks at the paused program
 * before anything of it changes (the SVM's "not now", svm-exec.c):
 * pause_settled waits and pauses as it does (0 paused, or -errno running);
 * end_children, the program paused, kills and reaps the children left
 * (0 still paused, or -errno with the program running again).
 */
int proc_guest_pause_settled(struct proc_guest *g, int wait_ms,
			     int pause_ms, size_t threads,
			     int (*idle)(void *), void *opaque);
int proc_guest_end_children(struct proc_guest *g, int pause_ms);

/*
 * With the program paused: reads every connection's output until no read
 * returns data, each piece through ops.output and a close through
 * ops.close, as the loop would. Returns the bytes read.
 */
size_t proc_guest_drain(struct proc_guest *g);

/*
 * The daemon's ends, for proc_image_capture / apply: ids[i] and fds[i] of
 * the open connections, in the order they were opened, up to max (either
 * array may be NULL).
 * Returns how many are open (may exceed max).
 */
size_t proc_guest_conns(const struct proc_guest *g, uint32_t *ids, int *fds,
			size_t max);

/* The open connection whose daemon end has local port `port` (an image
 * names connections so): its id and fd. Each was bound to
 * proc_conn_port(id), and two open ones cannot share a port. 0 or
 * -ENOENT. */
int proc_guest_conn_by_port(const struct proc_guest *g, uint16_t port,
			    uint32_t *id, int *fd);

/* Whether the client half-closed conn (proc_guest_shutdown): its SHUT_WR
 * is given or waits for the queue, and the program may still hold it. */
bool proc_guest_conn_shut(const struct proc_guest *g, uint32_t conn);

/*
 * conn's input the program has not consumed: the last `unconsumed` bytes
 * written into its socket (from the history), then every byte still
 * queued; malloc'd into *out (the caller frees). 0, -EPROTO when the
 * history holds fewer than unconsumed bytes, -ENOENT for an unknown conn,
 * -ENOMEM.
 */
int proc_guest_input_tail(const struct proc_guest *g, uint32_t conn,
			  uint64_t unconsumed, uint8_t **out, size_t *out_len);

/* After a checkpoint: keeps only the last `keep` written bytes of conn's
 * history; writing stopped by the cap goes on. */
void proc_guest_trim_history(struct proc_guest *g, uint32_t conn,
			     uint64_t keep);

/*
 * On the secondary, after applying an image: conn's history becomes
 * written[wlen] (what was just written into the twin's socket) and its
 * queue queued[qlen], replacing the queue it had (counted as taken, as a
 * closed connection's is, so queued_end - written stays the backlog).
 * 0, -ENOENT for an unknown conn, -ENOMEM.
 */
int proc_guest_reset_input(struct proc_guest *g, uint32_t conn,
			   const uint8_t *written, size_t wlen,
			   const uint8_t *queued, size_t qlen);

#endif
