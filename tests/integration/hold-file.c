// SPDX-License-Identifier: MIT
/*
 * The --exec program of test-exec-notnow: a line server on 127.0.0.1:PORT
 * (argv[1]), one thread, poll(), that holds a regular file open on
 * command, as redis-server does for a DEBUG RELOAD or a foreground SAVE.
 *
 *   INCR   adds one to a counter in memory, answers it
 *   HOLD   opens /tmp/held.dat for writing, writes to it, keeps it open
 *          for as many milliseconds as /tmp/hold-ms says (none: not at
 *          all), closes it, answers HELD
 *   other  echoed
 *
 * /tmp is the program's own scratch tmpfs on each host: a test that
 * writes hold-ms into the PVM's only makes the PVM hold the file while
 * the SVM, given the same input, has closed it already; the state each
 * keeps in memory, and every answer, is the same either way.
 */
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CLIENTS 16
#define LINE_MAX_LEN 256

struct client {
	int fd;
	char line[LINE_MAX_LEN];
	size_t len;
};

static struct client clients[MAX_CLIENTS];
static unsigned long long counter;

static void on_term(int sig)
{
	(void)sig;
	_exit(0);
}

static void reply(int fd, const char *s)
{
	size_t len = strlen(s);

	while (len) {
		ssize_t w = write(fd, s, len);

		if (w <= 0)
			return;
		s += w;
		len -= (size_t)w;
	}
}

/* The milliseconds /tmp/hold-ms asks for, 0 without it. */
static long hold_ms(void)
{
	char buf[32] = { 0 };
	int fd = open("/tmp/hold-ms", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? atol(buf) : 0;
}

static void hold(void)
{
	static const char data[] = "a file the program writes and closes\n";
	long ms = hold_ms();
	int fd = open("/tmp/held.dat", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		      0600);
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	if (fd < 0)
		return;
	if (write(fd, data, sizeof(data) - 1) < 0)
		perror("hold-file: write");
	/* A ptrace stop ends the sleep early: sleep on for what is left. */
	while (nanosleep(&ts, &ts) < 0)
		;
	close(fd);
}

static void run_line(struct client *c)
{
	char out[LINE_MAX_LEN + 32];

	if (!strcmp(c->line, "INCR")) {
		snprintf(out, sizeof(out), "%llu\n", ++counter);
	} else if (!strcmp(c->line, "HOLD")) {
		hold();
		snprintf(out, sizeof(out), "HELD\n");
	} else {
		snprintf(out, sizeof(out), "%s\n", c->line);
	}
	reply(c->fd, out);
}

/* Reads what c's client sent; false once it is gone. */
static bool serve(struct client *c)
{
	char buf[LINE_MAX_LEN];
	ssize_t n = read(c->fd, buf, sizeof(buf));

	if (n <= 0)
		return false;
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\r')
			continue;
		if (buf[i] != '\n') {
			if (c->len < sizeof(c->line) - 1)
				c->line[c->len++] = buf[i];
			continue;
		}
		c->line[c->len] = '\0';
		run_line(c);
		c->len = 0;
	}
	return true;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct pollfd pfd[MAX_CLIENTS + 1];
	int one = 1, lfd;

	if (argc != 2)
		return 2;
	/* The PID 1 of a namespace gets SIGTERM only with a handler. */
	signal(SIGTERM, on_term);
	sa.sin_port = htons((uint16_t)atoi(argv[1]));
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one,
				  sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 16) < 0) {
		perror("hold-file: listen");
		return 1;
	}
	for (int i = 0; i < MAX_CLIENTS; i++)
		clients[i].fd = -1;
	for (;;) {
		pfd[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (int i = 0; i < MAX_CLIENTS; i++)
			pfd[i + 1] = (struct pollfd){ .fd = clients[i].fd,
						      .events = POLLIN };
		if (poll(pfd, MAX_CLIENTS + 1, -1) < 0)
			continue;
		for (int i = 0; i < MAX_CLIENTS; i++)
			if (clients[i].fd >= 0 && pfd[i + 1].revents &&
			    !serve(&clients[i])) {
				close(clients[i].fd);
				clients[i].fd = -1;
			}
		if (pfd[0].revents & POLLIN) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			int i = 0;

			while (i < MAX_CLIENTS && clients[i].fd >= 0)
				i++;
			if (fd >= 0 && i == MAX_CLIENTS)
				close(fd);
			else if (fd >= 0)
				clients[i] = (struct client){ .fd = fd };
		}
	}
}
