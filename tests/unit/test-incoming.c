// SPDX-License-Identifier: MIT
/*
 * The secondary's incoming state machine against bad input (I6) and
 * partial checkpoints (I7): a message that is out of range, out of order
 * or of another version is refused before it touches the RAM cache, and
 * nothing a checkpoint brings reaches the SVM's RAM before the whole
 * checkpoint is there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "digest.h"
#include "log.h"
#include "page-delta.h"
#include "secondary-fixture.h"
#include "tap.h"
#include "image-load.h"
#include "proc-image.h"
#include "xport.h"

#define RAM_BYTES (4u << 20)
#define PAGES (RAM_BYTES / 4096)

static uint8_t page_b[2 * 4096];

static const struct proto_tunables good_tunables = {
	.checkpoint_delay_ms = 20000, .compare_timeout_ms = 3000,
	.max_wait_ms = 50, .clear_bitmap_shift = 18, .heartbeat_ms = 200,
	.failover_timeout_ms = 1000,
};

/* The units, wired; the incoming stream in state st with 4 MiB of RAM. */
static void setup(struct sec_fixture *f, enum in_state st)
{
	struct incoming *in = &f->in;

	fx_init(f, 200, 1000, NULL);
	CHECK(ram_layout_create(&in->ram, RAM_BYTES) == 0);
	CHECK(ramcache_init(&in->cache, &in->ram) == 0);
	in->have_ram = true;
	in->state = st;
	/* The SVM's RAM holds pattern A; once it runs, only flushes touch it. */
	memset(in->ram.blocks[0].alias, 0xa5, RAM_BYTES);
	if (st == IN_COLO)
		ramcache_svm_start(&in->cache);
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static int pages(struct sec_fixture *s, uint32_t block, uint64_t first,
		 uint32_t count, const uint8_t *data)
{
	struct proto_msg m = { .type = PROTO_PAGES };

	m.pages.block = block;
	m.pages.first = first;
	m.pages.count = count;
	m.pages.flags = data ? 0 : PROTO_PAGES_ZERO;
	m.pages.data = data;
	return incoming_handle(&s->in, &m);
}

static void test_ranges(void)
{
	struct sec_fixture s;
	struct proto_msg m = { .type = PROTO_DISCARD };

	setup(&s, IN_SYNC);
	memset(s.in.cache.cache[0], 0x3c, RAM_BYTES);
	CHECK_EQ(pages(&s, 1, 0, 1, page_b), -ERANGE);
	CHECK_EQ(pages(&s, 0, PAGES - 1, 2, page_b), -ERANGE);
	CHECK_EQ(pages(&s, 0, PAGES, 1, NULL), -ERANGE);
	CHECK_EQ(pages(&s, 0, UINT64_MAX, 2, NULL), -ERANGE);
	m.discard.block = 0;
	m.discard.first = 1;
	m.discard.count = UINT64_MAX;          /* first + count wraps */
	CHECK_EQ(incoming_handle(&s.in, &m), -ERANGE);
	m.discard.block = RAM_MAX_BLOCKS + 1;
	m.discard.count = 1;
	CHECK_EQ(incoming_handle(&s.in, &m), -ERANGE);
	CHECK(all_bytes(s.in.cache.cache[0], RAM_BYTES, 0x3c));
	CHECK(all_bytes(s.in.ram.blocks[0].alias, RAM_BYTES, 0xa5));
	CHECK_EQ(bitmap_count(&s.in.cache.dirty[0]), 0);
	/* The last page in range is fine. Before the SVM runs, live sync
	 * writes it to the SVM's RAM too, so starting the SVM copies nothing. */
	CHECK_EQ(pages(&s, 0, PAGES - 1, 1, page_b), 0);
	CHECK_EQ(bitmap_count(&s.in.cache.dirty[0]), 1);
	CHECK(!memcmp(s.in.ram.blocks[0].alias + (size_t)(PAGES - 1) * 4096,
		      page_b, 4096));
	CHECK(all_bytes(s.in.ram.blocks[0].alias, (PAGES - 1) * 4096, 0xa5));
	fx_deinit(&s);
}

static int placed(struct sec_fixture *s, uint64_t first, uint32_t count)
{
	struct proto_msg m = { .type = PROTO_PAGES };

	m.pages.first = first;
	m.pages.count = count;
	m.pages.flags = PROTO_PAGES_PLACED;
	return incoming_handle(&s->in, &m);
}

/*
 * PLACED says the bytes are in the cache already: only an RDMA link can
 * have put them there. On any other (here a plain socket, and no link at
 * all) it ends the connection with nothing marked; on an RDMA link the
 * range is checked as for any PAGES, and the pages count as received.
 */
static void test_placed(void)
{
	struct sec_fixture s;
	int sv[2];

	setup(&s, IN_SYNC);
	CHECK_EQ(placed(&s, 0, 1), -EPROTO);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK_EQ(sec_link_adopt(&s.link, xport_tcp_new(sv[0])), 0);
	s.in.state = IN_SYNC;           /* as if its hello was accepted */
	CHECK(!sec_link_is_rdma(&s.link));
	CHECK_EQ(placed(&s, 0, 1), -EPROTO);
	CHECK_EQ(bitmap_count(&s.in.cache.dirty[0]), 0);
	CHECK_EQ(s.in.cache.received_pages, 0);
	CHECK_EQ(s.in.placed_pages, 0);
	CHECK(all_bytes(s.in.ram.blocks[0].alias, RAM_BYTES, 0xa5));

	/* As the RDMA path marks it (the transport itself needs a device). */
	s.link.x_rdma = true;
	CHECK(sec_link_is_rdma(&s.link));
	CHECK_EQ(placed(&s, PAGES - 1, 2), -ERANGE);
	CHECK_EQ(s.in.placed_pages, 0);
	memset(s.in.cache.cache[0] + 4 * 4096, 0x77, 2 * 4096);
	CHECK_EQ(placed(&s, 4, 2), 0);
	CHECK_EQ(s.in.placed_pages, 2);
	CHECK_EQ(bitmap_count(&s.in.cache.dirty[0]), 2);
	/* Live sync: the SVM's RAM gets them too, before it runs. */
	CHECK(all_bytes(s.in.ram.blocks[0].alias + 4 * 4096, 2 * 4096, 0x77));
	/* Zero and placed at once never reaches the handler: the decoder
	 * refuses it (test-proto). A DISCARD is unaffected by the flag. */
	close(sv[1]);
	fx_deinit(&s);
}

static void test_partial_checkpoint(void)
{
	struct sec_fixture s;
	struct proto_msg m = { .type = PROTO_CKPT_BEGIN };

	setup(&s, IN_COLO);
	m.ckpt_begin.id = 7;
	CHECK_EQ(incoming_handle(&s.in, &m), 0);
	CHECK_EQ(s.in.state, IN_CKPT);
	CHECK_EQ(pages(&s, 0, 10, 2, page_b), 0);
	CHECK(!memcmp(s.in.cache.cache[0] + 10 * 4096, page_b, sizeof(page_b)));
	/* Arrived, but only in the cache. */
	CHECK(all_bytes(s.in.ram.blocks[0].alias, RAM_BYTES, 0xa5));
	/* A message that does not belong ends it; the SVM is untouched. */
	m.type = PROTO_INPUT;
	m.input.seq = 1;
	m.input.kind = PROTO_IN_DATA;
	CHECK_EQ(incoming_handle(&s.in, &m), -EPROTO);
	m.type = PROTO_CKPT_END;            /* END without device state */
	m.ckpt_end.id = 7;
	m.ckpt_end.pages = 2;
	CHECK_EQ(incoming_handle(&s.in, &m), -EPROTO);
	CHECK(all_bytes(s.in.ram.blocks[0].alias, RAM_BYTES, 0xa5));
	fx_deinit(&s);
}

static int delta_pages(struct sec_fixture *s, uint64_t first, uint32_t count,
		       const uint8_t *delta, size_t len)
{
	struct proto_msg m = { .type = PROTO_PAGES };

	m.pages.first = first;
	m.pages.count = count;
	m.pages.flags = PROTO_PAGES_DELTA;
	m.pages.delta_len = (uint32_t)len;
	m.pages.data = delta;
	return incoming_handle(&s->in, &m);
}

/*
 * DELTA pages are applied to the cache's copies, only inside a checkpoint
 * (a live sync has nothing to delta against), and reach the SVM's RAM only
 * with the flush, as whole pages do. Out of range: nothing is written.
 */
static void test_delta(void)
{
	static uint8_t delta[2 * PAGE_DELTA_MAX];
	uint8_t old[4096], new[4096];
	struct sec_fixture s;
	struct proto_msg m = { .type = PROTO_CKPT_BEGIN };
	size_t len;

	memset(old, 0x3c, sizeof(old));
	memcpy(new, old, sizeof(new));
	new[5] = 0x99;
	len = page_delta_encode(old, new, delta, 4096);
	CHECK(len > 0 && len < 10);
	len += page_delta_whole(page_b, delta + len);

	setup(&s, IN_SYNC);
	memset(s.in.cache.cache[0], 0x3c, RAM_BYTES);
	CHECK_EQ(delta_pages(&s, 10, 2, delta, len), -EPROTO);
	s.in.state = IN_COLO;
	ramcache_svm_start(&s.in.cache);
	m.ckpt_begin.id = 3;
	CHECK_EQ(incoming_handle(&s.in, &m), 0);
	CHECK_EQ(delta_pages(&s, PAGES - 1, 2, delta, len), -ERANGE);
	CHECK(all_bytes(s.in.cache.cache[0], RAM_BYTES, 0x3c));
	CHECK_EQ(bitmap_count(&s.in.cache.dirty[0]), 0);
	CHECK_EQ(delta_pages(&s, 10, 2, delta, len), 0);
	CHECK(!memcmp(s.in.cache.cache[0] + 10 * 4096, new, 4096));
	CHECK(!memcmp(s.in.cache.cache[0] + 11 * 4096, page_b, 4096));
	CHECK(all_bytes(s.in.cache.cache[0] + 12 * 4096, RAM_BYTES - 12 * 4096,
			0x3c));
	CHECK_EQ(bitmap_count(&s.in.cache.dirty[0]), 2);
	CHECK_EQ(s.in.delta_pages, 2);
	CHECK_EQ(s.in.ckpt_pages, 2);
	CHECK(all_bytes(s.in.ram.blocks[0].alias, RAM_BYTES, 0xa5));
	fx_deinit(&s);
}

static void test_order(void)
{
	struct sec_fixture s;
	struct proto_msg m = { .type = PROTO_CKPT_END };

	setup(&s, IN_SYNC);
	CHECK_EQ(incoming_handle(&s.in, &m), -EPROTO);      /* END before BEGIN */
	m.type = PROTO_CKPT_BEGIN;                       /* not marked first */
	CHECK_EQ(incoming_handle(&s.in, &m), -EPROTO);
	m.type = PROTO_HELLO;                            /* hello twice */
	CHECK_EQ(incoming_handle(&s.in, &m), -EPROTO);
	m.type = PROTO_CKPT_ACK;                         /* our own message */
	CHECK_EQ(incoming_handle(&s.in, &m), -EPROTO);
	m.type = PROTO_CKPT_BEGIN;
	m.ckpt_begin.id = 1;
	m.ckpt_begin.flags = PROTO_CKPT_FIRST;
	CHECK_EQ(incoming_handle(&s.in, &m), 0);
	m.type = PROTO_DEVICE_STATE;
	m.device_state.tunables = good_tunables;
	CHECK_EQ(incoming_handle(&s.in, &m), 0);
	CHECK_EQ(incoming_handle(&s.in, &m), -EPROTO);      /* device state twice */
	fx_deinit(&s);
}

static void test_hello(void)
{
	struct sec_fixture s;
	struct proto_msg m = { .type = PROTO_HELLO };
	char want[64];

	fx_init(&s, 200, 1000, NULL);
	s.in.state = IN_HELLO;
	m.hello.version = PROTO_VERSION + 1;
	m.hello.page_size = 4096;
	m.hello.nblocks = 1;
	m.hello.blocks[0].size = RAM_BYTES;
	m.hello.blocks[0].guest_addr = RAM_GUEST_BASE;
	memset(m.hello.guest_digest, 0x11, DIGEST_LEN);
	CHECK_EQ(incoming_handle(&s.in, &m), -ECONNREFUSED);
	snprintf(want, sizeof(want), "protocol version %u", PROTO_VERSION + 1);
	CHECK(strstr(s.err.text, want));
	CHECK(!s.in.have_ram);

	m.hello.version = PROTO_VERSION;
	memset(m.hello.guest_digest, 0x22, DIGEST_LEN);
	CHECK_EQ(incoming_handle(&s.in, &m), -ECONNREFUSED);
	CHECK(strstr(s.err.text, "2222222222"));
	CHECK(strstr(s.err.text, "1111111111"));

	memset(m.hello.guest_digest, 0x11, DIGEST_LEN);
	m.hello.blocks[0].guest_addr = RAM_GUEST_BASE + 1;
	CHECK_EQ(incoming_handle(&s.in, &m), -ECONNREFUSED);
	m.hello.blocks[0].guest_addr = (1ULL << 47) - 4096;
	CHECK_EQ(incoming_handle(&s.in, &m), -ECONNREFUSED);
	m.hello.blocks[0].guest_addr = RAM_GUEST_BASE;
	m.hello.nblocks = 2;
	m.hello.blocks[1] = m.hello.blocks[0];
	m.hello.blocks[1].id = 1;                        /* overlaps block 0 */
	CHECK_EQ(incoming_handle(&s.in, &m), -ECONNREFUSED);
	CHECK(strstr(s.err.text, "overlap"));
	CHECK(!s.in.have_ram);
	CHECK_EQ(s.in.state, IN_HELLO);

	/* A primary with an unmodified program (--exec): its IDENTITY, or a
	 * hello without blocks, is refused by a libcolo-guest secondary,
	 * naming both kinds; nothing is set up. */
	m.hello.nblocks = 0;
	CHECK_EQ(incoming_handle(&s.in, &m), -ECONNREFUSED);
	CHECK(strstr(s.err.text, "unmodified program (--exec)"));
	CHECK(strstr(s.err.text, "libcolo-guest (--guest)"));
	m = (struct proto_msg){ .type = PROTO_IDENTITY };
	m.identity.len = 1;
	m.identity.data = (const uint8_t *)"x";
	s.err.text[0] = '\0';
	CHECK_EQ(incoming_handle(&s.in, &m), -ECONNREFUSED);
	CHECK(strstr(s.err.text, "unmodified program (--exec)"));
	CHECK(!s.in.have_ram && !s.in.have_identity);
	CHECK_EQ(s.in.state, IN_HELLO);
	fx_deinit(&s);
}

/* IMAGE pieces belong to an --exec secondary's checkpoint only; gathered
 * in order, never past what arrived, refused out of order (I6, I7). */
static void test_image_pieces(void)
{
	static uint8_t piece[100];
	struct image_load il = { 0 };
	struct proto_image im = { .total = 250, .len = 100, .data = piece };
	struct proc_image img;

	memset(piece, 7, sizeof(piece));
	CHECK_EQ(image_load_piece(&il, &im, "t"), 0);
	CHECK_EQ(il.len, 100);
	im.offset = 200;                              /* a piece skipped */
	CHECK_EQ(image_load_piece(&il, &im, "t"), -EPROTO);
	im.offset = 100;
	im.total = 251;                               /* another total */
	CHECK_EQ(image_load_piece(&il, &im, "t"), -EPROTO);
	im.total = 250;
	CHECK_EQ(image_load_piece(&il, &im, "t"), 0);
	/* 200 of 250 bytes: not an image yet. */
	CHECK_EQ(image_load_decode(&il, &img, "t"), -EPROTO);
	im.offset = 200;
	im.len = 50;
	CHECK_EQ(image_load_piece(&il, &im, "t"), 0);
	CHECK_EQ(il.len, 250);
	/* Whole, but no image: the decoder's refusal, nothing applied. */
	CHECK_EQ(image_load_decode(&il, &img, "t"), -EPROTO);
	image_load_reset(&il);
	CHECK(il.buf == NULL && il.len == 0 && il.total == 0);

	/* A libcolo-guest secondary takes no IMAGE, in any state. */
	{
		struct sec_fixture f;
		struct proto_msg m = { .type = PROTO_IMAGE };

		setup(&f, IN_CKPT);
		m.image = im;
		m.image.offset = 0;
		CHECK_EQ(incoming_handle(&f.in, &m), -EPROTO);
		fx_deinit(&f);
	}
}

/* Tunables travel in the device state; each is range-checked (I6). */
static void test_tunables(void)
{
	struct proto_tunables bad[] = {
		good_tunables, good_tunables, good_tunables, good_tunables,
		good_tunables,
	};
	struct sec_fixture s;
	struct proto_msg m = { .type = PROTO_DEVICE_STATE };
	size_t i;

	bad[0].checkpoint_delay_ms = 0;
	bad[1].max_wait_ms = 86400001;
	bad[2].clear_bitmap_shift = 32;
	bad[3].clear_bitmap_shift = 5;
	bad[4].failover_timeout_ms = bad[4].heartbeat_ms;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setup(&s, IN_CKPT);
		m.device_state.tunables = bad[i];
		CHECK_EQ(incoming_handle(&s.in, &m), -EPROTO);
		CHECK(!s.in.have_devstate);
		fx_deinit(&s);
	}
	setup(&s, IN_CKPT);
	m.device_state.tunables = good_tunables;
	m.device_state.tunables.checkpoint_delay_ms = 5000;
	m.device_state.gen.pair_id = 0xfeed;
	m.device_state.gen.generation = 9;
	CHECK_EQ(incoming_handle(&s.in, &m), 0);
	CHECK_EQ(s.in.dev_tunables.checkpoint_delay_ms, 5000);
	CHECK_EQ(s.in.dev_gen.generation, 9);
	fx_deinit(&s);
}

