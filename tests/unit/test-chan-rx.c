// SPDX-License-Identifier: MIT
/*
 * The secondary's live-sync channels (chan-rx.h), over socketpairs standing
 * for the primary's extra connections:
 *  - the handshake's refusals: no live sync taking channels (before a
 *    hello, with one channel, after the first checkpoint), a token not
 *    the session's, an index past the session's count, one already
 *    connected; and an accepted CHANNEL is echoed;
 *  - receivers store their pages in the cache and the RAM, and the first
 *    checkpoint (chan_rx_finish) waits for every CHANNEL_END and counts
 *    their pages;
 *  - a page on the wrong channel, or an END that miscounts, fails the
 *    sync; a channel missing at the first checkpoint too;
 *  - a stop joins receivers blocked in a read (the TSan build runs this).
 */
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "chan-rx.h"
#include "evloop.h"
#include "page-delta.h"
#include "ramcache.h"
#include "tap.h"
#include "xport.h"

#define NPAGES 4096ULL                 /* 16 MiB: 8 chunks of 2 MiB */

struct fixture {
	struct ram_layout ram;
	struct ramcache cache;
	struct chan_rx cr;
	uint8_t token[PROTO_TOKEN_LEN];
	struct xport *peer[PROTO_MAX_CHANNELS];   /* the primary's ends */
	int failed;
	char why[256];
};

static void on_failed(void *opaque, int err, const char *why)
{
	struct fixture *f = opaque;

	(void)err;
	f->failed++;
	snprintf(f->why, sizeof(f->why), "%s", why);
}

static void setup(struct fixture *f, unsigned channels)
{
	memset(f, 0, sizeof(*f));
	CHECK_EQ(ramblock_create(&f->ram.blocks[0], 0, "test-chan-rx",
				 NPAGES * RAM_PAGE_SIZE, 0x7e0000000000ull), 0);
	f->ram.nblocks = 1;
	CHECK_EQ(ramcache_init(&f->cache, &f->ram), 0);
	CHECK_EQ(chan_rx_init(&f->cr, NULL, -1, on_failed, f), 0);
	chan_rx_open(&f->cr, channels, &f->cache, &f->ram, 2000, f->token);
}

static void teardown(struct fixture *f)
{
	unsigned i;

	chan_rx_deinit(&f->cr);
	for (i = 0; i < PROTO_MAX_CHANNELS; i++)
		xport_free(f->peer[i]);
	ramcache_deinit(&f->cache);
	ram_layout_destroy(&f->ram);
}

/* Present CHANNEL index with token; 0 when taken (the primary's end in
 * peer[index], the echo checked), else -errno with why. */
static int present(struct fixture *f, uint32_t index, const uint8_t *token,
		   char *why, size_t len)
{
	struct proto_msg m = { .type = PROTO_CHANNEL }, echo;
	struct proto_rxbuf rx = { 0 };
	struct xport *ours, *theirs;
	int sv[2], ret;

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ours = xport_tcp_new(sv[0]);
	theirs = xport_tcp_new(sv[1]);
	CHECK(ours && theirs);
	memcpy(m.channel.token, token, PROTO_TOKEN_LEN);
	m.channel.index = index;
	why[0] = '\0';
	ret = chan_rx_take(&f->cr, ours, &m.channel, why, len);
	if (ret < 0) {
		CHECK(why[0]);
		xport_free(ours);
		xport_free(theirs);
		return ret;
	}
	CHECK_EQ(proto_recv(theirs, &rx, &echo), 0);
	CHECK_EQ(echo.type, PROTO_CHANNEL);
	CHECK_EQ(echo.channel.index, index);
	CHECK(!memcmp(echo.channel.token, token, PROTO_TOKEN_LEN));
	proto_rxbuf_free(&rx);
	f->peer[index] = theirs;
	return 0;
}

