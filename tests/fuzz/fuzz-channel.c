// SPDX-License-Identifier: MIT
/*
 * Fuzz target for the first frame of an extra live-sync connection, as
 * the secondary's link reads it (sec-link.c, read_channel): a header and
 * a CHANNEL, decoded, then judged by the session (chan_rx_check) that
 * expects 4 channels with the token 00 01 .. 0f and has channel 2
 * connected. Whatever is accepted must be canonical (re-encodes to the
 * same bytes) and must be exactly what the session may take: its token,
 * an index 1..3, not 2.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chan-rx.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct chan_rx cr;
	struct proto_msg m;
	uint8_t out[PROTO_HDR_LEN + 20];
	uint32_t type, len;
	char why[PROTO_REASON_MAX];
	bool mine;
	int i, ret;

	memset(&cr, 0, sizeof(cr));
	cr.open = true;
	cr.n = 4;
	for (i = 0; i < PROTO_TOKEN_LEN; i++)
		cr.token[i] = (uint8_t)i;
	cr.t[2].x = (struct xport *)&cr;     /* taken; never dereferenced */

	if (size < PROTO_HDR_LEN || proto_decode_hdr(data, &type, &len) ||
	    type != PROTO_CHANNEL || len != size - PROTO_HDR_LEN ||
	    proto_decode(type, data + PROTO_HDR_LEN, len, &m))
		return 0;
	if (proto_encode(&m, out, sizeof(out)) != size ||
	    memcmp(out, data, size))
		abort();
	why[0] = '\0';
	ret = chan_rx_check(&cr, &m.channel, why, sizeof(why));
	mine = !memcmp(m.channel.token, cr.token, PROTO_TOKEN_LEN) &&
	       m.channel.index >= 1 && m.channel.index < 4 &&
	       m.channel.index != 2;
	if ((ret == 0) != mine || (ret < 0 && !why[0]))
		abort();
	return 0;
}
