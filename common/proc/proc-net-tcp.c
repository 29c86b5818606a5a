// SPDX-License-Identifier: MIT
/*
 * /proc/PID/net/tcp and tcp6: a header line, then one socket per line,
 *
 *   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
 *    0: 0100007F:1B9E 00000000:0000 0A 00000000:00000002 00:00000000 00000000     0        0 41267 1 ...
 *
 * An address is the in-memory value of the kernel's __be32 words printed
 * with %08X (so 127.0.0.1 reads 0100007F on a little-endian host): its
 * bytes in host order are the address in network order. tcp6 prints four
 * such words. Ports and the state are hex, the inode decimal. For a
 * listening socket rx_queue is the accept queue (sk_ack_backlog).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proc-fds.h"

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Exactly width hex digits. */
static const char *hex_fixed(const char *p, const char *end, int width,
			     uint32_t *out)
{
	uint32_t v = 0;

	if (end - p < width)
		return NULL;
	for (int i = 0; i < width; i++) {
		int d = hex_digit(p[i]);

		if (d < 0)
			return NULL;
		v = v << 4 | (uint32_t)d;
	}
	*out = v;
	return p + width;
}

static const char *blanks(const char *p, const char *end)
{
	while (p < end && *p == ' ')
		p++;
	return p;
}

/* Skips one blank-separated field. */
static const char *skip_field(const char *p, const char *end)
{
	const char *first;

	p = blanks(p, end);
	first = p;
	while (p < end && *p != ' ')
		p++;
	return p == first ? NULL : p;
}

/* "ADDR:PORT", 8 (tcp) or 32 (tcp6) hex digits of address. */
static const char *parse_end(const char *p, const char *end, int family,
			     struct proc_tcp_end *e)
{
	int words = family == AF_INET ? 1 : 4;
	uint32_t w, port;

	memset(e, 0, sizeof(*e));
	e->family = family;
	p = blanks(p, end);
	for (int i = 0; i < words; i++) {
		if (!(p = hex_fixed(p, end, 8, &w)))
			return NULL;
		memcpy(e->addr + 4 * i, &w, 4);
	}
	if (p == end || *p++ != ':' || !(p = hex_fixed(p, end, 4, &port)))
		return NULL;
	e->port = (uint16_t)port;
	return p;
}

static const char *parse_dec(const char *p, const char *end, uint64_t *out)
{
	const char *first;
	uint64_t v = 0;

	p = blanks(p, end);
	first = p;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return NULL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	return p == first ? NULL : (*out = v, p);
}

static int parse_sock(const char *p, const char *end, int family,
		      struct proc_tcp_sock *s)
{
	uint64_t sl;
	uint32_t st;

	memset(s, 0, sizeof(*s));
	if (!(p = parse_dec(p, end, &sl)) || p == end || *p++ != ':' ||
	    !(p = parse_end(p, end, family, &s->local)) ||
	    !(p = parse_end(p, end, family, &s->remote)))
		return -EINVAL;
	p = blanks(p, end);
	if (!(p = hex_fixed(p, end, 2, &st)))
		return -EINVAL;
	p = blanks(p, end);
	if (!(p = hex_fixed(p, end, 8, &s->tx_queue)) || p == end ||
	    *p++ != ':' || !(p = hex_fixed(p, end, 8, &s->rx_queue)))
		return -EINVAL;
	/* tr:tm->when, retrnsmt, uid, timeout */
	for (int i = 0; i < 4; i++)
		if (!(p = skip_field(p, end)))
			return -EINVAL;
	if (!parse_dec(p, end, &s->ino))
		return -EINVAL;
	s->state = (int)st;
	return 0;
}

int proc_tcp_parse(const char *text, size_t len, int family,
		   struct proc_tcp_table *out)
{
	const char *p = text, *end = text + len, *nl;
	size_t first = out->n, cap = out->n;
	int err = 0;

	if (family != AF_INET && family != AF_INET6)
		return -EINVAL;
	nl = memchr(p, '\n', len);
	if (!nl || !memmem(p, (size_t)(nl - p), "local_address", 13))
		return -EINVAL;
	for (p = nl + 1; p < end && !err; p = nl ? nl + 1 : end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (out->n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct proc_tcp_sock *ns;

			ns = realloc(out->s, ncap * sizeof(*ns));
			if (!ns) {
				err = -ENOMEM;
				break;
			}
			out->s = ns;
			cap = ncap;
		}
		err = parse_sock(p, nl ? nl : end, family, &out->s[out->n]);
		if (!err)
			out->n++;
	}
	if (err)
		out->n = first;
	return err;
}

void proc_tcp_table_free(struct proc_tcp_table *t)
{
	if (!t)
		return;
	free(t->s);
	t->s = NULL;
	t->n = 0;
}
