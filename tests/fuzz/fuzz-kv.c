// SPDX-License-Identifier: MIT
/*
 * Fuzz target for colo-kv's command layer: clients' bytes through kv_feed
 * into a store in a local guest's RAM (no daemon), as main.c drives it.
 * The input is a list of events, each a byte saying which of four
 * connections and what (open, close, or data: the next byte is its
 * length), so pipelining, splits and interleaved clients are all reached.
 * A fresh guest per input keeps every crash reproducible from its input.
 */
#include <stdint.h>
#include <stdlib.h>

#include "colo-guest-local.h"
#include "colo-guest.h"
#include "kv.h"

/* Small, so that filling it (DEBUG FILLRANDOM, big values) stays quick. */
#define RAM_BYTES (8u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static void *ram;
	struct colo_guest *g;
	struct kv kv = { 0 };
	size_t off = 0;

	if (!ram && !(ram = aligned_alloc(4096, RAM_BYTES)))
		abort();
	g = colo_guest_new_local(ram, RAM_BYTES, false);
	if (!g || kv_init(&kv, g))
		abort();
	while (off < size) {
		uint32_t conn = data[off] & 3;
		unsigned int op = data[off++] >> 2 & 3;
		size_t len;

		if (op == 0) {
			kv_open(&kv, conn);
		} else if (op == 1) {
			kv_close(&kv, conn);
		} else {
			len = off < size ? data[off++] : 0;
			if (len > size - off)
				len = size - off;
			if (kv_feed(&kv, conn, data + off, len))
				kv_close(&kv, conn);
			off += len;
		}
		reply_reset(&kv.out);
	}
	kv_deinit(&kv);
	colo_guest_free(g);
	return 0;
}
