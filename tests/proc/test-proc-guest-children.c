// SPDX-License-Identifier: MIT
/*
 * proc-guest-children with a real program (proc-echo, whose "!fork MS"
 * forks a child of MS milliseconds and reaps it after echoing):
 *
 *   the shim lets fork through, and the child is counted while it lives
 *   and until its parent reaps it;
 *   pause_childless waits (the program running, idle called) until the
 *   child is gone and reaped, then pauses; with a child that outlives
 *   the wait it answers -EAGAIN and leaves the program running;
 *   pause_reaping pauses anyway and kills and reaps the child inside the
 *   program: no child, no zombie, and the program answers on;
 *   wait_threads waits for a thread the program starts.
 *
 * Usage: test-proc-guest-children PROC-ECHO
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "evloop.h"
#include "proc-fixture.h"
#include "proc-guest.h"
#include "proc-stop.h"

#define WAIT_MS 5000

struct fixture {
	struct evloop *loop;
	struct proc_guest g;
	char out[4096];
	size_t len;
	int idles;
};

static void on_output(void *opaque, uint32_t conn, const uint8_t *data,
		      size_t len)
{
	struct fixture *f = opaque;

	(void)conn;
	CHECK(f->len + len < sizeof(f->out));
	memcpy(f->out + f->len, data, len);
	f->len += len;
}

static void on_close(void *opaque, uint32_t conn)
{
	(void)opaque;
	(void)conn;
}

static void on_died(void *opaque)
{
	(void)opaque;
	CHECK(!"the program died");
}

static const struct proc_guest_ops ops = {
	.output = on_output, .close = on_close, .died = on_died,
};

static int count_idle(void *opaque)
{
	((struct fixture *)opaque)->idles++;
	return 0;
}

/* Says text on connection 1 and runs the loop until it is echoed. */
static void ask(struct fixture *f, const char *text)
{
	uint64_t until = fixture_now_ms() + WAIT_MS;
	size_t want = f->len + strlen(text);

	CHECK_EQ(proc_guest_write(&f->g, 1, text, strlen(text)), 0);
	while (f->len < want && fixture_now_ms() < until)
		CHECK(evloop_run_once(f->loop, 10) >= 0);
	CHECK_EQ(f->len, want);
}

static void start(struct fixture *f, const char *echo)
{
	static const char *const args[] = { "7070", NULL };
	int ret;

	memset(f, 0, sizeof(*f));
	f->loop = evloop_new();
	CHECK(f->loop);
	proc_guest_init(&f->g, f->loop, &ops, f);
	ret = proc_guest_start(&f->g, echo, args, TARGET_PORT, WAIT_MS);
	if (ret == -EPERM)
		SKIP("proc_guest_start: %s", strerror(-ret));
	CHECK_EQ(ret, 0);
	CHECK_EQ(proc_guest_open(&f->g, 1), 0);
	CHECK_EQ(proc_guest_wait_connected(&f->g, WAIT_MS), 0);
	ask(f, "hello");
	CHECK_EQ(proc_guest_children(&f->g, NULL, 0), 0);
}

static void test_wait_for_child(struct fixture *f)
{
	uint64_t t0;
	pid_t pid;

	/* The echo comes before the thread reaps: the child is there. */
	ask(f, "!fork 400\n");
	CHECK_EQ(proc_guest_children(&f->g, &pid, 1), 1);
	CHECK(pid > 0 && kill(pid, 0) == 0);
	t0 = fixture_now_ms();
	f->idles = 0;
	CHECK_EQ(proc_guest_pause_childless(&f->g, WAIT_MS, WAIT_MS,
					    count_idle, f), 0);
	fprintf(stderr, "paused childless after %llu ms, %d idles\n",
		(unsigned long long)(fixture_now_ms() - t0), f->idles);
	CHECK(fixture_now_ms() - t0 >= 200);    /* it did wait */
	CHECK(f->idles > 10);
	CHECK_EQ(proc_guest_children(&f->g, NULL, 0), 0);
	CHECK(kill(pid, 0) < 0 && errno == ESRCH);      /* reaped by it */
	CHECK_EQ(proc_guest_resume(&f->g), 0);
	ask(f, "after");
}

static void test_put_off_then_reaped(struct fixture *f)
{
	struct proc_stop *ps;
	pid_t pid;

	ask(f, "!fork 60000\n");
	CHECK_EQ(proc_guest_children(&f->g, &pid, 1), 1);
	CHECK_EQ(proc_guest_pause_childless(&f->g, 300, WAIT_MS, NULL, NULL),
		 -EAGAIN);
	/* Put off: nothing of it is held, the child lives on. */
	ps = proc_guest_tracer(&f->g);
	for (size_t i = 0; i < ps->n; i++)
		CHECK(!ps->thread[i].stopped);
	CHECK_EQ(proc_guest_children(&f->g, NULL, 0), 1);

	CHECK_EQ(proc_guest_pause_reaping(&f->g, 200, WAIT_MS, 0, NULL, NULL), 0);
	CHECK_EQ(proc_guest_children(&f->g, NULL, 0), 0);
	CHECK(kill(pid, 0) < 0 && errno == ESRCH);      /* no zombie either */
	CHECK_EQ(proc_guest_resume(&f->g), 0);
	/* Its waitpid now fails (ECHILD) and the thread reads on. */
	ask(f, "still here");
}

/* A thread the program starts (proc-echo: one per connection) is waited
 * for; a count it never reaches is not. */
static void test_wait_threads(struct fixture *f)
{
	size_t n = proc_guest_tracer(&f->g)->n;

	CHECK_EQ(proc_guest_open(&f->g, 3), 0);
	CHECK_EQ(proc_guest_wait_connected(&f->g, WAIT_MS), 0);
	CHECK_EQ(proc_guest_wait_threads(&f->g, n + 1, WAIT_MS, NULL, NULL), 0);
	CHECK_EQ(proc_guest_tracer(&f->g)->n, n + 1);
	CHECK_EQ(proc_guest_wait_threads(&f->g, n + 5, 100, NULL, NULL),
		 -EAGAIN);
}

int main(int argc, char **argv)
{
	struct fixture f;

	CHECK_EQ(argc, 2);
	fixture_require_root();
	test_require_dirtylog();
	start(&f, argv[1]);
	test_wait_for_child(&f);
	test_put_off_then_reaped(&f);
	test_wait_threads(&f);
	proc_guest_stop(&f.g);
	evloop_free(f.loop);
	return 0;
}
