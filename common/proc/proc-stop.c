// SPDX-License-Identifier: MIT
/*
 * Holding every thread of a program with ptrace.
 *
 * With PTRACE_SEIZE a traced thread reports these stops (wait status >> 16
 * is the event):
 *
 *   event 0                 signal-delivery-stop: a signal is about to be
 *                           delivered; PTRACE_CONT(sig) delivers it
 *   PTRACE_EVENT_STOP       our PTRACE_INTERRUPT, a new thread's first
 *                           stop, or a group stop (SIGSTOP and friends)
 *   PTRACE_EVENT_CLONE      the thread made a thread; its id is the event
 *                           message, and that thread is already traced
 *   PTRACE_EVENT_EXIT       the thread is on its way out
 *
 * The kernel clears a pending interrupt whenever the thread enters any
 * ptrace-stop, so a thread that reports a signal or a clone while we stop
 * the program is let go on and interrupted again: it is only "stopped"
 * once it sits in the interrupt's stop (or a new thread's first stop),
 * where its registers are a state it can resume from on either twin.
 *
 * Waiting polls every thread with WNOHANG rather than blocking on one: a
 * thread group leader's exit is reported only after its other threads
 * are reaped, and those may be waiting for us in their exit stop.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"
#include "proc-stop.h"

/* How often a running program's task list is checked against ours. */
#define AUDIT_EVERY_MS 1000

#define SEIZE_OPTIONS (PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXIT)
#define POLL_PAUSE_US 200

enum stop_kind {
	STOP_NONE,              /* nothing to report */
	STOP_GONE,              /* exited or killed, now reaped */
	STOP_SIGNAL,            /* signal-delivery-stop */
	STOP_EVENT_STOP,        /* interrupt, first stop, group stop */
	STOP_CLONE,
	STOP_EXIT,
};

static enum stop_kind classify(int status)
{
	if (WIFEXITED(status) || WIFSIGNALED(status))
		return STOP_GONE;
	if (!WIFSTOPPED(status))
		return STOP_NONE;
	switch (status >> 16) {
	case 0:
		return STOP_SIGNAL;
	case PTRACE_EVENT_STOP:
		return STOP_EVENT_STOP;
	case PTRACE_EVENT_CLONE:
		return STOP_CLONE;
	case PTRACE_EVENT_EXIT:
		return STOP_EXIT;
	default:
		return STOP_EVENT_STOP; /* an event we did not ask for */
	}
}

struct proc_thread *proc_stop_find(struct proc_stop *ps, pid_t tid)
{
	for (size_t i = 0; i < ps->n; i++)
		if (ps->thread[i].tid == tid)
			return &ps->thread[i];
	return NULL;
}

struct proc_thread *proc_stop_find_ns(struct proc_stop *ps, pid_t ns_tid)
{
	for (size_t i = 0; i < ps->n; i++)
		if (ps->thread[i].ns_tid == ns_tid)
			return &ps->thread[i];
	return NULL;
}

static FILE *open_status(pid_t pid, pid_t tid)
{
	char path[80];

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid,
		 (int)tid);
	return fopen(path, "re");
}

/*
 * From /proc/PID/task/TID/status: the tracer's pid and the thread's id in
 * the innermost PID namespace (the last NSpid field). false if gone.
 */
static bool read_status(pid_t pid, pid_t tid, pid_t *tracer, pid_t *ns_tid)
{
	char line[256];
	FILE *f = open_status(pid, tid);

	if (!f)
		return false;
	*tracer = 0;
	*ns_tid = tid;
	while (fgets(line, sizeof(line), f)) {
		int v;

		if (sscanf(line, "TracerPid: %d", &v) == 1)
			*tracer = v;
		if (!strncmp(line, "NSpid:", 6)) {
			char *last = strrchr(line, '\t');

			if (last && sscanf(last, "%d", &v) == 1)
				*ns_tid = v;
		}
	}
	fclose(f);
	return true;
}

