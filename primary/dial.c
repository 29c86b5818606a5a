// SPDX-License-Identifier: MIT
/*
 * Dialling the secondary, on the migration thread: connect, the TLS
 * handshake (or plain TCP with --insecure), and the hello exchange. What
 * goes wrong is written to mig.error, which the main thread reads after the
 * join.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "evloop.h"
#include "primary-int.h"
#include "log.h"
#include "xport.h"

#define DIAL_TIMEOUT_MS 2000
/* A TLS handshake is a few round trips; even a loaded host does it in far
 * less. Below the failover timeout's lowest sensible values it would cut
 * off a slow but live peer, hence a floor. */
#define HANDSHAKE_MIN_MS 1000

/* Runs on the migration thread: its error goes where the main thread reads
 * it after joining. */
static void mig_error(struct primary *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void mig_error(struct primary *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->mig.error, sizeof(p->mig.error), fmt, ap);
	va_end(ap);
}

/*
 * The name the secondary's certificate must carry: the one the operator
 * configured, else the host we dialled, so that another member of the CA
 * cannot pose as this secondary.
 */
static int expected_name(struct primary *p, char *host, size_t len)
{
	char port[16];

	if (p->opts.tls_hostname) {
		snprintf(host, len, "%s", p->opts.tls_hostname);
		return 0;
	}
	if (config_parse_hostport(p->opts.secondary, host, len, port,
				  sizeof(port)) < 0) {
		mig_error(p, "secondary '%s' is not HOST:PORT",
			  p->opts.secondary);
		return -EINVAL;
	}
	return 0;
}

static int tls_handshake(struct primary *p, int fd)
{
	unsigned ms = p->mig.failover_timeout_ms > HANDSHAKE_MIN_MS ?
		      p->mig.failover_timeout_ms : HANDSHAKE_MIN_MS;
	long long deadline = (long long)evloop_now_ms() + ms;
	char err[sizeof(p->mig.error)], host[256];
	int ret;

	ret = expected_name(p, host, sizeof(host));
	if (ret < 0) {
		close(fd);
		return ret;
	}
	p->link.x = xport_tls_start(p->tls, fd, host, err, sizeof(err));
	if (!p->link.x) {
		mig_error(p, "%s", err);
		return -ENOMEM;
	}
	xport_set_cancel(p->link.x, p->mig.cancel_fd);
	while ((ret = xport_tls_handshake(p->link.x, err, sizeof(err))) ==
	       -EAGAIN) {
		ret = xport_wait(p->link.x, deadline);
		if (ret == -ETIMEDOUT)
			snprintf(err, sizeof(err), "TLS handshake with %s: no "
				 "answer in %u ms", p->opts.secondary, ms);
		else if (ret < 0)
			snprintf(err, sizeof(err), "TLS handshake with %s: %s",
				 p->opts.secondary, strerror(-ret));
		if (ret < 0)
			break;
	}
	if (ret < 0 && ret != -ECANCELED)
		mig_error(p, "%s", err);
	return ret;
}

/*
 * One attempt: connect, and the TLS handshake. A failure here says nothing
 * definite about the secondary (it may be starting, restarting, or behind a
 * link that flaps): the caller tries again later.
 */
static int dial(struct primary *p)
{
	char err[256];
	int fd;

	fd = net_connect(p->opts.secondary, DIAL_TIMEOUT_MS, err, sizeof(err));
	if (fd < 0) {
		mig_error(p, "cannot reach secondary %s: %s", p->opts.secondary,
			  err);
		return fd;
	}
	if (p->opts.insecure) {
		p->link.x = xport_tcp_new(fd);
		if (!p->link.x)
			return -ENOMEM;
		xport_set_cancel(p->link.x, p->mig.cancel_fd);
	} else {
		int ret = tls_handshake(p, fd);

		if (ret < 0)
			return ret;
	}
	/* Liveness in every state: a secondary that makes no progress for
	 * this long, from the hello on, is lost. */
	return xport_set_timeout(p->link.x, (int)p->mig.failover_timeout_ms);
}

static int hello(struct primary *p)
{
	struct proto_msg m = { .type = PROTO_HELLO };
	uint32_t i;
	int ret;

	m.hello.version = PROTO_VERSION;
	m.hello.page_size = RAM_PAGE_SIZE;
	memcpy(m.hello.guest_digest, p->guest_digest, PROTO_DIGEST_LEN);
	m.hello.gen = p->gen;
	m.hello.nblocks = p->ram.nblocks;
	for (i = 0; i < p->ram.nblocks; i++) {
		const struct ramblock *rb = &p->ram.blocks[i];

		m.hello.blocks[i].id = rb->id;
		snprintf(m.hello.blocks[i].name, RAM_BLOCK_NAME_MAX, "%s",
			 rb->name);
		m.hello.blocks[i].size = rb->size;
		m.hello.blocks[i].guest_addr = rb->guest_addr;
	}
	ret = proto_send(p->link.x, &m);
	if (ret == 0)
		ret = xport_flush(p->link.x);
	if (ret == 0)
		ret = proto_recv(p->link.x, &p->link.rx, &m);
	if (ret == -ECANCELED)
		return ret;
	if (ret < 0) {
		mig_error(p, "hello with %s failed: %s", p->opts.secondary,
			  ret == -ETIMEDOUT ? "no answer" : strerror(-ret));
		return ret;
	}
	if (m.type == PROTO_REFUSE) {
		/* The one definite answer: do not ask again unasked. */
		mig_error(p, "secondary %s refused us: %s", p->opts.secondary,
			  m.refuse.reason);
		atomic_store(&p->mig.refused, true);
		return -ECONNREFUSED;
	}
	if (m.type != PROTO_HELLO_ACK) {
		mig_error(p, "secondary %s answered hello with %s",
			  p->opts.secondary, proto_type_name(m.type));
		return -EPROTO;
	}
	return 0;
}

/*
 * Runs on the migration thread; the main thread leaves the link alone.
 * mig.refused is set when the secondary refused us in the protocol;
 * -ECANCELED when the main thread called it off; anything else is worth
 * another try.
 */
int dial_secondary(struct primary *p)
{
	int ret = dial(p);

	if (ret == 0)
		ret = hello(p);
	if (ret < 0 && ret != -ECANCELED && !p->mig.error[0])
		mig_error(p, "cannot reach secondary %s: %s", p->opts.secondary,
			  strerror(-ret));
	if (ret == 0)
		log_info("connected to secondary %s (%s)", p->opts.secondary,
			 p->opts.insecure ? "plain TCP, --insecure" :
					    "TLS 1.3, mutual authentication");
	return ret;
}
