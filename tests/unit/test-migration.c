// SPDX-License-Identifier: MIT
/*
 * Live sync's thread (migration.c, dial.c) against a fake secondary on
 * loopback, with a forked guest (locking-guest.h) for a real dirty log:
 *
 *  - it dials, says hello with the layout and the generation it was
 *    given, pre-copies the guest's RAM (the fake's copy equals it), and
 *    reports the end through event_fd: joined, result 0, connected;
 *  - a secondary that refuses us ends it with -ECONNREFUSED, refused set
 *    and the reason in error;
 *  - a secondary that never answers the hello holds it until cancelled,
 *    and migration_cancel ends it at once (well within the failover
 *    timeout it would otherwise wait for).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "link.h"
#include "locking-guest.h"
#include "migration.h"
#include "proto.h"
#include "ram-save.h"

#define NPAGES 256ULL                   /* 1 MiB */
#define SIZE (NPAGES * RAM_PAGE_SIZE)
#define SHIFT 6
#define FAILOVER_MS 20000               /* far longer than any wait here */

enum fake_mode { ANSWER, REFUSE, SILENT };

struct fake {
	int lfd;
	char addr[64];
	enum fake_mode mode;
	pthread_t th;
	struct proto_hello hello;       /* what the primary said */
	uint8_t *copy;                  /* the pages it sent */
	uint64_t pages;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void store(struct fake *f, const struct proto_pages *pg)
{
	uint64_t i;

	CHECK(pg->block == 0 && pg->first + pg->count <= NPAGES);
	for (i = 0; i < pg->count; i++) {
		uint8_t *dst = f->copy + (pg->first + i) * RAM_PAGE_SIZE;

		if (pg->data)
			memcpy(dst, pg->data + i * RAM_PAGE_SIZE,
			       RAM_PAGE_SIZE);
		else
			memset(dst, 0, RAM_PAGE_SIZE);
	}
	f->pages += pg->count;
}

/* One connection: the hello, then (ANSWER) whatever live sync sends until
 * the primary closes it. */
static void *fake_main(void *arg)
{
	struct fake *f = arg;
	struct proto_rxbuf rx = { 0 };
	struct proto_msg m;
	struct xport *x;
	char peer[64];
	int fd = net_accept(f->lfd, peer, sizeof(peer));

	CHECK(fd >= 0);
	x = xport_tcp_new(fd);
	CHECK(x);
	CHECK_EQ(proto_recv(x, &rx, &m), 0);
	CHECK_EQ(m.type, PROTO_HELLO);
	f->hello = m.hello;
	if (f->mode == SILENT) {
		/* Until the primary gives up and closes. */
		while (proto_recv(x, &rx, &m) == 0)
			;
	} else if (f->mode == REFUSE) {
		m.type = PROTO_REFUSE;
		snprintf(m.refuse.reason, sizeof(m.refuse.reason), "not you");
		CHECK_EQ(proto_send(x, &m), 0);
		CHECK_EQ(xport_flush(x), 0);
	} else {
		m.type = PROTO_HELLO_ACK;
		CHECK_EQ(proto_send(x, &m), 0);
		CHECK_EQ(xport_flush(x), 0);
		while (proto_recv(x, &rx, &m) == 0)
			if (m.type == PROTO_PAGES)
				store(f, &m.pages);
	}
	proto_rxbuf_free(&rx);
	xport_free(x);
	return NULL;
}

static void fake_start(struct fake *f, enum fake_mode mode)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);

	/* Any free port: net_listen wants one named. */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(f->lfd >= 0);
	CHECK(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(listen(f->lfd, 1) == 0);
	CHECK(getsockname(f->lfd, (struct sockaddr *)&sa, &len) == 0);
	snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%u",
		 ntohs(sa.sin_port));
	f->mode = mode;
	f->pages = 0;
	CHECK_EQ(pthread_create(&f->th, NULL, fake_main, f), 0);
}

static void fake_stop(struct fake *f)
{
	pthread_join(f->th, NULL);
	close(f->lfd);
}

static void config(struct migration_config *cfg, const struct fake *f)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->secondary = f->addr;
	cfg->insecure = true;
	memset(cfg->guest_digest, 0xab, sizeof(cfg->guest_digest));
	cfg->gen.pair_id = 0x1234;
	cfg->gen.generation = 7;
	cfg->heartbeat_ms = 100;
	cfg->failover_timeout_ms = FAILOVER_MS;
}

/* The thread's end, as the owner's event loop would see it. */
static int wait_done(struct migration *m, int timeout_ms)
{
	struct pollfd pfd = { .fd = m->event_fd, .events = POLLIN };
	int result = 1;

	CHECK_EQ(poll(&pfd, 1, timeout_ms), 1);
	CHECK(migration_join(m, &result));
	CHECK(!m->running);
	return result;
}

