// SPDX-License-Identifier: MIT
/*
 * The daemon's TCP connections to the program's port, one per client,
 * made inside its network namespace from the port proc_conn_port gives
 * the connection, so that both hosts' connections have the same two
 * addresses. Nothing here blocks, except the two waits a checkpoint asks
 * for (proc_guest_wait_connected, proc_guest_drain), which are bounded.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"
#include "proc-guest-conn.h"
#include "proc-stop.h"

/* The program's output is read in chunks of this size, a few per wake-up
 * so that one busy connection does not starve the loop. */
#define READ_CHUNK 65536
#define READS_PER_WAKE 4
/* At most this much per send: the history grows with what the socket
 * takes, not with what is queued. */
#define SEND_CHUNK (1u << 20)
/* While waiting for connects, the tracer is pumped this often: the
 * program may need a new thread to accept them. */
#define WAIT_PUMP_MS 10

struct proc_conn *proc_conn_find(const struct proc_guest *g, uint32_t id)
{
	for (size_t i = 0; i < g->nconns; i++)
		if (g->conns[i]->id == id)
			return g->conns[i];
	return NULL;
}

static struct proc_conn *conn_by_fd(struct proc_guest *g, int fd)
{
	for (size_t i = 0; i < g->nconns; i++)
		if (g->conns[i]->fd == fd)
			return g->conns[i];
	return NULL;
}

/* Input queued for a connection that goes away will never be read: count
 * it as taken, or the backlog the proxy sees would never shrink. The
 * others keep their order: proc_guest_conns lists them as opened. */
void proc_conn_free(struct proc_guest *g, struct proc_conn *c)
{
	g->written += proc_conn_queued(c);
	if (c->fd >= 0) {
		evloop_del(g->loop, c->fd);
		close(c->fd);
	}
	proc_conn_free_input(c);
	free(c->last);
	for (size_t i = 0; i < g->nconns; i++)
		if (g->conns[i] == c) {
			memmove(&g->conns[i], &g->conns[i + 1],
				(g->nconns - i - 1) * sizeof(*g->conns));
			g->nconns--;
			break;
		}
	free(c);
}

/* The program's end went away (or never came): the client hears of it as
 * the guest's close. After the free, so that ops may call back in. */
void proc_conn_closed(struct proc_guest *g, struct proc_conn *c)
{
	uint32_t id = c->id;

	proc_conn_free(g, c);
	g->ops->close(g->opaque, id);
}

/* Writable is watched only while something may be written: a queue the
 * history cap holds back waits for a trim, not for the socket. */
static uint32_t conn_events(const struct proc_guest *g,
			    const struct proc_conn *c)
{
	if (c->connecting || proc_conn_writable(g, c))
		return EV_READ | EV_WRITE;
	return EV_READ;
}

/* Write what the socket and the cap take now. 0, or -errno: the
 * program's end is gone. */
