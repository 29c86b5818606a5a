// SPDX-License-Identifier: MIT
/*
 * proc-image on Debian's redis-server with clients: two twins launched
 * with the shim (proc_launch), the test as their daemon, every client
 * connected to both in the same order from the same local port
 * (proc_connect_from). Each round, before B is made A:
 *   idle      connected to both, asked nothing since (no action)
 *   answered  a request sent to both, read and answered by A only (B was
 *             stopped): B must not answer it again
 *   pending   a request sent to both while both were stopped: neither read
 *             it, so B must answer it exactly once, as A does
 *   closed    hung up on A only: B's fd is closed (epoll DEL, close)
 *   late      connected while B was stopped: pending in B's listening
 *             socket, accepted there into A's fd number (accept4, dup3,
 *             epoll ADD)
 * Keys are loaded into A, others into B; both stopped, A captured, the
 * image applied to B, both resumed. Then each client gets from B the
 * answer A gives, DBSIZE and GETs match A's. Several rounds in one run.
 *
 * With --wire the image applied is the one that crossed proc-image-wire:
 * each connection's input filled as a daemon would (the last unconsumed
 * bytes of its history), encoded, decoded, and the decoded connections
 * checked against the captured ones.
 *
 * Usage: test-proc-image-redis COLO-SHIM.SO [--wire]; skipped (77)
 * without redis-server.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "count-sockets.h"
#include "log.h"
#include "proc-fixture.h"
#include "proc-image-wire.h"
#include "proc-image.h"
#include "proc-stop.h"

#define REDIS "/usr/bin/redis-server"
#define REDIS_PORT 6379
#define ROUNDS 3
#define REPLY_MS 10000
#define HISTORY_MAX 4096

enum client { IDLE, ANSWERED, PENDING, CLOSED, LATE, NCLIENTS };

struct twin {
	const char *name;
	struct proc_child c;
	struct proc_stop ps;
	int fd[NCLIENTS];               /* the daemon's ends; -1: none */
};

/* What the daemon sent on one connection: the same to both twins. */
struct history {
	uint8_t bytes[HISTORY_MAX];
	size_t len;
};

static struct history hist[NCLIENTS];

static void pump(struct twin *t)
{
	if (t->ps.thread)
		CHECK(proc_stop_pump(&t->ps) >= 0);
}

/* Until t holds n sockets (it accepted or closed what it was meant to). */
static void wait_sockets(struct twin *t, int n, const char *why)
{
	uint64_t deadline = fixture_now_ms() + REPLY_MS;

	while (count_sockets(t->c.pid) != n) {
		if (fixture_now_ms() >= deadline) {
			fprintf(stderr, "%s: %s holds %d sockets, not %d\n", why,
				t->name, count_sockets(t->c.pid), n);
			exit(1);
		}
		pump(t);
		usleep(1000);
	}
}

static bool readable(struct twin *t, int fd, int ms)
{
	uint64_t deadline = fixture_now_ms() + (uint64_t)ms;

	do {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		pump(t);
		if (poll(&p, 1, 5) > 0)
			return true;
	} while (fixture_now_ms() < deadline);
	return false;
}

static void read_line(struct twin *t, int fd, char *buf, size_t cap)
{
	size_t n = 0;

	for (;;) {
		CHECK(readable(t, fd, REPLY_MS));
		CHECK(read(fd, buf + n, 1) == 1);
		if (n > 0 && buf[n - 1] == '\r' && buf[n] == '\n')
			break;
		CHECK(++n < cap - 1);
	}
	buf[n - 1] = '\0';
}

/* One reply, as text: "+OK", ":12", "$value", "$nil". */
static void read_reply(struct twin *t, int fd, char *out, size_t cap)
{
	char line[512];

	read_line(t, fd, line, sizeof(line));
	if (line[0] != '$') {
		CHECK(strlen(line) < cap);
		memcpy(out, line, strlen(line) + 1);
		return;
	}
	if (atol(line + 1) < 0) {
		snprintf(out, cap, "$nil");
		return;
	}
	out[0] = '$';
	read_line(t, fd, out + 1, cap - 1);
}

