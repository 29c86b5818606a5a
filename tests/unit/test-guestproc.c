/* SPDX-License-Identifier: MIT */
/*
 * guestproc_barrier's deadline: a guest that keeps answering its backlog
 * is slow, not stuck, and is waited for; a silent guest times out after
 * timeout_ms; a guest that never stops talking times out at the cap. The
 * test plays the guest on the other end of a socketpair, from the
 * barrier's idle hook (which runs every GUESTPROC_IDLE_MS).
 */
#include <errno.h>
#include <sys/socket.h>

#include "evloop.h"
#include "guestproc.h"
#include "log.h"
#include "tap.h"

#define TIMEOUT_MS 300

struct fake_guest {
	int fd;                 /* the guest's end */
	int outputs_left;       /* output messages before it answers; <0: never */
	bool silent;            /* sends nothing, answers nothing */
	uint64_t outputs_seen;  /* by the daemon's on_msg */
};

static int guest_idle(void *opaque)
{
	struct fake_guest *g = opaque;
	struct chan_msg out = { .type = CHAN_OUTPUT, .conn = 1, .len = 1,
				.data = (const uint8_t *)"x" };
	struct chan_msg done = { .type = CHAN_BARRIER_DONE, .a = 1 };

	if (g->silent)
		return 0;
	if (g->outputs_left != 0) {
		if (g->outputs_left > 0)
			g->outputs_left--;
		CHECK_EQ(chan_send(g->fd, &out), 0);
		return 0;
	}
	CHECK_EQ(chan_send(g->fd, &done), 0);
	return 0;
}

static int daemon_on_msg(void *opaque, const struct chan_msg *m)
{
	struct fake_guest *g = opaque;

	CHECK_EQ(m->type, CHAN_OUTPUT);
	g->outputs_seen++;
	return 0;
}

/* Runs one barrier against g; returns its result and the time it took. */
static int barrier(struct fake_guest *g, uint64_t *took_ms)
{
	const struct guestproc_wait_ops ops = {
		.on_msg = daemon_on_msg, .idle = guest_idle, .opaque = g,
	};
	struct guestproc gp = { .pid = getpid(), .hint_fd = -1 };
	int sv[2];
	uint64_t t0;
	int ret;

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	gp.chan_fd = sv[0];
	g->fd = sv[1];
	CHECK_EQ(fcntl(sv[1], F_SETFL, 0), 0);   /* the guest writes blocking */
	CHECK_EQ(chan_reader_init(&gp.rd, sv[0]), 0);
	CHECK_EQ(chan_writer_init(&gp.wr, sv[0]), 0);
	t0 = evloop_now_ms();
	ret = guestproc_barrier(&gp, 1, TIMEOUT_MS, &ops);
	*took_ms = evloop_now_ms() - t0;
	chan_reader_deinit(&gp.rd);
	chan_writer_deinit(&gp.wr);
	close(sv[0]);
	close(sv[1]);
	return ret;
}

/* Output for twice the timeout, then the answer: waited for. */
static void test_busy_guest_waited_for(void)
{
	struct fake_guest g = {
		.outputs_left = 2 * TIMEOUT_MS / GUESTPROC_IDLE_MS,
	};
	uint64_t took;

	CHECK_EQ(barrier(&g, &took), 0);
	CHECK(took >= TIMEOUT_MS);
	CHECK(g.outputs_seen > 0);
	printf("ok: a guest answering its backlog for %llu ms was waited for\n",
	       (unsigned long long)took);
}

static void test_silent_guest_times_out(void)
{
	struct fake_guest g = { .silent = true };
	uint64_t took;

	CHECK_EQ(barrier(&g, &took), -ETIMEDOUT);
	CHECK(took >= TIMEOUT_MS && took < 2 * TIMEOUT_MS);
	printf("ok: a silent guest timed out after %llu ms\n",
	       (unsigned long long)took);
}

static void test_endless_guest_capped(void)
{
	struct fake_guest g = { .outputs_left = -1 };
	uint64_t took, cap = (uint64_t)TIMEOUT_MS * GUESTPROC_BARRIER_CAP;

	CHECK_EQ(barrier(&g, &took), -ETIMEDOUT);
	CHECK(took >= cap && took < cap + TIMEOUT_MS);
	printf("ok: a guest that never stops talking gave up at %llu ms "
	       "(cap %llu)\n", (unsigned long long)took,
	       (unsigned long long)cap);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	log_init("test-guestproc", LOG_LVL_WARN);
	test_busy_guest_waited_for();
	test_silent_guest_times_out();
	test_endless_guest_capped();
	return 0;
}