static int conn_flush(struct proc_guest *g, struct proc_conn *c)
{
	size_t want;

	while ((want = proc_conn_writable(g, c)) > 0) {
		ssize_t n;

		if (want > SEND_CHUNK)
			want = SEND_CHUNK;
		if (proc_conn_reserve(g, c, want) < 0)
			return -ENOMEM;
		n = send(c->fd, c->buf + c->start, want,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		proc_conn_taken(g, c, (size_t)n);
	}
	if (proc_conn_queued(c))
		return 0;
	if (c->shut_wanted && !c->shut_done) {
		c->shut_done = true;
		if (shutdown(c->fd, SHUT_WR) < 0 && errno != ENOTCONN)
			return -errno;
	}
	return 0;
}

void proc_conn_push(struct proc_guest *g, struct proc_conn *c)
{
	int ret = 0;

	if (c->fd < 0)
		return;
	if (!c->connecting)
		ret = conn_flush(g, c);
	if (ret == 0)
		ret = evloop_mod(g->loop, c->fd, conn_events(g, c));
	if (ret < 0)
		proc_conn_fail(g, c);
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

/*
 * The program's replies: at most max_reads reads, fewer when one finds
 * nothing. 0, or -errno / -ECONNRESET at its close; *got adds the bytes.
 */
static int conn_read(struct proc_guest *g, uint32_t id, size_t max_reads,
		     size_t *got)
{
	static uint8_t buf[READ_CHUNK];

	for (size_t i = 0; i < max_reads; i++) {
		/* ops.output may have closed it (through the proxy). */
		struct proc_conn *c = proc_conn_find(g, id);
		ssize_t n;

		if (!c || c->fd < 0)
			return 0;
		n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			*got += (size_t)n;
			g->ops->output(g->opaque, id, buf, (size_t)n);
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return 0;
		return -errno;
	}
	return 0;
}

/*
 * A connection's error ends it, as the program's close. A send that fails
 * because the program closed (a reset, when it left input unread: Redis
 * after a protocol error) says nothing of what it wrote before: its reply
 * is still in our receive queue, and is read before the close, as a client
 * of the program alone would read it.
 */
static void conn_ended(struct proc_guest *g, struct proc_conn *c, int ret)
{
	uint32_t id = c->id;
	size_t got = 0;

	if (ret != -ECONNRESET && ret != -EPIPE)
		log_debug("program connection %u: %s", id, strerror(-ret));
	if (!c->connecting)
		(void)conn_read(g, id, SIZE_MAX, &got);
	c = proc_conn_find(g, id);      /* ops.output may have closed it */
	if (c)
		proc_conn_closed(g, c);
}

static void on_conn(struct evloop *l, int fd, uint32_t events, void *opaque)
{
	struct proc_guest *g = opaque;
	struct proc_conn *c = conn_by_fd(g, fd);
	size_t got = 0;
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
		ret = conn_read(g, id, READS_PER_WAKE, &got);
	c = proc_conn_find(g, id);
	if (!c || c->fd < 0)
		return;
	if (!ret)
		ret = evloop_mod(g->loop, c->fd, conn_events(g, c));
	if (ret < 0)
		conn_ended(g, c, ret);
}

/* Connections that failed at open, closed now as the program's close. */
void proc_conn_on_deferred(struct evloop *l, int fd, uint32_t events,
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
		struct proc_conn *c = g->conns[i];
		uint32_t id = c->id;

		if (c->fd >= 0) {
			i++;
			continue;
		}
		if (c->last_len) {
			uint8_t *last = c->last;
			size_t len = c->last_len;

			c->last = NULL;
			c->last_len = 0;
			g->ops->output(g->opaque, id, last, len);
			free(last);
			c = proc_conn_find(g, id);
		}
		if (c)
			proc_conn_closed(g, c);   /* the rest move up */
		i = 0;                            /* ops may have closed others */
	}
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

/* What the program wrote before its end went away, kept in c->last: the
 * failure is reported from the loop, where output may be passed on. */
static void conn_keep_last(struct proc_conn *c)
{
	for (;;) {
		uint8_t *last = realloc(c->last, c->last_len + READ_CHUNK);
		ssize_t n;

		if (!last)
			return;
		c->last = last;
		n = recv(c->fd, c->last + c->last_len, READ_CHUNK,
			 MSG_DONTWAIT);
		if (n > 0)
			c->last_len += (size_t)n;
		else if (n < 0 && errno == EINTR)
			continue;
		else
			return;
	}
}

/* Mark c failed and have the loop report it. */
void proc_conn_fail(struct proc_guest *g, struct proc_conn *c)
{
	uint64_t one = 1;

	if (c->fd >= 0) {
		if (!c->connecting)
			conn_keep_last(c);
		evloop_del(g->loop, c->fd);
		close(c->fd);
		c->fd = -1;
	}
	if (write(g->deferred_fd, &one, sizeof(one)) < 0)
		log_warn("eventfd: %s", strerror(errno));
}

/* A non-blocking connect to the program's port inside its namespace,
 * from the connection's own port. */
static int conn_connect(struct proc_guest *g, struct proc_conn *c)
{
	int fd = proc_connect_from_nonblock(g->child.pid, g->port,
					    proc_conn_port(c->id));

	if (fd < 0)
		return fd;
	c->fd = fd;
	c->connecting = true;
	return evloop_add(g->loop, fd, conn_events(g, c), on_conn, g);
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
		proc_conn_fail(g, c);
	}
	return 0;
}

int proc_guest_write(struct proc_guest *g, uint32_t conn, const void *data,
		     size_t len)
{
	struct proc_conn *c;

	if (!proc_guest_running(g))
		return -ECHILD;
	c = proc_conn_find(g, conn);
	/* Closed by the program already, or failed: the bytes are lost as
	 * they would be on a socket the program closed. */
	if (!c || c->fd < 0 || c->shut_wanted)
		return 0;
	if (proc_conn_queue(c, data, len) < 0) {
		log_warn("connection %u to the program: input lost: %s", conn,
			 strerror(ENOMEM));
		proc_conn_fail(g, c);
		return 0;
	}
	g->queued_end += len;
	proc_conn_push(g, c);
	return 0;
}

int proc_guest_shutdown(struct proc_guest *g, uint32_t conn)
{
	struct proc_conn *c;

	if (!proc_guest_running(g))
		return -ECHILD;
	c = proc_conn_find(g, conn);
	if (!c || c->fd < 0 || c->shut_wanted)
		return 0;
	c->shut_wanted = true;
	proc_conn_push(g, c);
	return 0;
}

/* The connections still connecting, into pfd (at most max). */
static size_t list_connecting(struct proc_guest *g, struct pollfd *pfd,
			      size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < g->nconns && n < max; i++)
		if (g->conns[i]->fd >= 0 && g->conns[i]->connecting)
			pfd[n++] = (struct pollfd){ .fd = g->conns[i]->fd,
						    .events = POLLOUT };
	return n;
}