static void send_msg(struct fixture *f, uint32_t index,
		     const struct proto_msg *m)
{
	CHECK_EQ(proto_send(f->peer[index], m), 0);
	CHECK_EQ(xport_flush(f->peer[index]), 0);
}

/* count pages at first, each filled with its number and tag. */
static void send_pages(struct fixture *f, uint32_t index, uint64_t first,
		       uint32_t count, uint8_t tag)
{
	static uint8_t buf[PROTO_MAX_PAGES_PER_MSG * RAM_PAGE_SIZE];
	struct proto_msg m = { .type = PROTO_PAGES };
	uint32_t i;

	for (i = 0; i < count; i++) {
		memset(buf + (size_t)i * RAM_PAGE_SIZE, tag, RAM_PAGE_SIZE);
		memcpy(buf + (size_t)i * RAM_PAGE_SIZE, &(uint64_t){ first + i },
		       8);
	}
	m.pages.block = 0;
	m.pages.first = first;
	m.pages.count = count;
	m.pages.data = buf;
	send_msg(f, index, &m);
}

/* One page as a well-formed delta: the whole-page op. */
static void send_delta(struct fixture *f, uint32_t index, uint64_t first)
{
	static uint8_t page[RAM_PAGE_SIZE], buf[PAGE_DELTA_MAX];
	struct proto_msg m = { .type = PROTO_PAGES };

	memset(page, 0x33, sizeof(page));
	m.pages.block = 0;
	m.pages.first = first;
	m.pages.count = 1;
	m.pages.flags = PROTO_PAGES_DELTA;
	m.pages.delta_len = (uint32_t)page_delta_whole(page, buf);
	m.pages.data = buf;
	send_msg(f, index, &m);
}

static void send_end(struct fixture *f, uint32_t index, uint64_t pages)
{
	struct proto_msg m = { .type = PROTO_CHANNEL_END };

	m.channel_end.pages = pages;
	send_msg(f, index, &m);
}

static bool page_is(const struct fixture *f, uint64_t page, uint8_t tag)
{
	const uint8_t *c = f->cache.cache[0] + page * RAM_PAGE_SIZE;
	const uint8_t *r = ramblock_page(&f->ram.blocks[0], page);
	uint64_t n;

	memcpy(&n, c, 8);
	return n == page && c[100] == tag && !memcmp(c, r, RAM_PAGE_SIZE);
}

static void test_refusals(void)
{
	struct fixture f;
	uint8_t wrong[PROTO_TOKEN_LEN];
	char why[256];
	uint64_t pages;

	/* One channel: the hello asked for none, nothing is taken. */
	setup(&f, 1);
	CHECK(!chan_rx_wanted(&f.cr));
	CHECK_EQ(present(&f, 1, f.token, why, sizeof(why)), -EPERM);
	teardown(&f);

	setup(&f, 3);
	CHECK(chan_rx_wanted(&f.cr));
	memcpy(wrong, f.token, sizeof(wrong));
	wrong[7] ^= 1;
	CHECK_EQ(present(&f, 1, wrong, why, sizeof(why)), -EACCES);
	CHECK(strstr(why, "token"));
	CHECK_EQ(present(&f, 3, f.token, why, sizeof(why)), -ERANGE);
	CHECK(strstr(why, "3 channels"));
	CHECK_EQ(present(&f, 1, f.token, why, sizeof(why)), 0);
	CHECK_EQ(present(&f, 1, f.token, why, sizeof(why)), -EEXIST);
	CHECK(chan_rx_wanted(&f.cr));
	CHECK_EQ(present(&f, 2, f.token, why, sizeof(why)), 0);
	/* At most N: all taken, none wanted, a fourth refused. */
	CHECK(!chan_rx_wanted(&f.cr));
	CHECK_EQ(present(&f, 2, f.token, why, sizeof(why)), -EEXIST);
	send_end(&f, 1, 0);
	send_end(&f, 2, 0);
	CHECK_EQ(chan_rx_finish(&f.cr, &pages, why, sizeof(why)), 0);
	CHECK_EQ(pages, 0);
	/* After the live sync: refused, even with the right token. */
	CHECK(!chan_rx_wanted(&f.cr));
	CHECK_EQ(present(&f, 1, f.token, why, sizeof(why)), -EPERM);
	/* A new session draws a new token: the old one is refused. */
	memcpy(wrong, f.token, sizeof(wrong));
	chan_rx_open(&f.cr, 3, &f.cache, &f.ram, 2000, f.token);
	CHECK(memcmp(wrong, f.token, sizeof(wrong)));
	CHECK_EQ(present(&f, 1, wrong, why, sizeof(why)), -EACCES);
	CHECK_EQ(f.failed, 0);
	teardown(&f);
	printf("ok refusals\n");
}

