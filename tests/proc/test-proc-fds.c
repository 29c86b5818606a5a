// SPDX-License-Identifier: MIT
/*
 * proc_fds_capture on a real program: proc-target, launched with the
 * shim, opens an epoll fd watching its connection, an eventfd, a pipe
 * holding 3 bytes and a signalfd ("fds"), writes more than its reader
 * takes ("flood"), and is then stopped (SIGSTOP) with a request sent
 * that it has not read, and a second client pending in its listening
 * socket's accept queue. The capture must show each of them as the
 * kernel holds it: kinds, flags, the interest list, the counter, the
 * mask, the accept queue, the 15 unread bytes exactly, and unsent bytes
 * that with what our end holds make the whole flood. proc_fds_check
 * refuses the pipe with bytes in it, naming it.
 *
 * Usage: test-proc-fds PROC-TARGET COLO-SHIM.SO
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "proc-fds.h"
#include "proc-fixture.h"
#include "shim-abi.h"

#define FLOOD 200000
#define REPLY "flooded\n"
#define UNREAD "unread request\n"

struct target_fds {
	int epoll, eventfd, pipe_r, pipe_w, signalfd;
};

static void send_signal(const struct proc_child *c, int sig)
{
	CHECK_EQ(syscall(SYS_pidfd_send_signal, c->pidfd, sig, NULL, 0), 0);
}

/* The state letter of /proc/PID/stat ('T' once stopped). */
static char proc_state(pid_t pid)
{
	char path[64], buf[512], *close_paren;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	CHECK(n > 0);
	buf[n] = '\0';
	close_paren = strrchr(buf, ')');
	CHECK(close_paren && close_paren[1] == ' ');
	return close_paren[2];
}

static void stop_target(const struct proc_child *c)
{
	uint64_t deadline = fixture_now_ms() + FIXTURE_WAIT_MS;

	send_signal(c, SIGSTOP);
	while (proc_state(c->pid) != 'T') {
		CHECK(fixture_now_ms() < deadline);
		usleep(10000);
	}
}