/* The owner's part when it ends: the link's transport is its to free. */
static void end_link(struct link *l)
{
	xport_free(l->x);
	l->x = NULL;
	proto_rxbuf_free(&l->rx);
}

static void test_sync(struct migration *m, struct link *l,
		      const struct ram_layout *ram, struct fake *f)
{
	struct migration_config cfg;

	fake_start(f, ANSWER);
	config(&cfg, f);
	CHECK_EQ(migration_start(m, &cfg), 0);
	CHECK_EQ(migration_start(m, &cfg), -EBUSY);
	CHECK_EQ(wait_done(m, 10000), 0);
	CHECK(atomic_load(&m->connected));
	CHECK(!atomic_load(&m->refused));
	CHECK_EQ(strcmp(l->peer, f->addr), 0);
	end_link(l);                    /* EOF ends the fake */
	fake_stop(f);
	CHECK_EQ(f->hello.version, PROTO_VERSION);
	CHECK_EQ(f->hello.nblocks, 1);
	CHECK_EQ(f->hello.blocks[0].size, SIZE);
	CHECK_EQ(f->hello.gen.generation, 7);
	CHECK_EQ(f->hello.gen.pair_id, 0x1234);
	CHECK(f->hello.guest_digest[0] == 0xab);
	CHECK(f->pages >= NPAGES);
	CHECK(memcmp(f->copy, ram->blocks[0].alias, SIZE) == 0);
	printf("ok - live sync: dials, says hello, copies RAM, reports "
	       "done\n");
}

static void test_refused(struct migration *m, struct link *l, struct fake *f)
{
	struct migration_config cfg;

	fake_start(f, REFUSE);
	config(&cfg, f);
	CHECK_EQ(migration_start(m, &cfg), 0);
	CHECK_EQ(wait_done(m, 10000), -ECONNREFUSED);
	CHECK(atomic_load(&m->refused));
	CHECK(!atomic_load(&m->connected));
	CHECK(strstr(m->error, "not you"));
	end_link(l);
	fake_stop(f);
	printf("ok - a refusal ends it, refused set, the reason kept\n");
}

static void test_cancel(struct migration *m, struct link *l, struct fake *f)
{
	struct migration_config cfg;
	uint64_t t0;

	fake_start(f, SILENT);
	config(&cfg, f);
	CHECK_EQ(migration_start(m, &cfg), 0);
	/* In the hello's wait (the fake has it once it sees the HELLO). */
	usleep(200 * 1000);
	CHECK(m->running);
	t0 = now_ms();
	migration_cancel(m);
	CHECK(now_ms() - t0 < 2000);
	CHECK(!m->running);
	CHECK_EQ(atomic_load(&m->result), -ECANCELED);
	/* Nothing left to join; the next start is not cancelled by this. */
	{
		int result;
		struct pollfd pfd = { .fd = m->event_fd, .events = POLLIN };

		if (poll(&pfd, 1, 0) == 1)
			CHECK(!migration_join(m, &result));
	}
	end_link(l);
	fake_stop(f);
	printf("ok - cancel ends a dial in progress at once\n");
}

int main(void)
{
	static struct ram_layout ram;
	static struct tguest g;
	static struct dirtylog dl;
	static struct ram_state rs;
	static struct link l;
	static struct migration m;
	static struct fake f;
	_Atomic unsigned max_wait = 50;

	CHECK_EQ(ram_layout_create(&ram, SIZE), 0);
	/* Forks first: no thread runs yet. */
	tguest_start_or_skip(&g, ram.blocks[0].memfd, SIZE, NULL, NULL);
	ram.blocks[0].guest_addr = g.addr;
	tguest_dirtylog(&g, &dl);
	tguest_cmd(&g, TG_FILL, 0, NPAGES / 2, 1);
	tguest_cmd(&g, TG_FILL, NPAGES - 10, 10, 2);
	CHECK_EQ(ram_state_init(&rs, &ram, &dl, SHIFT), 0);
	f.copy = calloc(1, SIZE);
	CHECK(f.copy);
	memset(f.copy, 0x5a, SIZE);     /* every page must arrive */
	signal(SIGPIPE, SIG_IGN);

	CHECK_EQ(migration_init(&m, &l, &rs, &ram, &max_wait), 0);
	test_sync(&m, &l, &ram, &f);
	test_refused(&m, &l, &f);
	test_cancel(&m, &l, &f);
	migration_deinit(&m);
	CHECK_EQ(m.event_fd, -1);

	free(f.copy);
	ram_state_deinit(&rs);
	dirtylog_close(&dl);
	tguest_stop(&g);
	ram_layout_destroy(&ram);
	return 0;
}
