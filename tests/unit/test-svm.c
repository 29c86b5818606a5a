// SPDX-License-Identifier: MIT
/*
 * The SVM unit against a fake guest: a child that only waits to be
 * killed, with the two channels as socketpairs whose far ends the test
 * holds. Input events reach the guest in order and nothing out of order
 * does; the guest's output goes to svm_ops.output, its CLOSE ends a
 * connection in the bookkeeping a takeover hands on; a hint is acked, in
 * the loop and while a barrier waits; a guest that goes away is reported
 * through svm_ops.gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chan.h"
#include "evloop.h"
#include "log.h"
#include "svm.h"
#include "tap.h"

struct fake {
	struct evloop *loop;
	struct svm svm;
	int chan, hint;                 /* the guest's ends */
	struct chan_reader rd, hint_rd;
	int outputs;
	struct proto_output last;
	uint8_t last_data[16];
	int gone;
	char gone_why[64];
};

static void on_output(void *opaque, const struct proto_msg *m)
{
	struct fake *f = opaque;

	CHECK_EQ(m->type, PROTO_OUTPUT);
	f->outputs++;
	f->last = m->output;
	if (m->output.len <= sizeof(f->last_data))
		memcpy(f->last_data, m->output.data, m->output.len);
}

static void on_gone(void *opaque, const char *why)
{
	struct fake *f = opaque;

	f->gone++;
	snprintf(f->gone_why, sizeof(f->gone_why), "%s", why);
	svm_stop(&f->svm);
}

/* What svm_start leaves behind, without a real guest or RAM. */
static void setup(struct fake *f)
{
	const struct svm_ops ops = {
		.output = on_output, .gone = on_gone, .opaque = f,
	};
	struct guestproc *gp = &f->svm.proc;
	int cv[2], hv[2];
	pid_t pid;

	memset(f, 0, sizeof(*f));
	f->loop = evloop_new();
	CHECK(f->loop);
	svm_init(&f->svm, f->loop, "fake", NULL, &ops);
	CHECK(!svm_running(&f->svm));
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cv) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, hv) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* Holds no end of the channels (closing ours must read as
		 * EOF) and dies with the test, even one that failed. */
		close(cv[0]);
		close(cv[1]);
		close(hv[0]);
		close(hv[1]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pause();
		_exit(0);
	}
	CHECK(fcntl(cv[0], F_SETFL, O_NONBLOCK) == 0);
	gp->pid = pid;
	gp->chan_fd = cv[0];
	gp->hint_fd = hv[0];
	CHECK(chan_reader_init(&gp->rd, cv[0]) == 0);
	CHECK(chan_writer_init(&gp->wr, cv[0]) == 0);
	CHECK(chan_reader_init(&gp->hint_rd, hv[0]) == 0);
	CHECK_EQ(svm_watch(&f->svm), 0);
	CHECK(svm_running(&f->svm));
	f->chan = cv[1];
	f->hint = hv[1];
	CHECK(chan_reader_init(&f->rd, cv[1]) == 0);
	CHECK(chan_reader_init(&f->hint_rd, hv[1]) == 0);
}