static size_t count_fds(pid_t pid)
{
	char path[64];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	CHECK(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static uint16_t local_port(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	CHECK_EQ(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	return ntohs(sin.sin_port);
}

static uint32_t inq(int fd)
{
	int v = -1;

	CHECK_EQ(ioctl(fd, SIOCINQ, &v), 0);
	return (uint32_t)v;
}

static const struct proc_fd *conn_from(const struct proc_fd_table *t,
				       uint16_t port)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->fds[i].kind == PROC_FD_TCP_CONN &&
		    t->fds[i].remote.port == port)
			return &t->fds[i];
	return NULL;
}

/*
 * Captures until the flood has settled (acknowledged bytes are in our
 * receive queue, the rest in the target's send queue, none counted twice
 * while an ACK is on its way) and the connection holds `unread` bytes
 * the target has not read. Fails if that never happens.
 */
static void capture_settled(const struct proc_child *c, int conn,
			    uint32_t unread, struct proc_fd_table *t)
{
	uint64_t deadline = fixture_now_ms() + FIXTURE_WAIT_MS;
	const struct proc_fd *f;
	uint32_t ours;

	for (;;) {
		ours = inq(conn);
		CHECK_EQ(proc_fds_capture(c->pid, c->pidfd, t), 0);
		f = conn_from(t, local_port(conn));
		CHECK(f);
		if (f->unsent + ours == FLOOD + strlen(REPLY) &&
		    f->unread == unread && inq(conn) == ours)
			break;
		fprintf(stderr, "not yet: unsent %u + ours %u, unread %u\n",
			f->unsent, ours, f->unread);
		CHECK(fixture_now_ms() < deadline);
		proc_fds_free(t);
		usleep(50000);
	}
	fprintf(stderr, "flood of %zu: %u in the target's send queue, %u in "
		"ours\n", FLOOD + strlen(REPLY), f->unsent, ours);
	/* More than our receive buffer takes: some must still be unsent. */
	CHECK(f->unsent > 0);
}

static void check_table(const struct proc_fd_table *t, pid_t pid,
			const struct target_fds *tf, int conn)
{
	const struct proc_fd *f, *cf = conn_from(t, local_port(conn));
	uint8_t lo[4] = { 127, 0, 0, 1 };
	bool listener = false;

	CHECK_EQ(t->n, count_fds(pid));
	for (size_t i = 1; i < t->n; i++)
		CHECK(t->fds[i - 1].fd < t->fds[i].fd);

	f = proc_fds_find(t, 0);
	CHECK(f && f->kind == PROC_FD_NULL_DEV && !strcmp(f->target, "/dev/null"));
	CHECK_EQ(f->flags, O_RDONLY);

	for (size_t i = 0; i < t->n; i++) {
		f = &t->fds[i];
		if (f->kind != PROC_FD_TCP_LISTEN)
			continue;
		CHECK(!listener);
		listener = true;
		CHECK_EQ(f->local.port, TARGET_PORT);
		CHECK(!memcmp(f->local.addr, lo, 4));
		CHECK_EQ(f->pending, 1);        /* the second client */
		CHECK(f->cloexec);
	}
	CHECK(listener);

	CHECK(cf);
	CHECK_EQ(cf->tcp_state, TCP_ESTABLISHED);
	CHECK_EQ(cf->local.port, TARGET_PORT);
	CHECK_EQ(cf->unread, strlen(UNREAD));
	CHECK_EQ(cf->flags, O_RDWR);
	CHECK(cf->cloexec);

	f = proc_fds_find(t, tf->epoll);
	CHECK(f && f->kind == PROC_FD_EPOLL);
	CHECK_EQ(f->n_items, 1);
	CHECK_EQ(f->items[0].tfd, cf->fd);
	/* The kernel adds what it always reports. */
	CHECK_EQ(f->items[0].events, EPOLLIN | EPOLLERR | EPOLLHUP);
	CHECK(f->items[0].data == 0xc0105eedULL);

	f = proc_fds_find(t, tf->eventfd);
	CHECK(f && f->kind == PROC_FD_EVENTFD);
	CHECK_EQ(f->count, 5);
	CHECK_EQ(f->flags, O_RDWR | O_NONBLOCK);

	f = proc_fds_find(t, tf->pipe_r);
	CHECK(f && f->kind == PROC_FD_PIPE);
	CHECK_EQ(f->flags, O_RDONLY);
	CHECK_EQ(f->unread, 3);
	CHECK(proc_fds_find(t, tf->pipe_w));
	CHECK_EQ(proc_fds_find(t, tf->pipe_w)->flags, O_WRONLY);
	CHECK_EQ(proc_fds_find(t, tf->pipe_w)->ino, f->ino);

	f = proc_fds_find(t, tf->signalfd);
	CHECK(f && f->kind == PROC_FD_SIGNALFD);
	CHECK_EQ(f->sigmask, 1ULL << (SIGUSR1 - 1));

	f = proc_fds_find(t, COLO_SHIM_UFFD_FD);
	CHECK(f && f->kind == PROC_FD_OTHER);
	CHECK(!strcmp(f->target, "anon_inode:[userfaultfd]"));
}

static void check_rules(const struct proc_fd_table *t,
			const struct target_fds *tf)
{
	struct proc_fd_actions acts;
	char reason[256], expect[256];

	snprintf(expect, sizeof(expect), "fd %d: pipe holding unread bytes: "
		 "not supported", tf->pipe_r);
	CHECK_EQ(proc_fds_check(t, reason, sizeof(reason)),
		 PROC_FDS_UNSUPPORTED);
	fprintf(stderr, "check: %s\n", reason);
	CHECK(!strcmp(reason, expect));
	/* A table against itself: nothing to do. */
	CHECK_EQ(proc_fds_diff(t, t, &acts), 0);
	CHECK_EQ(acts.n, 0);
	proc_fd_actions_free(&acts);
}

int main(int argc, char **argv)
{
	const char *args[] = { "7070", NULL };
	struct proc_launch_spec spec = { NULL, args, NULL };
	struct proc_fd_table t;
	struct target_fds tf;
	struct proc_child c;
	char reply[256], req[64];
	int conn, pending;

	CHECK_EQ(argc, 3);
	fixture_require_root();
	spec.path = argv[1];
	spec.shim = argv[2];
	fixture_launch(&spec, &c);

	conn = fixture_connect(c.pid, TARGET_PORT);
	fixture_ask(conn, "fds\n", reply, sizeof(reply), 1);
	fprintf(stderr, "target: %s", reply);
	CHECK_EQ(sscanf(reply, "epoll=%d eventfd=%d pipe=%d,%d signalfd=%d",
			&tf.epoll, &tf.eventfd, &tf.pipe_r, &tf.pipe_w,
			&tf.signalfd), 5);
	pending = fixture_connect(c.pid, TARGET_PORT);

	snprintf(req, sizeof(req), "flood %d\n", FLOOD);
	CHECK_EQ(write(conn, req, strlen(req)), (long long)strlen(req));
	/* Flooded, and idle in its read: then it cannot read what follows. */
	capture_settled(&c, conn, 0, &t);
	proc_fds_free(&t);
	stop_target(&c);
	CHECK_EQ(write(conn, UNREAD, strlen(UNREAD)), (long long)strlen(UNREAD));

	capture_settled(&c, conn, strlen(UNREAD), &t);
	check_table(&t, c.pid, &tf, conn);
	check_rules(&t, &tf);
	proc_fds_free(&t);

	send_signal(&c, SIGCONT);
	CHECK_EQ(proc_kill(&c), SIGKILL);
	close(pending);
	close(conn);
	return 0;
}
