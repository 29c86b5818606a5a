// SPDX-License-Identifier: MIT
/*
 * Fuzz target for the page delta codec. The first byte picks a mode.
 * Even: the rest is count (the next byte, 1..4) pages' deltas; whatever
 * page_delta_check accepts is applied to pages of a known pattern (an
 * overrun shows under ASan), must use exactly the bytes it was given, and
 * each result must round-trip through the encoder. Odd: the rest, cycled,
 * is an old and a new page; their delta must check and apply to new.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "page-delta.h"

#define PS RAM_PAGE_SIZE

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A delta of a page changed almost throughout can pass the whole form by
 * a few bytes (the senders cap it under a page): room for any. */
static uint8_t pages[4][PS], enc[2 * PS], page[PS];

static void round_trip(const uint8_t *old, const uint8_t *new)
{
	size_t n = page_delta_encode(old, new, enc, sizeof(enc));

	if (!n || page_delta_check(enc, n, 1))
		abort();
	memcpy(page, old, PS);
	if (page_delta_apply(page, enc) != n || memcmp(page, new, PS))
		abort();
	/* Under a page or nothing: never a delta larger than asked. */
	n = page_delta_encode(old, new, enc, PS - 1);
	if (n >= PS)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t base[PS];
	size_t used = 0, i;
	uint32_t count;

	if (size < 2)
		return 0;
	for (i = 0; i < PS; i++)
		base[i] = (uint8_t)(i * 7);
	if (data[0] & 1) {
		uint8_t old[PS], new[PS];

		for (i = 0; i < PS; i++) {
			old[i] = data[1 + i % (size - 1)];
			new[i] = data[1 + (i + PS) % (size - 1)];
		}
		round_trip(old, new);
		round_trip(base, new);
		return 0;
	}
	count = 1 + data[1] % 4;
	if (page_delta_check(data + 2, size - 2, count))
		return 0;
	for (i = 0; i < count; i++) {
		memcpy(pages[i], base, PS);
		used += page_delta_apply(pages[i], data + 2 + used);
		round_trip(base, pages[i]);
	}
	if (used != size - 2)
		abort();
	return 0;
}
