// SPDX-License-Identifier: MIT
/*
 * An unmodified program fed the guest's events over TCP connections of
 * the daemon's own, made inside the program's network namespace.
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"
#include "proc-guest.h"

/* The program's output is read in chunks of this size, a few per wake-up
 * so that one busy connection does not starve the loop. */
#define READ_CHUNK 65536
#define READS_PER_WAKE 4
#define START_POLL_MS 50

struct proc_conn {
	uint32_t id;
	int fd;                 /* -1: failed at open, closed from the loop */
	bool connecting;        /* connect() still in progress */
	bool shut_wanted;       /* the client half-closed: SHUT_WR once the
				 * queue is written */
	bool shut_done;
	uint8_t *buf;           /* input not yet taken by the program */
	size_t start, end, cap;
};

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

static struct proc_conn *conn_find(struct proc_guest *g, uint32_t id)
{
	size_t i;

	for (i = 0; i < g->nconns; i++)
		if (g->conns[i]->id == id)
			return g->conns[i];
	return NULL;
}

static struct proc_conn *conn_by_fd(struct proc_guest *g, int fd)
{
	size_t i;

	for (i = 0; i < g->nconns; i++)
		if (g->conns[i]->fd == fd)
			return g->conns[i];
	return NULL;
}

static size_t conn_queued(const struct proc_conn *c)
{
	return c->end - c->start;
}

/* Input queued for a connection that goes away will never be read: count
 * it as taken, or the backlog the proxy sees would never shrink. */
static void conn_free(struct proc_guest *g, struct proc_conn *c)
{
	size_t i;

	g->written += conn_queued(c);
	if (c->fd >= 0) {
		evloop_del(g->loop, c->fd);
		close(c->fd);
	}
	free(c->buf);
	for (i = 0; i < g->nconns; i++)
		if (g->conns[i] == c) {
			g->conns[i] = g->conns[--g->nconns];
			break;
		}
	free(c);
}

/* The program's end went away (or never came): the client hears of it as
 * the guest's close. After the free, so that ops may call back in. */
static void conn_closed(struct proc_guest *g, struct proc_conn *c)
{
	uint32_t id = c->id;

	conn_free(g, c);
	g->ops->close(g->opaque, id);
}

static uint32_t conn_events(const struct proc_conn *c)
{
	if (c->connecting || conn_queued(c))
		return EV_READ | EV_WRITE;
	return EV_READ;
}

/* Write what the socket takes now. 0, or -errno: the program's end is
 * gone. */
