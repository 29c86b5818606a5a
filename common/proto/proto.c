// SPDX-License-Identifier: MIT
/*
 * Encoders and decoders of the replication protocol. Pure functions: bytes
 * in, struct out, and back. All integers are big-endian.
 *
 * Frame header (8 bytes): type u16 | flags u16 (reserved, must be 0) |
 * payload length u32. Payloads, by type (offsets in bytes):
 *
 *   HELLO         0 version u32, 4 page_size u32, 8 guest digest [32],
 *                 40 pair id u64, 48 generation u64, 56 channels u32
 *                 (0..8), 60 nblocks u32 (0: a process guest),
 *                 64 nblocks * block:
 *                   0 id u32, 4 name [32] (NUL-terminated, zero-padded),
 *                   36 size u64, 44 guest_addr u64          (52 bytes each)
 *   HELLO_ACK     0 token [16]
 *   CHANNEL       0 token [16], 16 index u32 (1..7)
 *   CHANNEL_END   0 pages u64
 *   REFUSE        0 reason length u16 (< 256), 2 reason bytes (no NUL)
 *   PAGES         0 block u32, 4 count u32, 8 first u64, 16 flags u32,
 *                 20 delta_len u32 (0 unless PROTO_PAGES_DELTA), 24 count *
 *                 4096 bytes of data, or with PROTO_PAGES_DELTA delta_len
 *                 bytes of count page deltas (page-delta.h), or nothing
 *                 with PROTO_PAGES_ZERO or PROTO_PAGES_PLACED (at most one
 *                 of the three: -EPROTO). The word at 20 puts the data 32
 *                 bytes into the frame, so page copies are aligned.
 *   DISCARD       0 block u32, 4 first u64, 12 count u64
 *   CKPT_BEGIN    0 id u64, 8 flags u32
 *   DEVICE_STATE  0 input_seq u64, 8 clock_ms u64, 16 pair id u64,
 *                 24 generation u64, 32 tunables: checkpoint_delay_ms u32,
 *                 compare_timeout_ms u32, max_wait_ms u32,
 *                 clear_bitmap_shift u32, heartbeat_ms u32,
 *                 failover_timeout_ms u32; 56 nconns u32,
 *                 60 nconns * conn id u32
 *   CKPT_END      0 id u64, 8 pages u64
 *   CKPT_ACK      0 id u64, 8 status i32 (0 or -errno), 12 receive_us u32,
 *                 16 svm_barrier_us u32, 20 flush_us u32, 24 end_us u32,
 *                 28 cpu_us u32
 *   INPUT         0 seq u64, 8 conn u32, 12 kind u32, 16 arg u64,
 *                 24 len u32, 28 len bytes
 *   OUTPUT        0 conn u32, 4 kind u32, 8 len u32, 12 len bytes
 *   HEARTBEAT     0 time_ms u64, 8 stamp_us u64, 16 echo_us u64,
 *                 24 held_us u64
 *   VERIFY        0 id u64, 8 chunk_pages u32, 12 ndigests u32,
 *                 16 ndigests * 32 bytes of SHA-256
 *   IDENTITY      0 len u32, 4 len bytes
 *   IMAGE         0 offset u64, 8 total u64, 16 len u32, 20 len bytes
 *
 * Every payload must have exactly the length its fields imply, and padding
 * must be zero, so that each message has one encoding: what decodes
 * re-encodes to the same bytes, which the fuzz target checks.
 */
#include "proto.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "page-delta.h"

#define HELLO_BLOCK_LEN 52
#define ACK_STATUS_MIN (-4095)   /* the errno range, as the kernel has it */

