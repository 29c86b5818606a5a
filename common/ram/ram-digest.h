/* SPDX-License-Identifier: MIT */
/*
 * Digests of guest RAM chunk by chunk, for `verify`: both sides digest the
 * same chunks of the same layout and compare. Chunks never straddle blocks;
 * they are numbered block by block.
 */
#ifndef COLO_RAM_DIGEST_H
#define COLO_RAM_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "ramblock.h"

#define RAM_DIGEST_CHUNK_PAGES 512     /* 2 MiB */

uint32_t ram_digest_nchunks(const struct ram_layout *l, uint32_t chunk_pages);
/* Fills out[nchunks * 32]. progress (may be NULL) runs after each chunk:
 * hashing a large RAM takes a while, and the daemons' heartbeats must go
 * on meanwhile; a negative return from it (a stop request) ends the walk
 * with that value. 0 or -errno. */
int ram_digest_chunks(const struct ram_layout *l, uint32_t chunk_pages,
		      uint8_t *out, int (*progress)(void *opaque),
		      void *opaque);
/* Where chunk i lies: block, byte offset in the block, length. */
void ram_digest_chunk_range(const struct ram_layout *l, uint32_t chunk_pages,
			    uint32_t i, uint32_t *block, uint64_t *offset,
			    uint64_t *len);

/* A chunk whose digests differ: bytes [offset, offset + length) of block. */
struct ram_digest_range {
	uint32_t block;
	uint64_t offset, length;
};

/*
 * Compares two digest arrays of nchunks each and lists the chunks that
 * differ, in order, in *out (malloc'd; NULL when none) and *nout.
 * 0, or -ENOMEM with *out NULL and *nout 0: a list that is cut short would
 * read as "fewer differences", and an empty one as "identical".
 */
int ram_digest_diff(const struct ram_layout *l, uint32_t chunk_pages,
		    const uint8_t *a, const uint8_t *b, uint32_t nchunks,
		    struct ram_digest_range **out, size_t *nout);

#endif
