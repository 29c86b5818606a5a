// SPDX-License-Identifier: MIT
/*
 * Framed protocol messages over a transport. The transport buffers both
 * ways, so a frame is written as its head and then its bulk data straight
 * from where the caller keeps it (a page of the RAM cache, say), without an
 * extra copy of up to a megabyte here.
 */
#include "proto.h"
#include "log.h"
#include "xport.h"

#include <errno.h>
#include <stdlib.h>

/* Receive buffers start here and double, so a stream of PAGES frames
 * settles after a few reallocations. */
#define RXBUF_MIN (64u * 1024)

/* put is xport_write (may block) or xport_queue (never does). */
static int encode_and_put(struct xport *x, const struct proto_msg *m,
			  int (*put)(struct xport *, const void *, size_t))
{
	uint8_t head[PROTO_HEAD_MAX];
	const uint8_t *data;
	size_t n, datalen;
	int r;

	n = proto_encode_head(m, head, sizeof(head), &data, &datalen);
	if (!n) {
		log_error("%s: refusing to send an invalid %s message",
			  x->peer, proto_type_name(m->type));
		return -EINVAL;
	}
	r = put(x, head, n);
	if (r)
		return r;
	return datalen ? put(x, data, datalen) : 0;
}

int proto_send(struct xport *x, const struct proto_msg *m)
{
	return encode_and_put(x, m, xport_write);
}

int proto_queue(struct xport *x, const struct proto_msg *m)
{
	return encode_and_put(x, m, xport_queue);
}

static int rxbuf_reserve(struct proto_rxbuf *rx, size_t len)
{
	size_t cap = rx->cap ? rx->cap : RXBUF_MIN;
	uint8_t *p;

	if (len <= rx->cap)
		return 0;
	while (cap < len)
		cap *= 2;
	p = realloc(rx->buf, cap);
	if (!p)
		return -ENOMEM;
	rx->buf = p;
	rx->cap = cap;
	return 0;
}

int proto_recv(struct xport *x, struct proto_rxbuf *rx, struct proto_msg *m)
{
	uint8_t hdr[PROTO_HDR_LEN];
	uint32_t type, len;
	int r;

	r = xport_read_full(x, hdr, sizeof(hdr));
	if (r)
		return r;
	r = proto_decode_hdr(hdr, &type, &len);
	if (r) {
		log_error("%s: bad frame header (type %u, length %u)", x->peer,
			  (unsigned int)(hdr[0] << 8 | hdr[1]),
			  (unsigned int)((uint32_t)hdr[4] << 24 | hdr[5] << 16 |
					 hdr[6] << 8 | hdr[7]));
		return r;
	}
	/* Reserve at least one byte so that rx->buf is never NULL. */
	r = rxbuf_reserve(rx, len ? len : 1);
	if (r)
		return r;
	if (len) {
		r = xport_read_full(x, rx->buf, len);
		if (r)
			return r;
	}
	rx->frame_len = PROTO_HDR_LEN + (size_t)len;
	r = proto_decode(type, rx->buf, len, m);
	if (r)
		log_error("%s: malformed %s message (%u bytes)", x->peer,
			  proto_type_name(type), len);
	return r;
}

void proto_rxbuf_free(struct proto_rxbuf *rx)
{
	free(rx->buf);
	rx->buf = NULL;
	rx->cap = 0;
}
