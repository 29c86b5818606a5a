// SPDX-License-Identifier: MIT
/*
 * Dialling the secondary, on the migration thread: connect, the TLS
 * handshake (or plain TCP with --insecure), and the hello exchange, on the
 * struct migration's link and config. What goes wrong is written to its
 * error, which the main thread reads after the join.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "evloop.h"
#include "link.h"
#include "log.h"
#include "migration.h"
#include "ramblock.h"
#include "xport.h"

#define DIAL_TIMEOUT_MS 2000
/* A TLS handshake is a few round trips; even a loaded host does it in far
 * less. Below the failover timeout's lowest sensible values it would cut
 * off a slow but live peer, hence a floor. */
#define HANDSHAKE_MIN_MS 1000

/* Runs on the migration thread: its error goes where the main thread reads
 * it after joining. */
static void mig_error(struct migration *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void mig_error(struct migration *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->error, sizeof(m->error), fmt, ap);
	va_end(ap);
}

/*
 * The name the secondary's certificate must carry: the one the operator
 * configured, else the host we dialled, so that another member of the CA
 * cannot pose as this secondary.
 */
static int expected_name(struct migration *m, char *host, size_t len)
{
	char port[16];

	if (m->cfg.tls_hostname) {
		snprintf(host, len, "%s", m->cfg.tls_hostname);
		return 0;
	}
	if (config_parse_hostport(m->cfg.secondary, host, len, port,
				  sizeof(port)) < 0) {
		mig_error(m, "secondary '%s' is not HOST:PORT",
			  m->cfg.secondary);
		return -EINVAL;
	}
	return 0;
}

static int tls_handshake(struct migration *m, int fd)
{
	unsigned ms = m->cfg.failover_timeout_ms > HANDSHAKE_MIN_MS ?
		      m->cfg.failover_timeout_ms : HANDSHAKE_MIN_MS;
	long long deadline = (long long)evloop_now_ms() + ms;
	char err[sizeof(m->error)], host[256];
	int ret;

	ret = expected_name(m, host, sizeof(host));
	if (ret < 0) {
		close(fd);
		return ret;
	}
	m->link->x = xport_tls_start(m->cfg.tls, fd, host, err, sizeof(err));
	if (!m->link->x) {
		mig_error(m, "%s", err);
		return -ENOMEM;
	}
	xport_set_cancel(m->link->x, m->cancel_fd);
	while ((ret = xport_tls_handshake(m->link->x, err, sizeof(err))) ==
	       -EAGAIN) {
		ret = xport_wait(m->link->x, deadline);
		if (ret == -ETIMEDOUT)
			snprintf(err, sizeof(err), "TLS handshake with %s: no "
				 "answer in %u ms", m->cfg.secondary, ms);
		else if (ret < 0)
			snprintf(err, sizeof(err), "TLS handshake with %s: %s",
				 m->cfg.secondary, strerror(-ret));
		if (ret < 0)
			break;
	}
	if (ret < 0 && ret != -ECANCELED)
		mig_error(m, "%s", err);
	return ret;
}

/*
 * One attempt: connect, and the TLS handshake. A failure here says nothing
 * definite about the secondary (it may be starting, restarting, or behind a
 * link that flaps): the caller tries again later.
 */
static int dial(struct migration *m)
{
	char err[256];
	int fd;

	fd = net_connect(m->cfg.secondary, DIAL_TIMEOUT_MS, err, sizeof(err));
	if (fd < 0) {
		mig_error(m, "cannot reach secondary %s: %s", m->cfg.secondary,
			  err);
		return fd;
	}
	if (m->cfg.insecure) {
		m->link->x = xport_tcp_new(fd);
		if (!m->link->x)
			return -ENOMEM;
		xport_set_cancel(m->link->x, m->cancel_fd);
	} else {
		int ret = tls_handshake(m, fd);

		if (ret < 0)
			return ret;
	}
	hb_rtt_reset(&m->link->rtt);        /* a new peer: nothing measured */
	/* Liveness in every state: a secondary that makes no progress for
	 * this long, from the hello on, is lost. */
	return xport_set_timeout(m->link->x, (int)m->cfg.failover_timeout_ms);
}

/* A process guest has no RAM layout: its identity goes first, and the
 * hello then names no block. */
static int send_identity(struct migration *m)
{
	struct proto_msg msg = { .type = PROTO_IDENTITY };

	msg.identity.len = (uint32_t)m->cfg.identity_len;
	msg.identity.data = m->cfg.identity;
	return proto_send(m->link->x, &msg);
}

static int hello(struct migration *m)
{
	struct proto_msg msg = { .type = PROTO_HELLO };
	uint32_t i;
	int ret;

	if (m->cfg.identity) {
		ret = send_identity(m);
		if (ret < 0) {
			mig_error(m, "identity to %s failed: %s",
				  m->cfg.secondary, strerror(-ret));
			return ret;
		}
	}
	msg.hello.version = PROTO_VERSION;
	msg.hello.page_size = RAM_PAGE_SIZE;
	memcpy(msg.hello.guest_digest, m->cfg.guest_digest, PROTO_DIGEST_LEN);
	msg.hello.gen = m->cfg.gen;
	msg.hello.nblocks = m->cfg.identity ? 0 : m->ram->nblocks;
	for (i = 0; i < msg.hello.nblocks; i++) {
		const struct ramblock *rb = &m->ram->blocks[i];

		msg.hello.blocks[i].id = rb->id;
		snprintf(msg.hello.blocks[i].name, RAM_BLOCK_NAME_MAX, "%s",
			 rb->name);
		msg.hello.blocks[i].size = rb->size;
		msg.hello.blocks[i].guest_addr = rb->guest_addr;
	}
	ret = proto_send(m->link->x, &msg);
	if (ret == 0)
		ret = xport_flush(m->link->x);
	if (ret == 0)
		ret = proto_recv(m->link->x, &m->link->rx, &msg);
	if (ret == -ECANCELED)
		return ret;
	if (ret < 0) {
		mig_error(m, "hello with %s failed: %s", m->cfg.secondary,
			  ret == -ETIMEDOUT ? "no answer" : strerror(-ret));
		return ret;
	}
	if (msg.type == PROTO_REFUSE) {
		/* The one definite answer: do not ask again unasked. */
		mig_error(m, "secondary %s refused us: %s", m->cfg.secondary,
			  msg.refuse.reason);
		atomic_store(&m->refused, true);
		return -ECONNREFUSED;
	}
	if (msg.type != PROTO_HELLO_ACK) {
		mig_error(m, "secondary %s answered hello with %s",
			  m->cfg.secondary, proto_type_name(msg.type));
		return -EPROTO;
	}
	return 0;
}

/*
 * Runs on the migration thread; the main thread leaves the link alone.
 * m->refused is set when the secondary refused us in the protocol;
 * -ECANCELED when the main thread called it off; anything else is worth
 * another try.
 */
int dial_secondary(struct migration *m)
{
	int ret = dial(m);

	if (ret == 0)
		ret = hello(m);
	if (ret < 0 && ret != -ECANCELED && !m->error[0])
		mig_error(m, "cannot reach secondary %s: %s", m->cfg.secondary,
			  strerror(-ret));
	if (ret == 0)
		log_info("connected to secondary %s (%s)", m->cfg.secondary,
			 m->cfg.insecure ? "plain TCP, --insecure" :
					    "TLS 1.3, mutual authentication");
	return ret;
}