static int conn_flush(struct proc_guest *g, struct proc_conn *c)
{
	while (conn_queued(c)) {
		ssize_t n = send(c->fd, c->buf + c->start, conn_queued(c),
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		c->start += (size_t)n;
		g->written += (uint64_t)n;
	}
	if (conn_queued(c))
		return 0;
	c->start = c->end = 0;
	if (c->shut_wanted && !c->shut_done) {
		c->shut_done = true;
		if (shutdown(c->fd, SHUT_WR) < 0 && errno != ENOTCONN)
			return -errno;
	}
	return 0;
}

static int conn_rewatch(struct proc_guest *g, struct proc_conn *c)
{
	return evloop_mod(g->loop, c->fd, conn_events(c));
}

/* connect() finished: the socket's error says how. */
static int conn_connected(struct proc_conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	if (err)
		return -err;
	c->connecting = false;
	return 0;
}

/* The program's replies. 0, or -errno / -ECONNRESET at its close. */
static int conn_read(struct proc_guest *g, uint32_t id)
{
	static uint8_t buf[READ_CHUNK];
	int i;

	for (i = 0; i < READS_PER_WAKE; i++) {
		/* ops.output may have closed it (through the proxy). */
		struct proc_conn *c = conn_find(g, id);
		ssize_t n;

		if (!c)
			return 0;
		n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			g->ops->output(g->opaque, id, buf, (size_t)n);
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		return -errno;
	}
	return 0;
}

static void on_conn(struct evloop *l, int fd, uint32_t events, void *opaque)
{
	struct proc_guest *g = opaque;
	struct proc_conn *c = conn_by_fd(g, fd);
	uint32_t id;
	int ret = 0;

	(void)l;
	if (!c)
		return;
	id = c->id;
	if (c->connecting)
		ret = conn_connected(c);
	if (!ret && !c->connecting && (events & EV_WRITE))
		ret = conn_flush(g, c);
	if (!ret && !c->connecting && (events & EV_READ))
		ret = conn_read(g, id);
	c = conn_find(g, id);
	if (!c)
		return;
	if (!ret)
		ret = conn_rewatch(g, c);
	if (ret < 0) {
		if (ret != -ECONNRESET && ret != -EPIPE)
			log_debug("program connection %u: %s", id,
				  strerror(-ret));
		conn_closed(g, c);
	}
}

/* Connections that failed at open, closed now as the program's close. */
static void on_deferred(struct evloop *l, int fd, uint32_t events,
			void *opaque)
{
	struct proc_guest *g = opaque;
	uint64_t n;
	size_t i;

	(void)l;
	(void)events;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("eventfd: %s", strerror(errno));
	for (i = 0; i < g->nconns;) {
		if (g->conns[i]->fd < 0)
			conn_closed(g, g->conns[i]);   /* swaps in the last */
		else
			i++;
	}
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

static void on_exit_of_program(struct evloop *l, int fd, uint32_t events,
			       void *opaque)
{
	struct proc_guest *g = opaque;
	pid_t pid = g->child.pid;
	char how[64];
	int status;

	(void)l;
	(void)fd;
	(void)events;
	evloop_del(g->loop, g->child.pidfd);
	status = proc_kill(&g->child);
	g->child.pid = -1;
	log_error("the program (pid %d) %s", (int)pid,
		  how_it_ended(status, how, sizeof(how)));
	while (g->nconns)
		conn_free(g, g->conns[0]);
	g->ops->died(g->opaque);
}

static int add_conn(struct proc_guest *g, struct proc_conn *c)
{
	if (g->nconns == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 16;
		struct proc_conn **n = realloc(g->conns, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		g->conns = n;
		g->cap = cap;
	}
	g->conns[g->nconns++] = c;
	return 0;
}

/* Mark c failed and have the loop report it. */
static void conn_fail(struct proc_guest *g, struct proc_conn *c)
{
	uint64_t one = 1;

	if (c->fd >= 0) {
		evloop_del(g->loop, c->fd);
		close(c->fd);
		c->fd = -1;
	}
	if (write(g->deferred_fd, &one, sizeof(one)) < 0)
		log_warn("eventfd: %s", strerror(errno));
}

/* A non-blocking connect to the program's port inside its namespace. */
static int conn_connect(struct proc_guest *g, struct proc_conn *c)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons(g->port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int fd = proc_netns_socket(g->child.pid, AF_INET,
				   SOCK_STREAM | SOCK_NONBLOCK);

	if (fd < 0)
		return fd;
	c->fd = fd;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno != EINPROGRESS)
			return -errno;
		c->connecting = true;
	}
	return evloop_add(g->loop, fd, conn_events(c), on_conn, g);
}

int proc_guest_open(struct proc_guest *g, uint32_t conn)
{
	struct proc_conn *c;
	int ret;

	if (!proc_guest_running(g))
		return -ECHILD;
	c = calloc(1, sizeof(*c));
	if (!c || add_conn(g, c) < 0) {
		free(c);
		log_warn("connection %u to the program: out of memory", conn);
		/* Nobody will read its input: the client is closed by the
		 * proxy's limits at worst, and frees nothing of ours. */
		return 0;
	}
	c->id = conn;
	c->fd = -1;
	ret = conn_connect(g, c);
	if (ret < 0) {
		log_warn("connection %u to the program's port %u: %s", conn,
			 g->port, strerror(-ret));
		conn_fail(g, c);
	}
	return 0;
}

static int queue_append(struct proc_conn *c, const void *data, size_t len)
{
	if (c->start && c->end + len > c->cap) {
		memmove(c->buf, c->buf + c->start, conn_queued(c));
		c->end -= c->start;
		c->start = 0;
	}
	if (c->end + len > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;
		uint8_t *n;

		while (cap < c->end + len)
			cap *= 2;
		n = realloc(c->buf, cap);
		if (!n)
			return -ENOMEM;
		c->buf = n;
		c->cap = cap;
	}
	memcpy(c->buf + c->end, data, len);
	c->end += len;
	return 0;
}

int proc_guest_write(struct proc_guest *g, uint32_t conn, const void *data,
		     size_t len)
{
	struct proc_conn *c;
	int ret;

	if (!proc_guest_running(g))
		return -ECHILD;
	c = conn_find(g, conn);
	/* Closed by the program already, or failed: the bytes are lost as
	 * they would be on a socket the program closed. */
	if (!c || c->fd < 0 || c->shut_wanted)
		return 0;
	ret = queue_append(c, data, len);
	if (ret < 0) {
		log_warn("connection %u to the program: input lost: %s", conn,
			 strerror(-ret));
		conn_fail(g, c);
		return 0;
	}
	g->queued_end += len;
	ret = c->connecting ? 0 : conn_flush(g, c);
	if (ret == 0)
		ret = conn_rewatch(g, c);
	if (ret < 0)
		conn_fail(g, c);
	return 0;
}

int proc_guest_shutdown(struct proc_guest *g, uint32_t conn)
{
	struct proc_conn *c;
	int ret;

	if (!proc_guest_running(g))
		return -ECHILD;
	c = conn_find(g, conn);
	if (!c || c->fd < 0 || c->shut_wanted)
		return 0;
	c->shut_wanted = true;
	ret = c->connecting ? 0 : conn_flush(g, c);
	if (ret < 0)
		conn_fail(g, c);
	return 0;
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
		if (fd != -ECONNREFUSED)
			return fd;
		if (evloop_now_ms() >= until) {
			log_error("%s is not listening on port %u after %d ms",
				  path, g->port, timeout_ms);
			return -ETIMEDOUT;
		}
		/* The pidfd doubles as the sleep: readable once it exits. */
		if (poll(&pfd, 1, START_POLL_MS) > 0) {
			char how[64];
			int status = proc_kill(&g->child);

			g->child.pid = -1;
			log_error("%s %s before listening on port %u", path,
				  how_it_ended(status, how, sizeof(how)),
				  g->port);
			return -ECHILD;
		}
	}
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
	g->deferred_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (g->deferred_fd < 0)
		return -errno;
	ret = evloop_add(g->loop, g->deferred_fd, EV_READ, on_deferred, g);
	if (ret < 0)
		return ret;
	ret = proc_launch(&spec, &g->child);
	if (ret < 0)
		return ret;
	log_info("program %s started (pid %d), waiting for port %u", path,
		 (int)g->child.pid, port);
	ret = wait_listening(g, path, timeout_ms);
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
		proc_kill(&g->child);
	}
	g->child.pid = -1;
	while (g->nconns)
		conn_free(g, g->conns[0]);
	free(g->conns);
	g->conns = NULL;
	g->cap = 0;
	if (g->deferred_fd >= 0) {
		evloop_del(g->loop, g->deferred_fd);
		close(g->deferred_fd);
		g->deferred_fd = -1;
	}
}