static int add_thread(struct proc_stop *ps, pid_t tid)
{
	pid_t tracer, ns_tid;

	if (proc_stop_find(ps, tid))
		return 0;
	if (ps->n == ps->cap) {
		size_t ncap = ps->cap ? ps->cap * 2 : 16;
		struct proc_thread *grown = realloc(ps->thread,
						    ncap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		ps->thread = grown;
		ps->cap = ncap;
	}
	if (!read_status(ps->pid, tid, &tracer, &ns_tid))
		ns_tid = tid;
	ps->thread[ps->n++] = (struct proc_thread){ .tid = tid,
						    .ns_tid = ns_tid };
	return 0;
}

static void remove_thread(struct proc_stop *ps, struct proc_thread *t)
{
	if (t->tid == ps->pid)
		ps->exited = true;
	*t = ps->thread[--ps->n];
}

static int cont(pid_t tid, int sig)
{
	if (ptrace(PTRACE_CONT, tid, NULL, (void *)(long)sig) < 0)
		return -errno;
	return 0;
}

/* The thread's blocked and caught signals, from one read of its status
 * file; both 0 if it is gone. */
static void read_sigmasks(pid_t pid, pid_t tid, unsigned long long *blocked,
			  unsigned long long *caught)
{
	char line[256];
	FILE *f = open_status(pid, tid);

	*blocked = *caught = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "SigBlk: %llx", blocked);
		sscanf(line, "SigCgt: %llx", caught);
	}
	fclose(f);
}

/*
 * A fault (a kernel-sent SIGSEGV, SIGBUS, SIGILL or SIGFPE) the thread
 * has no handler for, or blocks: the program dies of it. Untraced, the
 * kernel kills even the init of a PID namespace, as our programs are, for
 * such a fault (it drops init's immunity when it forces the signal). A
 * traced init keeps that immunity, the signal we pass on is ignored as
 * init's, and the faulting instruction runs again: stop after stop, a
 * program that crashed hangs at full CPU, and its clients wait forever
 * (a redis-server whose crash report ended in kill(getpid(), SIGSEGV)).
 */
static bool dies_of_fault(pid_t pid, pid_t tid, int sig)
{
	unsigned long long blocked, caught, bit = 1ULL << (sig - 1);
	siginfo_t si;

	if (sig != SIGSEGV && sig != SIGBUS && sig != SIGILL && sig != SIGFPE)
		return false;
	if (ptrace(PTRACE_GETSIGINFO, tid, NULL, &si) < 0 || si.si_code <= 0)
		return false;   /* sent by a process, not the fault itself */
	read_sigmasks(pid, tid, &blocked, &caught);
	return !(caught & bit) || (blocked & bit);
}

/* A signal-delivery-stop: the signal passed on, or, for a fault the
 * program dies of, the program killed as the kernel would have. */
static int pass_signal(struct proc_stop *ps, pid_t tid, int sig)
{
	if (dies_of_fault(ps->pid, tid, sig)) {
		log_warn("proc-stop: thread %d of %d crashed (signal %d, %s) "
			 "with no handler: killed", (int)tid, (int)ps->pid,
			 sig, strsignal(sig));
		if (kill(ps->pid, SIGKILL) < 0 && errno != ESRCH)
			return -errno;
		return 0;
	}
	return cont(tid, sig);
}

/* A thread that appeared through a clone of one we trace is ours too. */
static bool traced_by_us(pid_t pid, pid_t tid)
{
	pid_t tracer, ns_tid;

	return read_status(pid, tid, &tracer, &ns_tid) && tracer == getpid();
}

/* Seizes the threads listed now that we do not hold yet; *seized counts
 * them, *missed those of them no clone event of ours will announce (not
 * auto-attached: really seized here). */
static int seize_listed_counted(struct proc_stop *ps, int *seized,
				int *missed)
{
	char path[64];
	struct dirent *e;
	DIR *dir;
	int r = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)ps->pid);
	dir = opendir(path);
	if (!dir) {
		r = -errno;
		log_error("opendir %s: %s", path, strerror(-r));
		return r;
	}
	*seized = *missed = 0;
	while ((e = readdir(dir)) != NULL && r == 0) {
		pid_t tid = (pid_t)atoi(e->d_name);

		if (tid <= 0 || proc_stop_find(ps, tid))
			continue;
		if (ptrace(PTRACE_SEIZE, tid, NULL,
			   (void *)(long)SEIZE_OPTIONS) == 0) {
			(*missed)++;
		} else {
			r = -errno;
			if (r == -ESRCH) {          /* exited meanwhile */
				r = 0;
				continue;
			}
			if (r == -EPERM && traced_by_us(ps->pid, tid))
				r = 0;              /* auto-attached */
			else {
				log_error("PTRACE_SEIZE %d: %s", (int)tid,
					  strerror(-r));
				break;
			}
		}
		r = add_thread(ps, tid);
		(*seized)++;
	}
	closedir(dir);
	return r;
}

static int seize_listed(struct proc_stop *ps, int *seized)
{
	int missed;

	return seize_listed_counted(ps, seized, &missed);
}

int proc_stop_seize(struct proc_stop *ps, pid_t pid)
{
	int seized, r;

	*ps = (struct proc_stop){ .pid = pid };
	do {
		r = seize_listed(ps, &seized);
	} while (r == 0 && seized > 0);
	if (r == 0 && ps->n == 0)
		r = -ESRCH;
	if (r < 0) {
		proc_stop_detach(ps);
		*ps = (struct proc_stop){ .pid = pid };
	}
	return r;
}