/*
 * I8: a fenced SVM is replaced only by a primary of the same pair whose
 * generation is at least the SVM's; anything else is refused with both
 * generations named, before anything of the fenced state is touched.
 */
static void test_fenced_generation(void)
{
	struct sec_fixture s;
	struct proto_msg m = { .type = PROTO_HELLO };

	fx_init(&s, 200, 1000, NULL);
	s.in.state = IN_FENCED;
	s.in.gen.pair_id = 0xabcdef0123456789ULL;
	s.in.gen.generation = 42;
	m.hello.version = PROTO_VERSION;
	m.hello.page_size = 4096;
	m.hello.nblocks = 1;
	m.hello.blocks[0].size = RAM_BYTES;
	m.hello.blocks[0].guest_addr = RAM_GUEST_BASE;
	memset(m.hello.guest_digest, 0x11, DIGEST_LEN);

	m.hello.gen.pair_id = 0x1111;              /* a new, empty primary */
	m.hello.gen.generation = 1000;
	CHECK_EQ(incoming_handle(&s.in, &m), -ECONNREFUSED);
	CHECK(strstr(s.err.text, "pair abcdef0123456789 generation 42 here"));
	CHECK(strstr(s.err.text,
		     "pair 0000000000001111 generation 1000 (another pair)"));
	CHECK(strstr(s.err.text, "drop-fenced` discards it"));
	m.hello.gen.pair_id = s.in.gen.pair_id;       /* our pair, but older */
	m.hello.gen.generation = 41;
	CHECK_EQ(incoming_handle(&s.in, &m), -ECONNREFUSED);
	CHECK(strstr(s.err.text, "generation 41 (older)"));
	CHECK_EQ(s.in.state, IN_FENCED);
	CHECK(!s.in.have_ram);
	CHECK(!s.fo.kept.have);
	fx_deinit(&s);
}