static void test_receive(void)
{
	struct fixture f;
	char why[256];
	uint64_t pages;

	setup(&f, 3);
	CHECK_EQ(present(&f, 1, f.token, why, sizeof(why)), 0);
	CHECK_EQ(present(&f, 2, f.token, why, sizeof(why)), 0);
	/* Chunks 1 and 4 are channel 1's (mod 3), 2 and 5 channel 2's. */
	send_pages(&f, 1, 512, 256, 0x11);
	send_pages(&f, 1, 512 + 256, 256, 0x11);
	send_pages(&f, 2, 1024, 3, 0x22);
	send_pages(&f, 1, 4 * 512 + 10, 1, 0x44);
	send_pages(&f, 2, 5 * 512 + 511, 1, 0x55);
	send_end(&f, 1, 513);
	send_end(&f, 2, 4);
	CHECK_EQ(chan_rx_finish(&f.cr, &pages, why, sizeof(why)), 0);
	CHECK_EQ(pages, 517);
	CHECK(page_is(&f, 512, 0x11) && page_is(&f, 1023, 0x11));
	CHECK(page_is(&f, 1026, 0x22) && page_is(&f, 4 * 512 + 10, 0x44));
	CHECK(page_is(&f, 5 * 512 + 511, 0x55));
	CHECK_EQ(f.cache.received_pages, 517);
	teardown(&f);
	printf("ok receive\n");
}

/* Each fails the sync at the first checkpoint, with a reason. */
static void expect_finish_fails(struct fixture *f, const char *want)
{
	char why[256];
	uint64_t pages;

	CHECK(chan_rx_finish(&f->cr, &pages, why, sizeof(why)) < 0);
	if (!strstr(why, want)) {
		fprintf(stderr, "finish said '%s', not '%s'\n", why, want);
		exit(1);
	}
}

