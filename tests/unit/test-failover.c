// SPDX-License-Identifier: MIT
/*
 * Failover with the secondary's units wired as the daemon wires them, a
 * fake primary on a socketpair and a fake SVM (a child that only waits to
 * be killed): a primary lost with an SVM running means a takeover; with a
 * fence command that fails, the SVM stays fenced and nothing serves; the
 * operator's failover skips the fence; a lost primary without an SVM is
 * only a reset; a fenced SVM kept during a sync comes back when it fails
 * and goes once dropped or discarded. A subscriber of the control socket
 * hears FENCED and COLO_EXIT as they happen.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl-server.h"
#include "log.h"
#include "secondary-fixture.h"
#include "xport.h"

#define RAM_BYTES (1u << 20)

static pid_t fake_svm(struct sec_fixture *f)
{
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pause();
		_exit(0);
	}
	f->svm.proc.pid = pid;
	return pid;
}

static bool alive(pid_t pid)
{
	return waitpid(pid, NULL, WNOHANG) == 0;
}

/* A primary connected on a socketpair; returns its end's fd. */
static int connect_primary(struct sec_fixture *f)
{
	struct xport *x;
	int sv[2];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	x = xport_tcp_new(sv[0]);
	CHECK(x);
	CHECK_EQ(sec_link_adopt(&f->link, x), 0);
	return sv[1];
}

static void spin(struct sec_fixture *f, unsigned ms)
{
	uint64_t end = evloop_now_ms() + ms;

	while (!f->ended && evloop_now_ms() < end) {
		evloop_run_once(f->loop, 10);
		sec_link_tick(&f->link);
	}
}

static void test_lost_link_takes_over(void)
{
	struct sec_fixture f;
	int peer;

	fx_init(&f, 50, 5000, NULL);
	fake_svm(&f);                       /* first: it holds no socket */
	peer = connect_primary(&f);
	CHECK_EQ(f.in.state, IN_HELLO);
	f.in.state = IN_COLO;
	close(peer);                        /* the primary is gone */
	spin(&f, 2000);
	CHECK_EQ(f.ended, 1);
	CHECK(f.ended_lost);
	CHECK(failover_taking_over(&f.fo));
	CHECK(f.fo.lost_ms != 0);
	CHECK(!sec_link_connected(&f.link));
	CHECK(svm_running(&f.svm));         /* the SVM serves from here */
	CHECK(strstr(f.err.text, "lost: connection closed"));
	fx_deinit(&f);
}

/* The silent primary: the same, once the timeout has passed. (The
 * timeout is 10x the first spin: a loaded CI machine stalled this test for
 * over 300 ms between the connection and the first check.) */
static void test_silent_primary_takes_over(void)
{
	struct sec_fixture f;
	int peer;

	fx_init(&f, 50, 1000, NULL);
	fake_svm(&f);
	peer = connect_primary(&f);
	f.in.state = IN_COLO;
	spin(&f, 100);
	CHECK(!failover_taking_over(&f.fo));
	spin(&f, 5000);
	CHECK(failover_taking_over(&f.fo));
	CHECK(strstr(f.err.text, "no message for"));
	close(peer);
	fx_deinit(&f);
}

/* The next line the subscriber gets, the loop run meanwhile. */
static void event_line(struct sec_fixture *f, int fd, char *line, size_t size)
{
	uint64_t end = evloop_now_ms() + 3000;
	size_t n = 0;

	while (evloop_now_ms() < end) {
		ssize_t r;

		evloop_run_once(f->loop, 5);
		r = recv(fd, line + n, 1, MSG_DONTWAIT);
		if (r < 0)
			continue;
		CHECK(r == 1);
		if (line[n] == '\n') {
			line[n] = '\0';
			return;
		}
		CHECK(++n < size - 1);
	}
	CHECK(!"no event line in time");
}

