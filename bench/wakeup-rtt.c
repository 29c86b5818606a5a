// SPDX-License-Identifier: MIT
/*
 * wakeup-rtt [ROUNDS [CPU-A CPU-B]]: what one request/answer round trip between two
 * processes costs on this machine when each side sleeps until the other
 * writes - the floor under every hop a request takes. A parent and a child
 * bounce 16 bytes ROUNDS times (default 20000, after 1000 unmeasured) over
 * a Unix stream socket pair, then over loopback TCP (TCP_NODELAY); prints
 * "UNIX-P50-US UNIX-P99-US TCP-P50-US TCP-P99-US" on one line.
 *
 * A request through the pair at redis-benchmark -c 1 goes from the primary
 * to the PVM and, at the same time, over TCP to the secondary, which hands
 * it to its SVM and sends the SVM's answer back; the primary answers when
 * both are in. Standalone's way is the PVM's alone, so the pair's is longer
 * by at least one TCP round trip between two processes (the SVM's leg over
 * its Unix socket runs beside the PVM's): that is what protection must add
 * to a request's latency here, whatever the code does. Not part of the
 * meson build: bench/bench-perreq.sh compiles it with cc into its temporary
 * directory, as bench-pair.sh does loopback-tcp.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MSG 16
#define WARMUP 1000

/* Where the parent and the child run; -1: wherever the kernel puts them. */
static int cpu_parent = -1, cpu_child = -1;

static void die(const char *what)
{
	fprintf(stderr, "wakeup-rtt: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		die("sched_setaffinity");
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void full_read(int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("read");
		got += (size_t)n;
	}
}

static void full_write(int fd, const char *buf, size_t len)
{
	if (write(fd, buf, len) != (ssize_t)len)
		die("write");
}

/* The child's side: answer every message until the parent closes. */
static void echo(int fd)
{
	char buf[MSG];

	pin(cpu_child);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0);
		full_write(fd, buf, (size_t)n);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* ROUNDS round trips over fd; p50 and p99 in microseconds. */
static void bounce(int fd, int rounds, double *p50, double *p99)
{
	double *rtt = malloc(sizeof(*rtt) * (size_t)rounds);
	char buf[MSG] = "ping";

	if (!rtt)
		die("malloc");
	for (int i = -WARMUP; i < rounds; i++) {
		double t = now_us();

		full_write(fd, buf, sizeof(buf));
		full_read(fd, buf, sizeof(buf));
		if (i >= 0)
			rtt[i] = now_us() - t;
	}
	qsort(rtt, (size_t)rounds, sizeof(*rtt), cmp_double);
	*p50 = rtt[rounds / 2];
	*p99 = rtt[rounds * 99 / 100];
	free(rtt);
}

static void finish(int fd, pid_t child)
{
	close(fd);
	waitpid(child, NULL, 0);
}

static void over_unix(int rounds, double *p50, double *p99)
{
	int sv[2];
	pid_t child;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		die("socketpair");
	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		close(sv[0]);
		echo(sv[1]);
	}
	close(sv[1]);
	bounce(sv[0], rounds, p50, p99);
	finish(sv[0], child);
}

static void nodelay(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		die("TCP_NODELAY");
}

static void over_tcp(int rounds, double *p50, double *p99)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int lfd, fd;
	pid_t child;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) < 0)
		die("listen on 127.0.0.1");
	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		int c = accept(lfd, NULL, NULL);

		if (c < 0)
			die("accept");
		close(lfd);
		nodelay(c);
		echo(c);
	}
	close(lfd);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect to 127.0.0.1");
	nodelay(fd);
	bounce(fd, rounds, p50, p99);
	finish(fd, child);
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 20000;
	double u50, u99, t50, t99;

	if (rounds < 100 || argc == 3 || argc > 4) {
		fprintf(stderr, "usage: wakeup-rtt [ROUNDS >= 100 [CPU-A CPU-B]]\n");
		return 2;
	}
	if (argc == 4) {
		cpu_parent = atoi(argv[2]);
		cpu_child = atoi(argv[3]);
	}
	pin(cpu_parent);
	signal(SIGPIPE, SIG_IGN);
	over_unix(rounds, &u50, &u99);
	over_tcp(rounds, &t50, &t99);
	printf("%.1f %.1f %.1f %.1f\n", u50, u99, t50, t99);
	return 0;
}
