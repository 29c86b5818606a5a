// SPDX-License-Identifier: MIT
/*
 * Starting and stopping a guest process.
 *
 * The guest finds its file descriptors at fixed numbers, from 3 up: the
 * event channel, the hint channel, then one memfd per RAM block, as the
 * COLO_GUEST_* variables (chan.h) also say. Every other descriptor of the
 * daemon is closed at exec.
 *
 * Everything the child needs is prepared before fork(): the daemon has
 * threads, and between fork and exec only async-signal-safe calls are
 * allowed (no malloc, no setenv).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guestproc.h"
#include "evloop.h"
#include "log.h"
#include "ramblock.h"

extern char **environ;

#define GUEST_FD_BASE 3                 /* chan, hint, then the memfds */
#define GUEST_NFDS (2 + RAM_MAX_BLOCKS)
#define ENV_PREFIX "COLO_GUEST_"

/* What the child needs between fork and exec, built beforehand. */
struct spawn_plan {
	char **argv;                    /* path, the daemon's --guest-arg's */
	char **envp;
	int src[GUEST_NFDS];            /* placed at GUEST_FD_BASE + i */
	int nfds;
	char env_ram[sizeof(CHAN_ENV_RAM) + RAM_MAX_BLOCKS * 48];
	char env_chan[sizeof(CHAN_ENV_CHAN) + 16];
	char env_hint[sizeof(CHAN_ENV_HINT) + 16];
	char env_resume[sizeof(CHAN_ENV_RESUME) + 4];
};

/* path, then args (NULL-terminated, may be NULL): the guest's argv. */
static int plan_argv(struct spawn_plan *sp, const char *path,
		     const char *const *args)
{
	size_t n = 0;

	while (args && args[n])
		n++;
	sp->argv = calloc(n + 2, sizeof(char *));
	if (!sp->argv)
		return -ENOMEM;
	sp->argv[0] = (char *)path;
	for (size_t i = 0; i < n; i++)
		sp->argv[i + 1] = (char *)args[i];
	return 0;
}

static int plan_init(struct spawn_plan *sp, const char *path,
		     const char *const *args, const struct ram_layout *ram,
		     bool resume, int chan_fd, int hint_fd)
{
	size_t n = 0, off;
	int err;

	memset(sp, 0, sizeof(*sp));
	if (ram->nblocks > RAM_MAX_BLOCKS)
		return -EINVAL;
	for (uint32_t i = 0; i < ram->nblocks; i++)
		if (ram->blocks[i].memfd < 0)
			return -EBADF;
	err = plan_argv(sp, path, args);
	if (err)
		return err;
	sp->src[sp->nfds++] = chan_fd;
	sp->src[sp->nfds++] = hint_fd;

	off = (size_t)snprintf(sp->env_ram, sizeof(sp->env_ram), "%s=",
			       CHAN_ENV_RAM);
	for (uint32_t i = 0; i < ram->nblocks; i++) {
		const struct ramblock *rb = &ram->blocks[i];

		off += (size_t)snprintf(sp->env_ram + off,
					sizeof(sp->env_ram) - off,
					"%s%d:0x%llx:0x%llx", i ? "," : "",
					GUEST_FD_BASE + sp->nfds,
					(unsigned long long)rb->guest_addr,
					(unsigned long long)rb->size);
		sp->src[sp->nfds++] = rb->memfd;
	}
	snprintf(sp->env_chan, sizeof(sp->env_chan), "%s=%d", CHAN_ENV_CHAN,
		 GUEST_FD_BASE);
	snprintf(sp->env_hint, sizeof(sp->env_hint), "%s=%d", CHAN_ENV_HINT,
		 GUEST_FD_BASE + 1);
	snprintf(sp->env_resume, sizeof(sp->env_resume), "%s=1",
		 CHAN_ENV_RESUME);

	/* Our environment minus any inherited COLO_GUEST_*, plus ours. */
	while (environ && environ[n])
		n++;
	sp->envp = calloc(n + 5, sizeof(char *));
	if (!sp->envp)
		return -ENOMEM;
	n = 0;
	for (char **e = environ; e && *e; e++)
		if (strncmp(*e, ENV_PREFIX, strlen(ENV_PREFIX)))
			sp->envp[n++] = *e;
	sp->envp[n++] = sp->env_ram;
	sp->envp[n++] = sp->env_chan;
	sp->envp[n++] = sp->env_hint;
	/* Absent rather than "0": a guest may only test for presence. */
	if (resume)
		sp->envp[n++] = sp->env_resume;
	return 0;
}

