// SPDX-License-Identifier: MIT
/*
 * The wire codecs: round trips of random messages of every type, rejection
 * of every truncation and of hand-made structural errors, header and payload
 * corruption that must either be rejected or re-encode to the same bytes,
 * random garbage (meant to run under ASan), and framed I/O over a socketpair.
 */
#include "page-delta.h"
#include "proto.h"
#include "xport.h"
#include "tap.h"

#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

/* Random bytes the messages' data pointers point into. */
#define POOL_LEN (PROTO_MAX_VERIFY_DIGESTS * PROTO_DIGEST_LEN + 4096)

static uint32_t rand_small(uint64_t *s, uint32_t max)
{
	/* Mostly short, now and then anything up to max: keeps the
	 * every-prefix checks quick while still reaching the limits. */
	if (test_rand(s) % 32 == 0)
		return (uint32_t)(test_rand(s) % (max + 1ULL));
	return (uint32_t)(test_rand(s) % (max < 300 ? max + 1 : 301));
}

static const uint8_t *pool_at(const uint8_t *pool, uint64_t *s, size_t len)
{
	return pool + test_rand(s) % (POOL_LEN - len + 1);
}

static void rand_name(uint64_t *s, char *name)
{
	uint32_t n = (uint32_t)(test_rand(s) % RAM_BLOCK_NAME_MAX), i;

	memset(name, 0, RAM_BLOCK_NAME_MAX);
	for (i = 0; i < n; i++)
		name[i] = (char)('a' + test_rand(s) % 26);
}

static void gen_msg(uint32_t type, uint64_t *s, const uint8_t *pool,
		    struct proto_msg *m)
{
	uint32_t i, n;

	memset(m, 0, sizeof(*m));
	m->type = (enum proto_type)type;
	switch (type) {
	case PROTO_HELLO:
		m->hello.version = (uint32_t)test_rand(s);
		m->hello.page_size = (uint32_t)test_rand(s);
		memcpy(m->hello.guest_digest, pool_at(pool, s, 32), 32);
		m->hello.gen.pair_id = test_rand(s);
		m->hello.gen.generation = test_rand(s);
		m->hello.channels = (uint32_t)(test_rand(s) %
					       (PROTO_MAX_CHANNELS + 1));
		/* 0: a process guest's hello, which names no block. */
		m->hello.nblocks = (uint32_t)(test_rand(s) % (RAM_MAX_BLOCKS + 1));
		for (i = 0; i < m->hello.nblocks; i++) {
			m->hello.blocks[i].id = (uint32_t)test_rand(s);
			rand_name(s, m->hello.blocks[i].name);
			m->hello.blocks[i].size =
				(1 + (test_rand(s) >> 20)) * RAM_PAGE_SIZE;
			m->hello.blocks[i].guest_addr = test_rand(s);
		}
		break;
	case PROTO_REFUSE:
		n = (uint32_t)(test_rand(s) % PROTO_REASON_MAX);
		for (i = 0; i < n; i++)
			m->refuse.reason[i] = (char)(1 + test_rand(s) % 255);
		break;
	case PROTO_PAGES:
		m->pages.block = (uint32_t)test_rand(s);
		m->pages.first = test_rand(s);
		m->pages.count = test_rand(s) % 32 ?
			1 + (uint32_t)(test_rand(s) % 3) :
			1 + (uint32_t)(test_rand(s) % PROTO_MAX_PAGES_PER_MSG);
		m->pages.flags = test_rand(s) % 4 ? 0 :
				 test_rand(s) % 2 ? PROTO_PAGES_ZERO :
						    PROTO_PAGES_PLACED;
		if (!m->pages.flags)
			m->pages.data = pool_at(pool, s,
						m->pages.count * RAM_PAGE_SIZE);
		break;
	case PROTO_DISCARD:
		m->discard.block = (uint32_t)test_rand(s);
		m->discard.first = test_rand(s);
		m->discard.count = test_rand(s);
		break;
	case PROTO_CKPT_BEGIN:
		m->ckpt_begin.id = test_rand(s);
		m->ckpt_begin.flags = (uint32_t)(test_rand(s) % 4);
		break;
	case PROTO_DEVICE_STATE:
		m->device_state.input_seq = test_rand(s);
		m->device_state.clock_ms = test_rand(s);
		m->device_state.gen.pair_id = test_rand(s);
		m->device_state.gen.generation = test_rand(s);
		memcpy(&m->device_state.tunables,
		       pool_at(pool, s, sizeof(m->device_state.tunables)),
		       sizeof(m->device_state.tunables));
		m->device_state.nconns = rand_small(s, PROTO_MAX_DATA / 4);
		m->device_state.conn_ids =
			pool_at(pool, s, m->device_state.nconns * 4);
		break;
	case PROTO_CKPT_END:
		m->ckpt_end.id = test_rand(s);
		m->ckpt_end.pages = test_rand(s);
		break;
	case PROTO_CKPT_ACK:
		m->ckpt_ack.id = test_rand(s);
		m->ckpt_ack.status = test_rand(s) % 2 ? 0 :
			-(int32_t)(test_rand(s) % 4096);
		m->ckpt_ack.receive_us = (uint32_t)test_rand(s);
		m->ckpt_ack.svm_barrier_us = (uint32_t)test_rand(s);
		m->ckpt_ack.flush_us = (uint32_t)test_rand(s);
		m->ckpt_ack.end_us = (uint32_t)test_rand(s);
		m->ckpt_ack.cpu_us = (uint32_t)test_rand(s);
		break;
	case PROTO_INPUT:
		m->input.seq = test_rand(s);
		m->input.conn = (uint32_t)test_rand(s);
		m->input.kind = 1 + (uint32_t)(test_rand(s) % (PROTO_IN__MAX - 1));
		m->input.arg = test_rand(s);
		m->input.len = rand_small(s, PROTO_MAX_DATA);
		m->input.data = pool_at(pool, s, m->input.len);
		break;
	case PROTO_OUTPUT:
		m->output.conn = (uint32_t)test_rand(s);
		m->output.kind = 1 + (uint32_t)(test_rand(s) % (PROTO_OUT__MAX - 1));
		m->output.len = rand_small(s, PROTO_MAX_DATA);
		m->output.data = pool_at(pool, s, m->output.len);
		break;
	case PROTO_HEARTBEAT:
		m->heartbeat.time_ms = test_rand(s);
		m->heartbeat.stamp_us = test_rand(s);
		m->heartbeat.echo_us = test_rand(s);
		m->heartbeat.held_us = test_rand(s);
		break;
	case PROTO_VERIFY:
		m->verify.id = test_rand(s);
		m->verify.chunk_pages = (uint32_t)test_rand(s);
		m->verify.ndigests = rand_small(s, PROTO_MAX_VERIFY_DIGESTS);
		m->verify.digests = pool_at(pool, s, m->verify.ndigests * 32);
		break;
	case PROTO_IDENTITY:
		m->identity.len = 1 + rand_small(s, PROTO_MAX_DATA - 1);
		m->identity.data = pool_at(pool, s, m->identity.len);
		break;
	case PROTO_IMAGE:
		m->image.len = 1 + rand_small(s, PROTO_MAX_DATA - 1);
		m->image.total = m->image.len + test_rand(s) %
				 (PROTO_MAX_IMAGE - m->image.len + 1);
		m->image.offset = test_rand(s) %
				  (m->image.total - m->image.len + 1);
		m->image.data = pool_at(pool, s, m->image.len);
		break;
	case PROTO_HELLO_ACK:
		memcpy(m->hello_ack.token, pool_at(pool, s, PROTO_TOKEN_LEN),
		       PROTO_TOKEN_LEN);
		break;
	case PROTO_CHANNEL:
		memcpy(m->channel.token, pool_at(pool, s, PROTO_TOKEN_LEN),
		       PROTO_TOKEN_LEN);
		m->channel.index = 1 + (uint32_t)(test_rand(s) %
						  (PROTO_MAX_CHANNELS - 1));
		break;
	case PROTO_CHANNEL_END:
		m->channel_end.pages = test_rand(s);
		break;
	}
}

