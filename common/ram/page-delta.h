/* SPDX-License-Identifier: MIT */
/*
 * A page as a delta against an older copy of it (the idea of QEMU's
 * XBZRLE, our own encoding): runs of unchanged bytes skipped, changed
 * bytes carried literally. A checkpoint of a key-value guest changes a
 * few hundred bytes of each dirty page; the delta carries those.
 *
 * One page is a sequence of ops, each "skip u, len u, len bytes": skip
 * bytes left as they are, then len bytes replaced. The ops of a page add
 * up to exactly RAM_PAGE_SIZE; the next page's ops follow at once. A
 * length is a varint (LEB128: 7 bits a byte, low first, at most two
 * bytes, no needless second byte) of at most RAM_PAGE_SIZE. An op moves:
 * skip + len > 0, and only the page's last op may have len 0 (the tail
 * left as it is). A whole page is the one op "0, RAM_PAGE_SIZE, bytes",
 * which needs no older copy: PAGE_DELTA_MAX bytes.
 */
#ifndef COLO_PAGE_DELTA_H
#define COLO_PAGE_DELTA_H

#include <stddef.h>
#include <stdint.h>

#include "ramblock.h"

/* The largest encoding of one page: the whole-page op. */
#define PAGE_DELTA_MAX (RAM_PAGE_SIZE + 3)

/*
 * old -> new as a delta into out, at most cap bytes. The length, or 0
 * when it would not fit in cap (the caller then sends the page whole:
 * with cap < RAM_PAGE_SIZE, 0 means "not worth it"). Uncapped, a page
 * changed nearly throughout can take a few bytes more than
 * PAGE_DELTA_MAX.
 */
size_t page_delta_encode(const uint8_t *old, const uint8_t *new,
			 uint8_t *out, size_t cap);

/* new as the whole-page op into out (PAGE_DELTA_MAX bytes). */
size_t page_delta_whole(const uint8_t *new, uint8_t *out);

/*
 * Whether data[0..len) is exactly count pages' deltas: every op inside
 * its page, every page complete, nothing left over. 0 or -EPROTO. A
 * receiver checks a whole message with this before it applies any page.
 */
int page_delta_check(const uint8_t *data, size_t len, uint32_t count);

/*
 * Apply one page's delta, which page_delta_check accepted, to page;
 * returns the bytes of data it used (the next page's start).
 */
size_t page_delta_apply(uint8_t *page, const uint8_t *data);

#endif
