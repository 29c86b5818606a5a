// SPDX-License-Identifier: MIT
/*
 * Fuzz target for framing: the input is what a peer sends on the
 * replication link, read through a real transport (plain TCP's xport over
 * a socketpair) by proto_recv until it gives up. Every frame it hands out
 * must re-encode to exactly the next bytes of the stream: a reader that
 * loses its place, or a decoder that reads past its frame (the receive
 * buffer is reused and larger than the frame, so ASan would not see it),
 * shows up as a wrong answer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto.h"
#include "xport.h"

/* What fits in a socketpair's buffer without a writer thread. */
#define MAX_STREAM (64u * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_rxbuf rx = { 0 };
	struct proto_msg m;
	struct xport *x;
	size_t off = 0;
	int sv[2];

	if (size > MAX_STREAM)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	if (write(sv[1], data, size) != (ssize_t)size)
		abort();
	close(sv[1]);                   /* the peer hangs up after its bytes */
	x = xport_tcp_new(sv[0]);
	if (!x)
		abort();
	while (proto_recv(x, &rx, &m) == 0) {
		size_t n = proto_frame_len(&m);
		uint8_t *out = malloc(n ? n : 1);

		if (!n || !out || off + n > size ||
		    proto_encode(&m, out, n) != n || memcmp(out, data + off, n))
			abort();
		off += n;
		free(out);
	}
	proto_rxbuf_free(&rx);
	xport_free(x);
	return 0;
}
