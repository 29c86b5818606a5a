// SPDX-License-Identifier: MIT
/*
 * Dialling the secondary, on the migration thread: connect, the TLS
 * handshake (or plain TCP with --insecure), with --transport rdma the RDMA
 * connection bound to it, and the hello exchange, on the struct
 * migration's link and config. What goes wrong is written to its error,
 * which the main thread reads after the join.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "config.h"
#include "evloop.h"
#include "link.h"
#include "log.h"
#include "migration.h"
#include "ramblock.h"
#include "xport-rdma.h"
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

static unsigned handshake_ms(const struct migration *m)
{
	return m->cfg.failover_timeout_ms > HANDSHAKE_MIN_MS ?
	       m->cfg.failover_timeout_ms : HANDSHAKE_MIN_MS;
}

static int tls_handshake(struct migration *m, int fd, struct xport **xp)
{
	unsigned ms = handshake_ms(m);
	long long deadline = (long long)evloop_now_ms() + ms;
	char err[sizeof(m->error)], host[256];
	int ret;

	ret = expected_name(m, host, sizeof(host));
	if (ret < 0) {
		close(fd);
		return ret;
	}
	*xp = xport_tls_start(m->cfg.tls, fd, host, err, sizeof(err));
	if (!*xp) {
		mig_error(m, "%s", err);
		return -ENOMEM;
	}
	xport_set_cancel(*xp, m->cancel_fd);
	while ((ret = xport_tls_handshake(*xp, err, sizeof(err))) ==
	       -EAGAIN) {
		ret = xport_wait(*xp, deadline);
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
 * The token that binds the RDMA connection to the one just made: exported
 * from the TLS session (both ends derive it, no one else can), or with
 * --insecure made up here and sent in clear first, which binds without
 * authenticating anything.
 */
static int rdma_token(struct migration *m, uint8_t token[XPORT_RDMA_TOKEN_LEN])
{
	int ret;

	if (!m->cfg.insecure)
		return xport_tls_export_token(m->link->x, token);
	if (getrandom(token, XPORT_RDMA_TOKEN_LEN, 0) != XPORT_RDMA_TOKEN_LEN)
		return -errno;
	ret = xport_write(m->link->x, token, XPORT_RDMA_TOKEN_LEN);
	if (ret == 0)
		ret = xport_flush(m->link->x);
	return ret;
}

/*
 * The RDMA connection to the secondary's --listen address (RDMA CM's port
 * space is not TCP's: the same port), carrying the token; the connection
 * that gave the token becomes its guard and it becomes the link.
 */
static int rdma_connect(struct migration *m)
{
	uint8_t token[XPORT_RDMA_TOKEN_LEN];
	char err[sizeof(m->error) - 128];
	struct xport *guard = m->link->x;
	int ret;

	ret = rdma_token(m, token);
	if (ret < 0) {
		mig_error(m, "RDMA token for secondary %s: %s",
			  m->cfg.secondary, strerror(-ret));
		return ret;
	}
	/* The guard is the new xport's from here, whatever the outcome. */
	m->link->x = xport_rdma_connect(m->cfg.secondary, token, guard,
					(int)handshake_ms(m), err, sizeof(err));
	if (!m->link->x) {
		mig_error(m, "RDMA connection to secondary %s: %s (is it "
			  "started with --transport rdma?)", m->cfg.secondary,
			  err);
		return -ECONNREFUSED;
	}
	xport_set_cancel(m->link->x, m->cancel_fd);
	return 0;
}

/*
 * What xport_place may copy from: every block of the PVM's RAM, through
 * the daemon's view. The PVM runs meanwhile; what it writes after a page
 * was placed is in the dirty log and goes again.
 */
static int rdma_sources(struct migration *m)
{
	char err[sizeof(m->error) - 128];
	uint64_t start = evloop_now_ms(), bytes = 0;
	uint32_t i;
	int ret;

	if (!m->cfg.rdma || m->cfg.identity)
		return 0;
	for (i = 0; i < m->ram->nblocks; i++) {
		const struct ramblock *rb = &m->ram->blocks[i];

		ret = xport_rdma_source(m->link->x, rb->alias, rb->size, err,
					sizeof(err));
		if (ret < 0) {
			mig_error(m, "cannot register RAM block %s for RDMA: %s",
				  rb->name, err);
			return ret;
		}
		bytes += rb->size;
	}
	/* The secondary waits this out before our hello: say how long. */
	log_info("pinned %llu MiB of guest RAM for RDMA in %llu ms",
		 (unsigned long long)(bytes >> 20),
		 (unsigned long long)(evloop_now_ms() - start));
	return 0;
}

/*
 * One attempt: connect, and the TLS handshake. A failure here says nothing
 * definite about the secondary (it may be starting, restarting, or behind a
 * link that flaps): the caller tries again later.
 */
/* A connection to the secondary in *xp: TCP, then TLS unless --insecure. */
static int connect_one(struct migration *m, struct xport **xp)
{
	char err[256];
	int fd;

	fd = net_connect(m->cfg.secondary, DIAL_TIMEOUT_MS, err, sizeof(err));
	if (fd < 0) {
		mig_error(m, "cannot reach secondary %s: %s", m->cfg.secondary,
			  err);
		return fd;
	}
	if (!m->cfg.insecure)
		return tls_handshake(m, fd, xp);
	*xp = xport_tcp_new(fd);
	if (!*xp)
		return -ENOMEM;
	xport_set_cancel(*xp, m->cancel_fd);
	return 0;
}

