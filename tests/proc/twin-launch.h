/* SPDX-License-Identifier: MIT */
/*
 * The smallest launcher that starts a program twice "the same way", for
 * the proc-stop tests only (proc-launch is the real one): PID 1 of new PID
 * and network namespaces (so its threads get the same ids on both, and
 * its port is its own), lo up, ASLR off, a fixed environment, the given
 * descriptors at 3, 4, ... and nothing else but stdio.
 */
#ifndef COLO_TEST_TWIN_LAUNCH_H
#define COLO_TEST_TWIN_LAUNCH_H

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc-stop.h"
#include "tap.h"

#define TWIN_FIRST_FD 3
#define TWIN_MAX_FDS 16

static inline void twin_lo_up(void)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	strcpy(ifr.ifr_name, "lo");
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		_exit(120);
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		_exit(121);
	close(s);
}

/*
 * The child's side: fds[i] to 3 + i, everything else above them closed,
 * stdout to /dev/null (the twins' logs would only interleave), then exec.
 */
static inline void twin_exec(char *const argv[], const int *fds, int nfds)
{
	static char *const envp[] = { "PATH=/usr/bin:/bin", "LANG=C",
				      "HOME=/", NULL };
	int high[TWIN_MAX_FDS], null = open("/dev/null", O_WRONLY);

	/* Out of the way first, so that no dup2 overwrites a source. */
	for (int i = 0; i < nfds; i++)
		high[i] = fcntl(fds[i], F_DUPFD, 100);
	for (int i = 0; i < nfds; i++)
		if (high[i] < 0 || dup2(high[i], TWIN_FIRST_FD + i) < 0)
			_exit(122);
	if (null < 0 || dup2(null, 1) < 0)
		_exit(123);
	syscall(SYS_close_range, TWIN_FIRST_FD + nfds, ~0U, 0);
	/* A test that fails exits at once: its twins go with it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		_exit(126);
	twin_lo_up();
	if (personality(ADDR_NO_RANDOMIZE) < 0)
		_exit(124);
	if (chdir("/") < 0)
		_exit(125);
	execve(argv[0], argv, envp);
	_exit(127);
}

/*
 * Starts argv[0] (an absolute path) as described above. The pid in our
 * namespace; skips the test when namespaces are not allowed here.
 */
static inline pid_t twin_launch(char *const argv[], const int *fds, int nfds)
{
	struct clone_args args = {
		.flags = CLONE_NEWPID | CLONE_NEWNET,
		.exit_signal = SIGCHLD,
	};
	long pid = syscall(SYS_clone3, &args, sizeof(args));

	if (pid < 0 && (errno == EPERM || errno == ENOSYS))
		SKIP("clone3(CLONE_NEWPID|CLONE_NEWNET): %s", strerror(errno));
	CHECK(pid >= 0);
	if (pid == 0)
		twin_exec(argv, fds, nfds);
	return (pid_t)pid;
}

static inline long twin_ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 +
	       (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/*
 * Waits up to timeout_ms for fd to be readable, pumping the seized
 * program's stops meanwhile (ps may be NULL before it is seized): it
 * cannot take a signal or make a thread until the tracer lets it.
 */
static inline bool twin_wait_readable(int fd, struct proc_stop *ps,
				      int timeout_ms)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (twin_ms_since(&t0) < timeout_ms) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (ps && ps->thread)
			CHECK(proc_stop_pump(ps) >= 0);
		if (poll(&p, 1, 5) > 0)
			return true;
	}
	return false;
}

/* Kills and reaps a twin, detached or not. */
static inline void twin_kill(pid_t pid)
{
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR)
		;
}

#endif