/*
 * A primary of the fenced SVM's pair, as new as it: the hello is accepted
 * through the hook failover wires, the fenced SVM steps aside (kept, its
 * RAM with it) and live sync starts with heartbeats; a reset before any
 * checkpoint brings the fenced state back.
 */
static void test_fenced_replaced(void)
{
	struct sec_fixture s;
	struct proto_msg m = { .type = PROTO_HELLO };
	int sv[2];

	setup(&s, IN_FENCED);
	/* A primary on a socketpair: the ack goes out on it. */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	CHECK_EQ(sec_link_adopt(&s.link, xport_tcp_new(sv[0])), 0);
	CHECK_EQ(s.in.state, IN_FENCED);     /* kept until a hello is accepted */
	s.in.gen.pair_id = 0xabcd;
	s.in.gen.generation = 5;
	m.hello.version = PROTO_VERSION;
	m.hello.page_size = 4096;
	m.hello.nblocks = 1;
	m.hello.blocks[0].size = RAM_BYTES;
	m.hello.blocks[0].guest_addr = RAM_GUEST_BASE;
	memset(m.hello.guest_digest, 0x11, DIGEST_LEN);
	m.hello.gen.pair_id = 0xabcd;
	m.hello.gen.generation = 5;
	CHECK_EQ(incoming_handle(&s.in, &m), 0);
	CHECK_EQ(s.in.state, IN_SYNC);
	CHECK(s.fo.kept.have);
	CHECK_EQ(s.fo.kept.gen.generation, 5);
	CHECK(s.in.have_ram);                /* the new primary's RAM */
	CHECK(s.link.heartbeats);
	incoming_reset(&s.in, "sync failed");
	CHECK(!s.fo.kept.have);
	CHECK_EQ(s.in.state, IN_FENCED);
	CHECK_EQ(s.in.gen.pair_id, 0xabcd);
	CHECK(s.in.have_ram);                /* the fenced SVM's RAM, back */
	CHECK(all_bytes(s.in.ram.blocks[0].alias, RAM_BYTES, 0xa5));
	CHECK(!sec_link_connected(&s.link));
	close(sv[1]);
	fx_deinit(&s);
}

int main(void)
{
	log_init("test-incoming", LOG_LVL_ERROR);
	memset(page_b, 0x5b, sizeof(page_b));
	test_ranges();
	test_placed();
	test_partial_checkpoint();
	test_delta();
	test_order();
	test_hello();
	test_image_pieces();
	test_tunables();
	test_fenced_generation();
	test_fenced_replaced();
	printf("incoming: all checks passed\n");
	return 0;
}