static const struct {
	const char *name;
	size_t fixed;                    /* payload bytes before variable data */
} types[PROTO__MAX] = {
	[PROTO_HELLO] = { "HELLO", 64 },
	[PROTO_HELLO_ACK] = { "HELLO_ACK", 16 },
	[PROTO_REFUSE] = { "REFUSE", 2 },
	[PROTO_PAGES] = { "PAGES", 24 },
	[PROTO_DISCARD] = { "DISCARD", 20 },
	[PROTO_CKPT_BEGIN] = { "CKPT_BEGIN", 12 },
	[PROTO_DEVICE_STATE] = { "DEVICE_STATE", 60 },
	[PROTO_CKPT_END] = { "CKPT_END", 16 },
	[PROTO_CKPT_ACK] = { "CKPT_ACK", 32 },
	[PROTO_INPUT] = { "INPUT", 28 },
	[PROTO_OUTPUT] = { "OUTPUT", 12 },
	[PROTO_HEARTBEAT] = { "HEARTBEAT", 32 },
	[PROTO_VERIFY] = { "VERIFY", 16 },
	[PROTO_IDENTITY] = { "IDENTITY", 4 },
	[PROTO_IMAGE] = { "IMAGE", 20 },
	[PROTO_CHANNEL] = { "CHANNEL", 20 },
	[PROTO_CHANNEL_END] = { "CHANNEL_END", 8 },
};

static bool known_type(uint32_t type)
{
	return type > 0 && type < PROTO__MAX;
}

const char *proto_type_name(uint32_t type)
{
	return known_type(type) ? types[type].name : "unknown";
}

static void put16(uint8_t **p, uint16_t v)
{
	(*p)[0] = (uint8_t)(v >> 8);
	(*p)[1] = (uint8_t)v;
	*p += 2;
}

static void put32(uint8_t **p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p, (uint16_t)v);
}

static void put64(uint8_t **p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p, (uint32_t)v);
}

static void putbytes(uint8_t **p, const void *src, size_t n)
{
	if (n)
		memcpy(*p, src, n);
	*p += n;
}

static uint16_t get16(const uint8_t **p)
{
	uint16_t v = (uint16_t)((*p)[0] << 8 | (*p)[1]);

	*p += 2;
	return v;
}

static uint32_t get32(const uint8_t **p)
{
	uint32_t hi = get16(p);

	return hi << 16 | get16(p);
}

static uint64_t get64(const uint8_t **p)
{
	uint64_t hi = get32(p);

	return hi << 32 | get32(p);
}

/*
 * The rules a message must follow beyond its length, shared by the encoder
 * (a sender never puts an invalid message on the wire) and the decoder.
 */
/* Whether a PAGES frame carries its pages' bytes after the fixed part. */
static bool pages_inline(const struct proto_pages *pg)
{
	return !(pg->flags & (PROTO_PAGES_ZERO | PROTO_PAGES_PLACED));
}

