// SPDX-License-Identifier: MIT
/*
 * Writes the seed inputs of the stream targets: message sequences for
 * fuzz-incoming (a start-state byte, then frames) and fuzz-proto-recv (the
 * frames alone), channel messages for fuzz-chan, this program's own
 * identity for fuzz-proc-identity, and the hand-made process image of
 * tests/proc for fuzz-proc-image-wire (with its pages, and without them
 * so that a seed fits libFuzzer's 4 KiB), encoded by the real encoders
 * so that the seeds follow the formats when they change. Run by hand:
 * gen-seeds tests/fuzz/corpus
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../proc/image-sample.h"
#include "chan.h"
#include "proc-identity.h"
#include "proc-image-wire.h"
#include "proto.h"

static uint8_t buf[1 << 16], page[4096];
static size_t n;

static void add(struct proto_msg m)
{
	size_t k = proto_encode(&m, buf + n, sizeof(buf) - n);

	if (!k)
		abort();
	n += k;
}

static void save(const char *dir, const char *name, size_t skip)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!(f = fopen(path, "wb")) || fwrite(buf + skip, 1, n - skip, f) != n - skip ||
	    fclose(f))
		abort();
}

/* One sequence: saved for incoming with its state byte, and without it. */
static void seq(const char *root, const char *name, int state, int hello)
{
	static const uint8_t ids[] = { 0, 0, 0, 3 };
	char dir[4096];
	struct proto_msg m = { .type = PROTO_HELLO };

	n = 0;
	buf[n++] = (uint8_t)state;
	m.hello = (struct proto_hello){ .version = PROTO_VERSION,
		.page_size = 4096, .nblocks = 1, .gen = { 0xfeed, 3 } };
	memset(m.hello.guest_digest, 0x11, PROTO_DIGEST_LEN);
	strcpy(m.hello.blocks[0].name, "guest-ram");
	m.hello.blocks[0].size = 4u << 20;
	m.hello.blocks[0].guest_addr = RAM_GUEST_BASE;
	if (hello)
		add(m);
	add((struct proto_msg){ .type = PROTO_PAGES, .pages = { .block = 0,
		.first = 5, .count = 1, .data = page } });
	add((struct proto_msg){ .type = PROTO_DISCARD, .discard = { 0, 7, 2 } });
	add((struct proto_msg){ .type = PROTO_CKPT_BEGIN, .ckpt_begin = { .id = 9,
		.flags = state == 2 ? 0 : PROTO_CKPT_FIRST | PROTO_CKPT_VERIFY } });
	add((struct proto_msg){ .type = PROTO_PAGES, .pages = { .block = 0,
		.first = 1, .count = 3, .flags = PROTO_PAGES_ZERO } });
	add((struct proto_msg){ .type = PROTO_DEVICE_STATE, .device_state = {
		.input_seq = 0, .gen = { 0xfeed, 4 }, .nconns = 1, .conn_ids = ids,
		.tunables = { 20000, 3000, 50, 18, 200, 1000 } } });
	add((struct proto_msg){ .type = PROTO_CKPT_END, .ckpt_end = { 9, 3 } });
	add((struct proto_msg){ .type = PROTO_HEARTBEAT, .heartbeat = { 1 } });
	add((struct proto_msg){ .type = PROTO_INPUT, .input = { .seq = 1,
		.conn = 3, .kind = PROTO_IN_OPEN } });
	snprintf(dir, sizeof(dir), "%s/incoming", root);
	save(dir, name, 0);
	snprintf(dir, sizeof(dir), "%s/proto-recv", root);
	save(dir, name, 1);
}

static void chan(const char *root)
{
	struct chan_msg m[] = {
		{ .type = CHAN_READY },
		{ .type = CHAN_OUTPUT, .conn = 3, .len = 7, .data = (const uint8_t *)"+PONG\r\n" },
		{ .type = CHAN_CLOSE, .conn = 3 },
		{ .type = CHAN_BARRIER_DONE, .a = 12 },
		{ .type = CHAN_HINT, .a = 0, .b = 8192, .c = 4096 },
	};
	char dir[4096];
	int sv[2];
	ssize_t k;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		abort();
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (chan_send(sv[0], &m[i]))
			abort();
	close(sv[0]);
	if ((k = read(sv[1], buf, sizeof(buf))) <= 0)
		abort();
	n = (size_t)k;
	snprintf(dir, sizeof(dir), "%s/chan", root);
	save(dir, "guest-talks", 0);
	n = 48 + 3;                 /* a message cut in its data */
	save(dir, "cut", 0);
}

/* This program's identity, and the same with no files. */
static void identity(const char *root)
{
	struct proc_identity id;
	char dir[4096];
	uint8_t *bytes;
	size_t len;

	if (proc_identity_of(getpid(), &id) ||
	    proc_identity_encode(&id, &bytes, &len) || len > sizeof(buf))
		abort();
	snprintf(dir, sizeof(dir), "%s/proc-identity", root);
	memcpy(buf, bytes, len);
	n = len;
	save(dir, "self", 0);
	free(bytes);
	proc_identity_free(&id);
	if (proc_identity_encode(&id, &bytes, &len) || len > sizeof(buf))
		abort();
	memcpy(buf, bytes, len);
	n = len;
	save(dir, "no-files", 0);
	free(bytes);
}

/* The sample image encoded, cut to its first cut bytes (0: whole). */
static void image(const char *root, const char *name, bool with_pages,
		  size_t cut)
{
	struct proc_image img;
	char path[4096];
	uint8_t *bytes;
	size_t len;
	FILE *f;

	if (!strcmp(name, "sample-delta"))
		image_sample_delta(&img);
	else
		image_sample(&img, with_pages);
	if (proc_image_encode(&img, &bytes, &len))
		abort();
	if (cut && cut < len)
		len = cut;
	snprintf(path, sizeof(path), "%s/proc-image-wire/%s", root, name);
	if (!(f = fopen(path, "wb")) || fwrite(bytes, 1, len, f) != len ||
	    fclose(f))
		abort();
	free(bytes);
	proc_image_free(&img);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS-ROOT\n", argv[0]);
		return 2;
	}
	memset(page, 0x5b, sizeof(page));
	seq(argv[1], "hello-sync", 0, 1);
	seq(argv[1], "sync-first", 1, 0);
	seq(argv[1], "colo-ckpt", 2, 0);
	seq(argv[1], "fenced-hello", 3, 1);
	chan(argv[1]);
	identity(argv[1]);
	image(argv[1], "sample", true, 0);
	image(argv[1], "sample-no-pages", false, 0);
	image(argv[1], "cut-in-threads", false, 700);
	image(argv[1], "sample-delta", true, 0);
	return 0;
}
