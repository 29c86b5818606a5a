// SPDX-License-Identifier: MIT
/*
 * proc-guest with a real program (proc-echo, which echoes each
 * connection from a thread of its own), in what a checkpoint asks of it:
 *
 *   connections from proc_conn_port(conn), their connects waited for
 *   (and timed out while the program does not accept);
 *   the program held under ptrace: paused it does not answer, resumed it
 *   does, new threads and signals (SIGTERM ends it) are not held up, and
 *   stopping it paused still kills and reaps it;
 *   drain: output in flight read from the paused program, a close too;
 *   the input history: the cap stops writing until a trim, input_tail,
 *   trim and reset_input against the bytes written; with no history
 *   (history_cap 0) nothing waits.
 *
 * Usage: test-proc-guest PROC-ECHO
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "evloop.h"
#include "proc-fixture.h"
#include "proc-guest.h"
#include "proc-stop.h"

#define MAX_CONNS 8
#define OUT_MAX 65536
#define WAIT_MS 5000

struct echoed {
	uint32_t id;
	uint8_t buf[OUT_MAX];
	size_t len;
	bool closed;
};

struct fixture {
	struct evloop *loop;
	struct proc_guest g;
	struct echoed out[MAX_CONNS];
	size_t nout;
	bool died;
};

static struct echoed *echoed(struct fixture *f, uint32_t id)
{
	for (size_t i = 0; i < f->nout; i++)
		if (f->out[i].id == id)
			return &f->out[i];
	CHECK(f->nout < MAX_CONNS);
	f->out[f->nout].id = id;
	return &f->out[f->nout++];
}

static void on_output(void *opaque, uint32_t conn, const uint8_t *data,
		      size_t len)
{
	struct echoed *e = echoed(opaque, conn);

	CHECK(e->len + len <= OUT_MAX);
	memcpy(e->buf + e->len, data, len);
	e->len += len;
}

static void on_close(void *opaque, uint32_t conn)
{
	echoed(opaque, conn)->closed = true;
}

static void on_died(void *opaque)
{
	((struct fixture *)opaque)->died = true;
}

static const struct proc_guest_ops ops = {
	.output = on_output, .close = on_close, .died = on_died,
};

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
	CHECK(proc_guest_tracer(&f->g));
}

/* Stopped, and reaped: no zombie left of it. */
static void finish(struct fixture *f)
{
	pid_t pid = f->g.child.pid;

	proc_guest_stop(&f->g);
	CHECK(!proc_guest_running(&f->g));
	CHECK(!proc_guest_tracer(&f->g));
	CHECK(pid < 0 || (kill(pid, 0) < 0 && errno == ESRCH));
	evloop_free(f->loop);
}

/* Runs the loop for ms, or until conn has echoed len bytes (len 0: the
 * whole time). Returns the bytes it has echoed. */
static size_t run(struct fixture *f, uint32_t conn, size_t len, int ms)
{
	uint64_t until = fixture_now_ms() + (uint64_t)ms;

	while (fixture_now_ms() < until &&
	       (!len || echoed(f, conn)->len < len))
		CHECK(evloop_run_once(f->loop, 10) >= 0);
	return echoed(f, conn)->len;
}

static void open_and_connect(struct fixture *f, uint32_t first, size_t n)
{
	for (size_t i = 0; i < n; i++)
		CHECK_EQ(proc_guest_open(&f->g, first + (uint32_t)i), 0);
	CHECK_EQ(proc_guest_wait_connected(&f->g, WAIT_MS), 0);
}

static void say(struct fixture *f, uint32_t conn, const char *text)
{
	CHECK_EQ(proc_guest_write(&f->g, conn, text, strlen(text)), 0);
}