/* In the child: tell the parent why we did not get to exec, and die. */
static void __attribute__((noreturn)) child_fail(int err_fd)
{
	int err = errno;

	if (write(err_fd, &err, sizeof(err)) < 0)
		_exit(126);
	_exit(127);
}

static void __attribute__((noreturn)) child_exec(const struct spawn_plan *sp,
						 pid_t parent, int err_fd)
{
	int high = GUEST_FD_BASE + sp->nfds;
	int tmp[GUEST_NFDS];
	sigset_t none;

	/* A guest must not outlive its daemon (nor run unsupervised). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		child_fail(err_fd);
	if (getppid() != parent)
		_exit(127);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	/*
	 * Two steps, so that no source is overwritten before it is copied:
	 * first every fd (the error pipe too) above the target numbers, then
	 * down into place. dup2 leaves the copies without FD_CLOEXEC.
	 */
	err_fd = fcntl(err_fd, F_DUPFD_CLOEXEC, high);
	if (err_fd < 0)
		_exit(127);
	for (int i = 0; i < sp->nfds; i++) {
		tmp[i] = fcntl(sp->src[i], F_DUPFD_CLOEXEC, high);
		if (tmp[i] < 0)
			child_fail(err_fd);
	}
	for (int i = 0; i < sp->nfds; i++)
		if (dup2(tmp[i], GUEST_FD_BASE + i) < 0)
			child_fail(err_fd);
	/* Anything else the daemon had open goes at exec (not stdio). */
	close_range((unsigned int)high, ~0U, CLOSE_RANGE_CLOEXEC);

	execve(sp->argv[0], sp->argv, sp->envp);
	child_fail(err_fd);
}


/* The channel hit EOF before READY: say how the guest ended, if it did. */
static void report_early_exit(struct guestproc *gp, const char *path)
{
	int st;

	for (int i = 0; i < 100; i++) {
		pid_t r = waitpid(gp->pid, &st, WNOHANG);

		if (r == gp->pid) {
			gp->pid = -1;
			if (WIFEXITED(st))
				log_error("guest %s exited with status %d before READY",
					  path, WEXITSTATUS(st));
			else
				log_error("guest %s killed by signal %d (%s) before READY",
					  path, WTERMSIG(st),
					  strsignal(WTERMSIG(st)));
			return;
		}
		if (r < 0 && errno != EINTR)
			break;
		usleep(10000);
	}
	log_error("guest %s closed its channel before READY", path);
}

static int wait_ready(struct guestproc *gp, const char *path, int timeout_ms,
		      int (*idle)(void *opaque), void *opaque)
{
	int64_t deadline = (int64_t)evloop_now_ms() + timeout_ms;
	struct pollfd pfd = { .fd = gp->chan_fd, .events = POLLIN };
	struct chan_msg m;
	int64_t left;
	int r;

	for (;;) {
		r = chan_next(&gp->rd, &m);
		if (r < 0) {
			log_error("guest %s: malformed message before READY",
				  path);
			return r;
		}
		if (r == 1 && m.type == CHAN_READY)
			return 0;
		if (r == 1) {
			log_error("guest %s sent message type %u before READY",
				  path, m.type);
			return -EPROTO;
		}

		left = timeout_ms < 0 ? -1 : deadline - (int64_t)evloop_now_ms();
		if (timeout_ms >= 0 && left <= 0) {
			log_error("guest %s: no READY within %d ms", path,
				  timeout_ms);
			return -ETIMEDOUT;
		}
		if (idle && (left < 0 || left > GUESTPROC_IDLE_MS))
			left = GUESTPROC_IDLE_MS;
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (idle && (r = idle(opaque)) < 0)
			return r;
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		r = chan_fill(&gp->rd);
		if (r == 0) {
			report_early_exit(gp, path);
			return -ECONNRESET;
		}
		if (r < 0 && r != -EAGAIN && r != -EINTR) {
			log_error("guest %s: channel read: %s", path,
				  strerror(-r));
			return r;
		}
	}
}