static bool same_bytes(const uint8_t *a, const uint8_t *b, size_t n)
{
	return n == 0 || memcmp(a, b, n) == 0;
}

static bool msg_equal(const struct proto_msg *a, const struct proto_msg *b)
{
	uint32_t i;

	if (a->type != b->type)
		return false;
	switch (a->type) {
	case PROTO_HELLO:
		if (a->hello.version != b->hello.version ||
		    a->hello.page_size != b->hello.page_size ||
		    memcmp(a->hello.guest_digest, b->hello.guest_digest, 32) ||
		    memcmp(&a->hello.gen, &b->hello.gen, sizeof(a->hello.gen)) ||
		    a->hello.channels != b->hello.channels ||
		    a->hello.nblocks != b->hello.nblocks)
			return false;
		for (i = 0; i < a->hello.nblocks; i++)
			if (a->hello.blocks[i].id != b->hello.blocks[i].id ||
			    strcmp(a->hello.blocks[i].name,
				   b->hello.blocks[i].name) ||
			    a->hello.blocks[i].size != b->hello.blocks[i].size ||
			    a->hello.blocks[i].guest_addr !=
			    b->hello.blocks[i].guest_addr)
				return false;
		return true;
	case PROTO_REFUSE:
		return strcmp(a->refuse.reason, b->refuse.reason) == 0;
	case PROTO_PAGES:
		return a->pages.block == b->pages.block &&
		       a->pages.first == b->pages.first &&
		       a->pages.count == b->pages.count &&
		       a->pages.flags == b->pages.flags &&
		       (a->pages.flags ? !b->pages.data :
			same_bytes(a->pages.data, b->pages.data,
				   a->pages.count * RAM_PAGE_SIZE));
	case PROTO_DISCARD:
		return !memcmp(&a->discard, &b->discard, sizeof(a->discard));
	case PROTO_CKPT_BEGIN:
		return a->ckpt_begin.id == b->ckpt_begin.id &&
		       a->ckpt_begin.flags == b->ckpt_begin.flags;
	case PROTO_DEVICE_STATE:
		return a->device_state.input_seq == b->device_state.input_seq &&
		       a->device_state.clock_ms == b->device_state.clock_ms &&
		       !memcmp(&a->device_state.gen, &b->device_state.gen,
			       sizeof(a->device_state.gen)) &&
		       !memcmp(&a->device_state.tunables,
			       &b->device_state.tunables,
			       sizeof(a->device_state.tunables)) &&
		       a->device_state.nconns == b->device_state.nconns &&
		       same_bytes(a->device_state.conn_ids,
				  b->device_state.conn_ids,
				  a->device_state.nconns * 4);
	case PROTO_CKPT_END:
		return a->ckpt_end.id == b->ckpt_end.id &&
		       a->ckpt_end.pages == b->ckpt_end.pages;
	case PROTO_CKPT_ACK:
		return a->ckpt_ack.id == b->ckpt_ack.id &&
		       a->ckpt_ack.status == b->ckpt_ack.status &&
		       a->ckpt_ack.receive_us == b->ckpt_ack.receive_us &&
		       a->ckpt_ack.svm_barrier_us ==
		       b->ckpt_ack.svm_barrier_us &&
		       a->ckpt_ack.flush_us == b->ckpt_ack.flush_us &&
		       a->ckpt_ack.end_us == b->ckpt_ack.end_us &&
		       a->ckpt_ack.cpu_us == b->ckpt_ack.cpu_us;
	case PROTO_INPUT:
		return a->input.seq == b->input.seq &&
		       a->input.conn == b->input.conn &&
		       a->input.kind == b->input.kind &&
		       a->input.arg == b->input.arg &&
		       a->input.len == b->input.len &&
		       same_bytes(a->input.data, b->input.data, a->input.len);
	case PROTO_OUTPUT:
		return a->output.conn == b->output.conn &&
		       a->output.kind == b->output.kind &&
		       a->output.len == b->output.len &&
		       same_bytes(a->output.data, b->output.data, a->output.len);
	case PROTO_HEARTBEAT:
		return a->heartbeat.time_ms == b->heartbeat.time_ms &&
		       a->heartbeat.stamp_us == b->heartbeat.stamp_us &&
		       a->heartbeat.echo_us == b->heartbeat.echo_us &&
		       a->heartbeat.held_us == b->heartbeat.held_us;
	case PROTO_VERIFY:
		return a->verify.id == b->verify.id &&
		       a->verify.chunk_pages == b->verify.chunk_pages &&
		       a->verify.ndigests == b->verify.ndigests &&
		       same_bytes(a->verify.digests, b->verify.digests,
				  a->verify.ndigests * 32);
	case PROTO_IDENTITY:
		return a->identity.len == b->identity.len &&
		       same_bytes(a->identity.data, b->identity.data,
				  a->identity.len);
	case PROTO_IMAGE:
		return a->image.offset == b->image.offset &&
		       a->image.total == b->image.total &&
		       a->image.len == b->image.len &&
		       same_bytes(a->image.data, b->image.data, a->image.len);
	case PROTO_HELLO_ACK:
		return !memcmp(a->hello_ack.token, b->hello_ack.token,
			       PROTO_TOKEN_LEN);
	case PROTO_CHANNEL:
		return !memcmp(a->channel.token, b->channel.token,
			       PROTO_TOKEN_LEN) &&
		       a->channel.index == b->channel.index;
	case PROTO_CHANNEL_END:
		return a->channel_end.pages == b->channel_end.pages;
	default:
		return true;
	}
}

