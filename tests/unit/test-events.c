// SPDX-License-Identifier: MIT
/*
 * Events on the control socket: the JSON of each (exactly, with a fixed
 * time), that only subscribers get them and still get their replies, and
 * the bound: a subscriber that never reads is dropped, whether the events
 * pile up from the loop or from its own command's handler, while one that
 * reads keeps everything. A broadcast off the loop's thread is refused.
 */
#include "ctl-server.h"
#include "events.h"
#include "evloop.h"
#include "tap.h"

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct ctx {
	struct ctl_server *s;
};

/* Emits events to everyone, its own subscribed caller included, from
 * inside a handler (as a checkpoint's CHECKPOINT is). */
static int cmd_flood(void *opaque, struct json_object *args,
		     struct json_object **ret, struct ctl_error *err)
{
	struct ctx *x = opaque;

	(void)args;
	(void)ret;
	(void)err;
	for (int i = 0; i < 4096; i++)
		events_mismatch(x->s, (uint32_t)i, "output");
	return 0;
}

static int cmd_nothing(void *opaque, struct json_object *args,
		       struct json_object **ret, struct ctl_error *err)
{
	(void)opaque;
	(void)args;
	(void)ret;
	(void)err;
	return 0;
}

static const struct ctl_command cmds[] = {
	{ "flood", cmd_flood, NULL },
	{ "nothing", cmd_nothing, NULL },
	{ NULL, NULL, NULL },
};

static void check_json(struct json_object *o, const char *want)
{
	const char *got = json_object_to_json_string_ext(o,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

	if (strcmp(got, want)) {
		fprintf(stderr, "got  %s\nwant %s\n", got, want);
		CHECK(!"event JSON differs");
	}
	json_object_put(o);
}

/* The wording, QMP's envelope and QEMU's COLO_EXIT vocabulary. */
static void test_json(void)
{
	const struct timespec t = { .tv_sec = 1700000000, .tv_nsec = 123456789 };
	struct json_object *d = json_object_new_object();

	json_object_object_add(d, "mode", json_object_new_string("secondary"));
	json_object_object_add(d, "reason", json_object_new_string("error"));
	check_json(events_object(EVENT_COLO_EXIT, d, &t),
		   "{\"event\":\"COLO_EXIT\",\"data\":{\"mode\":\"secondary\","
		   "\"reason\":\"error\"},\"timestamp\":{\"seconds\":"
		   "1700000000,\"microseconds\":123456}}");
	check_json(events_object(EVENT_FENCED, NULL, &t),
		   "{\"event\":\"FENCED\",\"data\":{},\"timestamp\":{"
		   "\"seconds\":1700000000,\"microseconds\":123456}}");
}

static int connect_to(const char *path, int rcvbuf)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	if (rcvbuf)
		CHECK_EQ(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
				    sizeof(rcvbuf)), 0);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	CHECK_EQ(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void send_str(int fd, const char *s)
{
	CHECK_EQ(send(fd, s, strlen(s), MSG_NOSIGNAL), (long long)strlen(s));
}

/* Run the loop until fd has a whole line (false: EOF). */
static bool recv_line(struct evloop *l, int fd, char *line, size_t size)
{
	uint64_t end = evloop_now_ms() + 3000;
	size_t n = 0;

	while (evloop_now_ms() < end) {
		ssize_t r;
		size_t take;
		char *nl;

		CHECK(evloop_run_once(l, 5) >= 0);
		r = recv(fd, line + n, size - n - 1, MSG_DONTWAIT | MSG_PEEK);
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			return false;
		if (r < 0) {
			CHECK(errno == EAGAIN);
			continue;
		}
		nl = memchr(line + n, '\n', (size_t)r);
		take = nl ? (size_t)(nl - (line + n)) + 1 : (size_t)r;
		CHECK_EQ(recv(fd, line + n, take, 0), (long long)take);
		n += take;
		if (nl) {
			line[n - 1] = '\0';
			return true;
		}
	}
	CHECK(!"no line in time");
	return false;
}

static void expect(struct evloop *l, int fd, const char *want)
{
	char line[4096];

	CHECK(recv_line(l, fd, line, sizeof(line)));
	if (strncmp(line, want, strlen(want))) {
		fprintf(stderr, "got  %s\nwant %s...\n", line, want);
		CHECK(!"unexpected line");
	}
}

/* A few rounds of the loop: the server sees hang-ups, writes what it can. */
static void spin(struct evloop *l)
{
	for (int i = 0; i < 10; i++)
		CHECK(evloop_run_once(l, 2) >= 0);
}

static bool nothing_pending(struct evloop *l, int fd)
{
	char c;

	spin(l);
	return recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK) < 0 && errno == EAGAIN;
}

static int subscribe(struct evloop *l, const char *path, int rcvbuf)
{
	int fd = connect_to(path, rcvbuf);

	send_str(fd, "{\"execute\":\"subscribe\",\"id\":1}\n");
	expect(l, fd, "{\"return\":{},\"id\":1}");
	return fd;
}