static int conn_fd(struct fixture *f, uint32_t conn)
{
	uint32_t ids[MAX_CONNS];
	int fds[MAX_CONNS];
	size_t n = proc_guest_conns(&f->g, ids, fds, MAX_CONNS);

	for (size_t i = 0; i < n && i < MAX_CONNS; i++)
		if (ids[i] == conn)
			return fds[i];
	return -1;
}

static void test_connections(const char *echo)
{
	struct fixture f;
	uint32_t ids[MAX_CONNS];
	int fds[MAX_CONNS];

	start(&f, echo);
	open_and_connect(&f, 5, 3);
	CHECK_EQ(proc_guest_conns(&f.g, ids, fds, 2), 3);
	CHECK_EQ(proc_guest_conns(&f.g, ids, fds, MAX_CONNS), 3);
	for (uint32_t i = 0; i < 3; i++) {
		struct sockaddr_in sa;
		socklen_t len = sizeof(sa);

		CHECK_EQ(ids[i], 5 + i);        /* in the order opened */
		CHECK_EQ(getsockname(fds[i], (struct sockaddr *)&sa, &len), 0);
		CHECK_EQ(ntohs(sa.sin_port), proc_conn_port(5 + i));
		say(&f, 5 + i, "hello");
	}
	for (uint32_t i = 0; i < 3; i++) {
		CHECK_EQ(run(&f, 5 + i, 5, WAIT_MS), 5);
		CHECK(!memcmp(echoed(&f, 5 + i)->buf, "hello", 5));
	}
	finish(&f);
}

/* The program's backlog is one: while it is paused, two connects are
 * taken by the kernel and the others wait. */
static void test_connect_timeout(const char *echo)
{
	struct fixture f;

	start(&f, echo);
	CHECK_EQ(proc_guest_pause(&f.g, WAIT_MS), 0);
	for (uint32_t id = 1; id <= 4; id++)
		CHECK_EQ(proc_guest_open(&f.g, id), 0);
	CHECK_EQ(proc_guest_wait_connected(&f.g, 300), -ETIMEDOUT);
	CHECK_EQ(proc_guest_resume(&f.g), 0);
	/* The program makes a thread per connection it accepts, and accepts
	 * the next only once that thread is let go: the wait pumps. */
	CHECK_EQ(proc_guest_wait_connected(&f.g, WAIT_MS), 0);
	for (uint32_t id = 1; id <= 4; id++) {
		say(&f, id, "late");
		CHECK_EQ(run(&f, id, 4, WAIT_MS), 4);
	}
	finish(&f);
}

static void test_pause_resume(const char *echo)
{
	struct fixture f;
	struct proc_stop *ps;

	start(&f, echo);
	open_and_connect(&f, 1, 1);
	say(&f, 1, "one");
	CHECK_EQ(run(&f, 1, 3, WAIT_MS), 3);
	ps = proc_guest_tracer(&f.g);
	CHECK(ps->n >= 2);              /* the connection's thread followed */

	CHECK_EQ(proc_guest_pause(&f.g, WAIT_MS), 0);
	for (size_t i = 0; i < ps->n; i++)
		CHECK(ps->thread[i].stopped);
	say(&f, 1, "two");
	CHECK_EQ(run(&f, 1, 0, 300), 3);        /* paused: no answer */
	CHECK_EQ(proc_guest_resume(&f.g), 0);
	CHECK_EQ(run(&f, 1, 6, WAIT_MS), 6);
	CHECK(!memcmp(echoed(&f, 1)->buf, "onetwo", 6));

	/* Stopped while paused: killed and reaped all the same. */
	CHECK_EQ(proc_guest_pause(&f.g, WAIT_MS), 0);
	finish(&f);
	CHECK(!f.died);                 /* our stop is no death to report */
}

/* The program pid ends by itself (within WAIT_MS): its death reported,
 * nothing left of it, reaped. */
