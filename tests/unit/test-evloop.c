// SPDX-License-Identifier: MIT
/*
 * The event loop: readiness reaches the right callback, waits are bounded,
 * and a callback may delete (and even reuse the number of) another fd whose
 * event is still pending in the same round; deferred work runs once per
 * round, in order.
 */
#include "evloop.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

struct rec {
	int calls;
	uint32_t events;
	int fd;
};

static void on_event(struct evloop *l, int fd, uint32_t events, void *opaque)
{
	struct rec *r = opaque;
	char b;

	(void)l;
	r->calls++;
	r->events = events;
	r->fd = fd;
	if (events & EV_READ)
		(void)!read(fd, &b, 1);
}

static void make_pipe(int p[2])
{
	CHECK_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
}

static void test_basic(void)
{
	struct evloop *l = evloop_new();
	struct rec r = { 0 }, w = { 0 };
	uint64_t t0;
	int p[2];

	CHECK(l);
	make_pipe(p);
	CHECK_EQ(evloop_add(l, p[0], EV_READ, on_event, &r), 0);
	CHECK_EQ(evloop_add(l, p[0], EV_READ, on_event, &r), -EEXIST);
	CHECK_EQ(evloop_add(l, -1, EV_READ, on_event, &r), -EINVAL);
	CHECK_EQ(evloop_mod(l, p[1], EV_READ), -ENOENT);
	CHECK_EQ(evloop_del(l, p[1]), -ENOENT);

	t0 = evloop_now_ms();
	CHECK_EQ(evloop_run_once(l, 30), 0);
	CHECK(evloop_now_ms() - t0 >= 25);
	CHECK_EQ(r.calls, 0);

	CHECK_EQ(write(p[1], "x", 1), 1);
	CHECK_EQ(evloop_run_once(l, 1000), 1);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.events, EV_READ);
	CHECK_EQ(r.fd, p[0]);
	CHECK_EQ(evloop_run_once(l, 0), 0);

	/* The write end: writable at once, until we stop asking. */
	CHECK_EQ(evloop_add(l, p[1], EV_WRITE, on_event, &w), 0);
	CHECK_EQ(evloop_run_once(l, 1000), 1);
	CHECK_EQ(w.events, EV_WRITE);
	CHECK_EQ(evloop_mod(l, p[1], 0), 0);
	CHECK_EQ(evloop_run_once(l, 0), 0);
	CHECK_EQ(evloop_del(l, p[1]), 0);

	/* A hang-up is delivered as readable, so the reader sees EOF. */
	close(p[1]);
	CHECK_EQ(evloop_run_once(l, 1000), 1);
	CHECK_EQ(r.events & EV_READ, EV_READ);
	CHECK_EQ(evloop_del(l, p[0]), 0);
	close(p[0]);
	evloop_free(l);
	evloop_free(NULL);
}

/*
 * Two readable fds; whichever callback runs first deletes and closes the
 * other, opens a fresh readable pipe (which gets the freed number) and
 * registers it. Neither the old event nor the new registration may run in
 * this round; the new one runs in the next.
 */
struct pair {
	int p[2][2];
	int calls[2];
	int fresh[2];
	int fresh_calls;
	int first;
};

static void on_fresh(struct evloop *l, int fd, uint32_t events, void *opaque)
{
	struct pair *pp = opaque;

	(void)l;
	(void)events;
	(void)fd;
	pp->fresh_calls++;
}

static void on_pair(struct evloop *l, int fd, uint32_t events, void *opaque)
{
	struct pair *pp = opaque;
	int me = fd == pp->p[0][0] ? 0 : 1, other = !me;

	(void)events;
	pp->calls[me]++;
	if (pp->first >= 0)
		return;
	pp->first = me;
	CHECK_EQ(evloop_del(l, pp->p[other][0]), 0);
	close(pp->p[other][0]);
	close(pp->p[other][1]);
	make_pipe(pp->fresh);
	CHECK_EQ(pp->fresh[0], pp->p[other][0]);   /* the number is reused */
	CHECK_EQ(write(pp->fresh[1], "y", 1), 1);
	CHECK_EQ(evloop_add(l, pp->fresh[0], EV_READ, on_fresh, pp), 0);
}

static void test_delete_in_callback(void)
{
	struct evloop *l = evloop_new();
	struct pair pp = { .first = -1 };

	CHECK(l);
	for (int i = 0; i < 2; i++) {
		make_pipe(pp.p[i]);
		CHECK_EQ(write(pp.p[i][1], "x", 1), 1);
		CHECK_EQ(evloop_add(l, pp.p[i][0], EV_READ, on_pair, &pp), 0);
	}
	CHECK_EQ(evloop_run_once(l, 1000), 1);
	CHECK_EQ(pp.calls[0] + pp.calls[1], 1);
	CHECK_EQ(pp.fresh_calls, 0);
	CHECK_EQ(evloop_run_once(l, 1000), 2);     /* survivor and fresh */
	CHECK_EQ(pp.fresh_calls, 1);
	CHECK_EQ(pp.calls[!pp.first], 0);
	evloop_free(l);
	close(pp.p[pp.first][0]);
	close(pp.p[pp.first][1]);
	close(pp.fresh[0]);
	close(pp.fresh[1]);
}

