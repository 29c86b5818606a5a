/* SPDX-License-Identifier: MIT */
/*
 * The comparator: per connection, the PVM's output and the SVM's output as
 * two byte queues. Pure logic: no sockets, no clock of its own.
 *
 *      PVM output ──► [ pvm queue ]──┐
 *                                    ├─ equal prefix ──► release to client
 *      SVM output ──► [ svm queue ]──┘
 *                                    └─ differ ────────► ask for checkpoint
 *
 * Bytes are compared as streams (a TCP connection has no packet boundaries
 * worth keeping). While the queues agree, the common prefix is released and
 * dropped from both. The first difference marks the connection diverged:
 * from then on nothing of it is released until cmp_checkpoint_done(), which
 * releases everything the PVM holds and drops what the SVM sent (I5).
 *
 * A guest's close of a connection is part of its stream: it ends it. The
 * PVM's close is released (after all of its bytes) only when the SVM closed
 * the same connection after the same bytes; a close where the other side
 * produced more, or fewer, bytes is a difference like any other. Output a
 * side produces after its own close has no reader and is dropped.
 */
#ifndef COLO_COMPARE_H
#define COLO_COMPARE_H

#include <stddef.h>
#include <stdint.h>

/* Positive result codes of cmp_push_* (negative values are -errno). */
#define CMP_OK 0
#define CMP_MISMATCH 1      /* the streams differ: checkpoint needed */

struct cmp;

/* Called with bytes that may go to the client, in order, per connection. */
typedef void (*cmp_release_fn)(void *opaque, uint32_t conn,
			       const uint8_t *buf, size_t len);
/* Called once per connection when the PVM's close may reach the client: it
 * comes after the connection's last released byte. */
typedef void (*cmp_release_close_fn)(void *opaque, uint32_t conn);

struct cmp *cmp_new(cmp_release_fn release, cmp_release_close_fn close,
		    void *opaque);
void cmp_free(struct cmp *c);                        /* NULL-safe */

int cmp_conn_open(struct cmp *c, uint32_t conn);     /* 0, -EEXIST, -ENOMEM */
/* Forget a connection and whatever it holds. */
void cmp_conn_close(struct cmp *c, uint32_t conn);

/* now_ms stamps the PVM bytes for cmp_oldest_pvm_ms. CMP_OK, CMP_MISMATCH,
 * -ENOENT (unknown conn) or -ENOMEM. Releases what it can before return. */
int cmp_push_pvm(struct cmp *c, uint32_t conn, const void *buf, size_t len,
		 uint64_t now_ms);
int cmp_push_svm(struct cmp *c, uint32_t conn, const void *buf, size_t len);

/* The guest closed conn on that side. CMP_OK, CMP_MISMATCH or -ENOENT; a
 * second close of the same side is ignored. now_ms stamps a held PVM close
 * for cmp_oldest_pvm_ms, like bytes. */
int cmp_close_pvm(struct cmp *c, uint32_t conn, uint64_t now_ms);
int cmp_close_svm(struct cmp *c, uint32_t conn);

/* After an acknowledged checkpoint: release all held PVM bytes and closes,
 * drop all SVM bytes and closes, and clear every diverged mark. */
void cmp_checkpoint_done(struct cmp *c);

/* Stamp of the oldest PVM byte or close still held, or UINT64_MAX. */
uint64_t cmp_oldest_pvm_ms(const struct cmp *c);
/* PVM bytes held for conn (0 for an unknown conn). */
size_t cmp_pvm_held(const struct cmp *c, uint32_t conn);
/* Bytes of both sides held for conn: what it costs the comparator. */
size_t cmp_held(const struct cmp *c, uint32_t conn);

struct cmp_stats {
	uint64_t released_bytes;
	uint64_t mismatches;          /* connections found diverged */
	uint64_t held_bytes;          /* PVM bytes held now */
	uint64_t svm_held_bytes;      /* SVM bytes ahead of the PVM's now */
	uint64_t released_closes;
};
void cmp_get_stats(const struct cmp *c, struct cmp_stats *st);

#endif
