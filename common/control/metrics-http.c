// SPDX-License-Identifier: MIT
/*
 * libmicrohttpd in "external polling" mode with epoll: MHD_USE_EPOLL
 * without MHD_USE_INTERNAL_POLLING_THREAD. We make the listening socket
 * (net_listen, so a taken port is refused with the call and errno), MHD
 * takes it over with its own epoll set, and that set's fd is one more fd
 * of our loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"
#include "metrics-http.h"
#include "metrics.h"
#include "xport.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics_http {
	struct MHD_Daemon *mhd;
	struct evloop *loop;
	int epoll_fd;                 /* MHD's, in our loop */
	metrics_collect_fn collect;
	void *opaque;
};

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[256];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	log_warn("metrics: %s", line);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
			     const char *body)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(body), (void *)body,
					    MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; charset=utf-8");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result serve_metrics(struct metrics_http *h,
				     struct MHD_Connection *conn)
{
	struct metrics_text t;
	struct MHD_Response *r;
	enum MHD_Result ret;

	metrics_text_init(&t);
	h->collect(h->opaque, &t);
	if (t.oom || !t.buf) {
		metrics_text_free(&t);
		return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
			     "out of memory\n");
	}
	/* MHD frees the text with free() once it is sent. */
	r = MHD_create_response_from_buffer(t.len, t.buf,
					    MHD_RESPMEM_MUST_FREE);
	if (!r) {
		metrics_text_free(&t);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE);
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* A request without a body is answered on the first call; one with a body
 * is no GET, so it gets its 405 at once and MHD discards the rest. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
			     "only GET and HEAD\n");
	if (strcmp(url, "/metrics"))
		return reply(conn, MHD_HTTP_NOT_FOUND,
			     "not found: the metrics are at /metrics\n");
	return serve_metrics(cls, conn);
}

static unsigned connections(struct metrics_http *h)
{
	const union MHD_DaemonInfo *info;

	info = MHD_get_daemon_info(h->mhd,
				   MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	return info ? info->num_connections : 0;
}

/*
 * At its connection limit MHD takes the listening socket out of its epoll
 * set, and puts it back only at the start of a run. A run that closed
 * connections (timed out, or ended by the scraper) is followed by one more,
 * or, once the set had been full, nothing would wake us for a new scraper.
 */
static void run(struct metrics_http *h)
{
	unsigned before = connections(h);

	MHD_run(h->mhd);
	if (connections(h) < before)
		MHD_run(h->mhd);
}

static void on_ready(struct evloop *l, int fd, uint32_t events, void *opaque)
{
	(void)l;
	(void)fd;
	(void)events;
	run(opaque);
}

int metrics_http_new(struct metrics_http **out, struct evloop *loop,
		     const char *hostport, metrics_collect_fn collect,
		     void *opaque, char *why, size_t whylen)
{
	const union MHD_DaemonInfo *info;
	struct metrics_http *h;
	int lfd, ret;

	*out = NULL;
	h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	h->loop = loop;
	h->collect = collect;
	h->opaque = opaque;
	h->epoll_fd = -1;
	lfd = net_listen(hostport, why, whylen);
	if (lfd < 0) {
		free(h);
		return lfd;
	}
	fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
	h->mhd = MHD_start_daemon(
		MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
		on_request, h,
		/* First, or MHD may log its first words itself. */
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)lfd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_HTTP_MAX_CONNS,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_HTTP_TIMEOUT_S,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)METRICS_HTTP_MEMORY,
		MHD_OPTION_END);
	if (!h->mhd) {
		snprintf(why, whylen, "%s: libmicrohttpd would not start",
			 hostport);
		/* Whether a failed start closed the socket it was given
		 * differs between MHD versions; no other thread opens fds
		 * during start-up, so the number is still ours if open. */
		if (fcntl(lfd, F_GETFD) >= 0)
			close(lfd);
		free(h);
		return -EINVAL;
	}
	info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	h->epoll_fd = info ? info->epoll_fd : -1;
	ret = h->epoll_fd < 0 ? -ENOTSUP :
	      evloop_add(loop, h->epoll_fd, EV_READ, on_ready, h);
	if (ret < 0) {
		snprintf(why, whylen, "%s: cannot watch libmicrohttpd's epoll "
			 "fd: %s", hostport, strerror(-ret));
		h->epoll_fd = -1;
		metrics_http_free(h);
		return ret;
	}
	*out = h;
	return 0;
}

void metrics_http_free(struct metrics_http *h)
{
	if (!h)
		return;
	if (h->epoll_fd >= 0)
		evloop_del(h->loop, h->epoll_fd);
	/* Closes the listening socket too: MHD owns it since the start. */
	MHD_stop_daemon(h->mhd);
	free(h);
}

int metrics_http_timeout(struct metrics_http *h, int timeout_ms)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (!h || MHD_get_timeout(h->mhd, &ms) != MHD_YES)
		return timeout_ms;
	if (timeout_ms < 0 || ms < (MHD_UNSIGNED_LONG_LONG)timeout_ms)
		return (int)ms;
	return timeout_ms;
}

void metrics_http_tick(struct metrics_http *h)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (h && MHD_get_timeout(h->mhd, &ms) == MHD_YES && ms == 0)
		run(h);
}