/* Subscribers get events between their replies; others get none. */
static void test_delivery(struct evloop *l, struct ctx *x, const char *path)
{
	int plain = connect_to(path, 0), sub;

	CHECK_EQ(ctl_server_subscribers(x->s), 0);
	CHECK_EQ(events_emit(x->s, EVENT_FENCED, NULL), 0);
	sub = subscribe(l, path, 0);
	CHECK_EQ(ctl_server_subscribers(x->s), 1);
	events_checkpoint(x->s, "manual", 7, 2.5, 120, 491520);
	expect(l, sub, "{\"event\":\"CHECKPOINT\",\"data\":{\"reason\":"
	       "\"manual\",\"id\":7,\"pause_ms\":2.5,\"pages\":120,"
	       "\"bytes\":491520},\"timestamp\":{\"seconds\":");
	send_str(sub, "{\"execute\":\"nothing\"}\n");
	expect(l, sub, "{\"return\":{}}");
	events_colo_exit(x->s, EVENTS_MODE_PRIMARY, EVENTS_EXIT_REQUEST, "why");
	expect(l, sub, "{\"event\":\"COLO_EXIT\",\"data\":{\"mode\":"
	       "\"primary\",\"reason\":\"request\",\"why\":\"why\"}");
	/* Arguments to subscribe are refused like any command's. */
	send_str(plain, "{\"execute\":\"subscribe\",\"arguments\":{\"x\":1}}\n");
	expect(l, plain, "{\"error\":{\"class\":\"GenericError\"");
	CHECK(nothing_pending(l, plain));
	close(plain);
	close(sub);
	spin(l);
	CHECK_EQ(ctl_server_subscribers(x->s), 0);
}

/*
 * A subscriber that never reads, beside one that does: the stuck one is
 * dropped once its queue passes the bound; the daemon never blocks and
 * the reader loses nothing.
 */
static void test_stuck_subscriber(struct evloop *l, struct ctx *x,
				  const char *path)
{
	int stuck = subscribe(l, path, 4096), reader = subscribe(l, path, 0);
	char line[4096], pad[1024];
	size_t emitted = 0, got = 0;
	uint64_t t0 = evloop_now_ms();
	unsigned i;

	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	CHECK_EQ(ctl_server_subscribers(x->s), 2);
	for (i = 0; ctl_server_subscribers(x->s) == 2; i++) {
		CHECK(i < 100000);
		events_fenced(x->s, pad, (int)i);
		emitted += sizeof(pad);
		/* The reader keeps up. */
		while (got < i + 1) {
			CHECK(recv_line(l, reader, line, sizeof(line)));
			CHECK(strstr(line, "\"event\":\"FENCED\""));
			got++;
		}
	}
	/* Dropped past the bound, not long after: what the socket held
	 * plus the queue. */
	CHECK(emitted > CTL_EVENT_QUEUE_MAX);
	CHECK(emitted < CTL_EVENT_QUEUE_MAX + (4u << 20));
	CHECK_EQ(ctl_server_subscribers(x->s), 1);
	CHECK(evloop_now_ms() - t0 < 10000);
	/* The stuck one sees its events, then the end. */
	while (recv(stuck, line, sizeof(line), MSG_DONTWAIT) > 0)
		;
	CHECK(recv(stuck, line, sizeof(line), 0) == 0);
	close(stuck);
	events_failover_requested(x->s, "primary");
	expect(l, reader, "{\"event\":\"FAILOVER_REQUESTED\",\"data\":{"
	       "\"role\":\"primary\"}");
	close(reader);
	spin(l);
}

/* Events from its own handler overflow a subscriber that is not reading:
 * it is dropped as the handler returns (never freed under it). */
static void test_overflow_in_handler(struct evloop *l, struct ctx *x,
				     const char *path)
{
	int fd = subscribe(l, path, 4096);
	char buf[65536];
	ssize_t n;

	send_str(fd, "{\"execute\":\"flood\"}\n");
	for (int i = 0; i < 50; i++)
		CHECK(evloop_run_once(l, 2) >= 0);
	CHECK_EQ(ctl_server_subscribers(x->s), 0);
	do
		n = recv(fd, buf, sizeof(buf), 0);
	while (n > 0);
	CHECK_EQ(n, 0);
	close(fd);
	/* Still serving. */
	fd = subscribe(l, path, 0);
	close(fd);
}

static void *off_thread(void *opaque)
{
	struct ctx *x = opaque;

	return (void *)(intptr_t)ctl_server_broadcast(x->s, "{}", 2);
}

static void test_other_thread(struct evloop *l, struct ctx *x,
			      const char *path)
{
	int fd = subscribe(l, path, 0);
	pthread_t t;
	void *rc;

	CHECK_EQ(pthread_create(&t, NULL, off_thread, x), 0);
	CHECK_EQ(pthread_join(t, &rc), 0);
	CHECK_EQ((intptr_t)rc, -EPERM);
	CHECK(nothing_pending(l, fd));
	close(fd);
}

int main(void)
{
	char dir[] = "/tmp/colo-test-events-XXXXXX", path[256];
	struct ctx x = { 0 };
	struct evloop *l;

	test_json();
	CHECK(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ctl.sock", dir);
	l = evloop_new();
	CHECK(l);
	x.s = ctl_server_new(l, path, cmds, &x);
	CHECK(x.s);
	/* NULL server: nothing, no crash. */
	events_mismatch(NULL, 1, "output");
	CHECK_EQ(ctl_server_broadcast(NULL, "{}", 2), 0);

	test_delivery(l, &x, path);
	test_stuck_subscriber(l, &x, path);
	test_overflow_in_handler(l, &x, path);
	test_other_thread(l, &x, path);

	ctl_server_free(x.s);
	evloop_free(l);
	CHECK_EQ(rmdir(dir), 0);
	return 0;
}
