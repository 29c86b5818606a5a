// SPDX-License-Identifier: MIT
/*
 * The transplant on the program it is for: two redis-server twins, each
 * PID 1 of its own PID and network namespaces and listening on the same
 * port there, seized once they are up. Keys are loaded into A only (B gets
 * others of its own), both are stopped, B is made A (map, pages, every
 * thread's registers and masks: main, bio threads, jemalloc's), both
 * resumed; B must then answer DBSIZE and GETs as A does, and take writes.
 * Twice in one run, the second time from where the first left them.
 * Client connections are closed before each stop: they are kernel state
 * the transplant does not carry (proc-fds' job).
 *
 * Skips (77) when redis-server is not installed.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>

#include "count-sockets.h"
#include "log.h"
#include "proc-inject.h"
#include "proc-mem.h"
#include "proc-regs.h"
#include "proc-stop.h"
#include "tap.h"
#include "twin-launch.h"

#define REDIS "/usr/bin/redis-server"
#define PORT 6379
#define BATCH 500
#define REPLY_MS 10000

struct twin {
	const char *name;
	pid_t pid;
	struct proc_stop ps;
};

/* A TCP connection to the twin's port, made inside its namespace. */
static int dial(struct twin *t)
{
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(PORT),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char path[64];
	int self, ns, s;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)t->pid);
	self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	ns = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(self >= 0 && ns >= 0);
	CHECK(setns(ns, CLONE_NEWNET) == 0);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(setns(self, CLONE_NEWNET) == 0);
	close(self);
	close(ns);
	CHECK(s >= 0);
	if (connect(s, (struct sockaddr *)&to, sizeof(to)) < 0) {
		close(s);
		return -errno;
	}
	return s;
}

/* Reads up to and including "\r\n"; the line without it. */
static void read_line(struct twin *t, int s, char *buf, size_t cap)
{
	size_t n = 0;

	for (;;) {
		CHECK(twin_wait_readable(s, &t->ps, REPLY_MS));
		CHECK(read(s, buf + n, 1) == 1);
		if (n > 0 && buf[n - 1] == '\r' && buf[n] == '\n')
			break;
		CHECK(++n < cap - 1);
	}
	buf[n - 1] = '\0';
}

/* One reply, as text: "+OK", ":12", "$value", "$nil", "-ERR ...". */
static void read_reply(struct twin *t, int s, char *out, size_t cap)
{
	char line[512];
	long len;

	read_line(t, s, line, sizeof(line));
	if (line[0] != '$') {
		CHECK(strlen(line) < cap);
		memcpy(out, line, strlen(line) + 1);
		return;
	}
	len = atol(line + 1);
	if (len < 0) {
		snprintf(out, cap, "$nil");
		return;
	}
	CHECK((size_t)len + 3 < cap);
	out[0] = '$';
	read_line(t, s, out + 1, cap - 1);
	CHECK_EQ(strlen(out + 1), len);
}

static void send_text(int s, const char *text)
{
	size_t len = strlen(text);

	CHECK(write(s, text, len) == (ssize_t)len);
}

static void command(struct twin *t, int s, const char *cmd, char *out,
		    size_t cap)
{
	char line[256];

	snprintf(line, sizeof(line), "%s\r\n", cmd);
	send_text(s, line);
	read_reply(t, s, out, cap);
}

/* Closes a client and waits until the program has closed its end too. */
static void hang_up(struct twin *t, int s, int fds_before)
{
	struct timespec t0;

	close(s);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (count_sockets(t->pid) != fds_before) {
		CHECK(twin_ms_since(&t0) < REPLY_MS);
		CHECK(proc_stop_pump(&t->ps) >= 0);
		usleep(1000);
	}
}

