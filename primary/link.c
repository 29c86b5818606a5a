// SPDX-License-Identifier: MIT
/*
 * The replication link to the secondary: dialling, the hello exchange, and
 * the messages the secondary sends once the pair is in colo state.
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
int link_connect(struct primary *p)
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

/*
 * Live sync is one-way traffic, but both sides must still notice a peer
 * that went silent without closing (a host that died, a cut cable): read
 * the secondary's heartbeats without blocking, and send ours when we have
 * sent nothing else for a while.
 */
int link_sync_liveness(struct link *l, unsigned heartbeat_ms,
		       unsigned failover_timeout_ms, char *err, size_t errlen)
{
	struct proto_msg m;
	uint64_t now;
	int ret;

	while (xport_has_buffered(l->x) || evloop_fd_readable(xport_fd(l->x))) {
		ret = proto_recv(l->x, &l->rx, &m);
		if (ret < 0)
			return ret;
		if (m.type != PROTO_HEARTBEAT) {
			snprintf(err, errlen, "secondary sent %s during live "
				 "sync", proto_type_name(m.type));
			return -EPROTO;
		}
		l->rx_ms = evloop_now_ms();
	}
	now = evloop_now_ms();
	if (now - l->rx_ms >= failover_timeout_ms) {
		snprintf(err, errlen, "secondary %s silent for %llu ms during "
			 "live sync", l->peer ? l->peer : "?",
			 (unsigned long long)(now - l->rx_ms));
		return -ETIMEDOUT;
	}
	if (now - l->hb_ms >= heartbeat_ms) {
		m.type = PROTO_HEARTBEAT;
		m.heartbeat.time_ms = now;
		ret = proto_send(l->x, &m);
		if (ret < 0)
			return ret;
		l->hb_ms = now;
	}
	return 0;
}

/* Past this much queued for the secondary, wait for it to drain: the
 * backpressure that keeps a slow secondary from costing unbounded memory.
 * Blocking is safe here because the secondary never blocks writing to us. */
#define LINK_QUEUE_MAX (32u << 20)

static void link_watch(struct primary *p)
{
	evloop_mod(p->loop, xport_fd(p->link.x),
		   EV_READ | (xport_queued(p->link.x) ? EV_WRITE : 0));
}

/* Queue a message for the secondary in colo state and write what the
 * socket takes now. 0, or -errno once the link is lost. */
int link_queue(struct primary *p, const struct proto_msg *m)
{
	int ret = proto_queue(p->link.x, m);

	if (ret == 0)
		ret = xport_flush_nb(p->link.x);
	if (ret == -EAGAIN) {
		ret = 0;
		if (xport_queued(p->link.x) > LINK_QUEUE_MAX)
			ret = xport_flush(p->link.x);
	}
	if (ret < 0) {
		link_lost(p, strerror(-ret));
		return ret;
	}
	link_watch(p);
	return 0;
}

/*
 * Queue a heartbeat if one is due and write what the socket takes. Never
 * blocks and never ends the link itself, so that it is safe in the middle
 * of a checkpoint: 0 or -errno, for the caller to act on.
 */
int link_heartbeat(struct primary *p)
{
	struct proto_msg m = { .type = PROTO_HEARTBEAT };
	uint64_t now = evloop_now_ms();
	int ret;

	if (p->state != COLO_STATE_COLO || !p->link.x ||
	    now - p->link.hb_ms < p->opts.heartbeat_ms)
		return 0;
	m.heartbeat.time_ms = p->link.hb_ms = now;
	ret = proto_queue(p->link.x, &m);
	if (ret == 0)
		ret = xport_flush_nb(p->link.x);
	if (ret == -EAGAIN)
		ret = 0;
	if (ret == 0)
		link_watch(p);
	return ret;
}

/*
 * The secondary is gone. The PVM is now the only copy, so holding output
 * back protects nobody: release it and go on unprotected.
 */
