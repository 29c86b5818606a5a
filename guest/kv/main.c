// SPDX-License-Identifier: MIT
/*
 * colo-kv: a key-value store that speaks enough RESP for redis-cli and
 * redis-benchmark, run as a COLO guest. Every byte of its state is in guest
 * RAM; this file only wires libcolo-guest's events to the kv core.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "colo-guest.h"
#include "kv.h"
#include "log.h"

static int flush(struct kv *kv, uint32_t conn)
{
	int err = 0;

	if (kv->out.len)
		err = colo_send(kv->g, conn, kv->out.buf, kv->out.len);
	reply_reset(&kv->out);
	return err;
}

static void on_open(struct colo_guest *g, void *app, uint32_t conn)
{
	(void)g;
	kv_open(app, conn);
}

static void on_data(struct colo_guest *g, void *app, uint32_t conn,
		    const uint8_t *data, size_t len)
{
	struct kv *kv = app;
	bool close = kv_feed(kv, conn, data, len);

	flush(kv, conn);
	if (close) {
		colo_close(g, conn);
		kv_close(kv, conn);
	}
}

static void on_close(struct colo_guest *g, void *app, uint32_t conn)
{
	(void)g;
	kv_close(app, conn);
}

int main(void)
{
	static const struct colo_guest_ops ops = {
		.on_open = on_open,
		.on_data = on_data,
		.on_close = on_close,
	};
	struct colo_guest *g;
	struct kv kv;
	int err;

	log_init("colo-kv", LOG_LVL_INFO);
	g = colo_guest_init();
	if (!g)
		return 1;
	err = kv_init(&kv, g);
	if (err) {
		log_error("colo-kv: %s", strerror(-err));
		colo_guest_free(g);
		return 1;
	}
	kv.flush = flush;
	err = colo_guest_run(g, &ops, &kv);
	kv_deinit(&kv);
	colo_guest_free(g);
	return err ? 1 : 0;
}