/* Decodes buf[0, len) from a copy of exactly len bytes, so that ASan sees
 * any read past the end. */
static int decode_exact(uint32_t type, const uint8_t *buf, size_t len,
			struct proto_msg *m)
{
	uint8_t *copy = malloc(len ? len : 1);
	int r;

	CHECK(copy);
	if (len)
		memcpy(copy, buf, len);
	r = proto_decode(type, copy, len, m);
	free(copy);
	return r;
}

/* If payload decodes as type, it must re-encode to hdr + payload exactly. */
static void check_reencode(uint32_t type, const uint8_t *payload, size_t len,
			   uint8_t *out, size_t cap)
{
	struct proto_msg m;
	size_t n;

	if (proto_decode(type, payload, len, &m))
		return;
	n = proto_encode(&m, out, cap);
	CHECK_EQ(n, PROTO_HDR_LEN + len);
	CHECK(same_bytes(out + PROTO_HDR_LEN, payload, len));
	CHECK_EQ(out[0] << 8 | out[1], type);
}

/* The header of an encoded frame tampered with, one byte at a time. */
static void corrupt_header(const uint8_t *frame, size_t flen, uint8_t *out,
			   size_t cap)
{
	uint8_t hdr[PROTO_HDR_LEN];
	unsigned int pos, v;
	uint32_t type, len;

	for (pos = 0; pos < PROTO_HDR_LEN; pos++) {
		for (v = 0; v < 256; v++) {
			memcpy(hdr, frame, PROTO_HDR_LEN);
			hdr[pos] = (uint8_t)v;
			if (proto_decode_hdr(hdr, &type, &len))
				continue;
			CHECK(type > 0 && type < PROTO__MAX);
			/* A longer frame would wait for more bytes. */
			if (len > flen - PROTO_HDR_LEN)
				continue;
			check_reencode(type, frame + PROTO_HDR_LEN, len, out, cap);
		}
	}
}

static void test_round_trips(const uint8_t *pool, uint8_t *buf, uint8_t *out,
			     size_t cap)
{
	uint64_t seed = 1;
	uint32_t type, len, k;
	unsigned int i;

	for (type = 1; type < PROTO__MAX; type++) {
		for (i = 0; i < 300; i++) {
			struct proto_msg m, d;
			uint32_t t;
			size_t n;

			gen_msg(type, &seed, pool, &m);
			n = proto_frame_len(&m);
			CHECK(n >= PROTO_HDR_LEN);
			CHECK_EQ(proto_encode(&m, buf, n - 1), 0);
			CHECK_EQ(proto_encode(&m, buf, cap), n);
			CHECK_EQ(proto_decode_hdr(buf, &t, &len), 0);
			CHECK_EQ(t, type);
			CHECK_EQ(len, n - PROTO_HDR_LEN);
			CHECK_EQ(decode_exact(type, buf + 8, len, &d), 0);
			CHECK_EQ(proto_decode(type, buf + 8, len, &d), 0);
			CHECK(msg_equal(&m, &d));
			CHECK_EQ(proto_encode(&d, out, cap), n);
			CHECK(memcmp(buf, out, n) == 0);

			/* Every strict prefix fails: exact copies over the
			 * whole of the small messages (all of HELLO and
			 * REFUSE) and the ends of big ones, in place between. */
			for (k = 0; k < len; k++) {
				if (k < 600 || k + 8 >= len)
					CHECK(decode_exact(type, buf + 8, k,
							   &d) == -EPROTO);
				else
					CHECK(proto_decode(type, buf + 8, k,
							   &d) == -EPROTO);
			}
			/* So does one byte too many. */
			CHECK(proto_decode(type, buf + 8, len + 1, &d) ==
			      -EPROTO);
			if (i < 16)
				corrupt_header(buf, n, out, cap);
			/* Payload bytes flipped at random. */
			for (k = 0; k < 64 && len; k++) {
				uint32_t at = (uint32_t)(test_rand(&seed) % len);
				uint8_t old = buf[8 + at];

				buf[8 + at] = (uint8_t)test_rand(&seed);
				check_reencode(type, buf + 8, len, out, cap);
				buf[8 + at] = old;
			}
		}
	}
}