static int check_msg(const struct proto_msg *m)
{
	const struct proto_hello *h = &m->hello;
	uint32_t i;

	switch (m->type) {
	case PROTO_HELLO:
		if (h->nblocks > RAM_MAX_BLOCKS ||
		    h->channels > PROTO_MAX_CHANNELS)
			return -EPROTO;
		for (i = 0; i < h->nblocks; i++) {
			if (!memchr(h->blocks[i].name, 0, RAM_BLOCK_NAME_MAX))
				return -EPROTO;
			if (!h->blocks[i].size ||
			    h->blocks[i].size % RAM_PAGE_SIZE)
				return -EPROTO;
		}
		return 0;
	case PROTO_REFUSE:
		return memchr(m->refuse.reason, 0, PROTO_REASON_MAX) ? 0
								     : -EPROTO;
	case PROTO_PAGES:
		if (m->pages.count < 1 ||
		    m->pages.count > PROTO_MAX_PAGES_PER_MSG)
			return -EPROTO;
		if (m->pages.flags & ~(PROTO_PAGES_ZERO | PROTO_PAGES_PLACED |
				       PROTO_PAGES_DELTA))
			return -EPROTO;
		/* Zero pages are never placed: one says the bytes are
		 * zero, the other that they arrived; both is a lie. A delta
		 * is data in the stream, so neither of them either. */
		if (m->pages.flags & (m->pages.flags - 1))   /* two bits */
			return -EPROTO;
		if (pages_inline(&m->pages) && !m->pages.data)
			return -EPROTO;
		/* Bounded by the whole-page form of each page, so that the
		 * lengths below add up without overflow. */
		if (m->pages.flags & PROTO_PAGES_DELTA)
			return m->pages.delta_len >
			       m->pages.count * PAGE_DELTA_MAX ? -EPROTO : 0;
		return m->pages.delta_len ? -EPROTO : 0;
	case PROTO_CKPT_BEGIN:
		return m->ckpt_begin.flags &
		       ~(PROTO_CKPT_FIRST | PROTO_CKPT_VERIFY) ? -EPROTO : 0;
	case PROTO_DEVICE_STATE:
		if (m->device_state.nconns > PROTO_MAX_DATA / 4)
			return -EPROTO;
		return m->device_state.nconns && !m->device_state.conn_ids
		       ? -EPROTO : 0;
	case PROTO_CKPT_ACK:
		return m->ckpt_ack.status > 0 ||
		       m->ckpt_ack.status < ACK_STATUS_MIN ? -EPROTO : 0;
	case PROTO_INPUT:
		if (m->input.kind < 1 || m->input.kind >= PROTO_IN__MAX)
			return -EPROTO;
		if (m->input.len > PROTO_MAX_DATA)
			return -EPROTO;
		return m->input.len && !m->input.data ? -EPROTO : 0;
	case PROTO_OUTPUT:
		if (m->output.kind < 1 || m->output.kind >= PROTO_OUT__MAX)
			return -EPROTO;
		if (m->output.len > PROTO_MAX_DATA)
			return -EPROTO;
		return m->output.len && !m->output.data ? -EPROTO : 0;
	case PROTO_VERIFY:
		if (m->verify.ndigests > PROTO_MAX_VERIFY_DIGESTS)
			return -EPROTO;
		return m->verify.ndigests && !m->verify.digests ? -EPROTO : 0;
	case PROTO_IDENTITY:
		if (m->identity.len < 1 || m->identity.len > PROTO_MAX_DATA)
			return -EPROTO;
		return m->identity.data ? 0 : -EPROTO;
	case PROTO_IMAGE: {
		const struct proto_image *im = &m->image;

		if (im->len < 1 || im->len > PROTO_MAX_DATA || !im->data)
			return -EPROTO;
		if (im->total < 1 || im->total > PROTO_MAX_IMAGE)
			return -EPROTO;
		/* Written so that offset + len cannot wrap. */
		return im->offset > im->total - im->len ? -EPROTO : 0;
	}
	case PROTO_CHANNEL:
		return m->channel.index < 1 ||
		       m->channel.index >= PROTO_MAX_CHANNELS ? -EPROTO : 0;
	case PROTO_HELLO_ACK:
	case PROTO_CHANNEL_END:
	case PROTO_DISCARD:
	case PROTO_CKPT_END:
	case PROTO_HEARTBEAT:
		return 0;
	default:
		return -EPROTO;
	}
}

/*
 * Length of the variable part that follows the fixed one. Only called on
 * messages check_msg() accepted, so nothing here overflows: the largest is
 * VERIFY's 2 MiB.
 */