static void check_died(struct fixture *f, pid_t pid)
{
	uint64_t until = fixture_now_ms() + WAIT_MS;

	while (!f->died && fixture_now_ms() < until)
		CHECK(evloop_run_once(f->loop, 10) >= 0);
	CHECK(f->died);
	CHECK(!proc_guest_running(&f->g));
	CHECK(!proc_guest_tracer(&f->g));
	CHECK(kill(pid, 0) < 0 && errno == ESRCH);      /* reaped */
}

/* SIGTERM reaches the traced program (its handler exits 43). */
static void test_signal(const char *echo)
{
	struct fixture f;

	start(&f, echo);
	open_and_connect(&f, 1, 1);
	CHECK_EQ(kill(f.g.child.pid, SIGTERM), 0);
	check_died(&f, f.g.child.pid);
	CHECK(echoed(&f, 1)->len == 0);
	finish(&f);
}

/* A fault with no handler ends the program, and its death is reported:
 * traced, the PID 1 of a namespace would otherwise fault again and again
 * and never die (proc-stop.c, dies_of_fault). */
static void test_crash(const char *echo)
{
	struct fixture f;

	start(&f, echo);
	open_and_connect(&f, 1, 1);
	say(&f, 1, "!segv");
	check_died(&f, f.g.child.pid);
	finish(&f);
}

/* Waits, without the loop, until fd has something to read (or EOF). */
static void wait_readable(int fd, short what)
{
	struct pollfd p = { .fd = fd, .events = what };

	CHECK_EQ(poll(&p, 1, WAIT_MS), 1);
}

static void test_drain(const char *echo)
{
	struct fixture f;
	int fd;

	start(&f, echo);
	open_and_connect(&f, 1, 1);
	say(&f, 1, "warm");
	CHECK_EQ(run(&f, 1, 4, WAIT_MS), 4);
	fd = conn_fd(&f, 1);
	CHECK(fd >= 0);

	/* The echo sits in our socket; the loop has not read it. */
	say(&f, 1, "in flight");
	wait_readable(fd, POLLIN);
	CHECK_EQ(proc_guest_pause(&f.g, WAIT_MS), 0);
	CHECK_EQ(proc_guest_drain(&f.g), 9);
	CHECK(!memcmp(echoed(&f, 1)->buf, "warmin flight", 13));
	CHECK_EQ(proc_guest_drain(&f.g), 0);
	CHECK_EQ(proc_guest_resume(&f.g), 0);

	/* The program's close is drained too, after its last bytes. */
	say(&f, 1, "bye");
	CHECK_EQ(proc_guest_shutdown(&f.g, 1), 0);
	wait_readable(fd, POLLRDHUP);
	CHECK_EQ(proc_guest_pause(&f.g, WAIT_MS), 0);
	CHECK_EQ(proc_guest_drain(&f.g), 3);
	CHECK(echoed(&f, 1)->closed);
	CHECK_EQ(echoed(&f, 1)->len, 16);
	CHECK_EQ(proc_guest_conns(&f.g, NULL, NULL, 0), 0);
	CHECK_EQ(proc_guest_resume(&f.g), 0);
	finish(&f);
}

static uint64_t backlog(const struct fixture *f)
{
	return f->g.queued_end - f->g.written;
}

static void check_tail(struct fixture *f, uint32_t conn, uint64_t unconsumed,
		       const uint8_t *expect, size_t len)
{
	uint8_t *tail;
	size_t tail_len;

	CHECK_EQ(proc_guest_input_tail(&f->g, conn, unconsumed, &tail,
				       &tail_len), 0);
	CHECK_EQ(tail_len, len);
	CHECK(!memcmp(tail, expect, len));
	free(tail);
}

