// SPDX-License-Identifier: MIT
/*
 * The program test-proc-guest runs as a guest: it listens on
 * 127.0.0.1:PORT (argv[1]) with a backlog of one, so that a few
 * connections made while it does not accept stay in their connect, and
 * echoes each connection's bytes back from a thread of its own (new
 * threads for the tracer to follow). SIGTERM has a handler, as the PID 1
 * of a namespace needs for the signal to reach it at all, and exits 43.
 *
 * A read that starts with "!fork MS" also forks a child that lives MS
 * milliseconds; the connection's thread echoes, then reaps it (waitpid)
 * before it reads on: test-proc-guest-children's program with a child.
 * A read that starts with "!segv" writes through a null pointer, with no
 * handler for SIGSEGV: a program that crashes.
 */
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define ECHO_EXIT_ON_TERM 43

static int *volatile nowhere;   /* NULL, out of the compiler's sight */

static void on_term(int sig)
{
	(void)sig;
	_exit(ECHO_EXIT_ON_TERM);
}

static bool write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);

		if (w <= 0)
			return false;
		buf += w;
		len -= (size_t)w;
	}
	return true;
}

static void *echo(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		pid_t child = -1;

		if (n >= 5 && !memcmp(buf, "!segv", 5))
			*nowhere = 1;
		if (n > 6 && !memcmp(buf, "!fork ", 6)) {
			int ms = atoi(buf + 6);

			child = fork();
			if (child == 0) {
				usleep((useconds_t)ms * 1000);
				_exit(0);
			}
		}
		if (!write_all(fd, buf, (size_t)n))
			break;
		if (child > 0)
			waitpid(child, NULL, 0);
	}
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1, lfd;

	if (argc != 2)
		return 2;
	signal(SIGTERM, on_term);
	sa.sin_port = htons((uint16_t)atoi(argv[1]));
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one,
				  sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 1) < 0) {
		perror("proc-echo: listen");
		return 1;
	}
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		pthread_t t;

		if (fd < 0)
			continue;
		if (pthread_create(&t, NULL, echo, (void *)(intptr_t)fd) != 0) {
			close(fd);
			continue;
		}
		pthread_detach(t);
	}
}
