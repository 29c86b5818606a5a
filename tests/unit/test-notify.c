// SPDX-License-Identifier: MIT
/*
 * What a daemon tells systemd (notify.h), read back from a datagram socket
 * this test owns as NOTIFY_SOCKET: READY=1 with its STATUS=, a STATUS=
 * only when the line changes (cut the same way each time), WATCHDOG=1 at
 * half of WATCHDOG_USEC and only for the PID systemd named, the loop's
 * wait shortened to the next ping, STOPPING=1 once, and nothing at all
 * outside systemd.
 */
#include "notify.h"
#include "tap.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>

/* In the abstract namespace ("@name", which sd_notify knows): nothing to
 * remove when a check fails half-way. */
static int sink_open(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	char name[64];
	size_t n;

	CHECK(fd >= 0);
	n = (size_t)snprintf(name, sizeof(name), "@colo-test-notify.%d",
			     (int)getpid());
	memcpy(a.sun_path + 1, name + 1, n - 1);
	CHECK_EQ(bind(fd, (struct sockaddr *)&a,
		      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)),
		 0);
	CHECK_EQ(setenv("NOTIFY_SOCKET", name, 1), 0);
	return fd;
}

/* The next message, "" when none is waiting. */
static const char *next(int fd)
{
	static char buf[1024];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

	if (n < 0) {
		CHECK_EQ(errno, EAGAIN);
		n = 0;
	}
	buf[n] = '\0';
	return buf;
}

static void watchdog_for(pid_t pid, const char *usec)
{
	char p[32];

	snprintf(p, sizeof(p), "%d", (int)pid);
	CHECK_EQ(setenv("WATCHDOG_USEC", usec, 1), 0);
	CHECK_EQ(setenv("WATCHDOG_PID", p, 1), 0);
}

static void test_ready_and_status(int fd)
{
	char long_line[600];
	struct notify n;

	watchdog_for(getpid(), "200000");
	notify_init(&n);
	CHECK(n.enabled);
	CHECK_EQ(n.watchdog_every_ms, 100);
	notify_ready(&n, "waiting");
	CHECK(!strcmp(next(fd), "READY=1\nSTATUS=waiting"));
	notify_status(&n, "waiting");
	CHECK(!strcmp(next(fd), ""));
	notify_status(&n, "colo");
	CHECK(!strcmp(next(fd), "STATUS=colo"));
	CHECK(!strcmp(next(fd), ""));

	memset(long_line, 'x', sizeof(long_line) - 1);
	long_line[sizeof(long_line) - 1] = '\0';
	notify_status(&n, long_line);
	CHECK_EQ(strlen(next(fd)), strlen("STATUS=") + NOTIFY_STATUS_MAX - 1);
	notify_status(&n, long_line);
	CHECK(!strcmp(next(fd), ""));
}

static void test_watchdog(int fd)
{
	struct notify n;
	uint64_t t;

	watchdog_for(getpid(), "200000");
	notify_init(&n);
	t = n.last_ping_ms;
	notify_watchdog(&n, t + 99);
	CHECK(!strcmp(next(fd), ""));
	notify_watchdog(&n, t + 100);
	CHECK(!strcmp(next(fd), "WATCHDOG=1"));
	notify_watchdog(&n, t + 150);
	CHECK(!strcmp(next(fd), ""));
	t += 100;
	CHECK_EQ(notify_timeout_ms(&n, t + 30, 1000), 70);
	CHECK_EQ(notify_timeout_ms(&n, t + 30, -1), 70);
	CHECK_EQ(notify_timeout_ms(&n, t + 30, 10), 10);
	CHECK_EQ(notify_timeout_ms(&n, t + 500, 1000), 0);

	/* Another process's watchdog (a child that inherited it): none. */
	watchdog_for(getppid(), "200000");
	notify_init(&n);
	CHECK_EQ(n.watchdog_every_ms, 0);
	notify_watchdog(&n, n.last_ping_ms + 100000);
	CHECK(!strcmp(next(fd), ""));
	CHECK_EQ(notify_timeout_ms(&n, 0, 1000), 1000);
	CHECK_EQ(notify_timeout_ms(&n, 0, -1), -1);
}

static void test_stopping(int fd)
{
	struct notify n;

	unsetenv("WATCHDOG_USEC");
	notify_init(&n);
	notify_status(&n, "colo");
	CHECK(!strcmp(next(fd), "STATUS=colo"));
	notify_stopping(&n, "stopping (signal 15), leaving state colo");
	CHECK(!strcmp(next(fd), "STOPPING=1\n"
		      "STATUS=stopping (signal 15), leaving state colo"));
	notify_stopping(&n, "stopping again");
	notify_status(&n, "standalone");
	CHECK(!strcmp(next(fd), ""));
}

/* Outside systemd: nothing is sent, nothing fails, waits are untouched. */
static void test_no_systemd(int fd)
{
	struct notify n;

	unsetenv("NOTIFY_SOCKET");
	watchdog_for(getpid(), "200000");
	notify_init(&n);
	CHECK(!n.enabled);
	notify_ready(&n, "x");
	notify_status(&n, "y");
	notify_watchdog(&n, n.last_ping_ms + 1000);
	notify_stopping(&n, "z");
	CHECK(!strcmp(next(fd), ""));
	CHECK_EQ(notify_timeout_ms(&n, 0, 1000), 1000);
}

int main(void)
{
	int fd = sink_open();

	test_ready_and_status(fd);
	test_watchdog(fd);
	test_stopping(fd);
	test_no_systemd(fd);
	close(fd);
	return 0;
}
