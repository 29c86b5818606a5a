// SPDX-License-Identifier: MIT
/*
 * proc_fds_capture on Debian's redis-server, unmodified, under the shim:
 * two clients connected through proc_connect and answered, then redis
 * stopped (SIGSTOP) and a request sent on the second that redis has not
 * read. The capture shows both connections on port 6379 in redis's epoll
 * interest list (data: the fd, as ae.c sets it), the first with nothing
 * unread and the second with exactly the request's bytes; the backend
 * supports the table (proc_fds_check); and once resumed redis answers
 * the request, which the capture only looked at. Skipped (77) without
 * redis-server.
 *
 * Usage: test-proc-fds-redis COLO-SHIM.SO
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "proc-fds.h"
#include "proc-fixture.h"

#define REDIS "/usr/bin/redis-server"
#define REDIS_PORT 6379
#define VALUE_LEN 3000

static void send_signal(const struct proc_child *c, int sig)
{
	CHECK_EQ(syscall(SYS_pidfd_send_signal, c->pidfd, sig, NULL, 0), 0);
}

static bool stopped(pid_t pid)
{
	char path[64], buf[512], *paren;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	CHECK(n > 0);
	buf[n] = '\0';
	paren = strrchr(buf, ')');
	CHECK(paren);
	return paren[1] == ' ' && paren[2] == 'T';
}

static uint16_t local_port(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	CHECK_EQ(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	return ntohs(sin.sin_port);
}

static const struct proc_fd *conn_of(const struct proc_fd_table *t, int client)
{
	uint16_t port = local_port(client);

	for (size_t i = 0; i < t->n; i++)
		if (t->fds[i].kind == PROC_FD_TCP_CONN &&
		    t->fds[i].remote.port == port)
			return &t->fds[i];
	return NULL;
}

static const struct proc_epoll_item *item_of(const struct proc_fd_table *t,
					     int tfd)
{
	for (size_t i = 0; i < t->n; i++)
		for (size_t k = 0; t->fds[i].kind == PROC_FD_EPOLL &&
		     k < t->fds[i].n_items; k++)
			if (t->fds[i].items[k].tfd == tfd)
				return &t->fds[i].items[k];
	return NULL;
}

/* "SET colo:unread xxx...\r\n", the request redis must not have read. */
static char *unread_request(void)
{
	static const char head[] = "SET colo:unread ";
	char *req = malloc(sizeof(head) + VALUE_LEN + 2);

	CHECK(req);
	memcpy(req, head, sizeof(head) - 1);
	memset(req + sizeof(head) - 1, 'v', VALUE_LEN);
	memcpy(req + sizeof(head) - 1 + VALUE_LEN, "\r\n", 3);
	return req;
}

/* Until the request has all arrived in redis's socket. */
static void capture_with_unread(const struct proc_child *c, int client,
				uint32_t unread, struct proc_fd_table *t)
{
	uint64_t deadline = fixture_now_ms() + FIXTURE_WAIT_MS;

	for (;;) {
		const struct proc_fd *f;

		CHECK_EQ(proc_fds_capture(c->pid, c->pidfd, t), 0);
		f = conn_of(t, client);
		CHECK(f);
		if (f->unread == unread)
			return;
		CHECK(f->unread < unread);
		CHECK(fixture_now_ms() < deadline);
		proc_fds_free(t);
		usleep(20000);
	}
}

static void check_table(const struct proc_fd_table *t, int idle, int busy,
			size_t unread)
{
	const struct proc_fd *a = conn_of(t, idle), *b = conn_of(t, busy);
	const struct proc_epoll_item *it;
	struct proc_fd_actions acts;
	char reason[256], what[256];
	size_t listeners = 0;

	for (size_t i = 0; i < t->n; i++) {
		proc_fd_describe(&t->fds[i], what, sizeof(what));
		fprintf(stderr, "  fd %d: %s\n", t->fds[i].fd, what);
		if (t->fds[i].kind == PROC_FD_TCP_LISTEN) {
			CHECK_EQ(t->fds[i].local.port, REDIS_PORT);
			CHECK_EQ(t->fds[i].pending, 0);
			listeners++;
		}
	}
	CHECK(listeners >= 1);

	CHECK(a && b && a != b);
	CHECK_EQ(a->tcp_state, TCP_ESTABLISHED);
	CHECK_EQ(b->tcp_state, TCP_ESTABLISHED);
	CHECK_EQ(a->local.port, REDIS_PORT);
	CHECK_EQ(a->unread, 0);
	CHECK_EQ(b->unread, unread);
	CHECK_EQ(a->unsent, 0);         /* every reply was read */
	CHECK_EQ(b->unsent, 0);
	for (const struct proc_fd *f = a; f; f = f == a ? b : NULL) {
		it = item_of(t, f->fd);
		CHECK(it);
		CHECK(it->events & EPOLLIN);
		CHECK_EQ(it->data, f->fd);
	}

	if (proc_fds_check(t, reason, sizeof(reason)))
		fprintf(stderr, "refused: %s\n", reason);
	CHECK_EQ(proc_fds_check(t, reason, sizeof(reason)), 0);
	CHECK_EQ(proc_fds_diff(t, t, &acts), 0);
	CHECK_EQ(acts.n, 0);
	proc_fd_actions_free(&acts);
}

int main(int argc, char **argv)
{
	const char *args[] = { "--port", "6379", "--save", "",
			       "--appendonly", "no", "--loglevel", "warning",
			       NULL };
	struct proc_launch_spec spec = { REDIS, args, NULL };
	uint64_t deadline;
	struct proc_fd_table t;
	struct proc_child c;
	char reply[64], *req;
	int idle, busy;

	CHECK_EQ(argc, 2);
	if (access(REDIS, X_OK) < 0)
		SKIP("%s: %s (Debian's redis-server package)", REDIS,
		     strerror(errno));
	fixture_require_root();
	spec.shim = argv[1];
	fixture_launch(&spec, &c);

	idle = fixture_connect(c.pid, REDIS_PORT);
	busy = fixture_connect(c.pid, REDIS_PORT);
	fixture_ask(idle, "PING\r\n", reply, sizeof(reply), 1);
	CHECK(!strcmp(reply, "+PONG\r\n"));
	fixture_ask(busy, "PING\r\n", reply, sizeof(reply), 1);
	CHECK(!strcmp(reply, "+PONG\r\n"));

	send_signal(&c, SIGSTOP);
	deadline = fixture_now_ms() + FIXTURE_WAIT_MS;
	while (!stopped(c.pid)) {
		CHECK(fixture_now_ms() < deadline);
		usleep(10000);
	}
	req = unread_request();
	CHECK_EQ(write(busy, req, strlen(req)), (long long)strlen(req));
	capture_with_unread(&c, busy, (uint32_t)strlen(req), &t);
	fprintf(stderr, "redis-server: %zu fds, %zu bytes unread on the busy "
		"client\n", t.n, strlen(req));
	check_table(&t, idle, busy, strlen(req));
	proc_fds_free(&t);

	/* The capture took nothing: resumed, redis reads and answers it. */
	send_signal(&c, SIGCONT);
	fixture_ask(busy, "", reply, sizeof(reply), 1);
	CHECK(!strcmp(reply, "+OK\r\n"));
	fixture_ask(idle, "STRLEN colo:unread\r\n", reply, sizeof(reply), 1);
	CHECK_EQ(atoi(reply + 1), VALUE_LEN);

	free(req);
	CHECK_EQ(proc_kill(&c), SIGKILL);
	close(idle);
	close(busy);
	return 0;
}