/* Returns 0 when the child reached exec, or the errno it failed with. */
static int exec_status(int err_fd)
{
	ssize_t n;
	int err;

	do
		n = read(err_fd, &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	return n == sizeof(err) ? err : 0;
}

/* fork + exec; 0 once the child has exec'd path, else -errno (logged). */
static int start_child(struct guestproc *gp, const char *path,
		       const char *const *args, const struct ram_layout *ram,
		       bool resume, int chan_fd, int hint_fd)
{
	struct spawn_plan sp;
	pid_t parent = getpid();
	int errp[2], err;

	if (pipe2(errp, O_CLOEXEC) < 0)
		return -errno;
	err = plan_init(&sp, path, args, ram, resume, chan_fd, hint_fd);
	if (err)
		goto out;
	gp->pid = fork();
	if (gp->pid == 0) {
		close(errp[0]);
		child_exec(&sp, parent, errp[1]);
	}
	if (gp->pid < 0) {
		err = -errno;
		gp->pid = -1;
		log_error("fork for guest %s: %s", path, strerror(-err));
		goto out;
	}
	/* Our copy of the write end must go, or the read never sees EOF. */
	close(errp[1]);
	errp[1] = -1;
	err = -exec_status(errp[0]);
	if (err)
		log_error("exec guest %s: %s", path, strerror(-err));
out:
	free(sp.argv);
	free(sp.envp);
	close(errp[0]);
	if (errp[1] >= 0)
		close(errp[1]);
	return err;
}

int guestproc_spawn(struct guestproc *gp, const char *path,
		    const char *const *args, const struct ram_layout *ram,
		    bool resume, int timeout_ms, int (*idle)(void *opaque),
		    void *opaque)
{
	int chan[2], hint[2];
	int err;

	memset(gp, 0, sizeof(*gp));
	gp->pid = -1;
	gp->chan_fd = gp->hint_fd = -1;
	gp->rd.fd = -1;
	gp->wr.fd = -1;
	gp->hint_rd.fd = -1;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, chan) < 0)
		return -errno;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, hint) < 0) {
		err = -errno;
		close(chan[0]);
		close(chan[1]);
		return err;
	}
	gp->chan_fd = chan[0];
	gp->hint_fd = hint[0];
	err = start_child(gp, path, args, ram, resume, chan[1], hint[1]);
	/* The guest's ends live on in the guest only: EOF when it dies. */
	close(chan[1]);
	close(hint[1]);
	if (!err && fcntl(gp->chan_fd, F_SETFL, O_NONBLOCK) < 0)
		err = -errno;
	if (!err)
		err = chan_reader_init(&gp->rd, gp->chan_fd);
	if (!err)
		err = chan_writer_init(&gp->wr, gp->chan_fd);
	if (!err)
		err = chan_reader_init(&gp->hint_rd, gp->hint_fd);
	if (!err)
		err = wait_ready(gp, path, timeout_ms, idle, opaque);
	if (err) {
		guestproc_stop(gp);
		return err;
	}
	log_info("guest %s running as pid %d", path, (int)gp->pid);
	return 0;
}