/* Reads one pending status of t: the kind, and the status itself. */
static enum stop_kind poll_thread(struct proc_thread *t, int *status)
{
	pid_t w = waitpid(t->tid, status, __WALL | WNOHANG);

	if (w == 0)
		return STOP_NONE;
	if (w < 0)
		return errno == ECHILD ? STOP_GONE : STOP_NONE;
	return classify(*status);
}

static int add_clone(struct proc_stop *ps, pid_t parent)
{
	unsigned long child;

	if (ptrace(PTRACE_GETEVENTMSG, parent, NULL, &child) < 0)
		return -errno;
	log_debug("proc-stop: thread %d made thread %lu", (int)parent, child);
	return add_thread(ps, (pid_t)child);
}

/*
 * While the program runs, no thread may sit in a stop of ours: one marked
 * held, or one we do not know (a thread the listing and the clone events
 * both missed), would stay stopped for good, its work with it (a
 * memcached worker once stopped answering one connection on the
 * secondary, before rseq areas and restart blocks were carried). A safety
net: never seen since; logged, and let go.
 */
static void audit(struct proc_stop *ps)
{
	uint64_t now = evloop_now_ms();
	int seized = 0, missed = 0;

	for (size_t i = 0; i < ps->n; i++) {
		struct proc_thread *t = &ps->thread[i];

		if (!t->stopped)
			continue;
		log_warn("proc-stop: thread %d of %d left held while the "
			 "program runs: resumed", (int)t->tid, (int)ps->pid);
		t->stopped = false;
		if (cont(t->tid, 0) < 0 && errno != ESRCH)
			log_warn("PTRACE_CONT %d: %s", (int)t->tid,
				 strerror(errno));
	}
	if (now < ps->next_audit_ms)
		return;
	ps->next_audit_ms = now + AUDIT_EVERY_MS;
	/* A thread just cloned is ours already, its clone event not yet
	 * read: added quietly. One we had to seize was missed. */
	if (seize_listed_counted(ps, &seized, &missed) == 0 && missed > 0)
		log_warn("proc-stop: %d thread(s) of %d not followed until "
			 "now: seized", missed, (int)ps->pid);
}

int proc_stop_pump(struct proc_stop *ps)
{
	int handled = 0;

	if (!ps->held)
		audit(ps);
	for (size_t i = 0; i < ps->n; i++) {
		struct proc_thread *t = &ps->thread[i];
		pid_t tid = t->tid;     /* add_clone may move the array */
		int status, r = 0;

		if (t->stopped)
			continue;
		switch (poll_thread(t, &status)) {
		case STOP_NONE:
			continue;
		case STOP_GONE:
			remove_thread(ps, t);
			i--;            /* the last thread moved here */
			handled++;
			continue;
		case STOP_SIGNAL:
			log_debug("proc-stop: thread %d: signal %d passed on",
				  (int)tid, WSTOPSIG(status));
			r = pass_signal(ps, tid, WSTOPSIG(status));
			break;
		case STOP_CLONE:
			r = add_clone(ps, tid);
			if (r == 0)
				r = cont(tid, 0);
			break;
		case STOP_EVENT_STOP:
		case STOP_EXIT:
			log_debug("proc-stop: thread %d: %s stop (signal %d) "
				  "let go", (int)tid, status >> 16 ==
				  PTRACE_EVENT_EXIT ? "exit" : "event",
				  WSTOPSIG(status));
			r = cont(tid, 0);
			break;
		}
		handled++;
		if (r == -ESRCH)        /* killed meanwhile: reaped later */
			r = 0;
		if (r < 0)
			return r;
	}
	return handled;
}

static int interrupt(pid_t tid)
{
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0 && errno != ESRCH)
		return -errno;
	return 0;
}

/*
 * One status of a thread we are stopping: true once it is held. Anything
 * else lets it go on to the interrupt we send again.
 */
static int settle(struct proc_stop *ps, size_t i, enum stop_kind kind,
		  int status, bool *held)
{
	pid_t tid = ps->thread[i].tid;
	int r;

	*held = false;
	switch (kind) {
	case STOP_EVENT_STOP:
		*held = true;
		return 0;
	case STOP_SIGNAL:
		r = pass_signal(ps, tid, WSTOPSIG(status));
		break;
	case STOP_CLONE:
		/* The new thread is interrupted by its own first stop. */
		r = add_clone(ps, tid);
		if (r == 0)
			r = cont(tid, 0);
		break;
	case STOP_EXIT:
		/* On its way out: let it go, it is reaped as STOP_GONE. */
		r = cont(tid, 0);
		return r == -ESRCH ? 0 : r;
	default:
		return 0;
	}
	if (r == 0)
		r = interrupt(tid);
	return r == -ESRCH ? 0 : r;
}