static size_t var_len(const struct proto_msg *m)
{
	switch (m->type) {
	case PROTO_HELLO:
		return (size_t)m->hello.nblocks * HELLO_BLOCK_LEN;
	case PROTO_REFUSE:
		return strlen(m->refuse.reason);
	case PROTO_PAGES:
		if (!pages_inline(&m->pages))
			return 0;
		if (m->pages.flags & PROTO_PAGES_DELTA)
			return m->pages.delta_len;
		return (size_t)m->pages.count * RAM_PAGE_SIZE;
	case PROTO_DEVICE_STATE:
		return (size_t)m->device_state.nconns * 4;
	case PROTO_INPUT:
		return m->input.len;
	case PROTO_OUTPUT:
		return m->output.len;
	case PROTO_VERIFY:
		return (size_t)m->verify.ndigests * PROTO_DIGEST_LEN;
	case PROTO_IDENTITY:
		return m->identity.len;
	case PROTO_IMAGE:
		return m->image.len;
	default:
		return 0;
	}
}

/*
 * What check_msg cannot see, because the decoder calls it before the
 * payload's length is known to cover the data: a delta's structure, all
 * pages of it, before anyone applies one.
 */
static int check_data(const struct proto_msg *m)
{
	if (m->type == PROTO_PAGES && (m->pages.flags & PROTO_PAGES_DELTA))
		return page_delta_check(m->pages.data, m->pages.delta_len,
					m->pages.count);
	return 0;
}

size_t proto_frame_len(const struct proto_msg *m)
{
	if (check_msg(m) || check_data(m))
		return 0;
	return PROTO_HDR_LEN + types[m->type].fixed + var_len(m);
}

static void encode_tunables(const struct proto_tunables *t, uint8_t **p)
{
	put32(p, t->checkpoint_delay_ms);
	put32(p, t->compare_timeout_ms);
	put32(p, t->max_wait_ms);
	put32(p, t->clear_bitmap_shift);
	put32(p, t->heartbeat_ms);
	put32(p, t->failover_timeout_ms);
}

static void encode_hello(const struct proto_hello *h, uint8_t **p)
{
	uint32_t i;

	put32(p, h->version);
	put32(p, h->page_size);
	putbytes(p, h->guest_digest, PROTO_DIGEST_LEN);
	put64(p, h->gen.pair_id);
	put64(p, h->gen.generation);
	put32(p, h->channels);
	put32(p, h->nblocks);
	for (i = 0; i < h->nblocks; i++) {
		size_t n = strlen(h->blocks[i].name);

		put32(p, h->blocks[i].id);
		/* Zero padding after the name keeps the encoding unique. */
		putbytes(p, h->blocks[i].name, n);
		memset(*p, 0, RAM_BLOCK_NAME_MAX - n);
		*p += RAM_BLOCK_NAME_MAX - n;
		put64(p, h->blocks[i].size);
		put64(p, h->blocks[i].guest_addr);
	}
}

/* Writes the fixed part (and HELLO's blocks and REFUSE's reason, which are
 * small) at p; returns where the bulk data is. */
