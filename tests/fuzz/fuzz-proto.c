// SPDX-License-Identifier: MIT
/*
 * Fuzz target for the wire decoders. The first byte picks the message type
 * (0 and PROTO__MAX included, which must be refused), the rest is the
 * payload. Whatever decodes must re-encode to exactly the same frame: the
 * encoding is canonical, so a decoder that accepts something the encoder
 * would not produce shows up here, not just a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_msg m;
	uint32_t type, t, len;
	uint8_t *out;
	size_t n;

	if (size < 1 || size - 1 > PROTO_MAX_PAYLOAD)
		return 0;
	type = data[0] % (PROTO__MAX + 1);
	if (proto_decode(type, data + 1, size - 1, &m))
		return 0;

	n = proto_frame_len(&m);
	if (n != PROTO_HDR_LEN + size - 1)
		abort();
	out = malloc(n);
	if (!out)
		abort();
	if (proto_encode(&m, out, n) != n)
		abort();
	if (proto_decode_hdr(out, &t, &len) || t != type || len != size - 1)
		abort();
	if (memcmp(out + PROTO_HDR_LEN, data + 1, size - 1))
		abort();
	free(out);
	return 0;
}
