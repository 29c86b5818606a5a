// SPDX-License-Identifier: MIT
/*
 * An unmodified program fed the guest's events over TCP connections of
 * the daemon's own, made inside the program's network namespace: its
 * start, its end, and the ptrace hold a checkpoint stops it with.
 *
 * Two ways the program can end, and who reaps it:
 *
 *   it exits (or is killed by someone else): under ptrace its other
 *   threads are the tracer's to reap, which the pump does; the pidfd
 *   turns readable once only the leader is left, and proc_kill reaps it
 *   with its status. Should the pump reap the leader first, its status
 *   is gone, and only "went away" is said;
 *   we stop it: detached first, so that SIGKILL's reaping needs nobody.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"
#include "proc-guest-conn.h"
#include "proc-stop.h"

#define START_POLL_MS 50
/* How long an exiting program may take to be seen exited. */
#define EXIT_WAIT_MS 2000
/* How often the pump runs while the program is seized: a signal to the
 * program, or a new thread of its, waits at most this long for us. */
#define PUMP_INTERVAL_MS 10

void proc_guest_init(struct proc_guest *g, struct evloop *loop,
		     const struct proc_guest_ops *ops, void *opaque)
{
	memset(g, 0, sizeof(*g));
	g->loop = loop;
	g->ops = ops;
	g->opaque = opaque;
	g->child.pid = -1;
	g->child.pidfd = -1;
	g->deferred_fd = -1;
	g->pump_fd = -1;
	g->history_cap = PROC_GUEST_HISTORY_CAP;
}

bool proc_guest_running(const struct proc_guest *g)
{
	return g->child.pid >= 0;
}

const char *proc_guest_shim_path(void)
{
	static const char build_root[] = COLO_BUILD_ROOT "/";
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n > 0) {
		exe[n] = '\0';
		if (strncmp(exe, build_root, sizeof(build_root) - 1) == 0)
			return COLO_SHIM_BUILD;
	}
	return COLO_SHIM_INSTALLED;
}

