// SPDX-License-Identifier: MIT
/*
 * colo-inject: a misbehaving primary, for tests. It connects to a secondary
 * started with --insecure and sends one kind of bad input, then reports
 * what the secondary did: "refused: REASON" or "closed" (exit 0), or
 * "still open" (exit 1) when the secondary kept listening to it.
 *
 * usage: colo-inject HOST:PORT MODE GUEST-BINARY RAM-BYTES
 * MODE: garbage, truncated, oversize, version, digest, range, block, state,
 * flood (after the hello, stream small valid frames for FLOOD_SECONDS as
 * fast as the socket takes them: a peer that never lets the secondary's
 * buffers run dry; prints "flooded N bytes").
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "proto.h"
#include "xport.h"

#define FLOOD_SECONDS 5

static int send_msg(int fd, const struct proto_msg *m, size_t cut)
{
	static uint8_t buf[PROTO_HDR_LEN + PROTO_MAX_PAYLOAD];
	size_t len = proto_encode(m, buf, sizeof(buf));

	if (!len)
		return -1;
	if (cut && cut < len)
		len = cut;
	return send(fd, buf, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

static void hello(struct proto_msg *m, const char *guest, uint64_t ram)
{
	memset(m, 0, sizeof(*m));
	m->type = PROTO_HELLO;
	m->hello.version = PROTO_VERSION;
	m->hello.page_size = RAM_PAGE_SIZE;
	digest_file(guest, m->hello.guest_digest);
	m->hello.nblocks = 1;
	strcpy(m->hello.blocks[0].name, "guest-ram");
	m->hello.blocks[0].size = ram;
	m->hello.blocks[0].guest_addr = RAM_GUEST_BASE;
}

/* Read what the secondary answers until it closes or goes quiet. */
static int outcome(int fd)
{
	struct xport *x = xport_tcp_new(fd);
	struct proto_rxbuf rx = { 0 };
	struct proto_msg m;
	int ret, rc = 0;

	xport_set_timeout(x, 5000);
	while ((ret = proto_recv(x, &rx, &m)) == 0) {
		if (m.type == PROTO_REFUSE) {
			printf("refused: %s\n", m.refuse.reason);
			break;
		}
	}
	if (ret == -ETIMEDOUT || ret == -EAGAIN) {
		printf("still open\n");
		rc = 1;
	} else if (ret < 0) {
		printf("closed\n");
	}
	proto_rxbuf_free(&rx);
	xport_free(x);
	return rc;
}

/*
 * Heartbeats and one-page zero PAGES, alternating, so that frames never
 * line up with the secondary's reads: something of the next frame is
 * always buffered when one ends.
 */
static int flood(int fd)
{
	static uint8_t buf[64 * 1024];
	struct proto_msg hb = { .type = PROTO_HEARTBEAT };
	struct proto_msg pg = { .type = PROTO_PAGES };
	unsigned long long total = 0;
	time_t end = time(NULL) + FLOOD_SECONDS;
	size_t len = 0, n, i;

	pg.pages.count = 1;
	pg.pages.flags = PROTO_PAGES_ZERO;
	for (i = 0;; i++) {
		n = proto_encode(i % 2 ? &pg : &hb, buf + len,
				 sizeof(buf) - len);
		if (!n)
			break;
		len += n;
	}
	while (time(NULL) < end) {
		size_t off = 0;

		while (off < len) {
			ssize_t w = send(fd, buf + off, len - off,
					 MSG_NOSIGNAL);

			if (w < 0 && errno == EAGAIN)
				poll(&(struct pollfd){ .fd = fd,
						       .events = POLLOUT }, 1,
				     100);
			else if (w < 0 && errno != EINTR)
				return 2;
			if (w > 0)
				off += (size_t)w;
		}
		total += len;
	}
	printf("flooded %llu bytes\n", total);
	return 0;
}

int main(int argc, char **argv)
{
	struct proto_msg m;
	uint8_t junk[4096];
	char err[256];
	const char *mode;
	uint64_t ram;
	size_t i;
	int fd;

	if (argc != 5) {
		fprintf(stderr, "usage: colo-inject HOST:PORT MODE GUEST RAM\n");
		return 2;
	}
	mode = argv[2];
	ram = strtoull(argv[4], NULL, 0);
	fd = net_connect(argv[1], 5000, err, sizeof(err));
	if (fd < 0) {
		fprintf(stderr, "colo-inject: %s\n", err);
		return 2;
	}
	hello(&m, argv[3], ram);
	if (!strcmp(mode, "garbage")) {
		for (i = 0; i < sizeof(junk); i++)
			junk[i] = (uint8_t)(i * 131 + 7);
		if (send(fd, junk, sizeof(junk), MSG_NOSIGNAL) < 0)
			return 2;
		return outcome(fd);
	}
	if (!strcmp(mode, "oversize")) {
		uint8_t hdr[PROTO_HDR_LEN] = { 0, PROTO_PAGES, 0, 0,
					       0x7f, 0xff, 0xff, 0xff };

		if (send(fd, hdr, sizeof(hdr), MSG_NOSIGNAL) < 0)
			return 2;
		return outcome(fd);
	}
	if (!strcmp(mode, "truncated")) {
		send_msg(fd, &m, 30);
		shutdown(fd, SHUT_WR);
		return outcome(fd);
	}
	if (!strcmp(mode, "version"))
		m.hello.version = PROTO_VERSION + 41;
	if (!strcmp(mode, "digest"))
		memset(m.hello.guest_digest, 0xab, PROTO_DIGEST_LEN);
	if (send_msg(fd, &m, 0) < 0)
		return 2;
	if (!strcmp(mode, "version") || !strcmp(mode, "digest"))
		return outcome(fd);

	/* The rest need an accepted hello first. */
	{
		struct xport *x = xport_tcp_new(dup(fd));
		struct proto_rxbuf rx = { 0 };
		struct proto_msg ack;

		xport_set_timeout(x, 5000);
		bool ok = proto_recv(x, &rx, &ack) == 0 &&
			  ack.type == PROTO_HELLO_ACK;

		proto_rxbuf_free(&rx);
		xport_free(x);
		if (!ok) {
			printf("hello not accepted\n");
			return 1;
		}
	}
	memset(&m, 0, sizeof(m));
	if (!strcmp(mode, "range") || !strcmp(mode, "block")) {
		m.type = PROTO_PAGES;
		m.pages.block = !strcmp(mode, "block") ? 3 : 0;
		m.pages.first = !strcmp(mode, "range") ? ram / RAM_PAGE_SIZE - 1 : 0;
		m.pages.count = 2;
		m.pages.flags = PROTO_PAGES_ZERO;
	} else if (!strcmp(mode, "flood")) {
		return flood(fd);
	} else if (!strcmp(mode, "state")) {
		m.type = PROTO_INPUT;
		m.input.seq = 1;
		m.input.kind = PROTO_IN_OPEN;
	} else {
		fprintf(stderr, "colo-inject: unknown mode %s\n", mode);
		return 2;
	}
	if (send_msg(fd, &m, 0) < 0)
		return 2;
	return outcome(fd);
}
