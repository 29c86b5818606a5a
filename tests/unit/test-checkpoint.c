// SPDX-License-Identifier: MIT
/*
 * The checkpoint's wait for the secondary's answer (checkpoint_expect_ack)
 * against a fake secondary on the other end of a socketpair:
 *
 *  - in order (OUTPUT on the way, then CKPT_ACK) it succeeds, and with
 *    verify (VERIFY, then CKPT_ACK) it lists exactly the chunks whose
 *    digests differ;
 *  - an ack for another checkpoint, a VERIFY not asked for, a VERIFY for
 *    another checkpoint or an ack without the asked-for VERIFY fail with
 *    -EPROTO;
 *  - the secondary's own error comes back as the checkpoint's, also when
 *    it skips the VERIFY to say so; its "not now" (-EAGAIN) too, marked
 *    acknowledged.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "checkpoint.h"
#include "evloop.h"
#include "link.h"
#include "proto.h"
#include "ram-digest.h"
#include "ramblock.h"
#include "tap.h"
#include "xport.h"

#define RAM_SIZE (4u << 20)             /* two digest chunks */
#define CKPT_ID 41

struct fake {
	struct link l;                  /* the primary's end */
	struct xport *peer;             /* the secondary's */
	struct ram_layout ram;
	uint8_t *digests;               /* the PVM's, as do_checkpoint has */
	uint32_t nchunks;
};

static unsigned outputs;

static int on_output(void *opaque, const struct proto_msg *m)
{
	(void)opaque;
	(void)m;
	outputs++;
	return 0;
}

static const link_handler_fn handlers[PROTO__MAX] = {
	[PROTO_OUTPUT] = on_output,
};

static void fake_init(struct fake *f, struct ckpt_result *res, bool verify)
{
	int sv[2];

	memset(f, 0, sizeof(*f));
	memset(res, 0, sizeof(*res));
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	f->l.x = xport_tcp_new(sv[0]);
	f->peer = xport_tcp_new(sv[1]);
	CHECK(f->l.x && f->peer);
	CHECK_EQ(xport_set_timeout(f->l.x, 2000), 0);
	link_set_handlers(&f->l, handlers, NULL);
	outputs = 0;
	CHECK_EQ(ram_layout_create(&f->ram, RAM_SIZE), 0);
	memset(f->ram.blocks[0].alias, 0x5a, RAM_SIZE);
	f->nchunks = ram_digest_nchunks(&f->ram, RAM_DIGEST_CHUNK_PAGES);
	CHECK_EQ(f->nchunks, 2);
	f->digests = malloc((size_t)f->nchunks * PROTO_DIGEST_LEN);
	CHECK(f->digests);
	CHECK_EQ(ram_digest_chunks(&f->ram, RAM_DIGEST_CHUNK_PAGES,
				   f->digests, NULL, NULL), 0);
	res->id = CKPT_ID;
	res->verify = verify;
	if (verify) {
		res->chunk_pages = RAM_DIGEST_CHUNK_PAGES;
		res->nchunks = f->nchunks;
		res->pvm_digests = malloc((size_t)f->nchunks *
					  PROTO_DIGEST_LEN);
		CHECK(res->pvm_digests);
		memcpy(res->pvm_digests, f->digests,
		       (size_t)f->nchunks * PROTO_DIGEST_LEN);
	}
}

static void fake_deinit(struct fake *f, struct ckpt_result *res)
{
	ckpt_result_free(res);
	free(f->digests);
	ram_layout_destroy(&f->ram);
	xport_free(f->l.x);
	xport_free(f->peer);
	proto_rxbuf_free(&f->l.rx);
}

static void send_msg(struct fake *f, const struct proto_msg *m)
{
	CHECK_EQ(proto_send(f->peer, m), 0);
	CHECK_EQ(xport_flush(f->peer), 0);
}

static void send_ack(struct fake *f, uint64_t id, int status)
{
	struct proto_msg m = { .type = PROTO_CKPT_ACK };

	m.ckpt_ack.id = id;
	m.ckpt_ack.status = status;
	/* Where the secondary's time went, for the primary's status. */
	m.ckpt_ack.receive_us = 2500;
	m.ckpt_ack.svm_barrier_us = 70;
	m.ckpt_ack.flush_us = 900;
	m.ckpt_ack.end_us = 1000;
	m.ckpt_ack.cpu_us = 3100;
	send_msg(f, &m);
}

static void send_output(struct fake *f)
{
	struct proto_msg m = { .type = PROTO_OUTPUT };

	m.output.conn = 3;
	m.output.kind = PROTO_OUT_DATA;
	m.output.data = (const uint8_t *)"svm";
	m.output.len = 3;
	send_msg(f, &m);
}

/* The secondary's digests: the PVM's, with chunk `differ` changed. */
static void send_verify(struct fake *f, uint64_t id, int differ)
{
	struct proto_msg m = { .type = PROTO_VERIFY };
	size_t len = (size_t)f->nchunks * PROTO_DIGEST_LEN;
	uint8_t *d = malloc(len);

	CHECK(d);
	memcpy(d, f->digests, len);
	if (differ >= 0)
		d[(size_t)differ * PROTO_DIGEST_LEN] ^= 1;
	m.verify.id = id;
	m.verify.chunk_pages = RAM_DIGEST_CHUNK_PAGES;
	m.verify.ndigests = f->nchunks;
	m.verify.digests = d;
	send_msg(f, &m);
	free(d);
}

