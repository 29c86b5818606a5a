// SPDX-License-Identifier: MIT
/*
 * colo-kv: a key-value store that speaks enough RESP for redis-cli and
 * redis-benchmark, run as a COLO guest. Every byte of its state is in guest
 * RAM; this file only wires libcolo-guest's events to the kv core.
 */
#include <getopt.h>
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

/*
 * Its own options come from the daemons' --guest-arg (the same on PVM and
 * SVM). Like redis-server's: --enable-debug-command yes|no (default no;
 * "local" has no meaning here, where every client comes through the
 * daemon). 0, or 2 after saying why.
 */
static int parse_args(int argc, char **argv, bool *debug)
{
	static const struct option options[] = {
		{ "enable-debug-command", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*debug = false;
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (c != 'd')
			return 2;
		if (strcmp(optarg, "yes") && strcmp(optarg, "no")) {
			fprintf(stderr, "colo-kv: --enable-debug-command: "
				"'%s' is not yes or no\n", optarg);
			return 2;
		}
		*debug = !strcmp(optarg, "yes");
	}
	if (optind < argc) {
		fprintf(stderr, "colo-kv: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct colo_guest_ops ops = {
		.on_open = on_open,
		.on_data = on_data,
		.on_close = on_close,
	};
	struct colo_guest *g;
	struct kv kv;
	bool debug;
	int err;

	if (parse_args(argc, argv, &debug))
		return 2;
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
	kv.debug_enabled = debug;
	err = colo_guest_run(g, &ops, &kv);
	kv_deinit(&kv);
	colo_guest_free(g);
	return err ? 1 : 0;
}
