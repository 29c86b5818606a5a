// SPDX-License-Identifier: MIT
/*
 * The PVM unit against a fake guest: a child that only waits to be
 * killed, with the two channels as socketpairs whose far ends the test
 * holds (as test-svm does for the SVM).
 *
 *  - events reach the guest numbered in order, and ops.input hears of
 *    each with the same number;
 *  - the guest's output and closes go up through ops.output and ops.close;
 *  - a barrier returns only once the guest answered it, with the output
 *    the guest wrote before the answer already through ops.output; an
 *    idle callback that gives up ends it with the guest still running;
 *  - a hint the thread cannot take is answered with an error;
 *  - a guest whose channel closes is reported through ops.died, and
 *    events to it then fail.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chan.h"
#include "evloop.h"
#include "pvm.h"
#include "tap.h"

struct fake {
	struct evloop *loop;
	struct pvm v;
	int chan, hint;                 /* the guest's ends */
	struct chan_reader rd, hint_rd;
	uint64_t inputs, last_input_seq;
	uint32_t last_input_type;
	int outputs, closes, died;
	uint32_t last_conn;
	char last_data[16];
	/* the barrier's idle: answer as the guest, or give up */
	bool answer_barrier, give_up;
	int idles;
};

static void on_input(void *opaque, const struct chan_msg *ev)
{
	struct fake *f = opaque;

	f->inputs++;
	f->last_input_seq = ev->seq;
	f->last_input_type = ev->type;
}

static void on_output(void *opaque, uint32_t conn, const uint8_t *data,
		      size_t len)
{
	struct fake *f = opaque;

	f->outputs++;
	f->last_conn = conn;
	CHECK(len < sizeof(f->last_data));
	memcpy(f->last_data, data, len);
	f->last_data[len] = 0;
}

static void on_close(void *opaque, uint32_t conn)
{
	struct fake *f = opaque;

	f->closes++;
	f->last_conn = conn;
}

/* While the PVM waits in a barrier, the test is the guest: it reads the
 * barrier event and answers it, after some output. */
static int on_idle(void *opaque)
{
	struct fake *f = opaque;
	struct chan_msg m;

	f->idles++;
	if (f->give_up)
		return -ECANCELED;
	if (!f->answer_barrier)
		return 0;
	CHECK_EQ(chan_recv(&f->rd, &m), 0);
	CHECK_EQ(m.type, CHAN_EV_BARRIER);
	{
		struct chan_msg out = { .type = CHAN_OUTPUT, .conn = 5,
					.len = 4,
					.data = (const uint8_t *)"late" };
		struct chan_msg done = { .type = CHAN_BARRIER_DONE, .a = m.a };

		CHECK_EQ(chan_send(f->chan, &out), 0);
		CHECK_EQ(chan_send(f->chan, &done), 0);
	}
	f->answer_barrier = false;
	return 0;
}

static void on_died(void *opaque)
{
	((struct fake *)opaque)->died++;
}

static const struct pvm_ops ops = {
	.input = on_input, .output = on_output, .close = on_close,
	.idle = on_idle, .died = on_died,
};

static void setup(struct fake *f)
{
	struct guestproc gp = { 0 };
	int cv[2], hv[2];
	pid_t pid;

	memset(f, 0, sizeof(*f));
	f->loop = evloop_new();
	CHECK(f->loop);
	pvm_init(&f->v, f->loop, &ops, f);
	CHECK(!pvm_running(&f->v));
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cv) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, hv) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* Holds no end of the channels and dies with the test. */
		close(cv[0]);
		close(cv[1]);
		close(hv[0]);
		close(hv[1]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pause();
		_exit(0);
	}
	CHECK(fcntl(cv[0], F_SETFL, O_NONBLOCK) == 0);
	gp.pid = pid;
	gp.chan_fd = cv[0];
	gp.hint_fd = hv[0];
	CHECK(chan_reader_init(&gp.rd, cv[0]) == 0);
	CHECK(chan_writer_init(&gp.wr, cv[0]) == 0);
	CHECK(chan_reader_init(&gp.hint_rd, hv[0]) == 0);
	pvm_adopt(&f->v, &gp);
	CHECK_EQ(gp.pid, -1);
	/* No RAM: the hints this test sends never reach it. */
	CHECK_EQ(pvm_watch(&f->v, NULL), 0);
	CHECK(pvm_running(&f->v));
	f->chan = cv[1];
	f->hint = hv[1];
	CHECK(chan_reader_init(&f->rd, cv[1]) == 0);
	CHECK(chan_reader_init(&f->hint_rd, hv[1]) == 0);
}

static void teardown(struct fake *f)
{
	pvm_deinit(&f->v);
	CHECK(!pvm_running(&f->v));
	CHECK(!f->v.hint_thread_started);
	chan_reader_deinit(&f->rd);
	chan_reader_deinit(&f->hint_rd);
	if (f->chan >= 0)
		close(f->chan);
	close(f->hint);
	evloop_free(f->loop);
}

