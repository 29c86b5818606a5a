// SPDX-License-Identifier: MIT
/*
 * Receivers of the extra live-sync channels (chan-rx.h). Each thread
 * reads its connection to the end (CHANNEL_END) and stores what it
 * decodes; it trusts nothing (I6): every range is checked against the
 * layout and against the channel it came on, and a PAGES that claims to
 * be placed (RDMA's) is refused, as on a TLS link.
 */
#include "chan-rx.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "evloop.h"
#include "log.h"
#include "ramcache.h"
#include "xport.h"

/* A channel takes only the 2 MiB chunks whose index mod n is its own, a
 * whole run inside one chunk (ram-save.c sends them so). */
static bool on_channel(const struct chan_rx *cr, uint32_t index,
		       uint64_t first, uint64_t count)
{
	uint64_t chunk = first >> PROTO_CHANNEL_CHUNK_SHIFT;

	if (count && (first + count - 1) >> PROTO_CHANNEL_CHUNK_SHIFT != chunk)
		return false;
	return chunk % cr->n == index;
}

bool chan_rx_routes_to(const struct chan_rx *cr, uint32_t index,
		       uint64_t first, uint64_t count)
{
	return cr->n <= 1 || on_channel(cr, index, first, count);
}

static int store(struct chan_rx_thread *t, const struct proto_msg *m)
{
	const struct chan_rx *cr = t->cr;
	bool discard = m->type == PROTO_DISCARD;
	uint32_t block = discard ? m->discard.block : m->pages.block;
	uint64_t first = discard ? m->discard.first : m->pages.first;
	uint64_t count = discard ? m->discard.count : m->pages.count;
	int ret;

	/* Plain or zero pages only: placed ones need RDMA (never with
	 * channels), and a delta's data is not count pages, nor is there a
	 * checkpoint's page to apply it to. */
	if (!discard && (m->pages.flags & ~PROTO_PAGES_ZERO)) {
		snprintf(t->why, sizeof(t->why), "%s PAGES on a live-sync "
			 "channel", (m->pages.flags & PROTO_PAGES_PLACED) ?
			 "placed" : "delta");
		return -EPROTO;
	}
	if (proto_check_range(cr->ram, block, first, count) < 0) {
		snprintf(t->why, sizeof(t->why), "%s out of range: block %u "
			 "pages %llu+%llu", proto_type_name(m->type), block,
			 (unsigned long long)first, (unsigned long long)count);
		return -ERANGE;
	}
	if (!on_channel(cr, t->index, first, count)) {
		snprintf(t->why, sizeof(t->why), "%s of pages %llu+%llu "
			 "belongs to another channel",
			 proto_type_name(m->type), (unsigned long long)first,
			 (unsigned long long)count);
		return -EPROTO;
	}
	ret = ramcache_store(cr->cache, block, first, count,
			     discard ? NULL : m->pages.data);
	if (ret == 0 && !discard)
		t->pages += count;
	return ret;
}

static int receive(struct chan_rx_thread *t)
{
	struct proto_msg m;
	int ret;

	for (;;) {
		ret = proto_recv(t->x, &t->rx, &m);
		if (ret < 0) {
			snprintf(t->why, sizeof(t->why), "%s",
				 ret == -ECONNRESET ? "closed before its "
				 "CHANNEL_END" : strerror(-ret));
			return ret;
		}
		if (m.type == PROTO_CHANNEL_END) {
			if (m.channel_end.pages == t->pages)
				return 0;
			snprintf(t->why, sizeof(t->why), "CHANNEL_END claims "
				 "%llu pages, %llu arrived",
				 (unsigned long long)m.channel_end.pages,
				 (unsigned long long)t->pages);
			return -EPROTO;
		}
		if (m.type != PROTO_PAGES && m.type != PROTO_DISCARD) {
			snprintf(t->why, sizeof(t->why), "%s does not belong "
				 "on a live-sync channel",
				 proto_type_name(m.type));
			return -EPROTO;
		}
		ret = store(t, &m);
		if (ret < 0)
			return ret;
	}
}

static void *receiver(void *opaque)
{
	struct chan_rx_thread *t = opaque;
	uint64_t one = 1;

	atomic_store(&t->result, receive(t));
	atomic_store(&t->done, true);
	if (write(t->cr->event_fd, &one, sizeof(one)) < 0)
		log_error("waking the loop: %s", strerror(errno));
	return NULL;
}

