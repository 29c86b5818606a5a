/* SPDX-License-Identifier: MIT */
/*
 * A checkpoint's result, and the part of the transaction that depends on
 * nothing but the link: waiting for the secondary's answer. The rest of
 * the transaction (checkpoint.c) still works on the primary's context.
 */
#ifndef COLO_PRIMARY_CHECKPOINT_H
#define COLO_PRIMARY_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ram-digest.h"

struct link;
struct ram_layout;

struct ckpt_result {
	uint64_t id;
	uint64_t pages;
	uint64_t bytes;
	double pause_ms;
	/* filled while waiting for the acknowledgement */
	bool acked;
	int status;                  /* the secondary's, 0 or -errno */
	bool verify;                 /* asked for a RAM comparison */
	bool verified;               /* the secondary's digests arrived */
	uint32_t chunk_pages, nchunks;
	uint8_t *pvm_digests;        /* nchunks * 32 */
	struct ram_digest_range *diff;
	size_t ndiff;
	int diff_err;                /* 0, or -errno: no (whole) list */
};

/*
 * Step 3 of the transaction, after CKPT_END went out: expect VERIFY (when
 * res->verify; its digests are compared with res->pvm_digests of ram),
 * then CKPT_ACK for res->id. Other traffic goes through the link's
 * handlers. A secondary that failed acks at once with its error, VERIFY or
 * not. 0; the secondary's error (res->status); -EPROTO for an answer out
 * of turn or for another checkpoint; or the link's -errno.
 */
int checkpoint_expect_ack(struct link *l, const struct ram_layout *ram,
			  struct ckpt_result *res);

void ckpt_result_free(struct ckpt_result *res);

#endif
