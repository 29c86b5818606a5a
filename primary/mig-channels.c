// SPDX-License-Identifier: MIT
/*
 * Sender threads of the extra live-sync channels (mig-channels.h). Each
 * waits for the migration thread's start, writes out what is queued on
 * its transport (xport_flush: TLS encrypts as it writes, which is the
 * work worth spreading), says how it went, and waits again.
 */
#include "mig-channels.h"

#include <errno.h>
#include <string.h>

#include "log.h"
#include "xport.h"

static void *sender(void *opaque)
{
	struct mig_channel *c = opaque;
	int ret;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->flush && !c->quit)
			pthread_cond_wait(&c->cond, &c->lock);
		if (c->quit)
			break;
		pthread_mutex_unlock(&c->lock);
		ret = xport_flush(c->x);
		pthread_mutex_lock(&c->lock);
		c->result = ret;
		c->flush = false;
		pthread_cond_broadcast(&c->cond);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

void mig_channels_init(struct mig_channels *cs, struct xport *link)
{
	memset(cs, 0, sizeof(*cs));
	cs->rc.n = 1;
	cs->rc.x[0] = link;
	cs->rc.start = mig_channels_start;
	cs->rc.wait = mig_channels_wait;
	cs->rc.opaque = cs;
}

int mig_channels_add(struct mig_channels *cs, struct xport *x)
{
	struct mig_channel *c;
	int ret;

	if (cs->rc.n >= PROTO_MAX_CHANNELS) {
		xport_free(x);
		return -E2BIG;
	}
	c = &cs->ch[cs->rc.n];
	memset(c, 0, sizeof(*c));
	c->x = x;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	ret = pthread_create(&c->thread, NULL, sender, c);
	if (ret) {
		pthread_cond_destroy(&c->cond);
		pthread_mutex_destroy(&c->lock);
		xport_free(x);
		c->x = NULL;
		return -ret;
	}
	c->started = true;
	cs->rc.x[cs->rc.n] = x;
	cs->rc.pages[cs->rc.n] = 0;
	cs->rc.n++;
	return 0;
}

void mig_channels_start(void *opaque)
{
	struct mig_channels *cs = opaque;
	unsigned i;

	for (i = 1; i < cs->rc.n; i++) {
		struct mig_channel *c = &cs->ch[i];

		pthread_mutex_lock(&c->lock);
		c->flush = true;
		c->result = 0;
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->lock);
	}
}

int mig_channels_wait(void *opaque)
{
	struct mig_channels *cs = opaque;
	int ret = 0;
	unsigned i;

	/* Every sender is waited for, whatever the first one says: after
	 * this the transports are the migration thread's again. */
	for (i = 1; i < cs->rc.n; i++) {
		struct mig_channel *c = &cs->ch[i];

		pthread_mutex_lock(&c->lock);
		while (c->flush)
			pthread_cond_wait(&c->cond, &c->lock);
		if (c->result < 0 && ret == 0) {
			ret = c->result;
			log_error("live-sync channel %u to %s: %s", i,
				  c->x->peer, strerror(-ret));
		}
		pthread_mutex_unlock(&c->lock);
	}
	return ret;
}

int mig_channels_end(struct mig_channels *cs)
{
	unsigned i;
	int ret = 0;

	for (i = 1; i < cs->rc.n && ret == 0; i++) {
		struct proto_msg m = { .type = PROTO_CHANNEL_END };

		m.channel_end.pages = cs->rc.pages[i];
		ret = proto_queue(cs->rc.x[i], &m);
	}
	if (ret < 0)
		return ret;
	mig_channels_start(cs);
	return mig_channels_wait(cs);
}

void mig_channels_close(struct mig_channels *cs)
{
	unsigned i;

	for (i = 1; i < cs->rc.n; i++) {
		struct mig_channel *c = &cs->ch[i];

		if (!c->started)
			continue;
		pthread_mutex_lock(&c->lock);
		c->quit = true;
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->thread, NULL);
		pthread_cond_destroy(&c->cond);
		pthread_mutex_destroy(&c->lock);
		xport_free(c->x);
		c->x = NULL;
		c->started = false;
		cs->rc.x[i] = NULL;
	}
	cs->rc.n = 1;
}
