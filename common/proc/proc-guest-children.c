// SPDX-License-Identifier: MIT
/*
 * The program's children (a fork of it: Redis's BGSAVE, an AOF rewrite)
 * and the pauses that must not catch one alive.
 *
 * A child is each side's own: not seized, not tracked, not copied. It
 * works on the same data on both hosts and its parent learns its end by
 * reaping it, so a checkpoint taken while one lives (or lies unreaped)
 * would give the SVM a parent waiting for a child it does not have. So:
 *
 *   PVM  (proc_guest_pause_childless)  the program runs until it has no
 *        child, then is paused; one that forked meanwhile is let go and
 *        waited for again; past the bound, -EAGAIN and the caller tries
 *        later (nothing was paused);
 *   SVM  (proc_guest_pause_reaping)    the same wait, bounded, then the
 *        pause, and whatever children are left are killed and reaped
 *        from inside the program (wait4 injected): its memory is about to
 *        become the PVM's, which has none. In two steps for a caller that
 *        may still decide against the checkpoint once the program is
 *        paused (pause_settled, then end_children).
 *
 * The SVM may also be a thread short, or one over, of the image: threads
 * a program starts on its own schedule (jemalloc's background threads,
 * woken after a child's end or an AOF's first fsync) come a little later
 * on one side. proc_guest_wait_threads lets it run until it has as many
 * as the image, bounded; the apply refuses a set that still differs.
 *
 * The children are found by their parent in /proc/N/stat (this kernel
 * has no /proc/PID/task/TID/children). A grandchild whose parent dies is
 * re-parented to the program, PID 1 of its namespace, so "no child" is
 * "the program alone in its namespace".
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"
#include "proc-guest.h"
#include "proc-inject.h"
#include "proc-stop.h"

/* How often a wait looks again, pumps the tracer and calls idle. */
#define POLL_MS 5
/* How long a pause may be put off for a /proc file held a moment. */
#define TRANSIENT_WAIT_MS 50

/* The parent in /proc/N/stat, after the command in parentheses (which may
 * hold any byte, ')' too: the last one ends it). -1 when unreadable. */
static pid_t parent_of(const char *name)
{
	char path[64], buf[512], *p;
	int ppid = -1, fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%s/stat", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
		return -1;
	return ppid;
}

int proc_guest_children(const struct proc_guest *g, pid_t *pids, size_t max)
{
	struct dirent *d;
	DIR *dir;
	int n = 0;

	if (!proc_guest_running(g))
		return -ECHILD;
	dir = opendir("/proc");
	if (!dir)
		return -errno;
	while ((d = readdir(dir))) {
		if (!isdigit((unsigned char)d->d_name[0]) ||
		    parent_of(d->d_name) != g->child.pid)
			continue;
		if (pids && (size_t)n < max)
			pids[n] = (pid_t)atoi(d->d_name);
		n++;
	}
	closedir(dir);
	return n;
}

static int64_t now_ms(void)
{
	return (int64_t)evloop_now_ms();
}

/*
 * Lets the program run until it has no child, or deadline: pumping the
 * tracer (the child's SIGCHLD stops the program until it is passed on)
 * and calling idle. 0 (none), -EAGAIN (some at the deadline), -ECHILD
 * (the program ended: its loop handler says so), or idle's error.
 */
static int wait_childless(struct proc_guest *g, int64_t deadline,
			  int (*idle)(void *), void *opaque)
{
	int n, ret;

	for (;;) {
		if (evloop_fd_readable(g->child.pidfd))
			return -ECHILD;
		n = proc_guest_children(g, NULL, 0);
		if (n <= 0)
			return n;
		if (now_ms() >= deadline)
			return -EAGAIN;
		ret = proc_stop_pump(g->tracer);
		if (ret < 0)
			return ret;
		if (idle && (ret = idle(opaque)) < 0)
			return ret;
		usleep(POLL_MS * 1000);
	}
}

/*
 * Whether the paused program holds a file of /proc or /sys open: one it
 * reads and closes within a moment (Redis reads /proc/self/stat for its
 * RSS on every cron tick), which the SVM, paused elsewhere in the same
 * work, does not hold. A checkpoint there would find an fd it cannot give
 * the SVM; a moment later it is gone.
 */
static bool holds_transient_fd(pid_t pid)
{
	char dir[64], path[64 + 256], link[64];
	struct dirent *de;
	bool found = false;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		found = !strncmp(link, "/proc/", 6) || !strncmp(link, "/sys/", 5);
	}
	closedir(d);
	return found;
}