int proc_guest_wait_connected(struct proc_guest *g, int timeout_ms)
{
	uint64_t until = evloop_now_ms() + (uint64_t)timeout_ms;
	struct pollfd *pfd = calloc(g->nconns ? g->nconns : 1, sizeof(*pfd));
	int ret = 0;

	if (!pfd)
		return -ENOMEM;
	for (;;) {
		size_t n = list_connecting(g, pfd, g->nconns);
		uint64_t now = evloop_now_ms();

		if (n == 0)
			break;
		if (now >= until) {
			ret = -ETIMEDOUT;
			break;
		}
		if (poll(pfd, n, until - now < WAIT_PUMP_MS ?
			 (int)(until - now) : WAIT_PUMP_MS) < 0 &&
		    errno != EINTR) {
			ret = -errno;
			break;
		}
		/* As the loop's pump would, unless the program ended: its
		 * leader is for proc_kill to reap, with its status. */
		if (g->tracer && !evloop_fd_readable(g->child.pidfd))
			(void)proc_stop_pump(g->tracer);
		for (size_t i = 0; i < n; i++) {
			struct proc_conn *c = conn_by_fd(g, pfd[i].fd);

			if (!pfd[i].revents || !c)
				continue;
			if (conn_connected(c) < 0)
				proc_conn_fail(g, c);
			else
				proc_conn_push(g, c);
		}
	}
	free(pfd);
	return ret;
}

size_t proc_guest_drain(struct proc_guest *g)
{
	size_t total = 0, got;

	do {
		got = 0;
		/* By index, each connection once per pass: ops may close
		 * any of them, which moves the ones after it up. */
		for (size_t i = 0; i < g->nconns; i++) {
			struct proc_conn *c = g->conns[i];
			uint32_t id = c->id;
			int ret;

			if (c->fd < 0 || c->connecting)
				continue;
			ret = conn_read(g, id, SIZE_MAX, &got);
			c = proc_conn_find(g, id);
			if (c && ret < 0)
				conn_ended(g, c, ret);
			if (i >= g->nconns || g->conns[i] != c)
				i--;    /* this one is gone: the next moved here */
		}
		total += got;
	} while (got);
	return total;
}