static int dial(struct migration *m)
{
	int ret = connect_one(m, &m->link->x);

	if (ret < 0)
		return ret;
	if (m->cfg.rdma) {
		int ret = rdma_connect(m);

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

/*
 * Over RDMA the secondary answers the hello once it has registered (pinned)
 * a RAM cache as large as the guest: allow XPORT_RDMA_PIN_ALLOWANCE_MS and
 * 2 s a GiB, never less than the usual timeout.
 */
static int rdma_hello_ms(const struct migration *m)
{
	uint64_t bytes = 0, ms;
	uint32_t i;

	for (i = 0; !m->cfg.identity && i < m->ram->nblocks; i++)
		bytes += m->ram->blocks[i].size;
	ms = XPORT_RDMA_PIN_ALLOWANCE_MS + 2000 * ((bytes + (1ull << 30) - 1) >> 30);
	if (ms < m->cfg.failover_timeout_ms)
		ms = m->cfg.failover_timeout_ms;
	return ms > INT_MAX ? INT_MAX : (int)ms;
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
	msg.hello.channels = m->cfg.channels;
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
	if (ret == 0 && m->cfg.rdma)
		ret = xport_set_timeout(m->link->x, rdma_hello_ms(m));
	if (ret == 0)
		ret = proto_recv(m->link->x, &m->link->rx, &msg);
	if (m->cfg.rdma)
		xport_set_timeout(m->link->x, (int)m->cfg.failover_timeout_ms);
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
	memcpy(m->token, msg.hello_ack.token, PROTO_TOKEN_LEN);
	return 0;
}

/*
 * Extra channel index: connect, present the session's token, and wait for
 * the secondary to echo it (or REFUSE). Any failure fails this live sync:
 * the secondary, told N in the hello, waits for all of them.
 */
static int dial_channel(struct migration *m, uint32_t index)
{
	struct proto_msg msg = { .type = PROTO_CHANNEL };
	struct proto_rxbuf rx = { 0 };
	struct xport *x = NULL;
	int ret;

	ret = connect_one(m, &x);
	if (ret == 0)
		ret = xport_set_timeout(x, (int)m->cfg.failover_timeout_ms);
	memcpy(msg.channel.token, m->token, PROTO_TOKEN_LEN);
	msg.channel.index = index;
	if (ret == 0)
		ret = proto_send(x, &msg);
	if (ret == 0)
		ret = xport_flush(x);
	if (ret == 0)
		ret = proto_recv(x, &rx, &msg);
	if (ret == 0 && msg.type == PROTO_REFUSE) {
		mig_error(m, "secondary %s refused live-sync channel %u: %s",
			  m->cfg.secondary, index, msg.refuse.reason);
		ret = -ECONNREFUSED;
	} else if (ret == 0 && (msg.type != PROTO_CHANNEL ||
				msg.channel.index != index ||
				memcmp(msg.channel.token, m->token,
				       PROTO_TOKEN_LEN))) {
		mig_error(m, "secondary %s answered channel %u with %s",
			  m->cfg.secondary, index, proto_type_name(msg.type));
		ret = -EPROTO;
	} else if (ret < 0 && ret != -ECANCELED && !m->error[0]) {
		mig_error(m, "live-sync channel %u to %s: %s", index,
			  m->cfg.secondary, strerror(-ret));
	}
	proto_rxbuf_free(&rx);
	if (ret < 0) {
		xport_free(x);
		return ret;
	}
	return mig_channels_add(&m->chans, x);
}

int dial_channels(struct migration *m)
{
	uint32_t i;
	int ret = 0;

	mig_channels_init(&m->chans, m->link->x);
	for (i = 1; i < m->cfg.channels && ret == 0; i++)
		ret = dial_channel(m, i);
	if (ret < 0)
		mig_channels_close(&m->chans);
	else if (m->cfg.channels > 1)
		log_info("live sync over %u connections to %s",
			 m->cfg.channels, m->cfg.secondary);
	return ret;
}

static const char *transport_words(const struct migration_config *c)
{
	if (c->rdma)
		return c->insecure ? "RDMA bound by a token sent in clear, "
				     "--insecure: no authentication" :
				     "RDMA bound to TLS 1.3, mutual "
				     "authentication";
	return c->insecure ? "plain TCP, --insecure" :
			     "TLS 1.3, mutual authentication";
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

	/* The PVM's RAM is pinned before the hello, which the secondary
	 * waits for longer over RDMA (sec-link.c): after it, no wait on
	 * either side is longer than the failover timeout. */
	if (ret == 0)
		ret = rdma_sources(m);
	if (ret == 0)
		ret = hello(m);
	if (ret < 0 && ret != -ECANCELED && !m->error[0])
		mig_error(m, "cannot reach secondary %s: %s", m->cfg.secondary,
			  strerror(-ret));
	if (ret == 0)
		log_info("connected to secondary %s (%s)", m->cfg.secondary,
			 transport_words(&m->cfg));
	return ret;
}