static const uint8_t *encode_fixed(const struct proto_msg *m, uint8_t **p)
{
	switch (m->type) {
	case PROTO_HELLO:
		encode_hello(&m->hello, p);
		return NULL;
	case PROTO_REFUSE: {
		size_t n = strlen(m->refuse.reason);

		put16(p, (uint16_t)n);
		putbytes(p, m->refuse.reason, n);
		return NULL;
	}
	case PROTO_PAGES:
		put32(p, m->pages.block);
		put32(p, m->pages.count);
		put64(p, m->pages.first);
		put32(p, m->pages.flags);
		put32(p, m->pages.delta_len);
		return pages_inline(&m->pages) ? m->pages.data : NULL;
	case PROTO_HELLO_ACK:
		putbytes(p, m->hello_ack.token, PROTO_TOKEN_LEN);
		return NULL;
	case PROTO_CHANNEL:
		putbytes(p, m->channel.token, PROTO_TOKEN_LEN);
		put32(p, m->channel.index);
		return NULL;
	case PROTO_CHANNEL_END:
		put64(p, m->channel_end.pages);
		return NULL;
	case PROTO_DISCARD:
		put32(p, m->discard.block);
		put64(p, m->discard.first);
		put64(p, m->discard.count);
		return NULL;
	case PROTO_CKPT_BEGIN:
		put64(p, m->ckpt_begin.id);
		put32(p, m->ckpt_begin.flags);
		return NULL;
	case PROTO_DEVICE_STATE:
		put64(p, m->device_state.input_seq);
		put64(p, m->device_state.clock_ms);
		put64(p, m->device_state.gen.pair_id);
		put64(p, m->device_state.gen.generation);
		encode_tunables(&m->device_state.tunables, p);
		put32(p, m->device_state.nconns);
		return m->device_state.conn_ids;
	case PROTO_CKPT_END:
		put64(p, m->ckpt_end.id);
		put64(p, m->ckpt_end.pages);
		return NULL;
	case PROTO_CKPT_ACK:
		put64(p, m->ckpt_ack.id);
		put32(p, (uint32_t)m->ckpt_ack.status);
		put32(p, m->ckpt_ack.receive_us);
		put32(p, m->ckpt_ack.svm_barrier_us);
		put32(p, m->ckpt_ack.flush_us);
		put32(p, m->ckpt_ack.end_us);
		put32(p, m->ckpt_ack.cpu_us);
		return NULL;
	case PROTO_INPUT:
		put64(p, m->input.seq);
		put32(p, m->input.conn);
		put32(p, m->input.kind);
		put64(p, m->input.arg);
		put32(p, m->input.len);
		return m->input.data;
	case PROTO_OUTPUT:
		put32(p, m->output.conn);
		put32(p, m->output.kind);
		put32(p, m->output.len);
		return m->output.data;
	case PROTO_HEARTBEAT:
		put64(p, m->heartbeat.time_ms);
		put64(p, m->heartbeat.stamp_us);
		put64(p, m->heartbeat.echo_us);
		put64(p, m->heartbeat.held_us);
		return NULL;
	case PROTO_VERIFY:
		put64(p, m->verify.id);
		put32(p, m->verify.chunk_pages);
		put32(p, m->verify.ndigests);
		return m->verify.digests;
	case PROTO_IDENTITY:
		put32(p, m->identity.len);
		return m->identity.data;
	case PROTO_IMAGE:
		put64(p, m->image.offset);
		put64(p, m->image.total);
		put32(p, m->image.len);
		return m->image.data;
	default:
		return NULL;
	}
}

size_t proto_encode_head(const struct proto_msg *m, uint8_t *buf, size_t cap,
			 const uint8_t **data, size_t *datalen)
{
	size_t fixed, var;
	uint8_t *p = buf;

	if (check_msg(m) || check_data(m))
		return 0;
	fixed = types[m->type].fixed;
	var = var_len(m);
	/* HELLO and REFUSE carry their variable part in the head. */
	if (m->type == PROTO_HELLO || m->type == PROTO_REFUSE) {
		fixed += var;
		var = 0;
	}
	if (cap < PROTO_HDR_LEN + fixed)
		return 0;
	put16(&p, (uint16_t)m->type);
	put16(&p, 0);
	put32(&p, (uint32_t)(fixed + var));
	*data = encode_fixed(m, &p);
	*datalen = var;
	if (!var)
		*data = NULL;
	return (size_t)(p - buf);
}

size_t proto_encode(const struct proto_msg *m, uint8_t *buf, size_t cap)
{
	const uint8_t *data;
	size_t head, n;

	head = proto_encode_head(m, buf, cap, &data, &n);
	if (!head || cap - head < n)
		return 0;
	if (n)
		memcpy(buf + head, data, n);
	return head + n;
}

int proto_decode_hdr(const uint8_t hdr[PROTO_HDR_LEN], uint32_t *type,
		     uint32_t *len)
{
	const uint8_t *p = hdr;
	uint32_t t = get16(&p), flags = get16(&p), n = get32(&p);

	if (!known_type(t) || flags || n > PROTO_MAX_PAYLOAD)
		return -EPROTO;
	*type = t;
	*len = n;
	return 0;
}

