// SPDX-License-Identifier: MIT
#include "ram-digest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"

static uint64_t block_chunks(const struct ramblock *rb, uint32_t chunk_pages)
{
	return (ramblock_pages(rb) + chunk_pages - 1) / chunk_pages;
}

uint32_t ram_digest_nchunks(const struct ram_layout *l, uint32_t chunk_pages)
{
	uint64_t n = 0;
	uint32_t i;

	for (i = 0; i < l->nblocks; i++)
		n += block_chunks(&l->blocks[i], chunk_pages);
	return (uint32_t)n;
}

void ram_digest_chunk_range(const struct ram_layout *l, uint32_t chunk_pages,
			    uint32_t i, uint32_t *block, uint64_t *offset,
			    uint64_t *len)
{
	uint64_t chunk_bytes = (uint64_t)chunk_pages << RAM_PAGE_SHIFT;
	uint32_t b;

	for (b = 0; b < l->nblocks; b++) {
		uint64_t n = block_chunks(&l->blocks[b], chunk_pages);

		if (i < n) {
			*block = b;
			*offset = i * chunk_bytes;
			*len = l->blocks[b].size - *offset < chunk_bytes ?
			       l->blocks[b].size - *offset : chunk_bytes;
			return;
		}
		i -= (uint32_t)n;
	}
	*block = 0;
	*offset = *len = 0;
}

int ram_digest_chunks(const struct ram_layout *l, uint32_t chunk_pages,
		      uint8_t *out, int (*progress)(void *opaque),
		      void *opaque)
{
	uint32_t n = ram_digest_nchunks(l, chunk_pages), i;

	for (i = 0; i < n; i++) {
		uint32_t b;
		uint64_t off, len;
		int ret;

		ram_digest_chunk_range(l, chunk_pages, i, &b, &off, &len);
		ret = digest_buf(l->blocks[b].alias + off, len,
				 out + (uint64_t)i * DIGEST_LEN);
		if (ret < 0)
			return ret;
		if (progress && (ret = progress(opaque)) < 0)
			return ret;
	}
	return 0;
}

static bool chunk_differs(const uint8_t *a, const uint8_t *b, uint32_t i)
{
	return memcmp(a + (size_t)i * DIGEST_LEN, b + (size_t)i * DIGEST_LEN,
		      DIGEST_LEN) != 0;
}

/* Counted first so that one allocation either holds them all or fails. */
int ram_digest_diff(const struct ram_layout *l, uint32_t chunk_pages,
		    const uint8_t *a, const uint8_t *b, uint32_t nchunks,
		    struct ram_digest_range **out, size_t *nout)
{
	size_t n = 0, k = 0;
	uint32_t i;

	*out = NULL;
	*nout = 0;
	for (i = 0; i < nchunks; i++)
		n += chunk_differs(a, b, i);
	if (!n)
		return 0;
	*out = calloc(n, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (i = 0; i < nchunks; i++) {
		struct ram_digest_range *r = &(*out)[k];

		if (!chunk_differs(a, b, i))
			continue;
		ram_digest_chunk_range(l, chunk_pages, i, &r->block,
				       &r->offset, &r->length);
		k++;
	}
	*nout = n;
	return 0;
}