static void teardown(struct fake *f)
{
	svm_deinit(&f->svm);
	CHECK(!svm_running(&f->svm));
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

static struct proto_input input(uint64_t seq, uint32_t kind, uint32_t conn)
{
	struct proto_input in = { .seq = seq, .kind = kind, .conn = conn };

	return in;
}

static void test_conns(void)
{
	struct fake f;
	const uint32_t pvm[] = { 1, 2 };

	setup(&f);
	svm_conns_add(&f.svm, 3);
	svm_conns_add(&f.svm, 7);
	svm_conns_add(&f.svm, 5);
	svm_conns_remove(&f.svm, 7);
	svm_conns_remove(&f.svm, 42);       /* unknown: nothing happens */
	CHECK_EQ(f.svm.nconns, 2);
	CHECK_EQ(f.svm.max_conn_id, 7);     /* ids are never reused */
	CHECK_EQ(svm_conns_replace(&f.svm, pvm, 2), 0);
	CHECK_EQ(f.svm.nconns, 2);
	CHECK_EQ(f.svm.conns[0], 1);
	CHECK_EQ(f.svm.conns[1], 2);
	CHECK_EQ(f.svm.max_conn_id, 7);
	svm_conns_clear(&f.svm);
	CHECK_EQ(f.svm.nconns, 0);
	CHECK_EQ(f.svm.max_conn_id, 0);
	teardown(&f);
}

static void test_feed(void)
{
	struct fake f;
	struct proto_input in;
	struct chan_msg m;

	setup(&f);
	in = input(1, PROTO_IN_OPEN, 4);
	CHECK_EQ(svm_feed(&f.svm, &in), 0);
	spin(&f, 1);
	CHECK_EQ(chan_recv(&f.rd, &m), 0);
	CHECK_EQ(m.type, CHAN_EV_OPEN);
	CHECK_EQ(m.conn, 4);
	CHECK_EQ(m.seq, 1);
	CHECK_EQ(f.svm.nconns, 1);
	/* A gap in the sequence: refused, and the guest sees nothing. */
	in = input(3, PROTO_IN_DATA, 4);
	CHECK_EQ(svm_feed(&f.svm, &in), -EPROTO);
	CHECK_EQ(f.svm.input_seq, 1);
	in = input(2, PROTO_IN_CLOSE, 4);
	CHECK_EQ(svm_feed(&f.svm, &in), 0);
	spin(&f, 1);
	CHECK_EQ(chan_recv(&f.rd, &m), 0);
	CHECK_EQ(m.type, CHAN_EV_CLOSE);
	CHECK_EQ(m.seq, 2);
	CHECK_EQ(f.svm.nconns, 0);
	CHECK_EQ(f.svm.input_seq, 2);
	teardown(&f);
}

static void test_output(void)
{
	struct fake f;
	struct chan_msg out = { .type = CHAN_OUTPUT, .conn = 9, .len = 2,
				.data = (const uint8_t *)"hi" };
	struct chan_msg close_msg = { .type = CHAN_CLOSE, .conn = 9 };

	setup(&f);
	svm_conns_add(&f.svm, 9);
	CHECK_EQ(chan_send(f.chan, &out), 0);
	spin(&f, 3);
	CHECK_EQ(f.outputs, 1);
	CHECK_EQ(f.last.conn, 9);
	CHECK_EQ(f.last.kind, PROTO_OUT_DATA);
	CHECK_EQ(f.last.len, 2);
	CHECK(!memcmp(f.last_data, "hi", 2));
	CHECK_EQ(f.svm.nconns, 1);
	/* The guest closes the connection: gone from the bookkeeping too. */
	CHECK_EQ(chan_send(f.chan, &close_msg), 0);
	spin(&f, 3);
	CHECK_EQ(f.outputs, 2);
	CHECK_EQ(f.last.kind, PROTO_OUT_CLOSE);
	CHECK_EQ(f.svm.nconns, 0);
	CHECK_EQ(f.gone, 0);
	teardown(&f);
}

static void test_hint(void)
{
	struct fake f;
	struct chan_msg hint = { .type = CHAN_HINT, .a = 0, .b = 0, .c = 1 };
	struct chan_msg ack;

	setup(&f);
	CHECK_EQ(chan_send(f.hint, &hint), 0);
	spin(&f, 3);
	CHECK_EQ(chan_recv(&f.hint_rd, &ack), 0);
	CHECK_EQ(ack.type, CHAN_HINT_ACK);
	CHECK_EQ(f.gone, 0);
	teardown(&f);
}

/*
 * A guest working towards a barrier may free memory on the way and then
 * waits for its hint's answer before it answers the barrier: the barrier's
 * wait answers hints, or the two wait for each other until the barrier
 * times out (the secondary's checkpoint then fails, and the pair with it).
 */
static void test_hint_during_barrier(void)
{
	struct fake f;
	uint64_t t0;
	pid_t pid;
	int st;

	setup(&f);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct chan_msg ev, ack;
		struct chan_msg hint = { .type = CHAN_HINT, .c = 4096 };
		struct chan_msg done = { .type = CHAN_BARRIER_DONE };

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (chan_recv(&f.rd, &ev) || ev.type != CHAN_EV_BARRIER)
			_exit(1);
		if (chan_send(f.hint, &hint) || chan_recv(&f.hint_rd, &ack) ||
		    ack.type != CHAN_HINT_ACK)
			_exit(2);
		done.a = ev.a;
		_exit(chan_send(f.chan, &done) ? 3 : 0);
	}
	t0 = evloop_now_ms();
	CHECK_EQ(svm_barrier(&f.svm), 0);
	CHECK(evloop_now_ms() - t0 < 5000);
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_EQ(f.gone, 0);
	teardown(&f);
}

static void test_gone(void)
{
	struct fake f;

	setup(&f);
	close(f.chan);
	f.chan = -1;
	spin(&f, 5);
	CHECK_EQ(f.gone, 1);
	CHECK(!strcmp(f.gone_why, "the SVM went away"));
	CHECK(!svm_running(&f.svm));
	teardown(&f);
}

/* A kept fenced SVM: moved out whole, the source left empty. */
static void test_move(void)
{
	struct fake f;
	struct svm kept;
	pid_t pid;

	setup(&f);
	pid = f.svm.proc.pid;
	svm_conns_add(&f.svm, 11);
	f.svm.input_seq = 77;
	svm_unwatch(&f.svm);
	svm_move(&kept, &f.svm);
	CHECK(!svm_running(&f.svm));
	CHECK_EQ(f.svm.nconns, 0);
	CHECK(f.svm.conns == NULL);
	CHECK_EQ(kept.proc.pid, pid);
	CHECK_EQ(kept.nconns, 1);
	CHECK_EQ(kept.input_seq, 77);
	svm_move(&f.svm, &kept);
	CHECK_EQ(svm_watch(&f.svm), 0);
	CHECK_EQ(f.svm.proc.pid, pid);
	CHECK_EQ(f.svm.conns[0], 11);
	teardown(&f);
}

int main(void)
{
	log_init("test-svm", LOG_LVL_ERROR);
	test_conns();
	test_feed();
	test_output();
	test_hint();
	test_hint_during_barrier();
	test_gone();
	test_move();
	printf("svm: all checks passed\n");
	return 0;
}