static void decode_tunables(const uint8_t **p, struct proto_tunables *t)
{
	t->checkpoint_delay_ms = get32(p);
	t->compare_timeout_ms = get32(p);
	t->max_wait_ms = get32(p);
	t->clear_bitmap_shift = get32(p);
	t->heartbeat_ms = get32(p);
	t->failover_timeout_ms = get32(p);
}

static int decode_hello(const uint8_t *p, size_t len, struct proto_hello *h)
{
	uint32_t i;

	h->version = get32(&p);
	h->page_size = get32(&p);
	memcpy(h->guest_digest, p, PROTO_DIGEST_LEN);
	p += PROTO_DIGEST_LEN;
	h->gen.pair_id = get64(&p);
	h->gen.generation = get64(&p);
	h->channels = get32(&p);
	h->nblocks = get32(&p);
	/* Count first: it sizes both the length check and the array. */
	if (h->nblocks > RAM_MAX_BLOCKS ||
	    len != types[PROTO_HELLO].fixed + h->nblocks * HELLO_BLOCK_LEN)
		return -EPROTO;
	for (i = 0; i < h->nblocks; i++) {
		const uint8_t *name, *nul;

		h->blocks[i].id = get32(&p);
		name = p;
		p += RAM_BLOCK_NAME_MAX;
		nul = memchr(name, 0, RAM_BLOCK_NAME_MAX);
		if (!nul)
			return -EPROTO;
		for (; nul < p; nul++)
			if (*nul)
				return -EPROTO;
		memcpy(h->blocks[i].name, name, RAM_BLOCK_NAME_MAX);
		h->blocks[i].size = get64(&p);
		h->blocks[i].guest_addr = get64(&p);
	}
	return 0;
}

static int decode_refuse(const uint8_t *p, size_t len, struct proto_refuse *r)
{
	uint16_t n = get16(&p);

	if (n >= PROTO_REASON_MAX || len != 2u + n || memchr(p, 0, n))
		return -EPROTO;
	memcpy(r->reason, p, n);
	r->reason[n] = '\0';
	return 0;
}