/* A callback that deletes itself and frees its own context. */
static void on_self(struct evloop *l, int fd, uint32_t events, void *opaque)
{
	(void)events;
	CHECK_EQ(evloop_del(l, fd), 0);
	free(opaque);
}

static void test_many(void)
{
	enum { N = 300 };
	struct evloop *l = evloop_new();
	struct rec r[N] = { 0 };
	int p[N][2], total = 0;
	int s[2];

	CHECK(l);
	for (int i = 0; i < N; i++) {
		make_pipe(p[i]);
		CHECK_EQ(write(p[i][1], "x", 1), 1);
		CHECK_EQ(evloop_add(l, p[i][0], EV_READ, on_event, &r[i]), 0);
	}
	make_pipe(s);
	CHECK_EQ(write(s[1], "x", 1), 1);
	CHECK_EQ(evloop_add(l, s[0], EV_READ, on_self, malloc(16)), 0);
	/* More ready fds than one round takes: all run, each once. */
	while (total < N + 1) {
		int n = evloop_run_once(l, 1000);

		CHECK(n > 0);
		total += n;
	}
	CHECK_EQ(evloop_run_once(l, 0), 0);
	for (int i = 0; i < N; i++) {
		CHECK_EQ(r[i].calls, 1);
		close(p[i][0]);
		close(p[i][1]);
	}
	close(s[0]);
	close(s[1]);
	evloop_free(l);
}

/* Deferred work: a log of what ran, in order. */
struct dlog {
	char ran[32];
	size_t n;
	struct evloop *l;
};

static struct dlog dlog;

static void defer_a(void *opaque)
{
	dlog.ran[dlog.n++] = *(const char *)opaque;
}

/* Asks for more work while deferred work runs: it runs in the same pass. */
static void defer_chain(void *opaque)
{
	static const char b = 'b';

	(void)opaque;
	dlog.ran[dlog.n++] = 'c';
	evloop_defer(dlog.l, defer_a, (void *)&b);
}

/* Queues a deferred write from an fd callback, as the daemons' writers do. */
static void on_event_defer(struct evloop *l, int fd, uint32_t events,
			   void *opaque)
{
	static const char x = 'x';

	on_event(l, fd, events, opaque);
	evloop_defer(l, defer_a, (void *)&x);
	evloop_defer(l, defer_a, (void *)&x);     /* once only */
}

static void test_defer(void)
{
	static const char a = 'a', b = 'b', z = 'z';
	struct evloop *l = evloop_new();
	struct rec r = { 0 };
	int p[2], i;

	CHECK(l);
	dlog.l = l;
	make_pipe(p);
	CHECK_EQ(evloop_add(l, p[0], EV_READ, on_event_defer, &r), 0);

	/* Outside a round: before the next wait, once each, in order. */
	CHECK_EQ(evloop_defer(l, defer_a, (void *)&a), 0);
	CHECK_EQ(evloop_defer(l, defer_a, (void *)&b), 0);
	CHECK_EQ(evloop_defer(l, defer_a, (void *)&a), 0);
	CHECK_EQ(evloop_defer(l, defer_a, (void *)&z), 0);
	evloop_defer_cancel(l, defer_a, (void *)&z);
	CHECK_EQ(dlog.n, 0);
	CHECK_EQ(evloop_run_once(l, 0), 0);
	CHECK_EQ(dlog.n, 2);
	CHECK(!memcmp(dlog.ran, "ab", 2));
	CHECK_EQ(evloop_run_once(l, 0), 0);
	CHECK_EQ(dlog.n, 2);                      /* nothing twice */

	/* Asked for by a callback: after the round, once. */
	CHECK_EQ(write(p[1], "1", 1), 1);
	CHECK_EQ(evloop_run_once(l, 1000), 1);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(dlog.n, 3);
	CHECK_EQ(dlog.ran[2], 'x');

	/* Work asked for by deferred work runs in the same pass. */
	CHECK_EQ(evloop_defer(l, defer_chain, NULL), 0);
	CHECK_EQ(evloop_run_once(l, 0), 0);
	CHECK_EQ(dlog.n, 5);
	CHECK(!memcmp(dlog.ran + 3, "cb", 2));

	/* More than the table holds: the rest runs at once, none lost. */
	dlog.n = 0;
	for (i = 0; i < 20; i++)
		evloop_defer(l, defer_a, (void *)&"0123456789abcdefghij"[i]);
	CHECK_EQ(dlog.n, 4);                      /* 16 pending, 4 ran */
	CHECK_EQ(evloop_run_once(l, 0), 0);
	CHECK_EQ(dlog.n, 20);

	/* An unchanged interest is no change; a changed one takes effect. */
	CHECK_EQ(evloop_mod(l, p[0], EV_READ), 0);
	CHECK_EQ(evloop_mod(l, p[0], 0), 0);
	CHECK_EQ(write(p[1], "2", 1), 1);
	CHECK_EQ(evloop_run_once(l, 30), 0);
	CHECK_EQ(evloop_mod(l, p[0], EV_READ), 0);
	CHECK_EQ(evloop_run_once(l, 1000), 1);
	CHECK_EQ(r.calls, 2);
	close(p[0]);
	close(p[1]);
	evloop_free(l);
}

int main(void)
{
	test_basic();
	test_delete_in_callback();
	test_many();
	test_defer();
	return 0;
}