static void send_text(int fd, const char *text)
{
	CHECK_EQ(write(fd, text, strlen(text)), (long long)strlen(text));
}

/* Sends cmd on client k to both twins (that have it), as a daemon does. */
static void send_both(struct twin *a, struct twin *b, enum client k,
		      const char *cmd)
{
	size_t len = strlen(cmd);

	CHECK(hist[k].len + len <= HISTORY_MAX);
	memcpy(hist[k].bytes + hist[k].len, cmd, len);
	hist[k].len += len;
	send_text(a->fd[k], cmd);
	send_text(b->fd[k], cmd);
}

static void launch(struct twin *t, const char *name, const char *shim)
{
	static const char *args[] = { "--port", "6379", "--save", "",
				      "--appendonly", "no", "--loglevel",
				      "warning", NULL };
	struct proc_launch_spec spec = { REDIS, args, shim };
	char reply[64];
	int fd, fds;

	t->name = name;
	t->ps = (struct proc_stop){ 0 };
	fixture_launch(&spec, &t->c);
	fd = fixture_connect(t->c.pid, REDIS_PORT);
	fixture_ask(fd, "PING\r\n", reply, sizeof(reply), 1);
	CHECK(!strcmp(reply, "+PONG\r\n"));
	/* Every round counts the sockets it adds: this one must be gone. */
	fds = count_sockets(t->c.pid);
	close(fd);
	wait_sockets(t, fds - 1, "after the first PING");
	for (int k = 0; k < NCLIENTS; k++)
		t->fd[k] = -1;
}

/* The daemon's local port of client k in this round: never reused. */
static uint16_t port_of(int round, int k)
{
	return proc_conn_port((uint64_t)(round * 16 + k));
}

static int connect_client(struct twin *t, uint16_t local_port)
{
	int fd = proc_connect_from(t->c.pid, REDIS_PORT, local_port);

	CHECK(fd >= 0);
	return fd;
}

static void value_of(int seed, int i, char *out, size_t cap)
{
	snprintf(out, cap, "v%d-%d-%x", seed, i, (unsigned)(i * 2654435761u));
}

/* SETs keys [0, n) with seed's values on a connection of its own. */
static void load(struct twin *t, uint16_t port, int seed, int n)
{
	int fds = count_sockets(t->c.pid), fd = connect_client(t, port);
	char cmd[128], value[64], reply[64];

	for (int i = 0; i < n; i++) {
		value_of(seed, i, value, sizeof(value));
		snprintf(cmd, sizeof(cmd), "SET key:%d %s\r\n", i, value);
		send_text(fd, cmd);
		if (i % 100 == 99 || i == n - 1)
			for (int k = i - i % 100; k <= i; k++) {
				read_reply(t, fd, reply, sizeof(reply));
				CHECK(!strcmp(reply, "+OK"));
			}
	}
	close(fd);
	wait_sockets(t, fds, "after loading");
}

static void stop(struct twin *t)
{
	CHECK_EQ(proc_stop_interrupt(&t->ps, 5000), 0);
	proc_stop_sort(&t->ps);
}

static bool use_wire;

/* Each connection's input, as a daemon fills it from its history. */
static void fill_input(struct proc_image *img, const struct twin *a)
{
	for (size_t i = 0; i < img->n_conns; i++) {
		struct proc_image_conn *c = &img->conns[i];
		int k = 0;

		while (k < NCLIENTS && (a->fd[k] < 0 ||
		       proc_image_local_port(a->fd[k]) != c->daemon_port))
			k++;
		CHECK(k < NCLIENTS && c->unconsumed <= hist[k].len);
		if (!c->unconsumed)
			continue;
		c->input_len = (size_t)c->unconsumed;
		c->input = malloc(c->input_len);
		CHECK(c->input);
		memcpy(c->input, hist[k].bytes + hist[k].len - c->input_len,
		       c->input_len);
	}
}

