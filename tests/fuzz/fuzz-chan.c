// SPDX-License-Identifier: MIT
/*
 * Fuzz target for the guest channel: the input is what a guest writes on
 * its event channel (a guest is code the daemon does not control), read by
 * the daemon's chan_reader through a socketpair. Every message chan_next
 * hands out must be the next header plus its data, byte for byte: the
 * header size is learnt from chan_send, so this holds whatever it becomes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chan.h"

#define MAX_STREAM (64u * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Bytes chan_send writes for a message without data. */
static size_t header_len(void)
{
	struct chan_msg m = { .type = CHAN_READY };
	uint8_t buf[256];
	ssize_t n;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || chan_send(sv[0], &m))
		abort();
	n = read(sv[1], buf, sizeof(buf));
	close(sv[0]);
	close(sv[1]);
	if (n <= 0)
		abort();
	return (size_t)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static size_t hdr;
	struct chan_reader rd;
	struct chan_msg m;
	size_t off = 0;
	int sv[2], r;

	if (!hdr)
		hdr = header_len();
	if (size > MAX_STREAM)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) ||
	    write(sv[1], data, size) != (ssize_t)size)
		abort();
	close(sv[1]);
	if (chan_reader_init(&rd, sv[0]))
		abort();
	while ((r = chan_next(&rd, &m)) >= 0) {
		if (r == 0) {
			if (chan_fill(&rd) <= 0)
				break;
			continue;
		}
		if (m.type < CHAN_EV_OPEN || m.type >= CHAN__MAX ||
		    m.len > CHAN_MAX_DATA || off + hdr + m.len > size ||
		    (m.len && memcmp(m.data, data + off + hdr, m.len)))
			abort();
		off += hdr + m.len;
	}
	chan_reader_deinit(&rd);
	close(sv[0]);
	return 0;
}
