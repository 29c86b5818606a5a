// SPDX-License-Identifier: MIT
/*
 * Writes the seed corpus for fuzz-proto into a directory: one valid message
 * of each type (type byte, then payload), a few cut short, and some seeded
 * garbage. Run by hand when the protocol changes:
 *   gen-proto-corpus tests/fuzz/corpus/proto
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static int write_input(const char *dir, const char *name, uint8_t type,
		       const uint8_t *payload, size_t len)
{
	char path[4096];
	FILE *f;
	int r;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f) {
		perror(path);
		return -1;
	}
	r = fputc(type, f) == EOF || fwrite(payload, 1, len, f) != len;
	return fclose(f) || r ? -1 : 0;
}

/* Encodes m and writes its payload, or its first cut bytes when cut > 0. */
static int write_msg(const char *dir, const char *name,
		     const struct proto_msg *m, size_t cut)
{
	uint8_t frame[PROTO_HDR_LEN + 8 * 4096];
	size_t n = proto_encode(m, frame, sizeof(frame));

	if (!n) {
		fprintf(stderr, "%s: does not encode\n", name);
		return -1;
	}
	n -= PROTO_HDR_LEN;
	return write_input(dir, name, (uint8_t)m->type, frame + PROTO_HDR_LEN,
			   cut && cut < n ? cut : n);
}

int main(int argc, char **argv)
{
	uint8_t page[2 * 4096];
	static const uint8_t ids[] = { 0, 0, 0, 7, 0, 0, 1, 0 };
	static const uint8_t text[] = "*1\r\n$4\r\nPING\r\n";
	struct proto_msg m;
	const char *dir;
	uint64_t seed = 0x5eed;
	unsigned int i, j;
	int r = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	for (i = 0; i < sizeof(page); i++)
		page[i] = (uint8_t)(i * 31 + 7);

	memset(&m, 0, sizeof(m));
	m.type = PROTO_HELLO;
	m.hello = (struct proto_hello){ .version = PROTO_VERSION,
					.page_size = 4096, .nblocks = 2 };
	memset(m.hello.guest_digest, 0xab, PROTO_DIGEST_LEN);
	strcpy(m.hello.blocks[0].name, "guest-ram");
	m.hello.blocks[0].size = 1ULL << 30;
	m.hello.blocks[0].guest_addr = RAM_GUEST_BASE;
	m.hello.blocks[1] = m.hello.blocks[0];
	m.hello.blocks[1].id = 1;
	strcpy(m.hello.blocks[1].name, "heap");
	r |= write_msg(dir, "hello", &m, 0);
	r |= write_msg(dir, "hello-cut", &m, 70);

	m = (struct proto_msg){ .type = PROTO_HELLO_ACK };
	r |= write_msg(dir, "hello-ack", &m, 0);
	m = (struct proto_msg){ .type = PROTO_REFUSE };
	strcpy(m.refuse.reason, "guest binary digest differs");
	r |= write_msg(dir, "refuse", &m, 0);

	m = (struct proto_msg){ .type = PROTO_PAGES, .pages = {
		.block = 0, .first = 4096, .count = 2, .data = page } };
	r |= write_msg(dir, "pages", &m, 0);
	r |= write_msg(dir, "pages-cut", &m, 4000);
	m.pages = (struct proto_pages){ .first = 1, .count = 256,
					.flags = PROTO_PAGES_ZERO };
	r |= write_msg(dir, "pages-zero", &m, 0);

	m = (struct proto_msg){ .type = PROTO_DISCARD,
				.discard = { 1, 100, 50 } };
	r |= write_msg(dir, "discard", &m, 0);
	m = (struct proto_msg){ .type = PROTO_CKPT_BEGIN, .ckpt_begin = {
		.id = 42, .flags = PROTO_CKPT_FIRST | PROTO_CKPT_VERIFY } };
	r |= write_msg(dir, "ckpt-begin", &m, 0);
	m = (struct proto_msg){ .type = PROTO_DEVICE_STATE, .device_state = {
		.input_seq = 1000, .clock_ms = 123456, .nconns = 2,
		.conn_ids = ids } };
	r |= write_msg(dir, "device-state", &m, 0);
	m = (struct proto_msg){ .type = PROTO_CKPT_END,
				.ckpt_end = { .id = 42, .pages = 300 } };
	r |= write_msg(dir, "ckpt-end", &m, 0);
	m = (struct proto_msg){ .type = PROTO_CKPT_ACK,
				.ckpt_ack = { .id = 42, .status = -12,
					      .receive_us = 2500,
					      .svm_barrier_us = 80,
					      .flush_us = 900,
					      .end_us = 1100,
					      .cpu_us = 3400 } };
	r |= write_msg(dir, "ckpt-ack", &m, 0);
	m = (struct proto_msg){ .type = PROTO_INPUT, .input = {
		.seq = 7, .conn = 3, .kind = PROTO_IN_DATA,
		.len = sizeof(text) - 1, .data = text } };
	r |= write_msg(dir, "input", &m, 0);
	m.input = (struct proto_input){ .seq = 8, .kind = PROTO_IN_TICK,
					.arg = 5000 };
	r |= write_msg(dir, "input-tick", &m, 0);
	m = (struct proto_msg){ .type = PROTO_OUTPUT, .output = {
		.conn = 3, .kind = PROTO_OUT_DATA, .len = 7,
		.data = (const uint8_t *)"+PONG\r\n" } };
	r |= write_msg(dir, "output", &m, 0);
	m = (struct proto_msg){ .type = PROTO_HEARTBEAT,
				.heartbeat = { .time_ms = 99999 } };
	r |= write_msg(dir, "heartbeat", &m, 0);
	m = (struct proto_msg){ .type = PROTO_VERIFY, .verify = {
		.id = 42, .chunk_pages = 256, .ndigests = 3, .digests = page } };
	r |= write_msg(dir, "verify", &m, 0);

	/* Garbage: random types and lengths from a fixed seed. */
	for (i = 0; i < 5; i++) {
		uint8_t junk[300];
		char name[32];
		size_t len;

		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		len = (seed >> 33) % sizeof(junk);
		for (j = 0; j < len; j++) {
			seed = seed * 6364136223846793005ULL + 1;
			junk[j] = (uint8_t)(seed >> 56);
		}
		snprintf(name, sizeof(name), "garbage-%u", i);
		r |= write_input(dir, name, (uint8_t)(seed >> 40), junk, len);
	}
	return r ? 1 : 0;
}