/* "exited with status 1", "was killed by signal 9", from a wait status. */
static const char *how_it_ended(int status, char *buf, size_t len)
{
	if (status >= 0 && WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else if (status >= 0 && WIFSIGNALED(status))
		snprintf(buf, len, "was killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, len, "went away");
	return buf;
}

/* The pump's timer and the tracer go. With detach, the program is let go
 * (it runs on untraced); without, it is gone and only our list is freed. */
static void untrace(struct proc_guest *g, bool detach)
{
	if (g->pump_fd >= 0) {
		evloop_del(g->loop, g->pump_fd);
		close(g->pump_fd);
		g->pump_fd = -1;
	}
	if (!g->tracer)
		return;
	if (!detach)
		g->tracer->exited = true;       /* nothing left to stop */
	proc_stop_detach(g->tracer);
	free(g->tracer);
	g->tracer = NULL;
}

/* Reaps the program that ended by itself: its wait status, or -1 when the
 * pump reaped it already. */
static int reap(struct proc_guest *g)
{
	if (g->tracer && g->tracer->exited) {
		close(g->child.pidfd);
		g->child.pidfd = -1;
		return -1;
	}
	return proc_kill(&g->child);
}

static void program_ended(struct proc_guest *g)
{
	pid_t pid = g->child.pid;
	char how[64];
	int status;

	evloop_del(g->loop, g->child.pidfd);
	status = reap(g);
	untrace(g, false);
	g->child.pid = -1;
	log_error("the program (pid %d) %s", (int)pid,
		  how_it_ended(status, how, sizeof(how)));
	while (g->nconns)
		proc_conn_free(g, g->conns[0]);
	g->ops->died(g->opaque);
}

static void on_exit_of_program(struct evloop *l, int fd, uint32_t events,
			       void *opaque)
{
	(void)l;
	(void)fd;
	(void)events;
	program_ended(opaque);
}

/*
 * Signals and new threads of the running program, let go on. The exit
 * is looked for first: the pump must not reap the leader that proc_kill
 * would reap with its status.
 */
static void on_pump(struct evloop *l, int fd, uint32_t events, void *opaque)
{
	struct proc_guest *g = opaque;
	uint64_t ticks;
	int ret;

	(void)l;
	(void)events;
	if (read(fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		log_warn("timerfd: %s", strerror(errno));
	if (evloop_fd_readable(g->child.pidfd)) {
		program_ended(g);
		return;
	}
	ret = proc_stop_pump(g->tracer);
	if (ret < 0)
		log_warn("the program (pid %d): ptrace pump: %s",
			 (int)g->child.pid, strerror(-ret));
	if (g->tracer->exited)
		program_ended(g);
}

static int start_pump(struct proc_guest *g)
{
	const struct itimerspec every = {
		.it_interval.tv_nsec = PUMP_INTERVAL_MS * 1000000L,
		.it_value.tv_nsec = PUMP_INTERVAL_MS * 1000000L,
	};

	g->pump_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (g->pump_fd < 0)
		return -errno;
	if (timerfd_settime(g->pump_fd, 0, &every, NULL) < 0)
		return -errno;
	return evloop_add(g->loop, g->pump_fd, EV_READ, on_pump, g);
}

/* Seizes the listening program and starts the pump's timer. */
static int trace(struct proc_guest *g)
{
	int ret;

	g->tracer = calloc(1, sizeof(*g->tracer));
	if (!g->tracer)
		return -ENOMEM;
	ret = proc_stop_seize(g->tracer, g->child.pid);
	if (ret < 0) {
		free(g->tracer);
		g->tracer = NULL;
		return ret;
	}
	return start_pump(g);
}

struct proc_stop *proc_guest_tracer(struct proc_guest *g)
{
	return proc_guest_running(g) ? g->tracer : NULL;
}

int proc_guest_pause(struct proc_guest *g, int timeout_ms)
{
	int ret;

	if (!proc_guest_tracer(g))
		return -ECHILD;
	ret = proc_stop_interrupt(g->tracer, timeout_ms);
	/* Half stopped is no state to leave it in: the threads held so far
	 * go on, and the caller may try again. */
	if (ret < 0 && !g->tracer->exited)
		(void)proc_stop_resume(g->tracer);
	return ret;
}

int proc_guest_resume(struct proc_guest *g)
{
	if (!proc_guest_tracer(g))
		return -ECHILD;
	return proc_stop_resume(g->tracer);
}

/* Until the program accepts on its port, it exits, or timeout_ms pass. */
static int wait_listening(struct proc_guest *g, const char *path,
			  int timeout_ms)
{
	uint64_t until = evloop_now_ms() + (uint64_t)timeout_ms;
	struct pollfd pfd = { .fd = g->child.pidfd, .events = POLLIN };

	for (;;) {
		int fd = proc_connect(g->child.pid, g->port);

		if (fd >= 0) {
			close(fd);
			return 0;
		}
		/* -ESRCH: its namespace is gone, it is exiting; its pidfd
		 * says so a moment later. */
		if (fd != -ECONNREFUSED && fd != -ESRCH)
			return fd;
		if (fd == -ECONNREFUSED && evloop_now_ms() >= until) {
			log_error("%s is not listening on port %u after %d ms",
				  path, g->port, timeout_ms);
			return -ETIMEDOUT;
		}
		/* The pidfd doubles as the sleep: readable once it exits. */
		if (poll(&pfd, 1, fd == -ESRCH ? EXIT_WAIT_MS :
				  START_POLL_MS) > 0) {
			char how[64];
			int status = proc_kill(&g->child);

			g->child.pid = -1;
			log_error("%s %s before listening on port %u", path,
				  how_it_ended(status, how, sizeof(how)),
				  g->port);
			return -ECHILD;
		}
		if (fd == -ESRCH) {
			log_error("%s: its network namespace is gone, and it "
				  "has not exited", path);
			return fd;
		}
	}
}

static int watch_deferred(struct proc_guest *g)
{
	g->deferred_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (g->deferred_fd < 0)
		return -errno;
	return evloop_add(g->loop, g->deferred_fd, EV_READ,
			  proc_conn_on_deferred, g);
}

static void unwatch_deferred(struct proc_guest *g)
{
	if (g->deferred_fd < 0)
		return;
	evloop_del(g->loop, g->deferred_fd);
	close(g->deferred_fd);
	g->deferred_fd = -1;
}

static void close_conns(struct proc_guest *g)
{
	while (g->nconns)
		proc_conn_free(g, g->conns[0]);
	free(g->conns);
	g->conns = NULL;
	g->cap = 0;
}

void proc_guest_detach(struct proc_guest *g, struct proc_child *child,
		       struct proc_stop **tracer)
{
	close_conns(g);
	unwatch_deferred(g);
	if (g->pump_fd >= 0) {
		evloop_del(g->loop, g->pump_fd);
		close(g->pump_fd);
		g->pump_fd = -1;
	}
	if (g->child.pidfd >= 0)
		evloop_del(g->loop, g->child.pidfd);
	*child = g->child;
	*tracer = g->tracer;
	g->tracer = NULL;
	g->child.pid = -1;
	g->child.pidfd = -1;
}

int proc_guest_adopt(struct proc_guest *g, struct proc_child *child,
		     struct proc_stop *tracer, uint16_t port)
{
	int ret;

	g->port = port;
	g->child = *child;
	g->tracer = tracer;
	child->pid = -1;
	child->pidfd = -1;
	ret = watch_deferred(g);
	if (ret == 0 && g->tracer)
		ret = start_pump(g);
	if (ret == 0)
		ret = evloop_add(g->loop, g->child.pidfd, EV_READ,
				 on_exit_of_program, g);
	if (ret < 0) {
		log_error("taking over the program (pid %d): %s",
			  (int)g->child.pid, strerror(-ret));
		proc_guest_stop(g);
	}
	return ret;
}

int proc_guest_start(struct proc_guest *g, const char *path,
		     const char *const *args, uint16_t port, int timeout_ms)
{
	const struct proc_launch_spec spec = {
		.path = path, .args = args, .shim = proc_guest_shim_path(),
	};
	int ret;

	if (access(spec.shim, R_OK) < 0) {
		ret = -errno;
		log_error("the shim %s: %s", spec.shim, strerror(errno));
		return ret;
	}
	g->port = port;
	ret = watch_deferred(g);
	if (ret < 0)
		return ret;
	ret = proc_launch(&spec, &g->child);
	if (ret < 0)
		return ret;
	log_info("program %s started (pid %d), waiting for port %u", path,
		 (int)g->child.pid, port);
	ret = wait_listening(g, path, timeout_ms);
	if (ret == 0) {
		ret = trace(g);
		if (ret < 0)
			log_error("%s (pid %d): cannot hold it under ptrace: %s",
				  path, (int)g->child.pid, strerror(-ret));
	}
	if (ret == 0)
		ret = evloop_add(g->loop, g->child.pidfd, EV_READ,
				 on_exit_of_program, g);
	if (ret < 0) {
		proc_guest_stop(g);
		return ret;
	}
	return 0;
}

void proc_guest_stop(struct proc_guest *g)
{
	if (g->child.pidfd >= 0) {
		evloop_del(g->loop, g->child.pidfd);
		untrace(g, true);
		proc_kill(&g->child);
	}
	untrace(g, false);
	g->child.pid = -1;
	close_conns(g);
	unwatch_deferred(g);
}