static void drain(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) > 0)
		;
}

/* A receiver that failed fails the link; one report is enough, and the
 * owner's reaction (a reset) stops every receiver before it returns. */
static void on_event(struct evloop *loop, int fd, uint32_t events,
		     void *opaque)
{
	struct chan_rx *cr = opaque;
	char why[256];
	unsigned i;

	(void)loop;
	(void)events;
	drain(fd);
	for (i = 1; i < cr->n; i++) {
		struct chan_rx_thread *t = &cr->t[i];
		int ret;

		if (!t->x || t->reported || !atomic_load(&t->done))
			continue;
		ret = atomic_load(&t->result);
		if (ret == 0)
			continue;
		t->reported = true;
		snprintf(why, sizeof(why), "live-sync channel %u: %s", i,
			 t->why);
		cr->failed(cr->opaque, ret, why);
		return;
	}
}

int chan_rx_init(struct chan_rx *cr, struct evloop *loop, int stop_fd,
		 void (*failed)(void *opaque, int err, const char *why),
		 void *opaque)
{
	memset(cr, 0, sizeof(*cr));
	cr->n = 1;
	cr->stop_fd = stop_fd;
	cr->loop = loop;
	cr->failed = failed;
	cr->opaque = opaque;
	cr->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	cr->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (cr->event_fd < 0 || cr->cancel_fd < 0)
		return -errno;
	if (loop)
		return evloop_add(loop, cr->event_fd, EV_READ, on_event, cr);
	return 0;
}

void chan_rx_deinit(struct chan_rx *cr)
{
	chan_rx_stop(cr);
	if (cr->loop && cr->event_fd >= 0)
		evloop_del(cr->loop, cr->event_fd);
	if (cr->event_fd >= 0)
		close(cr->event_fd);
	if (cr->cancel_fd >= 0)
		close(cr->cancel_fd);
	cr->event_fd = cr->cancel_fd = -1;
}

void chan_rx_open(struct chan_rx *cr, unsigned channels,
		  struct ramcache *cache, const struct ram_layout *ram,
		  unsigned timeout_ms, uint8_t token[PROTO_TOKEN_LEN])
{
	chan_rx_stop(cr);
	/* Without randomness no channel can be bound: none is taken. */
	if (getrandom(cr->token, PROTO_TOKEN_LEN, 0) != PROTO_TOKEN_LEN) {
		log_error("getrandom: %s; live sync over the link alone",
			  strerror(errno));
		channels = 1;
	}
	memcpy(token, cr->token, PROTO_TOKEN_LEN);
	cr->n = channels > 1 && channels <= PROTO_MAX_CHANNELS ? channels : 1;
	cr->open = cr->n > 1;
	cr->cache = cache;
	cr->ram = ram;
	cr->timeout_ms = timeout_ms;
}

bool chan_rx_wanted(const struct chan_rx *cr)
{
	return cr->open && cr->taken < cr->n - 1;
}

/* Every byte compared (CRYPTO_memcmp): how long a refusal takes says
 * nothing of a token. */
static bool same_token(const uint8_t *a, const uint8_t *b)
{
	return CRYPTO_memcmp(a, b, PROTO_TOKEN_LEN) == 0;
}

int chan_rx_check(const struct chan_rx *cr, const struct proto_channel *c,
		  char *why, size_t whylen)
{
	if (!cr->open) {
		snprintf(why, whylen, "no live sync here takes channels");
		return -EPERM;
	}
	if (!same_token(c->token, cr->token)) {
		snprintf(why, whylen, "channel %u: not this session's token",
			 c->index);
		return -EACCES;
	}
	if (c->index < 1 || c->index >= cr->n) {
		snprintf(why, whylen, "channel %u, but this live sync has %u "
			 "channels", c->index, cr->n);
		return -ERANGE;
	}
	if (cr->t[c->index].x) {
		snprintf(why, whylen, "channel %u is already connected",
			 c->index);
		return -EEXIST;
	}
	return 0;
}

