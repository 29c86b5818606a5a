/* SPDX-License-Identifier: MIT */
/*
 * The PVM: the primary's copy of the guest, the process and its two
 * channels. Events go in numbered (input_seq), and ops.input hears of each
 * so that, in colo state, the secondary gets the same one; the guest's
 * output and closes go up through ops, and whoever is above decides
 * between the client and the comparator. A barrier brings the guest to a
 * safe point for a checkpoint. Free page hints are answered on a thread
 * of their own, into the ram_state handed to pvm_watch.
 *
 * The guest is one of two kinds: a libcolo-guest program (pvm_start: the
 * channel, RAM from the daemon, barriers, free page hints) or an
 * unmodified program (pvm_start_exec: proc-guest.h, TCP connections to
 * its port; its barrier stops every thread, pvm_resume lets it go on).
 * Each entry point below
 * branches on the kind: two kinds and a handful of entry points read
 * better as one `if` each than as an ops table to follow.
 *
 * Threads: the main thread owns everything here, except that while
 * hint_thread_started the hint thread alone reads proc.hint_rd, writes
 * proc.hint_fd and calls into rs (under its bitmap_mutex); the main thread
 * touches those only after joining it.
 */
#ifndef COLO_PRIMARY_PVM_H
#define COLO_PRIMARY_PVM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chan.h"
#include "guestproc.h"
#include "proc-guest.h"

struct evloop;
struct ram_layout;
struct ram_state;

struct pvm_ops {
	/* The guest took ev (numbered with ev->seq). */
	void (*input)(void *opaque, const struct chan_msg *ev);
	/* The guest's output for conn, and its close of conn. */
	void (*output)(void *opaque, uint32_t conn, const uint8_t *data,
		       size_t len);
	void (*close)(void *opaque, uint32_t conn);
	/* Runs during a barrier's wait: heartbeats; <0 ends the wait. */
	int (*idle)(void *opaque);
	/* The guest went away (it is stopped already): stop the daemon. */
	void (*died)(void *opaque);
};

struct pvm {
	struct evloop *loop;
	const struct pvm_ops *ops;
	void *opaque;
	bool is_exec;                   /* which of the two below */
	struct guestproc proc;          /* proc.pid < 0: not running */
	struct proc_guest exec;         /* an unmodified program */
	uint64_t input_seq;             /* last event sent to it */
	uint64_t barrier_id;
	/* The hint thread's, see above. */
	struct ram_state *rs;
	pthread_t hint_thread;
	bool hint_thread_started;
};

void pvm_init(struct pvm *v, struct evloop *loop, const struct pvm_ops *ops,
	      void *opaque);
/* Kills the guest (if it runs), ends the hint thread, closes the
 * channels. */
void pvm_deinit(struct pvm *v);

/* Start the guest on ram, or take over a running one (gp is left empty).
 * Either is watched only after pvm_watch. 0 or -errno. */
int pvm_start(struct pvm *v, const char *guest, const char *const *args,
	      const struct ram_layout *ram);
void pvm_adopt(struct pvm *v, struct guestproc *gp);
/* Start an unmodified program that listens on port (proc_guest_start),
 * watched at once: pvm_watch is for libcolo-guest programs only. */
int pvm_start_exec(struct pvm *v, const char *path, const char *const *args,
		   uint16_t port, int timeout_ms);
/* Take over an unmodified program that runs seized, without connections
 * (a secondary's SVM, proc_guest_detach): child and stop are moved in.
 * Watched at once. 0 or -errno. */
int pvm_adopt_exec(struct pvm *v, struct proc_child *child,
		   struct proc_stop *tracer, uint16_t port);
/* Answer its free page hints into rs, and read its channel in the loop. */
int pvm_watch(struct pvm *v, struct ram_state *rs);
bool pvm_running(const struct pvm *v);
/* The guest's pid in the daemon's namespace, -1 when not running. */
pid_t pvm_pid(const struct pvm *v);

/* One event (CHAN_EV_*), numbered input_seq + 1. 0, or -errno: the guest
 * is not running or just died (ops.died ran). */
int pvm_send_event(struct pvm *v, uint32_t type, uint32_t conn, uint64_t arg,
		   const void *data, size_t len);
/*
 * Bring the guest to a safe point: when this returns 0 it has handled
 * every event sent before and its output went through ops. -ETIMEDOUT or
 * ops.idle's error leave it running; any other -errno, it died. An
 * unmodified program is stopped instead (every thread, under ptrace) and
 * its output in flight read: it stays stopped until pvm_resume. Never with
 * a child of its alive: it runs until it has none (child_idle(opaque)
 * called every few ms, its error returned), at most child_wait_ms, then
 * -EAGAIN: the checkpoint is put off, the program running.
 */
int pvm_barrier(struct pvm *v, int child_wait_ms, int (*child_idle)(void *),
		void *opaque);
/* After a checkpoint, whatever its outcome: an unmodified program runs
 * again (a libcolo-guest never stopped). */
void pvm_resume(struct pvm *v);

/* Its input stream: the offset past everything queued, and past what it
 * has read; the difference is its backlog. */
uint64_t pvm_input_queued_end(const struct pvm *v);
uint64_t pvm_input_read(const struct pvm *v);

#endif