static void spin(struct fake *f, int turns)
{
	while (turns-- > 0)
		evloop_run_once(f->loop, 20);
}

static void test_events(void)
{
	struct fake f;
	struct chan_msg m;

	setup(&f);
	CHECK_EQ(pvm_send_event(&f.v, CHAN_EV_OPEN, 3, 0, NULL, 0), 0);
	CHECK_EQ(pvm_send_event(&f.v, CHAN_EV_DATA, 3, 0, "abc", 3), 0);
	CHECK_EQ(pvm_send_event(&f.v, CHAN_EV_TICK, 0, 1234, NULL, 0), 0);
	CHECK_EQ(f.inputs, 3);
	CHECK_EQ(f.last_input_seq, 3);
	CHECK_EQ(f.last_input_type, CHAN_EV_TICK);
	/* Queued; written together at the end of the loop round. */
	CHECK_EQ(pvm_input_read(&f.v), 0);
	spin(&f, 2);
	CHECK_EQ(chan_recv(&f.rd, &m), 0);
	CHECK_EQ(m.type, CHAN_EV_OPEN);
	CHECK_EQ(m.seq, 1);
	CHECK_EQ(chan_recv(&f.rd, &m), 0);
	CHECK_EQ(m.type, CHAN_EV_DATA);
	CHECK_EQ(m.seq, 2);
	CHECK_EQ(m.len, 3);
	CHECK(!memcmp(m.data, "abc", 3));
	CHECK_EQ(chan_recv(&f.rd, &m), 0);
	CHECK_EQ(m.type, CHAN_EV_TICK);
	CHECK_EQ(m.a, 1234);
	CHECK_EQ(m.seq, 3);
	CHECK_EQ(f.v.input_seq, 3);
	CHECK(pvm_input_queued_end(&f.v) == pvm_input_read(&f.v));
	CHECK(pvm_input_read(&f.v) > 3);
	teardown(&f);
}

static void test_output_and_close(void)
{
	struct fake f;
	struct chan_msg out = { .type = CHAN_OUTPUT, .conn = 9, .len = 2,
				.data = (const uint8_t *)"hi" };
	struct chan_msg close_msg = { .type = CHAN_CLOSE, .conn = 9 };

	setup(&f);
	CHECK_EQ(chan_send(f.chan, &out), 0);
	spin(&f, 3);
	CHECK_EQ(f.outputs, 1);
	CHECK_EQ(f.last_conn, 9);
	CHECK(!strcmp(f.last_data, "hi"));
	CHECK_EQ(f.closes, 0);
	CHECK_EQ(chan_send(f.chan, &close_msg), 0);
	spin(&f, 3);
	CHECK_EQ(f.closes, 1);
	CHECK_EQ(f.outputs, 1);
	CHECK_EQ(f.died, 0);
	teardown(&f);
}

static void test_barrier(void)
{
	struct fake f;

	setup(&f);
	f.answer_barrier = true;
	CHECK_EQ(pvm_barrier(&f.v, 5000, NULL, NULL), 0);
	CHECK(!f.answer_barrier);
	/* What the guest said before its answer is through already. */
	CHECK_EQ(f.outputs, 1);
	CHECK(!strcmp(f.last_data, "late"));
	CHECK_EQ(f.last_conn, 5);

	/* Called off: the guest stays. */
	f.give_up = true;
	CHECK_EQ(pvm_barrier(&f.v, 5000, NULL, NULL), -ECANCELED);
	CHECK(pvm_running(&f.v));
	CHECK_EQ(f.died, 0);
	teardown(&f);
}

static void test_hint_refused(void)
{
	struct fake f;
	struct chan_msg bogus = { .type = CHAN_OUTPUT, .conn = 1 };
	struct chan_msg ack;

	setup(&f);
	CHECK_EQ(chan_send(f.hint, &bogus), 0);
	CHECK_EQ(chan_recv(&f.hint_rd, &ack), 0);
	CHECK_EQ(ack.type, CHAN_HINT_ACK);
	CHECK_EQ((int64_t)ack.a, -EPROTO);
	teardown(&f);
}

static void test_died(void)
{
	struct fake f;

	setup(&f);
	close(f.chan);
	f.chan = -1;
	spin(&f, 3);
	CHECK_EQ(f.died, 1);
	CHECK(!pvm_running(&f.v));
	CHECK(!f.v.hint_thread_started);
	CHECK_EQ(pvm_send_event(&f.v, CHAN_EV_TICK, 0, 1, NULL, 0), -ECHILD);
	CHECK_EQ(pvm_barrier(&f.v, 5000, NULL, NULL), -ECHILD);
	CHECK_EQ(f.inputs, 0);
	teardown(&f);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_events();
	test_output_and_close();
	test_barrier();
	test_hint_refused();
	test_died();
	return 0;
}