static void test_failures(void)
{
	struct fixture f;
	char why[256];

	/* A page of channel 2's chunk on channel 1. */
	setup(&f, 3);
	CHECK_EQ(present(&f, 1, f.token, why, sizeof(why)), 0);
	CHECK_EQ(present(&f, 2, f.token, why, sizeof(why)), 0);
	send_pages(&f, 1, 1024, 1, 0x11);
	send_end(&f, 2, 0);
	expect_finish_fails(&f, "another channel");
	teardown(&f);

	/* A delta on a channel: its data is not count pages (the store
	 * would read past it). */
	setup(&f, 2);
	CHECK_EQ(present(&f, 1, f.token, why, sizeof(why)), 0);
	send_delta(&f, 1, 512);
	expect_finish_fails(&f, "delta PAGES on a live-sync channel");
	teardown(&f);

	/* A run across two chunks. */
	setup(&f, 2);
	CHECK_EQ(present(&f, 1, f.token, why, sizeof(why)), 0);
	send_pages(&f, 1, 1023, 2, 0x11);
	expect_finish_fails(&f, "another channel");
	teardown(&f);

	/* An END that does not count what came. */
	setup(&f, 2);
	CHECK_EQ(present(&f, 1, f.token, why, sizeof(why)), 0);
	send_pages(&f, 1, 512, 2, 0x11);
	send_end(&f, 1, 3);
	expect_finish_fails(&f, "CHANNEL_END claims 3 pages, 2 arrived");
	teardown(&f);

	/* A channel closed before its END. */
	setup(&f, 2);
	CHECK_EQ(present(&f, 1, f.token, why, sizeof(why)), 0);
	xport_free(f.peer[1]);
	f.peer[1] = NULL;
	expect_finish_fails(&f, "closed before its CHANNEL_END");
	teardown(&f);

	/* A channel that never came. */
	setup(&f, 3);
	CHECK_EQ(present(&f, 1, f.token, why, sizeof(why)), 0);
	send_end(&f, 1, 0);
	expect_finish_fails(&f, "2 of 3 live-sync channels");
	teardown(&f);

	/* A channel silent at the first checkpoint: its deadline. */
	setup(&f, 2);
	f.cr.timeout_ms = 200;
	CHECK_EQ(present(&f, 1, f.token, why, sizeof(why)), 0);
	expect_finish_fails(&f, "did not end within 200 ms");
	teardown(&f);

	/* A stop request cuts that wait short, however long it may be. */
	setup(&f, 2);
	f.cr.timeout_ms = 60000;
	f.cr.stop_fd = eventfd(1, EFD_CLOEXEC);
	CHECK(f.cr.stop_fd >= 0);
	CHECK_EQ(present(&f, 1, f.token, why, sizeof(why)), 0);
	{
		uint64_t t0 = evloop_now_ms(), pages;

		CHECK_EQ(chan_rx_finish(&f.cr, &pages, why, sizeof(why)),
			 -ECANCELED);
		CHECK(evloop_now_ms() - t0 < 5000);
	}
	close(f.cr.stop_fd);
	teardown(&f);
	printf("ok failures\n");
}

/* A failure is reported through the loop as soon as it happens, and a
 * stop joins receivers blocked in their reads. */
static void test_loop_and_stop(void)
{
	struct fixture f;
	struct evloop *loop = evloop_new();
	char why[256];
	int i;

	CHECK(loop);
	memset(&f, 0, sizeof(f));
	CHECK_EQ(ramblock_create(&f.ram.blocks[0], 0, "test-chan-rx",
				 NPAGES * RAM_PAGE_SIZE, 0x7e0000000000ull), 0);
	f.ram.nblocks = 1;
	CHECK_EQ(ramcache_init(&f.cache, &f.ram), 0);
	CHECK_EQ(chan_rx_init(&f.cr, loop, -1, on_failed, &f), 0);
	chan_rx_open(&f.cr, 4, &f.cache, &f.ram, 2000, f.token);
	CHECK_EQ(present(&f, 1, f.token, why, sizeof(why)), 0);
	CHECK_EQ(present(&f, 2, f.token, why, sizeof(why)), 0);
	CHECK_EQ(present(&f, 3, f.token, why, sizeof(why)), 0);
	send_msg(&f, 2, &(struct proto_msg){ .type = PROTO_HEARTBEAT });
	for (i = 0; i < 200 && !f.failed; i++)
		evloop_run_once(loop, 10);
	CHECK_EQ(f.failed, 1);
	CHECK(strstr(f.why, "channel 2: HEARTBEAT does not belong"));
	/* Channels 1 and 3 wait in a read: the stop must end them. */
	chan_rx_stop(&f.cr);
	CHECK(!chan_rx_wanted(&f.cr));
	chan_rx_deinit(&f.cr);
	for (i = 0; i < PROTO_MAX_CHANNELS; i++)
		xport_free(f.peer[i]);
	ramcache_deinit(&f.cache);
	ram_layout_destroy(&f.ram);
	evloop_free(loop);
	printf("ok loop and stop\n");
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_refusals();
	test_receive();
	test_failures();
	test_loop_and_stop();
	return 0;
}