/* The fixed part of the other types; *data gets where bulk data starts. */
static int decode_fixed(const uint8_t *p, struct proto_msg *m,
			const uint8_t **data)
{
	*data = NULL;
	switch (m->type) {
	case PROTO_HELLO_ACK:
		memcpy(m->hello_ack.token, p, PROTO_TOKEN_LEN);
		return 0;
	case PROTO_CHANNEL:
		memcpy(m->channel.token, p, PROTO_TOKEN_LEN);
		p += PROTO_TOKEN_LEN;
		m->channel.index = get32(&p);
		return 0;
	case PROTO_CHANNEL_END:
		m->channel_end.pages = get64(&p);
		return 0;
	case PROTO_PAGES:
		m->pages.block = get32(&p);
		m->pages.count = get32(&p);
		m->pages.first = get64(&p);
		m->pages.flags = get32(&p);
		m->pages.delta_len = get32(&p);       /* checked by check_msg */
		*data = p;
		return 0;
	case PROTO_DISCARD:
		m->discard.block = get32(&p);
		m->discard.first = get64(&p);
		m->discard.count = get64(&p);
		return 0;
	case PROTO_CKPT_BEGIN:
		m->ckpt_begin.id = get64(&p);
		m->ckpt_begin.flags = get32(&p);
		return 0;
	case PROTO_DEVICE_STATE:
		m->device_state.input_seq = get64(&p);
		m->device_state.clock_ms = get64(&p);
		m->device_state.gen.pair_id = get64(&p);
		m->device_state.gen.generation = get64(&p);
		decode_tunables(&p, &m->device_state.tunables);
		m->device_state.nconns = get32(&p);
		*data = p;
		return 0;
	case PROTO_CKPT_END:
		m->ckpt_end.id = get64(&p);
		m->ckpt_end.pages = get64(&p);
		return 0;
	case PROTO_CKPT_ACK:
		m->ckpt_ack.id = get64(&p);
		m->ckpt_ack.status = (int32_t)get32(&p);
		m->ckpt_ack.receive_us = get32(&p);
		m->ckpt_ack.svm_barrier_us = get32(&p);
		m->ckpt_ack.flush_us = get32(&p);
		m->ckpt_ack.end_us = get32(&p);
		m->ckpt_ack.cpu_us = get32(&p);
		return 0;
	case PROTO_INPUT:
		m->input.seq = get64(&p);
		m->input.conn = get32(&p);
		m->input.kind = get32(&p);
		m->input.arg = get64(&p);
		m->input.len = get32(&p);
		*data = p;
		return 0;
	case PROTO_OUTPUT:
		m->output.conn = get32(&p);
		m->output.kind = get32(&p);
		m->output.len = get32(&p);
		*data = p;
		return 0;
	case PROTO_HEARTBEAT:
		m->heartbeat.time_ms = get64(&p);
		m->heartbeat.stamp_us = get64(&p);
		m->heartbeat.echo_us = get64(&p);
		m->heartbeat.held_us = get64(&p);
		return 0;
	case PROTO_VERIFY:
		m->verify.id = get64(&p);
		m->verify.chunk_pages = get32(&p);
		m->verify.ndigests = get32(&p);
		*data = p;
		return 0;
	case PROTO_IDENTITY:
		m->identity.len = get32(&p);
		*data = p;
		return 0;
	case PROTO_IMAGE:
		m->image.offset = get64(&p);
		m->image.total = get64(&p);
		m->image.len = get32(&p);
		*data = p;
		return 0;
	default:
		return 0;
	}
}

/* Points the message's data field at the bulk data. */
static void set_data(struct proto_msg *m, const uint8_t *data)
{
	switch (m->type) {
	case PROTO_PAGES:
		m->pages.data = pages_inline(&m->pages) ? data : NULL;
		break;
	case PROTO_DEVICE_STATE:
		m->device_state.conn_ids = data;
		break;
	case PROTO_INPUT:
		m->input.data = data;
		break;
	case PROTO_OUTPUT:
		m->output.data = data;
		break;
	case PROTO_VERIFY:
		m->verify.digests = data;
		break;
	case PROTO_IDENTITY:
		m->identity.data = data;
		break;
	case PROTO_IMAGE:
		m->image.data = data;
		break;
	default:
		break;
	}
}

int proto_decode(uint32_t type, const uint8_t *payload, size_t len,
		 struct proto_msg *m)
{
	const uint8_t *data;
	int r;

	if (!known_type(type) || len < types[type].fixed)
		return -EPROTO;
	memset(m, 0, sizeof(*m));
	m->type = (enum proto_type)type;
	switch (type) {
	case PROTO_HELLO:
		r = decode_hello(payload, len, &m->hello);
		break;
	case PROTO_REFUSE:
		r = decode_refuse(payload, len, &m->refuse);
		break;
	default:
		/* The data pointer is set before its length is checked below;
		 * nothing reads through it here. */
		r = decode_fixed(payload, m, &data);
		set_data(m, data);
	}
	if (r)
		return r;
	r = check_msg(m);
	if (r)
		return r;
	/* Only now are the counts known to be small enough to add up. */
	if (len != types[type].fixed + var_len(m))
		return -EPROTO;
	return check_data(m);
}

int proto_check_range(const struct ram_layout *l, uint32_t block,
		      uint64_t first, uint64_t count)
{
	uint64_t pages;

	if (block >= l->nblocks)
		return -ERANGE;
	pages = ramblock_pages(&l->blocks[block]);
	/* Written so that first + count cannot wrap. */
	if (first > pages || count > pages - first)
		return -ERANGE;
	return 0;
}
