/* SPDX-License-Identifier: MIT */
/*
 * colo-kv's core, without the event loop: feed it a connection's bytes and
 * it runs the commands in them against the store in guest RAM, leaving the
 * replies in kv->out. main.c wires it to libcolo-guest; the unit tests
 * drive it directly over a local guest.
 */
#ifndef COLO_KV_H
#define COLO_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "reply.h"
#include "resp.h"

struct colo_guest;
struct kv;

/* Pipelines whose replies pass this size are flushed between commands. */
#define KV_FLUSH_AT (256u * 1024)

/*
 * What one client can make colo-kv hold for an unfinished command, in
 * guest RAM: Redis's client-query-buffer-limit (1 GiB) and
 * proto-max-bulk-len (512 MiB), each capped at a quarter of guest RAM so
 * that one client cannot take the memory every other client needs (the
 * buffer grows by doubling: at the limit it may briefly take three
 * quarters). A client over either is disconnected; the guest goes on.
 */
#define KV_QBUF_MAX (1ull << 30)
#define KV_QBUF_RAM_SHARE 4

/* Process-local state: rebuilt on every start, never checkpointed. */
struct kv {
	struct colo_guest *g;
	struct kv_root *root;   /* in guest RAM */
	struct kv_out out;      /* replies of the event being handled */
	struct resp_cmd cmd;    /* scratch for the parser; its bulk_max */
	uint64_t qbuf_max;      /* bytes of unfinished command per client */
	bool debug_enabled;     /* --enable-debug-command yes */
	/* Sends out's bytes to conn and empties it; NULL keeps all replies
	 * in out until the caller takes them. */
	int (*flush)(struct kv *kv, uint32_t conn);
	void *app;
};

/* Creates the store, or finds it when the guest resumed. 0 or -errno. */
int kv_init(struct kv *kv, struct colo_guest *g);
void kv_deinit(struct kv *kv);

void kv_open(struct kv *kv, uint32_t conn);
/* Runs every complete command in data (after what conn had buffered).
 * True when the connection must be closed once out is sent (QUIT, a
 * protocol error). */
bool kv_feed(struct kv *kv, uint32_t conn, const uint8_t *data, size_t len);
void kv_close(struct kv *kv, uint32_t conn);

#endif