/* img replaced by what decoding its encoding gives; conns compared. */
static void through_wire(struct proc_image *img)
{
	struct proc_image back;
	uint8_t *buf;
	size_t len;
	char why[160];

	CHECK_EQ(proc_image_encode(img, &buf, &len), 0);
	if (proc_image_decode(buf, len, &back, why, sizeof(why))) {
		fprintf(stderr, "decoding the image: %s\n", why);
		exit(1);
	}
	CHECK_EQ(back.n_conns, img->n_conns);
	for (size_t i = 0; i < back.n_conns; i++) {
		const struct proc_image_conn *x = &img->conns[i];
		const struct proc_image_conn *y = &back.conns[i];

		CHECK(x->fd == y->fd && x->daemon_port == y->daemon_port &&
		      x->unconsumed == y->unconsumed &&
		      x->input_len == y->input_len &&
		      (!x->input_len ||
		       !memcmp(x->input, y->input, x->input_len)));
	}
	free(buf);
	proc_image_free(img);
	*img = back;
}

static void make_b_a(struct twin *a, struct twin *b)
{
	struct proc_image_link links[NCLIENTS];
	int daemon[NCLIENTS];
	struct proc_image img;
	size_t n = 0;

	for (int k = 0; k < NCLIENTS; k++) {
		if (a->fd[k] < 0)
			continue;
		daemon[n] = a->fd[k];
		links[n] = (struct proc_image_link){ b->fd[k], hist[k].bytes,
						     hist[k].len };
		n++;
	}
	CHECK_EQ(proc_image_capture(&a->ps, a->c.pidfd, daemon, n, &img), 0);
	CHECK_EQ(img.n_conns, n);
	for (size_t i = 0; i < img.n_conns; i++)
		CHECK_EQ(img.conns[i].unconsumed,
			 img.conns[i].daemon_port == proc_image_local_port(
				 a->fd[PENDING]) ? strlen("INCR counter\r\n")
						 : 0);
	if (use_wire) {
		fill_input(&img, a);
		through_wire(&img);
	}
	CHECK_EQ(proc_image_apply(&img, &b->ps, b->c.pidfd, links, n), 0);
	proc_image_free(&img);
}

/* Both twins answer cmd on client k alike; the answer in out. */
static void ask_both(struct twin *a, struct twin *b, enum client k,
		     const char *cmd, char *out, size_t cap)
{
	char other[256];

	send_both(a, b, k, cmd);
	read_reply(a, a->fd[k], out, cap);
	read_reply(b, b->fd[k], other, sizeof(other));
	if (strcmp(out, other)) {
		fprintf(stderr, "client %d, %s: A answered %s, B %s\n", k,
			cmd, out, other);
		exit(1);
	}
}

/* Nothing more to read on fd: no reply given twice. */
static void nothing_more(struct twin *t, int fd, const char *what)
{
	if (readable(t, fd, 100)) {
		char buf[256];
		ssize_t n = read(fd, buf, sizeof(buf) - 1);

		buf[n > 0 ? n : 0] = '\0';
		fprintf(stderr, "%s: %s sent more: %s\n", what, t->name, buf);
		exit(1);
	}
}

static void check_round(struct twin *a, struct twin *b, int round, int nkeys)
{
	char got[256], want[256], cmd[64];
	uint64_t rnd = 0x9e3779b97f4a7c15ULL + (uint64_t)round;

	/* pending: one answer each, the same, and no second one. */
	read_reply(a, a->fd[PENDING], want, sizeof(want));
	read_reply(b, b->fd[PENDING], got, sizeof(got));
	snprintf(cmd, sizeof(cmd), ":%d", round + 1);
	CHECK(!strcmp(want, cmd));
	CHECK(!strcmp(got, want));
	/* answered: B does not answer it again; its next reply is PONG. */
	nothing_more(b, b->fd[ANSWERED], "answered");
	ask_both(a, b, ANSWERED, "PING\r\n", got, sizeof(got));
	CHECK(!strcmp(got, "+PONG"));
	nothing_more(b, b->fd[PENDING], "pending");
	/* late: accepted into the same fd, it answers. */
	ask_both(a, b, LATE, "GET counter\r\n", got, sizeof(got));
	snprintf(want, sizeof(want), "$%d", round + 1);
	CHECK(!strcmp(got, want));
	/* closed: B closed its end, as A did. */
	CHECK(readable(b, b->fd[CLOSED], REPLY_MS));
	CHECK_EQ(read(b->fd[CLOSED], got, sizeof(got)), 0);
	/* idle: the data is A's. */
	ask_both(a, b, IDLE, "DBSIZE\r\n", got, sizeof(got));
	snprintf(want, sizeof(want), ":%d", nkeys + 1);   /* and counter */
	CHECK(!strcmp(got, want));
	for (int i = 0; i < 100; i++) {
		int k = (int)(test_rand(&rnd) % (uint64_t)nkeys);

		snprintf(cmd, sizeof(cmd), "GET key:%d\r\n", k);
		ask_both(a, b, IDLE, cmd, got, sizeof(got));
		value_of(round, k, want + 1, sizeof(want) - 1);
		want[0] = '$';
		CHECK(!strcmp(got, want));
	}
}

