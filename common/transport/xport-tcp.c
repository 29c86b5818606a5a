// SPDX-License-Identifier: MIT
/*
 * Plain TCP: the socket helpers every socket transport starts from
 * (net_listen, net_connect, net_accept) and the unencrypted transport that
 * the daemons use only with --insecure.
 *
 * Sockets are created close-on-exec, since the daemons fork guests that must
 * not inherit the replication link. Sends use MSG_NOSIGNAL so a vanished peer
 * gives -EPIPE here even in a program that forgot to ignore SIGPIPE.
 */
#include "evloop.h"
#include "xport.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "net-addr.h"

#define NET_LISTEN_BACKLOG 16

/* Nagle only adds latency: the buffered layer already batches writes. */
static void set_nodelay(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 &&
	    errno != EOPNOTSUPP && errno != ENOPROTOOPT)
		log_warn("setsockopt(TCP_NODELAY) on fd %d: %s", fd,
			 strerror(errno));
}

int net_listen(const char *hostport, char *err, size_t errlen)
{
	const char *call = "socket";
	struct addrinfo *res, *ai;
	int fd = -1, one = 1, r;

	r = net_resolve(hostport, true, &res, err, errlen);
	if (r)
		return r;
	r = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			call = "socket";
			r = -errno;
			continue;
		}
		/* A restarted daemon must not wait out TIME_WAIT. */
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
			       sizeof(one)) < 0)
			call = "setsockopt(SO_REUSEADDR)";
		else if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
			call = "bind";
		else if (listen(fd, NET_LISTEN_BACKLOG) < 0)
			call = "listen";
		else
			break;
		r = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errlen, "%s %s: %s", call, hostport,
			 strerror(-r));
		return r;
	}
	return fd;
}


/* Wait for a non-blocking connect to finish; deadline < 0: no limit. */
static int wait_connected(int fd, long long deadline, const char **call)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	socklen_t len = sizeof(int);
	long long left;
	int r, soerr;

	for (;;) {
		left = deadline < 0 ? -1 : deadline - (long long)evloop_now_ms();
		if (deadline >= 0 && left <= 0) {
			*call = "connect";
			return -ETIMEDOUT;
		}
		r = poll(&pfd, 1, left > 1000000 ? 1000000 : (int)left);
		if (r > 0)
			break;
		if (r < 0 && errno != EINTR) {
			*call = "poll";
			return -errno;
		}
	}
	*call = "connect";
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		return -errno;
	return -soerr;
}

static int connect_one(const struct addrinfo *ai, long long deadline,
		       const char **call)
{
	int fd, flags, r;

	*call = "socket";
	fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    ai->ai_protocol);
	if (fd < 0)
		return -errno;
	*call = "connect";
	/* Non-blocking, so that the caller's timeout bounds the connect. */
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		r = errno == EINPROGRESS ? wait_connected(fd, deadline, call)
					 : -errno;
		if (r)
			goto fail;
	}
	*call = "fcntl";
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
		r = -errno;
		goto fail;
	}
	set_nodelay(fd);
	return fd;
fail:
	close(fd);
	return r;
}

int net_connect(const char *hostport, int timeout_ms, char *err,
		size_t errlen)
{
	long long deadline = timeout_ms > 0 ? (long long)evloop_now_ms() + timeout_ms : -1;
	const char *call = "connect";
	struct addrinfo *res, *ai;
	int fd = -EADDRNOTAVAIL, r;

	r = net_resolve(hostport, false, &res, err, errlen);
	if (r)
		return r;
	/* One deadline for all addresses: the caller asked for a bound. */
	for (ai = res; ai; ai = ai->ai_next) {
		fd = connect_one(ai, deadline, &call);
		if (fd >= 0 || fd == -ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	if (fd == -ETIMEDOUT)
		snprintf(err, errlen, "connect to %s: timed out after %d ms",
			 hostport, timeout_ms);
	else if (fd < 0)
		snprintf(err, errlen, "%s to %s: %s", call, hostport,
			 strerror(-fd));
	return fd;
}

int net_accept(int lfd, char *peer, size_t peerlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, r;

	do {
		len = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		r = -errno;
		/* Transient ones are the caller's loop to handle, not news;
		 * running out of fds or memory recurs on every wake-up, so
		 * the caller reports it, rate-limited. */
		if (r != -EAGAIN && r != -EWOULDBLOCK && r != -ECONNABORTED &&
		    !net_accept_exhausted(r))
			log_error("accept on fd %d: %s", lfd, strerror(-r));
		return r;
	}
	if (net_format_addr((struct sockaddr *)&ss, len, peer, peerlen) < 0)
		snprintf(peer, peerlen, "fd %d", fd);
	set_nodelay(fd);
	return fd;
}

static ssize_t tcp_read(struct xport *x, void *buf, size_t len)
{
	ssize_t n = recv(x->fd, buf, len, 0);

	if (n >= 0)
		return n;
	n = -errno;
	if (n != -EINTR && n != -EAGAIN && n != -EWOULDBLOCK)
		log_error("recv from %s: %s", x->peer, strerror(errno));
	return n;
}

static ssize_t tcp_write(struct xport *x, const void *buf, size_t len)
{
	ssize_t n = send(x->fd, buf, len, MSG_NOSIGNAL);

	if (n >= 0)
		return n;
	n = -errno;
	if (n != -EINTR && n != -EAGAIN && n != -EWOULDBLOCK)
		log_error("send to %s: %s", x->peer, strerror(errno));
	return n;
}

static void tcp_destroy(struct xport *x)
{
	free(x);
}

static const struct xport_ops tcp_ops = {
	.name = "tcp",
	.read = tcp_read,
	.write = tcp_write,
	.pending = NULL,	/* the kernel's buffer is visible to poll() */
	.destroy = tcp_destroy,
};

struct xport *xport_tcp_new(int fd)
{
	struct xport *x = calloc(1, sizeof(*x));
	int r = x ? xport_init(x, &tcp_ops, fd) : -ENOMEM;

	if (r) {
		log_error("xport_tcp_new for fd %d: %s", fd, strerror(-r));
		free(x);
		close(fd);
		return NULL;
	}
	set_nodelay(fd);
	return x;
}