void guestproc_stop(struct guestproc *gp)
{
	if (!gp)
		return;
	if (gp->pid > 0) {
		kill(gp->pid, SIGKILL);
		while (waitpid(gp->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	gp->pid = -1;
	if (gp->rd.fd >= 0)
		chan_reader_deinit(&gp->rd);
	gp->rd.fd = -1;
	if (gp->wr.fd >= 0)
		chan_writer_deinit(&gp->wr);
	gp->wr.fd = -1;
	if (gp->hint_rd.fd >= 0)
		chan_reader_deinit(&gp->hint_rd);
	gp->hint_rd.fd = -1;
	if (gp->chan_fd >= 0)
		close(gp->chan_fd);
	if (gp->hint_fd >= 0)
		close(gp->hint_fd);
	gp->chan_fd = gp->hint_fd = -1;
}

int guestproc_send(struct guestproc *gp, const struct chan_msg *m)
{
	if (gp->pid < 0)
		return -ECHILD;
	return chan_append(&gp->wr, m);
}

int guestproc_flush(struct guestproc *gp)
{
	ssize_t left;

	if (gp->pid < 0)
		return -ECHILD;
	left = chan_flush(&gp->wr);
	return left < 0 ? (int)left : 0;
}

uint32_t guestproc_events(const struct guestproc *gp)
{
	return EV_READ | (chan_queued(&gp->wr) ? EV_WRITE : 0);
}

int guestproc_pump(struct guestproc *gp, uint64_t *barrier_done,
		   int (*on_msg)(void *opaque, const struct chan_msg *m),
		   void *opaque)
{
	struct chan_msg m;
	bool filled = false;
	ssize_t left;
	int ret;

	left = chan_flush(&gp->wr);
	if (left < 0)
		return (int)left;
	for (;;) {
		while ((ret = chan_next(&gp->rd, &m)) == 1) {
			if (m.type == CHAN_BARRIER_DONE) {
				if (barrier_done)
					*barrier_done = m.a;
				continue;
			}
			ret = on_msg(opaque, &m);
			if (ret < 0)
				return ret;
		}
		if (ret < 0) {
			log_error("guest %d sent a malformed message",
				  (int)gp->pid);
			return ret;
		}
		/* The socket gave less than there was room for: it is empty
		 * (for now; the loop's level-triggered wait says when not),
		 * and a read to hear EAGAIN would be a syscall for nothing. */
		if (filled && gp->rd.drained)
			return 0;
		ret = chan_fill(&gp->rd);
		filled = true;
		if (ret == -EAGAIN || ret == -EINTR)
			return 0;
		if (ret <= 0)
			return ret == 0 ? -ECONNRESET : ret;
	}
}

/* Counts what the guest hands over while it works towards a barrier. */
struct barrier_progress {
	const struct guestproc_wait_ops *ops;
	uint64_t msgs;
};

static int barrier_on_msg(void *opaque, const struct chan_msg *m)
{
	struct barrier_progress *bp = opaque;

	bp->msgs++;
	return bp->ops->on_msg ? bp->ops->on_msg(bp->ops->opaque, m) : 0;
}

int guestproc_barrier(struct guestproc *gp, uint64_t id, int timeout_ms,
		      const struct guestproc_wait_ops *ops)
{
	struct chan_msg ev = { .type = CHAN_EV_BARRIER, .a = id };
	struct barrier_progress bp = { ops, 0 };
	uint64_t start = evloop_now_ms();
	uint64_t cap = start + (uint64_t)timeout_ms * GUESTPROC_BARRIER_CAP;
	uint64_t deadline = start + (uint64_t)timeout_ms;
	uint64_t done = 0, seen = 0;
	int ret;

	ret = guestproc_send(gp, &ev);
	while (ret >= 0) {
		struct pollfd pfd[2] = {
			{ .fd = gp->chan_fd, .events = POLLIN },
			{ .fd = ops->on_hint ? gp->hint_fd : -1, .events = POLLIN },
		};
		uint64_t now;

		ret = guestproc_pump(gp, &done, barrier_on_msg, &bp);
		if (ret < 0 || done == id)
			break;
		now = evloop_now_ms();
		/* A guest still answering its backlog is slow, not stuck: the
		 * deadline is timeout_ms without a message, up to the cap. */
		if (bp.msgs != seen) {
			seen = bp.msgs;
			deadline = now + (uint64_t)timeout_ms;
			if (deadline > cap)
				deadline = cap;
		}
		if (now >= deadline) {
			log_error("guest %d did not reach a safe point (%llu ms, "
				  "%llu messages on the way)", (int)gp->pid,
				  (unsigned long long)(now - start),
				  (unsigned long long)seen);
			return -ETIMEDOUT;
		}
		if (chan_queued(&gp->wr))
			pfd[0].events |= POLLOUT;
		if (poll(pfd, 2, deadline - now < GUESTPROC_IDLE_MS ?
				 (int)(deadline - now) : GUESTPROC_IDLE_MS) < 0 &&
		    errno != EINTR)
			return -errno;
		/* A hint counts as progress: the guest is freeing, not stuck. */
		if (pfd[1].revents) {
			bp.msgs++;
			if ((ret = ops->on_hint(ops->opaque)) < 0)
				return ret;
		}
		if (ops->idle && (ret = ops->idle(ops->opaque)) < 0)
			return ret;
	}
	return ret < 0 ? ret : 0;
}
