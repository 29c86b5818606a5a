// SPDX-License-Identifier: MIT
/*
 * The metrics endpoint in an event loop of its own, with raw sockets for
 * clients: 200 with the 0.0.4 content type and collect's text, 404, 405,
 * a taken port and a bad address refused, and a new scraper served after
 * the connection limit was reached and freed (MHD takes its listening
 * socket out of its epoll set at the limit: metrics-http.c's second run).
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include "evloop.h"
#include "metrics-http.h"
#include "metrics.h"
#include "tap.h"

static unsigned collected;

static void collect(void *opaque, struct metrics_text *t)
{
	(void)opaque;
	collected++;
	metrics_one(t, "colo_test_scrapes_total", METRIC_COUNTER, "Scrapes.",
		    collected);
}

/* A port free a moment ago (the kernel's pick for port 0). */
static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int dial(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	return fd;
}

/* Turns of the daemon's loop for about ms. */
static void pump(struct evloop *l, struct metrics_http *h, int ms)
{
	uint64_t end = evloop_now_ms() + (uint64_t)ms;

	while (evloop_now_ms() < end) {
		CHECK(evloop_run_once(l, metrics_http_timeout(h, 10)) >= 0);
		metrics_http_tick(h);
	}
}

/* Sends req and reads the answer to EOF while the loop runs (5 s at
 * most); the answer, NUL-terminated, in buf. */
static void request(struct evloop *l, struct metrics_http *h, int port,
		    const char *req, char *buf, size_t size)
{
	uint64_t end = evloop_now_ms() + 5000;
	int fd = dial(port);
	size_t len = 0;
	ssize_t n;

	CHECK(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		CHECK(evloop_now_ms() < end);
		pump(l, h, 5);
		if (poll(&p, 1, 0) <= 0)
			continue;
		n = read(fd, buf + len, size - 1 - len);
		if (n == 0)
			break;
		CHECK(n > 0);
		len += (size_t)n;
		CHECK(len < size - 1);
	}
	buf[len] = '\0';
	close(fd);
}

static void test_answers(struct evloop *l, struct metrics_http *h, int port)
{
	char buf[8192];
	unsigned before = collected;

	request(l, h, port, "GET /metrics HTTP/1.0\r\n\r\n", buf, sizeof(buf));
	CHECK(strstr(buf, " 200 "));
	CHECK(strstr(buf, "Content-Type: text/plain; version=0.0.4"));
	CHECK(strstr(buf, "\r\n\r\n# HELP colo_test_scrapes_total Scrapes.\n"
			  "# TYPE colo_test_scrapes_total counter\n"
			  "colo_test_scrapes_total "));
	CHECK_EQ(collected, before + 1);

	request(l, h, port, "GET /other HTTP/1.0\r\n\r\n", buf, sizeof(buf));
	CHECK(strstr(buf, " 404 "));
	request(l, h, port, "POST /metrics HTTP/1.0\r\nContent-Length: 1\r\n"
		"\r\nx", buf, sizeof(buf));
	CHECK(strstr(buf, " 405 "));
	CHECK(strstr(buf, "Allow: GET, HEAD"));
	CHECK_EQ(collected, before + 1);
}

/* Every slot taken, then given back by the scrapers: the next one is
 * served without waiting for any timeout. */
static void test_limit_freed(struct evloop *l, struct metrics_http *h,
			     int port)
{
	int fds[METRICS_HTTP_MAX_CONNS];
	char buf[8192];
	size_t i;

	for (i = 0; i < METRICS_HTTP_MAX_CONNS; i++)
		fds[i] = dial(port);
	pump(l, h, 200);
	for (i = 0; i < METRICS_HTTP_MAX_CONNS; i++)
		close(fds[i]);
	pump(l, h, 200);
	request(l, h, port, "GET /metrics HTTP/1.0\r\n\r\n", buf, sizeof(buf));
	CHECK(strstr(buf, " 200 "));
}

static void test_refusals(struct evloop *l, int port)
{
	struct metrics_http *h2;
	char addr[64], why[256];

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	CHECK_EQ(metrics_http_new(&h2, l, addr, collect, NULL, why,
				  sizeof(why)), -EADDRINUSE);
	CHECK(!h2 && strstr(why, "Address already in use"));
	CHECK(metrics_http_new(&h2, l, "nonsense", collect, NULL, why,
			       sizeof(why)) < 0);
	CHECK(!h2 && strstr(why, "nonsense"));
	CHECK_EQ(metrics_http_timeout(NULL, 7), 7);
	metrics_http_tick(NULL);
	metrics_http_free(NULL);
}

int main(void)
{
	struct evloop *l = evloop_new();
	struct metrics_http *h;
	char addr[64], why[256];
	int port = free_port();

	signal(SIGPIPE, SIG_IGN);
	CHECK(l);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	CHECK_EQ(metrics_http_new(&h, l, addr, collect, NULL, why,
				  sizeof(why)), 0);
	test_answers(l, h, port);
	test_limit_freed(l, h, port);
	test_refusals(l, port);
	metrics_http_free(h);
	evloop_free(l);
	printf("ok\n");
	return 0;
}