static void test_in_order(void)
{
	struct ckpt_result res;
	struct fake f;

	fake_init(&f, &res, false);
	send_output(&f);
	send_output(&f);
	send_ack(&f, CKPT_ID, 0);
	CHECK_EQ(checkpoint_expect_ack(&f.l, &f.ram, &res), 0);
	CHECK(res.acked);
	CHECK_EQ(res.status, 0);
	CHECK_EQ(outputs, 2);
	CHECK_EQ(res.sec.receive_us, 2500);
	CHECK_EQ(res.sec.svm_barrier_us, 70);
	CHECK_EQ(res.sec.flush_us, 900);
	CHECK_EQ(res.sec.end_us, 1000);
	CHECK_EQ(res.sec.cpu_us, 3100);
	fake_deinit(&f, &res);
	printf("ok 1 - output on the way, then the ack (with the "
	       "secondary's times)\n");
}

static void test_verify(void)
{
	struct ckpt_result res;
	struct fake f;

	fake_init(&f, &res, true);
	send_verify(&f, CKPT_ID, -1);
	send_output(&f);
	send_ack(&f, CKPT_ID, 0);
	CHECK_EQ(checkpoint_expect_ack(&f.l, &f.ram, &res), 0);
	CHECK(res.verified);
	CHECK_EQ(res.ndiff, 0);
	CHECK_EQ(outputs, 1);
	fake_deinit(&f, &res);

	fake_init(&f, &res, true);
	send_verify(&f, CKPT_ID, 1);
	send_ack(&f, CKPT_ID, 0);
	CHECK_EQ(checkpoint_expect_ack(&f.l, &f.ram, &res), 0);
	CHECK(res.verified);
	CHECK_EQ(res.ndiff, 1);
	CHECK_EQ(res.diff[0].offset, (uint64_t)RAM_DIGEST_CHUNK_PAGES *
				     RAM_PAGE_SIZE);
	fake_deinit(&f, &res);
	printf("ok 2 - verify lists the chunk that differs\n");
}

static void test_out_of_order(void)
{
	struct ckpt_result res;
	struct fake f;

	/* An ack for another checkpoint. */
	fake_init(&f, &res, false);
	send_ack(&f, CKPT_ID - 1, 0);
	CHECK_EQ(checkpoint_expect_ack(&f.l, &f.ram, &res), -EPROTO);
	CHECK(!res.acked);
	fake_deinit(&f, &res);

	/* A VERIFY nobody asked for. */
	fake_init(&f, &res, false);
	send_verify(&f, CKPT_ID, -1);
	send_ack(&f, CKPT_ID, 0);
	CHECK_EQ(checkpoint_expect_ack(&f.l, &f.ram, &res), -EPROTO);
	fake_deinit(&f, &res);

	/* A VERIFY for another checkpoint. */
	fake_init(&f, &res, true);
	send_verify(&f, CKPT_ID + 1, -1);
	send_ack(&f, CKPT_ID, 0);
	CHECK_EQ(checkpoint_expect_ack(&f.l, &f.ram, &res), -EPROTO);
	CHECK(!res.verified);
	fake_deinit(&f, &res);

	/* Acked without the digests asked for. */
	fake_init(&f, &res, true);
	send_ack(&f, CKPT_ID, 0);
	CHECK_EQ(checkpoint_expect_ack(&f.l, &f.ram, &res), -EPROTO);
	CHECK(!res.verified);
	fake_deinit(&f, &res);
	printf("ok 3 - answers out of turn or for another checkpoint fail\n");
}

static void test_secondary_error(void)
{
	struct ckpt_result res;
	struct fake f;

	fake_init(&f, &res, false);
	send_ack(&f, CKPT_ID, -EIO);
	CHECK_EQ(checkpoint_expect_ack(&f.l, &f.ram, &res), -EIO);
	CHECK(res.acked);
	CHECK_EQ(res.status, -EIO);
	fake_deinit(&f, &res);

	/* With verify asked, the error comes instead of the VERIFY. */
	fake_init(&f, &res, true);
	send_ack(&f, CKPT_ID, -ENOSPC);
	CHECK_EQ(checkpoint_expect_ack(&f.l, &f.ram, &res), -ENOSPC);
	fake_deinit(&f, &res);

	/* "Not now" (the SVM left as it was): -EAGAIN, acknowledged, so
	 * that do_checkpoint tells it from a link that failed; with verify
	 * too, no VERIFY coming. */
	fake_init(&f, &res, true);
	send_ack(&f, CKPT_ID, -EAGAIN);
	CHECK_EQ(checkpoint_expect_ack(&f.l, &f.ram, &res), -EAGAIN);
	CHECK(res.acked);
	CHECK_EQ(res.status, -EAGAIN);
	fake_deinit(&f, &res);
	printf("ok 4 - the secondary's error is the checkpoint's\n");
}

int main(void)
{
	printf("1..4\n");
	test_in_order();
	test_verify();
	test_out_of_order();
	test_secondary_error();
	return 0;
}