/* A control server on the fixture's loop, and a client subscribed to it. */
static int subscribed(struct sec_fixture *f, struct ctl_server **s,
		      char *path)
{
	static const struct ctl_command none[] = { { NULL, NULL, NULL } };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char line[256];
	int fd;

	*s = ctl_server_new(f->loop, path, none, NULL);
	CHECK(*s);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	CHECK_EQ(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK(send(fd, "{\"execute\":\"subscribe\"}\n", 24, 0) == 24);
	event_line(f, fd, line, sizeof(line));
	CHECK(!strcmp(line, "{\"return\":{}}"));
	f->fo.events = *s;
	return fd;
}

static void test_fence_fails(void)
{
	char dir[] = "/tmp/colo-test-failover-XXXXXX", path[128], line[512];
	struct ctl_server *s;
	struct sec_fixture f;
	pid_t pid;
	int ev;

	CHECK(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ctl.sock", dir);
	fx_init(&f, 50, 5000, "exit 3");
	ev = subscribed(&f, &s, path);
	pid = fake_svm(&f);
	f.in.state = IN_COLO;
	failover_primary_lost(&f.fo, "test", false);
	CHECK(!failover_taking_over(&f.fo));
	CHECK_EQ(f.in.state, IN_FENCED);
	CHECK(strstr(f.err.text, "fence failed with status 3: not serving"));
	CHECK(alive(pid));                  /* kept, not served */
	event_line(&f, ev, line, sizeof(line));
	CHECK(strstr(line, "{\"event\":\"FENCED\",\"data\":{\"why\":\"test\","
			   "\"fence_status\":3}"));
	/* The operator decides: forced, the fence is skipped. */
	failover_primary_lost(&f.fo, "failover forced by the operator", true);
	CHECK(failover_taking_over(&f.fo));
	event_line(&f, ev, line, sizeof(line));
	CHECK(strstr(line, "{\"event\":\"COLO_EXIT\",\"data\":{\"mode\":"
			   "\"secondary\",\"reason\":\"request\""));
	close(ev);
	ctl_server_free(s);
	fx_deinit(&f);
	CHECK_EQ(rmdir(dir), 0);
}

static void test_fence_succeeds(void)
{
	struct sec_fixture f;

	fx_init(&f, 50, 5000, "exit 0");
	fake_svm(&f);
	f.in.state = IN_CKPT;
	failover_primary_lost(&f.fo, "test", false);
	CHECK(failover_taking_over(&f.fo));
	fx_deinit(&f);
}

/* A stop request does not wait for the fence: fenced, not serving. */
static void test_stop_during_fence(void)
{
	struct sec_fixture f;
	uint64_t t0;

	fx_init(&f, 50, 5000, "sleep 20");
	fake_svm(&f);
	f.in.state = IN_COLO;
	f.stop = true;
	t0 = evloop_now_ms();
	failover_primary_lost(&f.fo, "test", false);
	CHECK(evloop_now_ms() - t0 < 5000);
	CHECK(!failover_taking_over(&f.fo));
	CHECK_EQ(f.in.state, IN_FENCED);
	CHECK(strstr(f.err.text, "status -2"));
	fx_deinit(&f);
}

/* Before the SVM runs there is nothing to serve: a reset, no takeover. */
static void test_no_svm_no_takeover(void)
{
	struct sec_fixture f;
	int peer;

	fx_init(&f, 50, 5000, NULL);
	peer = connect_primary(&f);
	f.in.state = IN_SYNC;
	failover_primary_lost(&f.fo, "test", false);
	CHECK(!failover_taking_over(&f.fo));
	CHECK_EQ(f.in.state, IN_WAITING);
	CHECK(!sec_link_connected(&f.link));
	close(peer);
	fx_deinit(&f);
}

static void fenced_with_ram(struct sec_fixture *f)
{
	CHECK(ram_layout_create(&f->in.ram, RAM_BYTES) == 0);
	CHECK(ramcache_init(&f->in.cache, &f->in.ram) == 0);
	f->in.have_ram = true;
	f->in.state = IN_FENCED;
	f->in.gen.pair_id = 0xfeed;
	f->in.gen.generation = 3;
	f->in.have_tunables = true;
}

/* I8: the fenced SVM steps aside for a sync, comes back when it fails. */
static void test_kept_fenced(void)
{
	struct sec_fixture f;
	pid_t pid;

	fx_init(&f, 50, 5000, NULL);
	pid = fake_svm(&f);
	fenced_with_ram(&f);
	svm_conns_add(&f.svm, 8);
	failover_keep_fenced(&f.fo);
	CHECK(f.fo.kept.have);
	CHECK(!svm_running(&f.svm));
	CHECK(!f.in.have_ram);
	CHECK_EQ(f.svm.nconns, 0);
	CHECK(alive(pid));
	/* The sync fails: the reset brings the fenced SVM back. */
	incoming_reset(&f.in, "sync failed");
	CHECK(!f.fo.kept.have);
	CHECK_EQ(f.in.state, IN_FENCED);
	CHECK_EQ(f.svm.proc.pid, pid);
	CHECK_EQ(f.svm.nconns, 1);
	CHECK(f.in.have_ram);
	CHECK_EQ(f.in.gen.generation, 3);
	/* Kept again, then superseded: gone for good. */
	failover_keep_fenced(&f.fo);
	failover_drop_kept(&f.fo);
	CHECK(!f.fo.kept.have);
	CHECK_EQ(waitpid(pid, NULL, WNOHANG), -1);   /* killed and reaped */
	incoming_reset(&f.in, "test");
	CHECK_EQ(f.in.state, IN_WAITING);
	fx_deinit(&f);
}

static void test_discard(void)
{
	struct sec_fixture f;
	pid_t pid;

	fx_init(&f, 50, 5000, NULL);
	CHECK_EQ(failover_discard_fenced(&f.fo), -ENOENT);
	pid = fake_svm(&f);
	fenced_with_ram(&f);
	CHECK_EQ(failover_discard_fenced(&f.fo), 0);
	CHECK_EQ(f.in.state, IN_WAITING);
	CHECK_EQ(f.in.gen.pair_id, 0);
	CHECK(!svm_running(&f.svm));
	CHECK_EQ(waitpid(pid, NULL, WNOHANG), -1);
	CHECK_EQ(failover_discard_fenced(&f.fo), -ENOENT);
	fx_deinit(&f);
}

int main(void)
{
	log_init("test-failover", LOG_LVL_ERROR);
	test_lost_link_takes_over();
	test_silent_primary_takes_over();
	test_fence_fails();
	test_fence_succeeds();
	test_stop_during_fence();
	test_no_svm_no_takeover();
	test_kept_fenced();
	test_discard();
	printf("failover: all checks passed\n");
	return 0;
}