int chan_rx_take(struct chan_rx *cr, struct xport *x,
		 const struct proto_channel *c, char *why, size_t whylen)
{
	struct proto_msg echo = { .type = PROTO_CHANNEL };
	struct chan_rx_thread *t;
	int ret = chan_rx_check(cr, c, why, whylen);

	if (ret < 0)
		return ret;
	t = &cr->t[c->index];
	echo.channel = *c;
	xport_set_timeout(x, 1000);
	ret = proto_send(x, &echo);
	if (ret == 0)
		ret = xport_flush(x);
	if (ret < 0) {
		snprintf(why, whylen, "channel %u: answering: %s", c->index,
			 strerror(-ret));
		return ret;
	}
	/* The receiver waits as long as the link lives: the link's silence
	 * ends the session, and the session's end cancels the wait. */
	xport_set_timeout(x, 0);
	xport_set_cancel(x, cr->cancel_fd);
	memset(t, 0, sizeof(*t));
	t->cr = cr;
	t->x = x;
	t->index = c->index;
	ret = pthread_create(&t->thread, NULL, receiver, t);
	if (ret) {
		t->x = NULL;
		snprintf(why, whylen, "channel %u: no thread: %s", c->index,
			 strerror(ret));
		return -ret;
	}
	cr->taken++;
	return 0;
}

static void release(struct chan_rx *cr)
{
	unsigned i;

	for (i = 1; i < PROTO_MAX_CHANNELS; i++) {
		struct chan_rx_thread *t = &cr->t[i];

		if (!t->x)
			continue;
		pthread_join(t->thread, NULL);
		xport_free(t->x);
		proto_rxbuf_free(&t->rx);
		t->x = NULL;
	}
	cr->taken = 0;
	cr->n = 1;
	cr->open = false;
	drain(cr->event_fd);
	drain(cr->cancel_fd);
}

void chan_rx_stop(struct chan_rx *cr)
{
	uint64_t one = 1;

	if (cr->taken && write(cr->cancel_fd, &one, sizeof(one)) < 0)
		log_error("cancelling live-sync channels: %s", strerror(errno));
	release(cr);
}

static bool all_done(const struct chan_rx *cr)
{
	unsigned i;

	for (i = 1; i < cr->n; i++)
		if (!atomic_load(&cr->t[i].done))
			return false;
	return true;
}

int chan_rx_finish(struct chan_rx *cr, uint64_t *pages, char *why,
		   size_t whylen)
{
	uint64_t deadline = evloop_now_ms() + cr->timeout_ms;
	unsigned i;
	int ret = 0;

	*pages = 0;
	if (cr->n <= 1)
		return 0;
	cr->open = false;
	if (cr->taken < cr->n - 1) {
		snprintf(why, whylen, "the first checkpoint began with %u of "
			 "%u live-sync channels connected", cr->taken + 1,
			 cr->n);
		chan_rx_stop(cr);
		return -EPROTO;
	}
	/* The primary ended every channel before it began the checkpoint:
	 * what is left is what the sockets still hold, read at once. */
	while (!all_done(cr)) {
		struct pollfd pfd[2] = {
			{ .fd = cr->event_fd, .events = POLLIN },
			{ .fd = cr->stop_fd, .events = POLLIN },
		};
		uint64_t now = evloop_now_ms();

		if (now >= deadline) {
			snprintf(why, whylen, "live-sync channels did not end "
				 "within %u ms of the first checkpoint",
				 cr->timeout_ms);
			chan_rx_stop(cr);
			return -ETIMEDOUT;
		}
		if (poll(pfd, cr->stop_fd >= 0 ? 2 : 1,
			 (int)(deadline - now)) < 0 && errno != EINTR) {
			ret = -errno;
			snprintf(why, whylen, "waiting for the live-sync "
				 "channels: %s", strerror(-ret));
			chan_rx_stop(cr);
			return ret;
		}
		if (pfd[1].revents & POLLIN) {
			snprintf(why, whylen, "stopping");
			chan_rx_stop(cr);
			return -ECANCELED;
		}
		drain(cr->event_fd);
	}
	for (i = 1; i < cr->n; i++) {
		struct chan_rx_thread *t = &cr->t[i];

		pthread_join(t->thread, NULL);
		if (atomic_load(&t->result) < 0 && ret == 0) {
			ret = atomic_load(&t->result);
			snprintf(why, whylen, "live-sync channel %u: %s", i,
				 t->why);
		}
		*pages += t->pages;
		xport_free(t->x);
		proto_rxbuf_free(&t->rx);
		t->x = NULL;
	}
	cr->taken = 0;
	cr->n = 1;
	drain(cr->event_fd);
	return ret;
}
