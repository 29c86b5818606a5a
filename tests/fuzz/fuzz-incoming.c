// SPDX-License-Identifier: MIT
/*
 * Fuzz target for the secondary's incoming state machine: what a primary
 * (authenticated, not trusted: I6) sends. Byte 0 picks the start state
 * (hello, syncing, colo with 4 MiB of RAM as in test-incoming.c, fenced);
 * then frames with real headers go to incoming_handle until one is
 * refused, as the link does. Replies go to a socketpair nobody reads.
 *
 * Kept out: the first checkpoint's CKPT_END (it would spawn the SVM, a real
 * guest; later checkpoints and INPUT meet an SVM not running: -ECHILD),
 * and hellos for over 64 MiB of RAM (allowed: 1 TiB, too much to map).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "evloop.h"
#include "log.h"
#include "../unit/secondary-fixture.h"
#include "xport.h"

#define MAX_HELLO_RAM (64ull << 20)   /* see above */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool kept_out(const struct incoming *s, const struct proto_msg *m)
{
	uint64_t total = 0;

	if (m->type == PROTO_CKPT_END)
		return s->state == IN_CKPT && (s->ckpt_flags & PROTO_CKPT_FIRST);
	for (uint32_t i = 0; m->type == PROTO_HELLO && i < m->hello.nblocks; i++)
		total += m->hello.blocks[i].size > MAX_HELLO_RAM ?
			 MAX_HELLO_RAM + 1 : m->hello.blocks[i].size;
	return total > MAX_HELLO_RAM;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum in_state start[] = { IN_HELLO, IN_SYNC, IN_COLO, IN_FENCED };
	struct sec_fixture f;
	struct incoming *in = &f.in;
	struct xport *x;
	size_t off = 1;
	uint32_t type, len;
	struct proto_msg m;
	int sv[2];

	if (!size)
		return 0;
	log_init("fuzz-incoming", LOG_LVL_ERROR);
	fx_init(&f, 200, 1000, NULL);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) ||
	    !(x = xport_tcp_new(sv[0])) || sec_link_adopt(&f.link, x) < 0)
		abort();
	in->state = start[data[0] % 4];
	in->gen.pair_id = 0xfeed;          /* a fenced SVM's pair */
	if (in->state == IN_SYNC || in->state == IN_COLO) {
		if (ram_layout_create(&in->ram, 4u << 20) ||
		    ramcache_init(&in->cache, &in->ram))
			abort();
		in->have_ram = true;
		if (in->state == IN_COLO)
			ramcache_svm_start(&in->cache);
	}
	while (off + PROTO_HDR_LEN <= size &&
	       !proto_decode_hdr(data + off, &type, &len) &&
	       len <= size - off - PROTO_HDR_LEN &&
	       !proto_decode(type, data + off + PROTO_HDR_LEN, len, &m) &&
	       !kept_out(in, &m) && incoming_handle(in, &m) == 0)
		off += PROTO_HDR_LEN + len;
	/* The reset may bring a fenced SVM back; deinit resets again. */
	incoming_reset(in, "end of the fuzz input");
	fx_deinit(&f);
	close(sv[1]);
	return 0;
}