/* Every client of the round hung up on both, and waited for. */
static void hang_up_all(struct twin *t, int fds_without)
{
	for (int k = 0; k < NCLIENTS; k++)
		if (t->fd[k] >= 0) {
			close(t->fd[k]);
			t->fd[k] = -1;
		}
	wait_sockets(t, fds_without, "after hanging up");
}

static void round_of(struct twin *a, struct twin *b, int round, int nkeys)
{
	int fa = count_sockets(a->c.pid), fb = count_sockets(b->c.pid);
	char reply[256];

	memset(hist, 0, sizeof(hist));
	load(a, port_of(round, 10), round, nkeys);
	load(b, port_of(round, 11), 100 + round, 50 + round * 100);

	for (int k = IDLE; k <= CLOSED; k++) {
		a->fd[k] = connect_client(a, port_of(round, k));
		wait_sockets(a, fa + k + 1, "a client connected");
		b->fd[k] = connect_client(b, port_of(round, k));
		wait_sockets(b, fb + k + 1, "a client connected");
	}
	/* closed: A sees the hang-up and closes its fd; B still has it. */
	close(a->fd[CLOSED]);
	a->fd[CLOSED] = -1;
	wait_sockets(a, fa + CLOSED, "closed on A");

	stop(b);
	a->fd[LATE] = connect_client(a, port_of(round, LATE));
	b->fd[LATE] = connect_client(b, port_of(round, LATE));
	send_both(a, b, LATE, "PING\r\n");      /* B's waits in its backlog */
	read_reply(a, a->fd[LATE], reply, sizeof(reply));
	CHECK(!strcmp(reply, "+PONG"));

	send_both(a, b, ANSWERED, "GET key:1\r\n");
	read_reply(a, a->fd[ANSWERED], reply, sizeof(reply));
	CHECK(reply[0] == '$');

	stop(a);
	send_both(a, b, PENDING, "INCR counter\r\n");

	make_b_a(a, b);
	CHECK_EQ(proc_stop_resume(&a->ps), 0);
	CHECK_EQ(proc_stop_resume(&b->ps), 0);
	check_round(a, b, round, nkeys);
	hang_up_all(a, fa);
	hang_up_all(b, fb);
}

int main(int argc, char **argv)
{
	struct twin a, b;

	log_init("test-proc-image-redis", LOG_LVL_INFO);
	CHECK(argc == 2 || (argc == 3 && !strcmp(argv[2], "--wire")));
	use_wire = argc == 3;
	if (access(REDIS, X_OK) < 0)
		SKIP("%s: %s (Debian's redis-server package)", REDIS,
		     strerror(errno));
	fixture_require_root();
	launch(&a, "A", argv[1]);
	launch(&b, "B", argv[1]);
	CHECK_EQ(proc_stop_seize(&a.ps, a.c.pid), 0);
	CHECK_EQ(proc_stop_seize(&b.ps, b.c.pid), 0);

	for (int round = 0; round < ROUNDS; round++) {
		int nkeys = 2000 + round * 3000;

		round_of(&a, &b, round, nkeys);
		fprintf(stderr, "round %d: B answers every client as A, %d "
			"keys\n", round, nkeys);
	}
	proc_stop_detach(&a.ps);
	proc_stop_detach(&b.ps);
	CHECK_EQ(proc_kill(&a.c), SIGKILL);
	CHECK_EQ(proc_kill(&b.c), SIGKILL);
	return 0;
}
