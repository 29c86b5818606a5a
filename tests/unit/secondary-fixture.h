/* SPDX-License-Identifier: MIT */
/*
 * The secondary's units wired as secondary.c wires them, without the
 * daemon around them: a loop, a link (connected only when a test adopts
 * a socketpair's end as the primary), an SVM, the incoming stream and
 * failover. Tests drive the units and look at their state.
 */
#ifndef COLO_TEST_SECONDARY_FIXTURE_H
#define COLO_TEST_SECONDARY_FIXTURE_H

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "evloop.h"
#include "failover.h"
#include "incoming.h"
#include "last-error.h"
#include "sec-link.h"
#include "svm.h"
#include "tap.h"

struct sec_fixture {
	struct evloop *loop;
	struct last_error err;
	struct sec_link link;
	struct svm svm;
	struct incoming in;
	struct failover fo;
	/* what the link reported, as secondary.c would act on it */
	int ended;
	int ended_err;
	bool ended_lost;
	char ended_why[128];
	bool stop;                     /* what stop_requested answers */
};

static bool fx_stop_requested(void *opaque)
{
	struct sec_fixture *f = opaque;

	return f->stop;
}

/* As secondary.c's link_ended, counting what happened. */
static void fx_ended(void *opaque, int err, const char *why, bool lost)
{
	struct sec_fixture *f = opaque;

	f->ended++;
	f->ended_err = err;
	f->ended_lost = lost;
	snprintf(f->ended_why, sizeof(f->ended_why), "%s", why ? why : "");
	if (f->in.state == IN_FENCED)
		sec_link_close(&f->link);
	else if (lost)
		failover_primary_lost(&f->fo, why ? why : "lost", false);
	else
		incoming_reset(&f->in, why ? why : "failed");
}

static void fx_connected(void *opaque)
{
	struct sec_fixture *f = opaque;

	incoming_connected(&f->in);
	failover_connected(&f->fo);
}

static void fx_output(void *opaque, const struct proto_msg *m)
{
	struct sec_fixture *f = opaque;

	if (sec_link_connected(&f->link))
		sec_link_send(&f->link, m);
}

static int fx_idle(void *opaque)
{
	struct sec_fixture *f = opaque;

	return sec_link_heartbeat_idle(&f->link);
}

static void fx_gone(void *opaque, const char *why)
{
	struct sec_fixture *f = opaque;

	incoming_reset(&f->in, why);
}

static void fx_init(struct sec_fixture *f, unsigned heartbeat_ms,
		    unsigned timeout_ms, const char *fence_cmd)
{
	struct sec_link_cfg lc = {
		.tls = NULL, .cancel_fd = -1, .heartbeat_ms = heartbeat_ms,
		.timeout_ms = timeout_ms, .last_error = &f->err,
	};
	const struct sec_link_ops lo = {
		.handlers = incoming_handlers, .handler_opaque = &f->in,
		.connected = fx_connected, .ended = fx_ended,
		.stop_requested = fx_stop_requested, .opaque = f,
	};
	const struct svm_ops vo = {
		.output = fx_output, .idle = fx_idle, .gone = fx_gone,
		.opaque = f,
	};
	const struct incoming_hooks hooks = {
		.replacing_fenced = failover_keep_fenced,
		.checkpoint_applied = failover_drop_kept,
		.reset_done = failover_restore_fenced,
		.opaque = &f->fo,
	};
	uint8_t digest[PROTO_DIGEST_LEN];

	memset(f, 0, sizeof(*f));
	f->loop = evloop_new();
	CHECK(f->loop);
	lc.loop = f->loop;
	memset(digest, 0x11, sizeof(digest));
	sec_link_init(&f->link, &lc, &lo);
	svm_init(&f->svm, f->loop, NULL, NULL, &vo);
	incoming_init(&f->in, &f->link, &f->svm, &f->err, digest, &hooks);
	failover_init(&f->fo, &f->in, &f->svm, &f->link, &f->err, fence_cmd,
		      fx_stop_requested, f);
}

static void fx_deinit(struct sec_fixture *f)
{
	failover_drop_kept(&f->fo);
	incoming_deinit(&f->in);
	svm_deinit(&f->svm);
	sec_link_deinit(&f->link);
	evloop_free(f->loop);
}

#endif