static void test_history(const char *echo)
{
	enum { CAP = 1000, SENT = 5000 };
	static uint8_t sent[SENT];
	struct fixture f;
	uint8_t *tail;
	size_t len;

	for (size_t i = 0; i < SENT; i++)
		sent[i] = (uint8_t)('a' + i % 26 + i / 26 % 2);
	start(&f, echo);
	f.g.history_cap = CAP;
	open_and_connect(&f, 1, 1);
	CHECK_EQ(proc_guest_write(&f.g, 1, sent, SENT), 0);

	/* The cap: CAP bytes written, the rest waits in the queue. */
	CHECK_EQ(run(&f, 1, CAP, WAIT_MS), CAP);
	CHECK_EQ(run(&f, 1, 0, 200), CAP);
	CHECK_EQ(backlog(&f), SENT - CAP);
	check_tail(&f, 1, 10, sent + CAP - 10, SENT - CAP + 10);
	CHECK_EQ(proc_guest_input_tail(&f.g, 1, CAP + 1, &tail, &len), -EPROTO);
	CHECK_EQ(proc_guest_input_tail(&f.g, 99, 0, &tail, &len), -ENOENT);

	/* Trimmed to 4: the cap lets CAP - 4 more go at once. */
	proc_guest_trim_history(&f.g, 1, 4);
	check_tail(&f, 1, CAP, sent + CAP - 4, SENT - CAP + 4);
	CHECK_EQ(proc_guest_input_tail(&f.g, 1, CAP + 1, &tail, &len), -EPROTO);
	/* A trim lets the queue go on, a cap's worth each time. */
	for (size_t want = CAP + CAP - 4; want < SENT; want += CAP) {
		CHECK_EQ(run(&f, 1, want, WAIT_MS), want);
		CHECK_EQ(run(&f, 1, 0, 50), want);
		proc_guest_trim_history(&f.g, 1, 0);
	}
	CHECK_EQ(run(&f, 1, SENT, WAIT_MS), SENT);
	CHECK(!memcmp(echoed(&f, 1)->buf, sent, SENT));
	CHECK_EQ(backlog(&f), 0);

	/* The secondary's reset: history and queue replaced, the queue
	 * written next. */
	CHECK_EQ(proc_guest_reset_input(&f.g, 99, NULL, 0, NULL, 0), -ENOENT);
	CHECK_EQ(proc_guest_reset_input(&f.g, 1, (const uint8_t *)"abc", 3,
					(const uint8_t *)"queued!", 7), 0);
	CHECK_EQ(run(&f, 1, SENT + 7, WAIT_MS), SENT + 7);
	CHECK(!memcmp(echoed(&f, 1)->buf + SENT, "queued!", 7));
	CHECK_EQ(backlog(&f), 0);
	check_tail(&f, 1, 10, (const uint8_t *)"abcqueued!", 10);
	CHECK_EQ(proc_guest_input_tail(&f.g, 1, 11, &tail, &len), -EPROTO);
	finish(&f);
}

/* An owner that never checkpoints keeps no history, and nothing waits. */
static void test_no_history(const char *echo)
{
	static uint8_t sent[3 * OUT_MAX / 4];
	struct fixture f;
	uint8_t *tail;
	size_t len;

	memset(sent, 'n', sizeof(sent));
	start(&f, echo);
	f.g.history_cap = 0;
	open_and_connect(&f, 1, 1);
	CHECK_EQ(proc_guest_write(&f.g, 1, sent, sizeof(sent)), 0);
	CHECK_EQ(run(&f, 1, sizeof(sent), WAIT_MS), sizeof(sent));
	CHECK_EQ(proc_guest_input_tail(&f.g, 1, 1, &tail, &len), -EPROTO);
	check_tail(&f, 1, 0, (const uint8_t *)"", 0);
	finish(&f);
}

int main(int argc, char **argv)
{
	CHECK_EQ(argc, 2);
	fixture_require_root();
	test_require_dirtylog();
	test_connections(argv[1]);
	test_connect_timeout(argv[1]);
	test_pause_resume(argv[1]);
	test_signal(argv[1]);
	test_crash(argv[1]);
	test_drain(argv[1]);
	test_history(argv[1]);
	test_no_history(argv[1]);
	return 0;
}
