// SPDX-License-Identifier: MIT
/*
 * loopback-tcp [SECONDS]: the ceiling a stream over loopback TCP can reach
 * on this machine. A receiver thread drains a connection on 127.0.0.1 while
 * the main thread writes 1 MiB buffers into it for SECONDS (default 2);
 * prints "MiB/s BYTES SECONDS" on one line. Not part of the meson build:
 * bench/bench-pair.sh compiles it with cc into its temporary directory.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF (1 << 20)
#define SOCKBUF (4 << 20)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "loopback-tcp: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void bufs(int fd)
{
	int v = SOCKBUF;

	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
}

static void *receiver(void *opaque)
{
	int fd = *(int *)opaque;
	char *buf = malloc(BUF);
	ssize_t n;

	if (!buf)
		die("malloc");
	do
		n = read(fd, buf, BUF);
	while (n > 0 || (n < 0 && errno == EINTR));
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 2.0, t0, t;
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	uint64_t total = 0;
	int lfd, cfd, sfd;
	pthread_t th;
	char *buf;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0)
		die("socket");
	bufs(lfd);
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) < 0)
		die("bind/listen");
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	if (cfd < 0)
		die("socket");
	bufs(cfd);
	if (connect(cfd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect");
	sfd = accept(lfd, NULL, NULL);
	if (sfd < 0)
		die("accept");
	if (pthread_create(&th, NULL, receiver, &sfd))
		die("pthread_create");
	buf = malloc(BUF);
	if (!buf)
		die("malloc");
	memset(buf, 0xa5, BUF);
	t0 = now_s();
	do {
		ssize_t n = write(cfd, buf, BUF);

		if (n < 0 && errno != EINTR)
			die("write");
		if (n > 0)
			total += (uint64_t)n;
		t = now_s() - t0;
	} while (t < secs);
	shutdown(cfd, SHUT_WR);
	pthread_join(th, NULL);
	t = now_s() - t0;
	printf("%.1f %llu %.3f\n", (double)total / t / (1 << 20),
	       (unsigned long long)total, t);
	free(buf);
	close(cfd);
	close(sfd);
	close(lfd);
	return 0;
}
