// SPDX-License-Identifier: MIT
/*
 * A tiny RESP client for the drill: commands go out as arrays of bulk
 * strings; replies come back as one of
 *
 *   +OK\r\n   -ERR why\r\n   :42\r\n   $5\r\nhello\r\n   $-1\r\n
 *
 * which is all colo-kv answers to INCR, SET, GET and PING. Reads are
 * buffered, so pipelined replies arriving in one segment are all kept.
 */
#include "drill-client.h"
#include "client.h"

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

/* No reply of ours is near this; more is a broken peer. */
#define RESP_IN_MAX (1u << 20)

static int split_hostport(const char *hp, char *host, size_t hsz,
			  char *port, size_t psz)
{
	const char *colon = strrchr(hp, ':');
	size_t hl;

	if (!colon || colon == hp || !colon[1])
		return -EINVAL;
	hl = (size_t)(colon - hp);
	if (hl >= hsz || strlen(colon + 1) >= psz)
		return -EINVAL;
	memcpy(host, hp, hl);
	host[hl] = '\0';
	snprintf(port, psz, "%s", colon + 1);
	return 0;
}

/* Non-blocking connect bounded by timeout_ms; the socket stays blocking
 * afterwards (reads are bounded by poll). */
static int connect_timeout(const struct addrinfo *ai, int timeout_ms)
{
	struct pollfd p;
	int fd, err = 0, one = 1, fl;
	socklen_t el = sizeof(err);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
	if (fd < 0)
		return -errno;
	fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			err = -errno;
			goto out_close;
		}
		p = (struct pollfd){ .fd = fd, .events = POLLOUT };
		if (poll(&p, 1, timeout_ms) <= 0) {
			err = -ETIMEDOUT;
			goto out_close;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
			err = err ? -err : -errno;
			goto out_close;
		}
	}
	fcntl(fd, F_SETFL, fl);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;

out_close:
	close(fd);
	return err;
}

int resp_connect(struct resp_conn *c, const char *hostport, int timeout_ms)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai;
	char host[64], port[16];
	int ret;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	ret = split_hostport(hostport, host, sizeof(host), port, sizeof(port));
	if (ret < 0)
		return ret;
	if (getaddrinfo(host, port, &hints, &ai))
		return -EINVAL;
	ret = connect_timeout(ai, timeout_ms);
	freeaddrinfo(ai);
	if (ret < 0)
		return ret;
	c->fd = ret;
	return 0;
}

void resp_close(struct resp_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->in);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

int resp_format(char *buf, size_t cap, size_t *len, int argc,
		const char *const argv[])
{
	size_t at = *len;
	int n, i;

	n = snprintf(buf + at, cap - at, "*%d\r\n", argc);
	if (n < 0 || (size_t)n >= cap - at)
		return -ENOBUFS;
	at += (size_t)n;
	for (i = 0; i < argc; i++) {
		size_t al = strlen(argv[i]);

		n = snprintf(buf + at, cap - at, "$%zu\r\n", al);
		if (n < 0 || (size_t)n + al + 2 >= cap - at)
			return -ENOBUFS;
		at += (size_t)n;
		memcpy(buf + at, argv[i], al);
		memcpy(buf + at + al, "\r\n", 2);
		at += al + 2;
	}
	*len = at;
	return 0;
}

int resp_write(struct resp_conn *c, const char *buf, size_t len)
{
	return cli_send_all(c->fd, buf, len);
}

/* Make sure at least want unparsed bytes are buffered. */
static int fill(struct resp_conn *c, size_t want, int64_t deadline)
{
	while (c->in_len - c->in_off < want) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int64_t left = deadline - cli_now_ms();
		ssize_t n;

		if (c->in_off && c->in_off == c->in_len)
			c->in_off = c->in_len = 0;
		if (c->in_len == c->in_cap) {
			size_t cap = c->in_cap ? c->in_cap * 2 : 4096;
			char *b;

			if (c->in_off) {
				memmove(c->in, c->in + c->in_off,
					c->in_len - c->in_off);
				c->in_len -= c->in_off;
				c->in_off = 0;
				continue;
			}
			if (cap > RESP_IN_MAX || !(b = realloc(c->in, cap)))
				return -EPROTO;
			c->in = b;
			c->in_cap = cap;
		}
		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!p.revents)
			continue;
		n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len,
			 MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		c->in_len += (size_t)n;
	}
	return 0;
}

/* One CRLF-terminated line, without the CRLF, copied into line. */
static int read_line(struct resp_conn *c, int64_t deadline, char *line,
		     size_t lsz, size_t *llen)
{
	size_t scanned = 0;
	char *end;
	int ret;

	for (;;) {
		size_t have = c->in_len - c->in_off;

		end = have > scanned ? memchr(c->in + c->in_off + scanned, '\n',
					      have - scanned) : NULL;
		if (end)
			break;
		scanned = have;
		ret = fill(c, have + 1, deadline);
		if (ret < 0)
			return ret;
	}
	*llen = (size_t)(end - (c->in + c->in_off));
	if (*llen == 0 || end[-1] != '\r')
		return -EPROTO;
	(*llen)--;
	snprintf(line, lsz, "%.*s", (int)*llen, c->in + c->in_off);
	c->in_off += *llen + 2;
	return 0;
}

static int parse_ll(const char *s, long long *v)
{
	char *end;

	errno = 0;
	*v = strtoll(s, &end, 10);
	return (end == s || *end || errno) ? -EPROTO : 0;
}

int resp_read(struct resp_conn *c, int timeout_ms, struct resp_reply *r)
{
	int64_t deadline = cli_now_ms() + timeout_ms;
	char line[RESP_STR_MAX];
	size_t llen, n;
	long long blen;
	int ret;

	memset(r, 0, sizeof(*r));
	ret = read_line(c, deadline, line, sizeof(line), &llen);
	if (ret < 0)
		return ret;
	if (llen == 0)
		return -EPROTO;
	r->len = llen - 1;
	switch (line[0]) {
	case '+':
	case '-':
		r->type = line[0] == '+' ? RESP_STATUS : RESP_ERROR;
		snprintf(r->str, sizeof(r->str), "%s", line + 1);
		return 0;
	case ':':
		r->type = RESP_INT;
		return parse_ll(line + 1, &r->num);
	case '$':
		if (parse_ll(line + 1, &blen) < 0 || blen < -1 ||
		    blen > RESP_IN_MAX)
			return -EPROTO;
		if (blen == -1) {
			r->type = RESP_NIL;
			return 0;
		}
		ret = fill(c, (size_t)blen + 2, deadline);
		if (ret < 0)
			return ret;
		r->type = RESP_BULK;
		r->len = (size_t)blen;
		n = r->len < RESP_STR_MAX - 1 ? r->len : RESP_STR_MAX - 1;
		memcpy(r->str, c->in + c->in_off, n);
		r->str[n] = '\0';
		c->in_off += (size_t)blen + 2;
		return 0;
	default:
		return -EPROTO;
	}
}

int resp_call(struct resp_conn *c, int timeout_ms, struct resp_reply *r,
	      int argc, const char *const argv[])
{
	char buf[1024];
	size_t len = 0;
	int ret = resp_format(buf, sizeof(buf), &len, argc, argv);

	if (ret == 0)
		ret = resp_write(c, buf, len);
	if (ret == 0)
		ret = resp_read(c, timeout_ms, r);
	return ret;
}