static void test_garbage(uint8_t *buf, uint8_t *out, size_t cap)
{
	uint64_t seed = 7;
	unsigned int i;

	for (i = 0; i < 200000; i++) {
		uint32_t type = (uint32_t)(test_rand(&seed) % (PROTO__MAX + 1));
		size_t len = test_rand(&seed) % 8 ? test_rand(&seed) % 600 :
			     test_rand(&seed) % (PROTO_MAX_PAYLOAD + 1);
		struct proto_msg m;
		size_t j;

		if (len > 600)
			len = test_rand(&seed) % 4 ? len % 70000 : len;
		for (j = 0; j < len && j < 600; j++)
			buf[j] = (uint8_t)test_rand(&seed);
		/* Small counts make the structured types decode sometimes. */
		if (len >= 24 && test_rand(&seed) % 2) {
			memset(buf, 0, 24);
			buf[test_rand(&seed) % 24] = (uint8_t)test_rand(&seed);
		}
		if (proto_decode(type, buf, len, &m) == 0)
			check_reencode(type, buf, len, out, cap);
		if (len <= 600)
			(void)decode_exact(type, buf, len, &m);
	}
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A valid message of type with the 32-bit word at off replaced by v. */
static int decode_patched(const struct proto_msg *m, uint8_t *buf, size_t cap,
			  size_t off, uint32_t v)
{
	size_t n = proto_encode(m, buf, cap);

	CHECK(n > PROTO_HDR_LEN + off);
	put32(buf + PROTO_HDR_LEN + off, v);
	return proto_decode(m->type, buf + 8, n - 8, &(struct proto_msg){ 0 });
}

/* HELLO's payload: where nblocks and the first block are. */
#define HELLO_CHANNELS 56
#define HELLO_NBLOCKS 60
#define HELLO_BLOCKS 64

/*
 * PLACED: no data follows (the bytes came by RDMA WRITE), the decoder
 * takes the frame only with exactly that length, and never with ZERO.
 */
static void test_placed(struct proto_msg *m, uint8_t *buf, size_t cap)
{
	struct proto_msg d;
	size_t n;

	m->pages.count = 3;
	m->pages.data = NULL;
	m->pages.flags = PROTO_PAGES_PLACED;
	n = proto_encode(m, buf, cap);
	CHECK_EQ(n, PROTO_HDR_LEN + 24);
	CHECK_EQ(proto_decode(PROTO_PAGES, buf + PROTO_HDR_LEN, n - PROTO_HDR_LEN,
			      &d), 0);
	CHECK_EQ(d.pages.flags, PROTO_PAGES_PLACED);
	CHECK_EQ(d.pages.count, 3);
	CHECK(d.pages.data == NULL);
	/* With its pages after it anyway: the length is wrong. */
	memset(buf + n, 0, 3 * RAM_PAGE_SIZE);
	CHECK_EQ(proto_decode(PROTO_PAGES, buf + PROTO_HDR_LEN,
			      n - PROTO_HDR_LEN + 3 * RAM_PAGE_SIZE, &d), -EPROTO);
	/* Zero and placed together: refused both ways. */
	CHECK_EQ(decode_patched(m, buf, cap, 16,
				PROTO_PAGES_ZERO | PROTO_PAGES_PLACED), -EPROTO);
	m->pages.flags = PROTO_PAGES_ZERO | PROTO_PAGES_PLACED;
	CHECK_EQ(proto_encode(m, buf, cap), 0);
	/* A data frame relabelled PLACED keeps its data: too long. */
	m->pages.count = 1;
	m->pages.flags = 0;
	m->pages.data = buf + cap / 2;
	CHECK_EQ(decode_patched(m, buf, cap, 16, PROTO_PAGES_PLACED), -EPROTO);
	m->pages.count = 2;
	m->pages.data = NULL;
	m->pages.flags = 0x4;
}

/*
 * DELTA: delta_len bytes of page deltas follow, checked whole by the
 * decoder and the encoder; never with ZERO or PLACED; delta_len is 0
 * without DELTA.
 */
static void test_delta(const uint8_t *pool, uint8_t *buf, size_t cap)
{
	static uint8_t delta[2 * PAGE_DELTA_MAX];
	uint8_t page[RAM_PAGE_SIZE];
	struct proto_msg m = { .type = PROTO_PAGES }, d;
	size_t len, n;

	memcpy(page, pool, RAM_PAGE_SIZE);
	page[77] ^= 1;
	len = page_delta_encode(pool, page, delta, RAM_PAGE_SIZE);
	CHECK(len > 0 && len < 16);
	len += page_delta_whole(page, delta + len);
	m.pages.block = 1;
	m.pages.first = 9;
	m.pages.count = 2;
	m.pages.flags = PROTO_PAGES_DELTA;
	m.pages.delta_len = (uint32_t)len;
	m.pages.data = delta;
	n = proto_encode(&m, buf, cap);
	CHECK_EQ(n, PROTO_HDR_LEN + 24 + len);
	CHECK_EQ(proto_decode(PROTO_PAGES, buf + 8, n - 8, &d), 0);
	CHECK_EQ(d.pages.delta_len, len);
	CHECK(!memcmp(d.pages.data, delta, len));
	/* The frame cut short or grown by a byte, the length lying. */
	CHECK_EQ(proto_decode(PROTO_PAGES, buf + 8, n - 9, &d), -EPROTO);
	buf[n] = 0;
	CHECK_EQ(proto_decode(PROTO_PAGES, buf + 8, n - 7, &d), -EPROTO);
	CHECK_EQ(decode_patched(&m, buf, cap, 20, (uint32_t)len - 1), -EPROTO);
	CHECK_EQ(decode_patched(&m, buf, cap, 20, (uint32_t)len + 1), -EPROTO);
	/* One page fewer or more than the deltas hold. */
	CHECK_EQ(decode_patched(&m, buf, cap, 4, 1), -EPROTO);
	CHECK_EQ(decode_patched(&m, buf, cap, 4, 3), -EPROTO);
	/* With ZERO or PLACED, or a data frame with a delta_len. */
	CHECK_EQ(decode_patched(&m, buf, cap, 16,
				PROTO_PAGES_DELTA | PROTO_PAGES_ZERO), -EPROTO);
	CHECK_EQ(decode_patched(&m, buf, cap, 16,
				PROTO_PAGES_DELTA | PROTO_PAGES_PLACED), -EPROTO);
	/* A bad delta inside: the first op's skip made to run past. */
	n = proto_encode(&m, buf, cap);
	buf[8 + 24] = 0x7f;
	CHECK_EQ(proto_decode(PROTO_PAGES, buf + 8, n - 8, &d), -EPROTO);
	/* The encoder refuses what the decoder would. */
	delta[0] = 0x7f;
	CHECK_EQ(proto_encode(&m, buf, cap), 0);
	CHECK_EQ(proto_frame_len(&m), 0);
	m.pages.delta_len = 2 * PAGE_DELTA_MAX + 1;
	CHECK_EQ(proto_encode(&m, buf, cap), 0);
	m.pages.flags = 0;
	m.pages.delta_len = 1;
	m.pages.data = pool;
	CHECK_EQ(proto_encode(&m, buf, cap), 0);
	m.pages.delta_len = 0;
	n = proto_encode(&m, buf, cap);
	CHECK_EQ(n, PROTO_HDR_LEN + 24 + 2 * RAM_PAGE_SIZE);
	CHECK_EQ(decode_patched(&m, buf, cap, 20, 8), -EPROTO);
}

static void test_bad_fields(const uint8_t *pool, uint8_t *buf, size_t cap)
{
	struct proto_msg m, d;
	uint64_t seed = 3;
	uint32_t t, len;
	size_t n;

	gen_msg(PROTO_HELLO, &seed, pool, &m);
	m.hello.nblocks = 2;
	strcpy(m.hello.blocks[0].name, "guest-ram");
	m.hello.blocks[0].size = 2 * RAM_PAGE_SIZE;
	CHECK_EQ(decode_patched(&m, buf, cap, HELLO_NBLOCKS, 2), 0);
	CHECK_EQ(decode_patched(&m, buf, cap, HELLO_NBLOCKS, 0), -EPROTO);
	CHECK_EQ(decode_patched(&m, buf, cap, HELLO_NBLOCKS, 1), -EPROTO);
	CHECK_EQ(decode_patched(&m, buf, cap, HELLO_NBLOCKS, 3), -EPROTO);
	CHECK_EQ(decode_patched(&m, buf, cap, HELLO_NBLOCKS, 9), -EPROTO);
	/* A name byte after its NUL, a name without NUL, odd and zero sizes. */
	CHECK_EQ(decode_patched(&m, buf, cap, HELLO_BLOCKS + 4 + 28, 1), -EPROTO);
	n = proto_encode(&m, buf, cap);
	memset(buf + 8 + HELLO_BLOCKS + 4, 'x', RAM_BLOCK_NAME_MAX);
	CHECK_EQ(proto_decode(PROTO_HELLO, buf + 8, n - 8, &d), -EPROTO);
	CHECK_EQ(decode_patched(&m, buf, cap, HELLO_BLOCKS + 40, 4097), -EPROTO);
	CHECK_EQ(decode_patched(&m, buf, cap, HELLO_BLOCKS + 40, 4096), 0);
	CHECK_EQ(decode_patched(&m, buf, cap, HELLO_BLOCKS + 40, 0), -EPROTO);
	m.hello.blocks[1].size = 0;
	CHECK_EQ(proto_frame_len(&m), 0);
	CHECK_EQ(proto_encode(&m, buf, cap), 0);
	m.hello.blocks[1].size = 4096;
	m.hello.nblocks = RAM_MAX_BLOCKS + 1;
	CHECK_EQ(proto_encode(&m, buf, cap), 0);

	/* REFUSE: length 256 (with that many bytes), a NUL inside. */
	buf[0] = 1;
	buf[1] = 0;
	memset(buf + 2, 'r', 256);
	CHECK_EQ(proto_decode(PROTO_REFUSE, buf, 258, &d), -EPROTO);
	buf[0] = 0;
	buf[1] = 255;
	CHECK_EQ(proto_decode(PROTO_REFUSE, buf, 257, &d), 0);
	CHECK_EQ(strlen(d.refuse.reason), 255);
	buf[100] = 0;
	CHECK_EQ(proto_decode(PROTO_REFUSE, buf, 257, &d), -EPROTO);

	gen_msg(PROTO_PAGES, &seed, pool, &m);
	m.pages.count = 1;
	m.pages.flags = 0;
	m.pages.data = pool;
	CHECK_EQ(decode_patched(&m, buf, cap, 4, 1), 0);
	CHECK_EQ(decode_patched(&m, buf, cap, 4, 0), -EPROTO);
	CHECK_EQ(decode_patched(&m, buf, cap, 4, 2), -EPROTO);
	CHECK_EQ(decode_patched(&m, buf, cap, 16, 2), -EPROTO);
	CHECK_EQ(decode_patched(&m, buf, cap, 16, PROTO_PAGES_ZERO), -EPROTO);
	CHECK_EQ(decode_patched(&m, buf, cap, 20, 1), -EPROTO);
	m.pages.count = PROTO_MAX_PAGES_PER_MSG + 1;
	CHECK_EQ(proto_encode(&m, buf, cap), 0);
	m.pages.count = 2;
	m.pages.data = NULL;
	CHECK_EQ(proto_encode(&m, buf, cap), 0);
	m.pages.flags = PROTO_PAGES_ZERO;
	CHECK_EQ(proto_encode(&m, buf, cap), PROTO_HDR_LEN + 24);
	m.pages.flags = 0x4;
	CHECK_EQ(proto_encode(&m, buf, cap), 0);
	test_placed(&m, buf, cap);

	gen_msg(PROTO_CKPT_BEGIN, &seed, pool, &m);
	CHECK_EQ(decode_patched(&m, buf, cap, 8, 3), 0);
	CHECK_EQ(decode_patched(&m, buf, cap, 8, 4), -EPROTO);

	gen_msg(PROTO_CKPT_ACK, &seed, pool, &m);
	CHECK_EQ(decode_patched(&m, buf, cap, 8, (uint32_t)-ENOSPC), 0);
	CHECK_EQ(decode_patched(&m, buf, cap, 8, 1), -EPROTO);
	CHECK_EQ(decode_patched(&m, buf, cap, 8, (uint32_t)-5000), -EPROTO);

	gen_msg(PROTO_DEVICE_STATE, &seed, pool, &m);
	m.device_state.nconns = 3;
	m.device_state.conn_ids = pool;
	/* nconns, after the ids, generation and tunables */
	CHECK_EQ(decode_patched(&m, buf, cap, 56, 3), 0);
	CHECK_EQ(decode_patched(&m, buf, cap, 56, 2), -EPROTO);
	CHECK_EQ(decode_patched(&m, buf, cap, 56, 4), -EPROTO);

	gen_msg(PROTO_INPUT, &seed, pool, &m);
	m.input.len = 5;
	m.input.data = pool;
	CHECK_EQ(decode_patched(&m, buf, cap, 12, PROTO_IN_TICK), 0);
	CHECK_EQ(decode_patched(&m, buf, cap, 12, 0), -EPROTO);
	CHECK_EQ(decode_patched(&m, buf, cap, 12, PROTO_IN__MAX), -EPROTO);
	CHECK_EQ(decode_patched(&m, buf, cap, 24, 4), -EPROTO);
	m.input.len = PROTO_MAX_DATA + 1;
	CHECK_EQ(proto_encode(&m, buf, cap), 0);
	/* Over the limit, with every byte there. */
	memset(buf, 0, 28 + PROTO_MAX_DATA + 1);
	put32(buf + 12, PROTO_IN_DATA);
	put32(buf + 24, PROTO_MAX_DATA + 1);
	CHECK_EQ(proto_decode(PROTO_INPUT, buf, 28 + PROTO_MAX_DATA + 1, &d),
		 -EPROTO);
	put32(buf + 24, PROTO_MAX_DATA);
	CHECK_EQ(proto_decode(PROTO_INPUT, buf, 28 + PROTO_MAX_DATA, &d), 0);

	gen_msg(PROTO_OUTPUT, &seed, pool, &m);
	m.output.len = 1;
	m.output.data = pool;
	CHECK_EQ(decode_patched(&m, buf, cap, 4, PROTO_OUT_CLOSE), 0);
	CHECK_EQ(decode_patched(&m, buf, cap, 4, 0), -EPROTO);
	CHECK_EQ(decode_patched(&m, buf, cap, 4, PROTO_OUT__MAX), -EPROTO);

	/* VERIFY one digest over the limit fits the frame limit, still bad. */
	memset(buf, 0, 16);
	put32(buf + 12, PROTO_MAX_VERIFY_DIGESTS + 1);
	n = 16 + (PROTO_MAX_VERIFY_DIGESTS + 1) * 32;
	CHECK(n <= PROTO_MAX_PAYLOAD && n <= cap);
	CHECK_EQ(proto_decode(PROTO_VERIFY, buf, n, &d), -EPROTO);
	put32(buf + 12, PROTO_MAX_VERIFY_DIGESTS);
	CHECK_EQ(proto_decode(PROTO_VERIFY, buf, n - 32, &d), 0);
	CHECK_EQ(proto_decode(PROTO_VERIFY, buf, n, &d), -EPROTO);

	/* HELLO of a process guest: no block at all. */
	gen_msg(PROTO_HELLO, &seed, pool, &m);
	m.hello.nblocks = 0;
	n = proto_encode(&m, buf, cap);
	CHECK_EQ(n, PROTO_HDR_LEN + HELLO_BLOCKS);
	CHECK_EQ(proto_decode(PROTO_HELLO, buf + 8, n - 8, &d), 0);
	CHECK_EQ(d.hello.nblocks, 0);

	/* IDENTITY: never empty, never over the data limit. */
	memset(buf, 0, 8);
	CHECK_EQ(proto_decode(PROTO_IDENTITY, buf, 4, &d), -EPROTO);
	put32(buf, 3);
	CHECK_EQ(proto_decode(PROTO_IDENTITY, buf, 7, &d), 0);
	CHECK_EQ(proto_decode(PROTO_IDENTITY, buf, 6, &d), -EPROTO);
	put32(buf, PROTO_MAX_DATA + 1);
	CHECK_EQ(proto_decode(PROTO_IDENTITY, buf, 4 + PROTO_MAX_DATA + 1, &d),
		 -EPROTO);

	/* IMAGE: a piece inside its total, the total bounded, never empty. */
	gen_msg(PROTO_IMAGE, &seed, pool, &m);
	m.image.offset = 10;
	m.image.total = 20;
	m.image.len = 10;
	CHECK_EQ(proto_frame_len(&m), PROTO_HDR_LEN + 20 + 10);
	n = proto_encode(&m, buf, cap);
	CHECK_EQ(proto_decode(PROTO_IMAGE, buf + 8, n - 8, &d), 0);
	m.image.offset = 11;                  /* past the total */
	CHECK_EQ(proto_frame_len(&m), 0);
	m.image.offset = 10;
	CHECK_EQ(decode_patched(&m, buf, cap, 12, 19), -EPROTO); /* total */
	CHECK_EQ(decode_patched(&m, buf, cap, 4, 11), -EPROTO);  /* offset */
	CHECK_EQ(decode_patched(&m, buf, cap, 8, 256), -EPROTO); /* > 2^40 */
	m.image.offset = 0;
	m.image.total = PROTO_MAX_IMAGE;
	CHECK(proto_frame_len(&m) > 0);
	m.image.total = PROTO_MAX_IMAGE + 1;
	CHECK_EQ(proto_frame_len(&m), 0);
	m.image.total = 0;
	CHECK_EQ(proto_frame_len(&m), 0);
	m.image.total = 20;
	m.image.len = 0;
	CHECK_EQ(proto_frame_len(&m), 0);
	/* An offset near 2^64 must not wrap past the total. */
	m.image.len = 10;
	m.image.offset = UINT64_MAX - 5;
	CHECK_EQ(proto_frame_len(&m), 0);

	/* Headers: type range, reserved flags, payload limit. */
	memset(buf, 0, 8);
	buf[1] = PROTO_HEARTBEAT;
	buf[7] = 8;
	CHECK_EQ(proto_decode_hdr(buf, &t, &len), 0);
	CHECK(t == PROTO_HEARTBEAT && len == 8);
	buf[3] = 1;
	CHECK_EQ(proto_decode_hdr(buf, &t, &len), -EPROTO);
	buf[3] = 0;
	buf[1] = 0;
	CHECK_EQ(proto_decode_hdr(buf, &t, &len), -EPROTO);
	buf[1] = PROTO__MAX;
	CHECK_EQ(proto_decode_hdr(buf, &t, &len), -EPROTO);
	buf[1] = PROTO_VERIFY;
	put32(buf + 4, PROTO_MAX_PAYLOAD);
	CHECK_EQ(proto_decode_hdr(buf, &t, &len), 0);
	put32(buf + 4, PROTO_MAX_PAYLOAD + 1);
	CHECK_EQ(proto_decode_hdr(buf, &t, &len), -EPROTO);
	CHECK_EQ(proto_decode(0, buf, 8, &d), -EPROTO);
	CHECK_EQ(proto_decode(PROTO__MAX, buf, 8, &d), -EPROTO);
	/* HELLO_ACK carries the session's token now: empty is too short. */
	CHECK_EQ(proto_decode(PROTO_HELLO_ACK, NULL, 0, &d), -EPROTO);
}

/* CHANNEL: an index the link (0) or past the last channel is refused, on
 * the way out and in; a hello asking for more channels than exist too. */
static void test_channel(uint8_t *buf, size_t cap)
{
	struct proto_msg m = { .type = PROTO_CHANNEL }, d;
	size_t n;

	memset(m.channel.token, 0xa5, PROTO_TOKEN_LEN);
	m.channel.index = PROTO_MAX_CHANNELS - 1;
	n = proto_encode(&m, buf, cap);
	CHECK_EQ(n, PROTO_HDR_LEN + 20);
	CHECK_EQ(proto_decode(PROTO_CHANNEL, buf + 8, n - 8, &d), 0);
	CHECK_EQ(d.channel.index, PROTO_MAX_CHANNELS - 1);
	CHECK_EQ(d.channel.token[15], 0xa5);
	put32(buf + 8 + 16, 0);
	CHECK_EQ(proto_decode(PROTO_CHANNEL, buf + 8, n - 8, &d), -EPROTO);
	put32(buf + 8 + 16, PROTO_MAX_CHANNELS);
	CHECK_EQ(proto_decode(PROTO_CHANNEL, buf + 8, n - 8, &d), -EPROTO);
	CHECK_EQ(proto_decode(PROTO_CHANNEL, buf + 8, n - 9, &d), -EPROTO);
	m.channel.index = 0;
	CHECK_EQ(proto_encode(&m, buf, cap), 0);

	memset(&m, 0, sizeof(m));
	m.type = PROTO_HELLO;
	m.hello.channels = PROTO_MAX_CHANNELS;
	n = proto_encode(&m, buf, cap);
	CHECK(n > 0);
	put32(buf + 8 + HELLO_CHANNELS, PROTO_MAX_CHANNELS + 1);
	CHECK_EQ(proto_decode(PROTO_HELLO, buf + 8, n - 8, &d), -EPROTO);
	m.hello.channels = PROTO_MAX_CHANNELS + 1;
	CHECK_EQ(proto_encode(&m, buf, cap), 0);
}

static void test_check_range(void)
{
	struct ram_layout l = { .nblocks = 2 };

	l.blocks[0].size = 16 * RAM_PAGE_SIZE;
	l.blocks[1].size = 1 * RAM_PAGE_SIZE;
	CHECK_EQ(proto_check_range(&l, 0, 0, 16), 0);
	CHECK_EQ(proto_check_range(&l, 0, 15, 1), 0);
	CHECK_EQ(proto_check_range(&l, 0, 16, 0), 0);
	CHECK_EQ(proto_check_range(&l, 0, 15, 2), -ERANGE);
	CHECK_EQ(proto_check_range(&l, 0, 17, 0), -ERANGE);
	CHECK_EQ(proto_check_range(&l, 0, 1, UINT64_MAX), -ERANGE);
	CHECK_EQ(proto_check_range(&l, 0, UINT64_MAX, 2), -ERANGE);
	CHECK_EQ(proto_check_range(&l, 1, 0, 1), 0);
	CHECK_EQ(proto_check_range(&l, 1, 0, 2), -ERANGE);
	CHECK_EQ(proto_check_range(&l, 2, 0, 1), -ERANGE);
	CHECK_EQ(proto_check_range(&l, UINT32_MAX, 0, 0), -ERANGE);
}

static void test_names(void)
{
	CHECK(strcmp(proto_type_name(PROTO_PAGES), "PAGES") == 0);
	CHECK(strcmp(proto_type_name(PROTO_HELLO), "HELLO") == 0);
	CHECK(strcmp(proto_type_name(PROTO_VERIFY), "VERIFY") == 0);
	CHECK(strcmp(proto_type_name(0), "unknown") == 0);
	CHECK(strcmp(proto_type_name(PROTO__MAX), "unknown") == 0);
	CHECK(strcmp(proto_type_name(UINT32_MAX), "unknown") == 0);
}

/* Framed I/O over a socketpair: a writer thread sends a seeded sequence of
 * messages, the reader regenerates it and compares. */
#define IO_MSGS 400
#define IO_SEED 11

struct io_writer {
	struct xport *x;
	const uint8_t *pool;
	int r;
};

static void *writer_main(void *arg)
{
	struct io_writer *w = arg;
	uint64_t seed = IO_SEED;
	struct proto_msg m;
	uint8_t bad[8 + 24] = { 0 };
	unsigned int i;

	for (i = 0; i < IO_MSGS && !w->r; i++) {
		gen_msg(1 + (uint32_t)(test_rand(&seed) % (PROTO__MAX - 1)),
			&seed, w->pool, &m);
		w->r = proto_send(w->x, &m);
	}
	/* Then a PAGES frame with count 0, which must end the stream. */
	bad[1] = PROTO_PAGES;
	bad[7] = 24;
	if (!w->r)
		w->r = xport_write(w->x, bad, sizeof(bad));
	if (!w->r)
		w->r = xport_flush(w->x);
	return NULL;
}

static void test_io(const uint8_t *pool)
{
	struct proto_rxbuf rx = { 0 };
	struct io_writer w = { .pool = pool };
	struct xport *rd;
	struct proto_msg m, got;
	uint64_t seed = IO_SEED;
	pthread_t th;
	int sv[2];
	unsigned int i;

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	w.x = xport_tcp_new(sv[0]);
	rd = xport_tcp_new(sv[1]);
	CHECK(w.x && rd);
	CHECK_EQ(xport_set_timeout(rd, 10000), 0);
	CHECK_EQ(pthread_create(&th, NULL, writer_main, &w), 0);
	for (i = 0; i < IO_MSGS; i++) {
		gen_msg(1 + (uint32_t)(test_rand(&seed) % (PROTO__MAX - 1)),
			&seed, pool, &m);
		CHECK_EQ(proto_recv(rd, &rx, &got), 0);
		CHECK(msg_equal(&m, &got));
	}
	CHECK_EQ(proto_recv(rd, &rx, &got), -EPROTO);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK_EQ(w.r, 0);

	/* An invalid message is refused before anything is written. */
	m.type = PROTO_PAGES;
	m.pages.count = 0;
	CHECK_EQ(proto_send(w.x, &m), -EINVAL);

	/* A frame cut short by close, then a clean end of stream. */
	m.type = PROTO_HEARTBEAT;
	m.heartbeat.time_ms = 99;
	CHECK_EQ(proto_send(w.x, &m), 0);
	CHECK_EQ(xport_write(w.x, "\0\x0c\0\0\0\0\0\x08\0\0", 10), 0);
	CHECK_EQ(xport_flush(w.x), 0);
	xport_free(w.x);
	CHECK_EQ(proto_recv(rd, &rx, &got), 0);
	CHECK(got.type == PROTO_HEARTBEAT && got.heartbeat.time_ms == 99);
	CHECK_EQ(proto_recv(rd, &rx, &got), -ECONNRESET);
	CHECK_EQ(proto_recv(rd, &rx, &got), -ECONNRESET);
	xport_free(rd);
	proto_rxbuf_free(&rx);
}

int main(void)
{
	size_t cap = PROTO_HDR_LEN + PROTO_MAX_PAYLOAD + 64;
	uint8_t *pool = malloc(POOL_LEN), *buf = malloc(cap), *out = malloc(cap);
	uint64_t seed = 99;
	size_t i;

	CHECK(pool && buf && out);
	for (i = 0; i < POOL_LEN; i++)
		pool[i] = (uint8_t)test_rand(&seed);
	test_names();
	test_check_range();
	test_channel(buf, cap);
	test_bad_fields(pool, buf, cap);
	test_delta(pool, buf, cap);
	test_round_trips(pool, buf, out, cap);
	test_garbage(buf, out, cap);
	test_io(pool);
	free(out);
	free(buf);
	free(pool);
	printf("ok proto\n");
	return 0;
}
