/* SPDX-License-Identifier: MIT */
/*
 * Every thread of an unmodified program held under ptrace: seized once,
 * then stopped together and resumed together, as often as checkpoints
 * need. x86-64 Linux only (common/proc/meson.build refuses other CPUs).
 *
 *   proc_stop_seize      PTRACE_SEIZE every thread, with TRACECLONE (a new
 *                        thread is followed from its first instruction)
 *                        and TRACEEXIT; the program keeps running
 *   proc_stop_pump       while it runs: re-delivers the signals ptrace
 *                        caught, lets new threads and exiting ones go on
 *   proc_stop_interrupt  PTRACE_INTERRUPT every thread and wait until all
 *                        are stopped (one in a system call is stopped with
 *                        it interrupted; resuming restarts it)
 *   proc_stop_resume     let them all run again
 *   proc_stop_detach     stop, PTRACE_DETACH, forget
 *
 * While seized, the program's threads stop whenever a signal reaches them
 * and wait for the tracer: the caller must call proc_stop_pump soon after
 * each SIGCHLD (or often) for signals to arrive as if it were not traced.
 * A signal that reaches a thread while we hold it is delivered when it is
 * resumed. Job-control stops (SIGSTOP, SIGTSTP) are not honoured while
 * seized: the program runs on.
 *
 * ptrace binds a tracee to the tracer thread: every call on a struct
 * proc_stop must come from the thread that called proc_stop_seize.
 */
#ifndef COLO_PROC_STOP_H
#define COLO_PROC_STOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#if !defined(__x86_64__)
#error "proc-stop: x86-64 only (registers are struct user_regs_struct)"
#endif

struct proc_thread {
	pid_t tid;              /* in our PID namespace: what ptrace takes */
	pid_t ns_tid;           /* in the program's own PID namespace: what
				 * its twin's matching thread also has */
	bool stopped;           /* in a ptrace-stop we hold */
	uint64_t deferred;      /* signals caught while held (bit n-1 for
				 * signal n), delivered at resume */
};

struct proc_stop {
	pid_t pid;                      /* the thread group, our namespace */
	struct proc_thread *thread;     /* [n], in the order we met them */
	size_t n, cap;
	bool exited;                    /* the whole program is gone */
	bool held;                      /* between interrupt and resume */
	uint64_t next_audit_ms;         /* proc_stop_pump's look at the
					 * task list (CLOCK_MONOTONIC) */
};

/*
 * Seizes every thread of pid (found in /proc/PID/task until a listing
 * shows no new one). 0, or -errno (logged: -EPERM without CAP_SYS_PTRACE
 * or when another tracer holds it, -ESRCH when it is gone). ps is
 * initialised here; proc_stop_detach releases it.
 */
int proc_stop_seize(struct proc_stop *ps, pid_t pid);

/*
 * Handles, without blocking, every stop the running program reported:
 * signals re-delivered, new threads added, exited ones removed. Returns
 * the number of stops handled, or -errno. Threads we hold are untouched.
 */
int proc_stop_pump(struct proc_stop *ps);

/*
 * Stops every thread and returns once all are in a ptrace-stop (at most
 * timeout_ms; then -ETIMEDOUT, logged, and some threads may be stopped).
 * A thread that was about to take a signal takes it first (its handler
 * frame is then part of the state). -ESRCH if the program exited.
 */
int proc_stop_interrupt(struct proc_stop *ps, int timeout_ms);

/* Resumes every held thread, then delivers deferred signals. 0 or -errno. */
int proc_stop_resume(struct proc_stop *ps);

/*
 * Stops the program, detaches from every thread (deferred signals are
 * sent after) and frees ps. The program runs on untraced. NULL-safe.
 */
void proc_stop_detach(struct proc_stop *ps);

/* Remembers sig, caught while tid was held, for delivery at resume. */
void proc_stop_defer(struct proc_stop *ps, pid_t tid, int sig);

/* The thread with this id (ours, or the program's own), or NULL. */
struct proc_thread *proc_stop_find(struct proc_stop *ps, pid_t tid);
struct proc_thread *proc_stop_find_ns(struct proc_stop *ps, pid_t ns_tid);

/*
 * Sorts the thread list by the program's thread ids: two twins started alike list the
 * same ids in the same order. Call with every thread stopped.
 */
void proc_stop_sort(struct proc_stop *ps);

#endif