int proc_stop_interrupt(struct proc_stop *ps, int timeout_ms)
{
	uint64_t start = evloop_now_ms();
	size_t waiting;

	for (size_t i = 0; i < ps->n; i++) {
		int r;

		if (ps->thread[i].stopped)
			continue;
		r = interrupt(ps->thread[i].tid);
		if (r < 0) {
			log_error("PTRACE_INTERRUPT %d: %s",
				  (int)ps->thread[i].tid, strerror(-r));
			return r;
		}
	}
	for (;;) {
		waiting = 0;
		for (size_t i = 0; i < ps->n; i++) {
			struct proc_thread *t = &ps->thread[i];
			enum stop_kind kind;
			bool held;
			int status, r;

			if (t->stopped)
				continue;
			kind = poll_thread(t, &status);
			if (kind == STOP_GONE) {
				remove_thread(ps, t);
				i--;
				continue;
			}
			r = settle(ps, i, kind, status, &held);
			if (r < 0) {
				log_error("stopping thread %d: %s",
					  (int)ps->thread[i].tid, strerror(-r));
				return r;
			}
			/* settle may have grown (moved) the array. */
			ps->thread[i].stopped = held;
			waiting += !held;
		}
		if (ps->exited)
			return -ESRCH;
		if (waiting == 0) {
			ps->held = true;
			return 0;
		}
		if (evloop_now_ms() - start > (uint64_t)timeout_ms) {
			log_error("proc-stop: %zu of %zu threads of %d did not "
				  "stop within %d ms", waiting, ps->n,
				  (int)ps->pid, timeout_ms);
			return -ETIMEDOUT;
		}
		usleep(POLL_PAUSE_US);
	}
}

void proc_stop_defer(struct proc_stop *ps, pid_t tid, int sig)
{
	struct proc_thread *t = proc_stop_find(ps, tid);

	if (t && sig >= 1 && sig <= 64)
		t->deferred |= 1ULL << (sig - 1);
}

/*
 * A caught signal goes back as a new one to the same thread: the program
 * sees it arrive a little later, as a thread-directed signal.
 */
static void send_deferred(struct proc_stop *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		struct proc_thread *t = &ps->thread[i];

		for (int sig = 1; sig <= 64; sig++) {
			if (!(t->deferred & (1ULL << (sig - 1))))
				continue;
			if (syscall(SYS_tgkill, ps->pid, t->tid, sig) < 0)
				log_warn("tgkill %d %d: %s", (int)t->tid, sig,
					 strerror(errno));
		}
		t->deferred = 0;
	}
}

int proc_stop_resume(struct proc_stop *ps)
{
	int first_error = 0;

	for (size_t i = 0; i < ps->n; i++) {
		struct proc_thread *t = &ps->thread[i];
		int r;

		if (!t->stopped)
			continue;
		/* From a stop that injection left as a single-step trap,
		 * signal 0 also drops that SIGTRAP: it was ours. */
		r = cont(t->tid, 0);
		if (r < 0 && r != -ESRCH && !first_error) {
			log_error("PTRACE_CONT %d: %s", (int)t->tid,
				  strerror(-r));
			first_error = r;
		}
		t->stopped = false;
	}
	ps->held = false;
	send_deferred(ps);
	return first_error;
}

void proc_stop_detach(struct proc_stop *ps)
{
	if (!ps || !ps->thread)
		return;
	/* PTRACE_DETACH wants the thread in a ptrace-stop. */
	if (!ps->exited)
		(void)proc_stop_interrupt(ps, 2000);
	for (size_t i = 0; i < ps->n; i++)
		if (ps->thread[i].stopped &&
		    ptrace(PTRACE_DETACH, ps->thread[i].tid, NULL, NULL) < 0 &&
		    errno != ESRCH)
			log_warn("PTRACE_DETACH %d: %s",
				 (int)ps->thread[i].tid, strerror(errno));
	send_deferred(ps);
	free(ps->thread);
	ps->thread = NULL;
	ps->n = ps->cap = 0;
}

static int by_tid(const void *a, const void *b)
{
	const struct proc_thread *x = a, *y = b;

	return (x->ns_tid > y->ns_tid) - (x->ns_tid < y->ns_tid);
}

void proc_stop_sort(struct proc_stop *ps)
{
	qsort(ps->thread, ps->n, sizeof(*ps->thread), by_tid);
}