static void start(struct twin *t, const char *name)
{
	char *argv[] = { REDIS, "--port", "6379", "--bind", "127.0.0.1",
			 "--save", "", "--appendonly", "no", "--daemonize",
			 "no", NULL };
	struct timespec t0;
	char reply[64];
	int s;

	t->name = name;
	t->ps = (struct proc_stop){ 0 };
	t->pid = twin_launch(argv, NULL, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while ((s = dial(t)) < 0) {
		CHECK(twin_ms_since(&t0) < REPLY_MS);
		usleep(10000);
	}
	command(t, s, "PING", reply, sizeof(reply));
	CHECK(!strcmp(reply, "+PONG"));
	close(s);
}

static void value_of(int round, int i, char *out, size_t cap)
{
	snprintf(out, cap, "v%d-%d-%x", round, i, (unsigned)(i * 2654435761u));
}

/* Sets keys [from, to) of this round in batches; returns after all OKs. */
static void load(struct twin *t, int round, int from, int to)
{
	int fds = count_sockets(t->pid), s = dial(t);
	char cmd[128], value[64], reply[64];

	CHECK(s >= 0);
	for (int i = from; i < to; i += BATCH) {
		int end = i + BATCH < to ? i + BATCH : to;

		for (int k = i; k < end; k++) {
			value_of(round, k, value, sizeof(value));
			snprintf(cmd, sizeof(cmd), "SET key:%d %s\r\n", k,
				 value);
			send_text(s, cmd);
		}
		for (int k = i; k < end; k++) {
			read_reply(t, s, reply, sizeof(reply));
			CHECK(!strcmp(reply, "+OK"));
		}
	}
	hang_up(t, s, fds);
}

static void transplant(struct twin *a, struct twin *b)
{
	struct proc_mem_stats st;
	struct proc_inject in;

	CHECK_EQ(proc_stop_interrupt(&a->ps, 5000), 0);
	CHECK_EQ(proc_stop_interrupt(&b->ps, 5000), 0);
	proc_stop_sort(&a->ps);
	proc_stop_sort(&b->ps);
	CHECK_EQ(a->ps.n, b->ps.n);
	for (size_t i = 0; i < a->ps.n; i++)
		CHECK_EQ(a->ps.thread[i].ns_tid, b->ps.thread[i].ns_tid);
	CHECK_EQ(proc_inject_init(&in, &b->ps, b->ps.thread[0].tid), 0);
	CHECK_EQ(proc_mem_reconcile(a->pid, b->pid, &in), 0);
	CHECK_EQ(proc_mem_copy(a->pid, b->pid, &st), 0);
	CHECK_EQ(proc_regs_copy_threads(&a->ps, &b->ps), 0);
	fprintf(stderr, "transplant: %zu threads, %llu pages, %llu of %llu "
		"read-only pages differed\n", a->ps.n,
		(unsigned long long)st.pages, (unsigned long long)st.ro_copied,
		(unsigned long long)st.ro_compared);
	CHECK_EQ(proc_stop_resume(&a->ps), 0);
	CHECK_EQ(proc_stop_resume(&b->ps), 0);
}

/* B holds A's keys: the count, a sample of values, and it takes writes. */
static void check_b(struct twin *a, struct twin *b, int round, int nkeys)
{
	int fa = count_sockets(a->pid), fb = count_sockets(b->pid);
	int sa = dial(a), sb = dial(b);
	char want[64], got[128], other[128], cmd[64];
	uint64_t rnd = 0x9e3779b97f4a7c15ULL + (uint64_t)round;

	CHECK(sa >= 0 && sb >= 0);
	snprintf(want, sizeof(want), ":%d", nkeys);
	command(b, sb, "DBSIZE", got, sizeof(got));
	command(a, sa, "DBSIZE", other, sizeof(other));
	if (strcmp(got, want) || strcmp(other, want)) {
		fprintf(stderr, "DBSIZE: want %s, A %s, B %s\n", want, other,
			got);
		exit(1);
	}
	for (int i = 0; i < 200; i++) {
		int k = (int)(test_rand(&rnd) % (uint64_t)nkeys);

		snprintf(cmd, sizeof(cmd), "GET key:%d", k);
		command(b, sb, cmd, got, sizeof(got));
		value_of(round, k, want + 1, sizeof(want) - 1);
		want[0] = '$';
		if (strcmp(got, want)) {
			fprintf(stderr, "%s: B answered %s, want %s\n", cmd,
				got, want);
			exit(1);
		}
	}
	command(b, sb, "SET fresh yes", got, sizeof(got));
	CHECK(!strcmp(got, "+OK"));
	command(b, sb, "GET fresh", got, sizeof(got));
	CHECK(!strcmp(got, "$yes"));
	command(b, sb, "DEL fresh", got, sizeof(got));
	CHECK(!strcmp(got, ":1"));
	hang_up(a, sa, fa);
	hang_up(b, sb, fb);
}

int main(void)
{
	struct twin a, b;
	int nkeys = 0;

	log_init("test-proc-redis-twin", LOG_LVL_INFO);
	if (access(REDIS, X_OK) != 0)
		SKIP("%s is not installed", REDIS);
	if (geteuid() != 0)
		SKIP("needs root (namespaces, ptrace)");
	start(&a, "A");
	start(&b, "B");
	CHECK_EQ(proc_stop_seize(&a.ps, a.pid), 0);
	CHECK_EQ(proc_stop_seize(&b.ps, b.pid), 0);

	for (int round = 0; round < 2; round++) {
		int more = round == 0 ? 20000 : 5000;

		/* Keys 0..nkeys rewritten with this round's values, and
		 * more; B gets a few keys of its own that must vanish. */
		load(&a, round, 0, nkeys + more);
		nkeys += more;
		load(&b, 100 + round, 0, 50 + round * 3000);
		transplant(&a, &b);
		check_b(&a, &b, round, nkeys);
		fprintf(stderr, "round %d: B answers as A with %d keys\n",
			round, nkeys);
	}
	proc_stop_detach(&a.ps);
	proc_stop_detach(&b.ps);
	twin_kill(a.pid);
	twin_kill(b.pid);
	return 0;
}
