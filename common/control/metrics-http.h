/* SPDX-License-Identifier: MIT */
/*
 * The metrics endpoint: GET /metrics over HTTP (libmicrohttpd), answered
 * with the text a collect callback writes (metrics.h).
 *
 * MHD runs without a thread of its own: its epoll fd sits in the daemon's
 * event loop and MHD_run is called from there, so collect runs on the main
 * thread and reads the daemon's state as `status` does, without a lock or
 * a snapshot to publish. Nothing a scraper does can stall that loop: MHD's
 * sockets are non-blocking, at most METRICS_HTTP_MAX_CONNS connections are
 * served at once (more are refused by MHD), each may hold
 * METRICS_HTTP_MEMORY bytes of request and lasts at most
 * METRICS_HTTP_TIMEOUT_S without progress. The loop owes MHD one call when
 * its timeout falls due: metrics_http_timeout bounds the loop's wait,
 * metrics_http_tick makes the call.
 *
 * Answers: GET or HEAD /metrics: 200, "text/plain; version=0.0.4"; another
 * path: 404; another method: 405 with "Allow: GET, HEAD".
 */
#ifndef COLO_METRICS_HTTP_H
#define COLO_METRICS_HTTP_H

struct evloop;
struct metrics_text;
struct metrics_http;

#define METRICS_HTTP_MAX_CONNS 8
#define METRICS_HTTP_TIMEOUT_S 10
#define METRICS_HTTP_MEMORY (32u << 10)

/* Writes every family of a scrape into t (on the loop's thread). */
typedef void (*metrics_collect_fn)(void *opaque, struct metrics_text *t);

/*
 * Listens on hostport ("ADDR:PORT", as --metrics takes it) and serves from
 * loop. 0, or -errno with a one-line reason in why ("bind 127.0.0.1:9100:
 * Address already in use").
 */
int metrics_http_new(struct metrics_http **out, struct evloop *loop,
		     const char *hostport, metrics_collect_fn collect,
		     void *opaque, char *why, size_t whylen);
/* Stops serving, closes every socket; NULL-safe. */
void metrics_http_free(struct metrics_http *h);
/* The loop's wait, timeout_ms (-1: none), shortened to MHD's next
 * deadline; h NULL: timeout_ms. */
int metrics_http_timeout(struct metrics_http *h, int timeout_ms);
/* After each turn of the loop: runs MHD if its deadline has come. */
void metrics_http_tick(struct metrics_http *h);

#endif