int proc_guest_pause_childless(struct proc_guest *g, int wait_ms,
			       int pause_ms, int (*idle)(void *),
			       void *opaque)
{
	int64_t deadline = now_ms() + wait_ms;
	int64_t settle = now_ms() + TRANSIENT_WAIT_MS;
	int n, ret;

	if (!proc_guest_tracer(g))
		return -ECHILD;
	for (;;) {
		ret = wait_childless(g, deadline, idle, opaque);
		if (ret < 0)
			break;
		ret = proc_guest_pause(g, pause_ms);
		if (ret < 0)
			return ret;
		/* It may have forked between the look and the stop. */
		n = proc_guest_children(g, NULL, 0);
		/* Caught between the open and the close of a /proc file: let
		 * it finish (a program that keeps one open gets it refused,
		 * by name, after TRANSIENT_WAIT_MS). */
		if (n == 0 && now_ms() < settle &&
		    holds_transient_fd(g->child.pid)) {
			ret = proc_guest_resume(g);
			if (ret < 0)
				return ret;
			usleep(1000);
			continue;
		}
		if (n == 0)
			return 0;
		ret = proc_guest_resume(g);
		if (ret < 0)
			return ret;
		if (n < 0)
			return n;
	}
	return ret;
}

/* With the program paused: SIGKILL every child, then reap them inside
 * the program (their parent) until none is left, at most timeout_ms. */
static int kill_and_reap(struct proc_guest *g, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	struct proc_stop *ps = g->tracer;
	struct proc_inject in;
	pid_t pids[64];
	int n, i, ret;

	ret = proc_inject_init(&in, ps, ps->thread[0].tid);
	if (ret < 0)
		return ret;
	while ((n = proc_guest_children(g, pids, 64)) > 0) {
		const uint64_t args[6] = { (uint64_t)-1, 0,
					   WNOHANG | __WALL, 0, 0, 0 };
		int64_t r;

		for (i = 0; i < n && i < 64; i++)
			kill(pids[i], SIGKILL);
		ret = proc_inject_syscall(&in, SYS_wait4, args, &r);
		if (ret < 0)
			return ret;
		if (r < 0 && r != -ECHILD)
			return (int)r;
		if (r == 0 || r == -ECHILD) {
			/* Killed but not dead yet (a zombie comes soon). */
			if (now_ms() >= deadline)
				return -ETIMEDOUT;
			usleep(1000);
		}
	}
	return n;
}

int proc_guest_wait_threads(struct proc_guest *g, size_t n, int wait_ms,
			    int (*idle)(void *), void *opaque)
{
	int64_t deadline = now_ms() + wait_ms;
	int ret;

	if (!proc_guest_tracer(g))
		return -ECHILD;
	for (;;) {
		if (evloop_fd_readable(g->child.pidfd))
			return -ECHILD;
		ret = proc_stop_pump(g->tracer);
		if (ret < 0)
			return ret;
		if (g->tracer->n == n)
			return 0;
		if (now_ms() >= deadline)
			return -EAGAIN;
		if (idle && (ret = idle(opaque)) < 0)
			return ret;
		usleep(POLL_MS * 1000);
	}
}

int proc_guest_pause_settled(struct proc_guest *g, int wait_ms,
			     int pause_ms, size_t threads,
			     int (*idle)(void *), void *opaque)
{
	int ret;

	if (!proc_guest_tracer(g))
		return -ECHILD;
	ret = wait_childless(g, now_ms() + wait_ms, idle, opaque);
	/* Not killed and left to the program to reap: a program whose
	 * memory came from an image crashed starting a thread in its
	 * handling of the end (glibc: "rseq registration failed", seen on
	 * Redis 7.0.15 after a killed BGSAVE; not understood yet). Reaped
	 * inside it instead, paused (proc_guest_end_children). */
	if (ret < 0 && ret != -EAGAIN)
		return ret;
	if (threads) {
		ret = proc_guest_wait_threads(g, threads, wait_ms, idle, opaque);
		if (ret < 0 && ret != -EAGAIN)
			return ret;
	}
	return proc_guest_pause(g, pause_ms);
}

int proc_guest_end_children(struct proc_guest *g, int pause_ms)
{
	int n = proc_guest_children(g, NULL, 0), ret;

	if (n == 0)
		return 0;
	log_info("the program has %d child(ren) at the checkpoint: killed, "
		 "as its copy of the PVM will have none", n);
	ret = n < 0 ? n : kill_and_reap(g, pause_ms);
	if (ret < 0) {
		log_error("cannot end the program's children: %s",
			  strerror(-ret));
		(void)proc_guest_resume(g);
	}
	return ret;
}

int proc_guest_pause_reaping(struct proc_guest *g, int wait_ms,
			     int pause_ms, size_t threads,
			     int (*idle)(void *), void *opaque)
{
	int ret = proc_guest_pause_settled(g, wait_ms, pause_ms, threads, idle,
					   opaque);

	return ret < 0 ? ret : proc_guest_end_children(g, pause_ms);
}