void link_lost(struct primary *p, const char *why)
{
	if (!p->link.x)
		return;
	log_error("secondary lost (%s): continuing unprotected", why);
	snprintf(p->last_error, sizeof(p->last_error), "secondary lost: %s",
		 why);
	if (p->state == COLO_STATE_COLO)
		evloop_del(p->loop, xport_fd(p->link.x));
	xport_free(p->link.x);
	p->link.x = NULL;
	p->state = COLO_STATE_STANDALONE;
	ram_state_unprotected(&p->rs);
	p->secondary_losses++;
	p->redial_at_ms = evloop_now_ms() + 500;
	p->ckpt_requested = false;
	cmp_checkpoint_done(p->cmp);
	cmp_free(p->cmp);
	p->cmp = primary_comparator_new(p);
}

void link_set_handlers(struct link *l, const link_handler_fn *table,
		       void *opaque)
{
	l->handlers = table;
	l->handlers_opaque = opaque;
}

/*
 * Heartbeats are the link's own business (receiving one is all the
 * liveness it proves); every other type goes to its handler, and a type
 * with none is a protocol error.
 */
int link_dispatch(struct link *l, const struct proto_msg *m)
{
	link_handler_fn fn = NULL;

	if (m->type == PROTO_HEARTBEAT)
		return 0;
	if (l->handlers && m->type > 0 && m->type < PROTO__MAX)
		fn = l->handlers[m->type];
	if (!fn) {
		log_error("secondary sent unexpected %s",
			  proto_type_name(m->type));
		return -EPROTO;
	}
	return fn(l->handlers_opaque, m);
}

int link_expect_any(struct link *l, uint32_t types, struct proto_msg *m)
{
	int ret;

	for (;;) {
		ret = proto_recv(l->x, &l->rx, m);
		if (ret < 0)
			return ret;
		l->rx_ms = evloop_now_ms();
		if (m->type < 32 && (types & LINK_MSG(m->type)))
			return 0;
		ret = link_dispatch(l, m);
		if (ret < 0)
			return ret;
	}
}

int link_expect(struct link *l, enum proto_type type, struct proto_msg *m)
{
	return link_expect_any(l, LINK_MSG(type), m);
}

bool link_has_buffered(const struct primary *p)
{
	return p->state == COLO_STATE_COLO && p->link.x &&
	       xport_has_buffered(p->link.x);
}

void link_on_readable(struct evloop *l, int fd, uint32_t events, void *opaque)
{
	struct primary *p = opaque;
	struct proto_budget budget = { 0, 0 };
	struct proto_msg m;
	int ret;

	(void)l;
	(void)fd;
	if (events & EV_WRITE) {
		ret = xport_flush_nb(p->link.x);
		if (ret < 0 && ret != -EAGAIN) {
			link_lost(p, strerror(-ret));
			return;
		}
		link_watch(p);
		if (!(events & EV_READ))
			return;
	}
	do {
		ret = proto_recv(p->link.x, &p->link.rx, &m);
		if (ret == 0) {
			p->link.rx_ms = evloop_now_ms();
			ret = link_dispatch(&p->link, &m);
		}
		if (ret < 0) {
			link_lost(p, ret == -ECONNRESET ? "connection closed" :
							  strerror(-ret));
			return;
		}
		/* Budget spent: primary_run_adopted's loop calls us again
		 * once clients, the PVM and the control socket had a turn. */
	} while (proto_budget_spend(&budget, &p->link.rx) &&
		 xport_has_buffered(p->link.x));
}

/*
 * Heartbeats and silence. In colo state the secondary hears from us at least
 * every heartbeat_ms, and a secondary silent for failover_timeout_ms is
 * lost. (Dialling it again is migration_tick's.)
 */
void link_tick(struct primary *p)
{
	uint64_t now = evloop_now_ms();

	if (p->state == COLO_STATE_COLO && p->link.x) {
		if (now - p->link.rx_ms >= p->opts.failover_timeout_ms) {
			char why[96];

			snprintf(why, sizeof(why), "no message for %llu ms",
				 (unsigned long long)(now - p->link.rx_ms));
			link_lost(p, why);
		} else {
			int ret = link_heartbeat(p);

			if (ret < 0)
				link_lost(p, strerror(-ret));
		}
	}
}
