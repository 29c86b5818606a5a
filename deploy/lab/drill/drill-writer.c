// SPDX-License-Identifier: MIT
/*
 * The drill's client load. One thread, one connection at a time, one
 * request in flight (or a pipelined burst when asked): INCR drill:counter
 * and SET drill:k:<i> v<i>-<tag>, alternately. A write counts as
 * acknowledged only when its reply arrived and says so (":N" for INCR,
 * "+OK" for SET); a request whose connection broke before its reply is
 * simply not counted, and never resent.
 *
 * When the connection breaks the writer connects again, to whatever the
 * drill made its target meanwhile (the promoted secondary after a
 * failover), every 5 ms until that works.
 */
#include "drill-writer.h"
#include "drill-client.h"
#include "drill-lab.h"
#include "client.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define BURST_OPS 32
#define CONNECT_TIMEOUT_MS 300
#define RECONNECT_PAUSE_MS 5

static int grow_set_ok(struct writer *w, uint64_t op)
{
	size_t need = (size_t)(op / 2) + 1, cap;
	uint8_t *b;

	if (need <= w->set_cap)
		return 0;
	cap = w->set_cap ? w->set_cap : 4096;
	while (cap < need)
		cap *= 2;
	b = realloc(w->set_ok, cap);
	if (!b)
		return -ENOMEM;
	memset(b + w->set_cap, 0, cap - w->set_cap);
	w->set_ok = b;
	w->set_cap = cap;
	return 0;
}

static void keep_incr(struct writer *w, long long v)
{
	if (w->incr_acked == w->incr_cap) {
		size_t cap = w->incr_cap ? w->incr_cap * 2 : 4096;
		long long *b = realloc(w->incr, cap * sizeof(*b));

		if (!b) {
			/* A history with holes would prove nothing. */
			fprintf(stderr, "colo-drill: out of memory\n");
			abort();
		}
		w->incr = b;
		w->incr_cap = cap;
	}
	w->incr[w->incr_acked] = v;
}

static int format_op(const struct writer *w, uint64_t op, char *buf,
		     size_t cap, size_t *len)
{
	char key[64], val[96];

	if (op % 2 == 0) {
		const char *argv[] = { "INCR", "drill:counter" };

		return resp_format(buf, cap, len, 2, argv);
	}
	snprintf(key, sizeof(key), "drill:k:%" PRIu64, op / 2);
	snprintf(val, sizeof(val), "v%" PRIu64 "-%s", op / 2, w->tag);
	const char *argv[] = { "SET", key, val };

	return resp_format(buf, cap, len, 3, argv);
}

static void record(struct writer *w, uint64_t op, bool after_fault,
		   const struct resp_reply *r)
{
	bool ack;

	if (op % 2 == 0) {
		ack = r->type == RESP_INT;
		if (ack) {
			if (r->num > w->max_incr)
				w->max_incr = r->num;
			keep_incr(w, r->num);
			w->incr_acked++;
		}
	} else {
		ack = r->type == RESP_STATUS && !strcmp(r->str, "OK");
		if (ack)
			w->set_ok[op / 2] = 1;
		w->set_acked += ack;
	}
	if (!ack) {
		w->errors++;
		return;
	}
	atomic_fetch_add(&w->acked, 1);
	if (after_fault) {
		w->acked_after_fault++;
		if (!atomic_load(&w->first_ack_after_fault_ms))
			atomic_store(&w->first_ack_after_fault_ms,
				     cli_now_ms());
	}
}

static int connect_target(struct writer *w, struct resp_conn *c)
{
	char target[sizeof(w->target)];
	int ret;

	pthread_mutex_lock(&w->lock);
	memcpy(target, w->target, sizeof(target));
	pthread_mutex_unlock(&w->lock);
	ret = resp_connect(c, target, CONNECT_TIMEOUT_MS);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&w->lock);
	w->fd = c->fd;
	pthread_mutex_unlock(&w->lock);
	w->conn_ms = cli_now_ms();
	w->connects++;
	return 0;
}

/* Close under the lock, so writer_retarget() never shuts down a stale fd. */
static void drop(struct writer *w, struct resp_conn *c)
{
	pthread_mutex_lock(&w->lock);
	w->fd = -1;
	resp_close(c);
	pthread_mutex_unlock(&w->lock);
}

static bool take_burst(struct writer *w)
{
	bool b;

	pthread_mutex_lock(&w->lock);
	b = w->burst_wanted;
	w->burst_wanted = false;
	pthread_mutex_unlock(&w->lock);
	return b;
}

static void burst_done(struct writer *w)
{
	pthread_mutex_lock(&w->lock);
	w->burst_sent = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* Send n ops from w->next_op on, read their replies; -errno drops c. */
static int run_batch(struct writer *w, struct resp_conn *c, unsigned n,
		     bool burst)
{
	char buf[BURST_OPS * 160];
	uint64_t first = w->next_op, op;
	size_t len = 0;
	int64_t fault;
	bool after;
	struct resp_reply r;
	int ret = grow_set_ok(w, first + n);

	if (ret < 0) {
		fprintf(stderr, "colo-drill: out of memory\n");
		abort();
	}
	for (op = first; ret == 0 && op < first + n; op++)
		ret = format_op(w, op, buf, sizeof(buf), &len);
	if (ret < 0)
		return ret;
	w->next_op += n;
	/* Sent after the fault if the fault was already recorded now. */
	fault = atomic_load(&w->fault_ms);
	after = fault && cli_now_ms() >= fault &&
		(!w->after_needs_new_conn || w->conn_ms >= fault);
	ret = resp_write(c, buf, len);
	if (burst)
		burst_done(w);
	for (op = first; ret == 0 && op < first + n; op++) {
		ret = resp_read(c, w->reply_timeout_ms, &r);
		if (ret == 0)
			record(w, op, after, &r);
	}
	if (atomic_load(&w->stop))
		return ret;  /* writer_stop() cut it; not the pair's doing */
	if (ret == -ETIMEDOUT)
		w->timeouts++;
	else if (ret < 0)
		w->disconnects++;
	return ret;
}

static void *writer_main(void *opaque)
{
	struct writer *w = opaque;
	struct resp_conn c = { .fd = -1 };

	while (!atomic_load(&w->stop)) {
		bool burst;

		if (c.fd < 0 && connect_target(w, &c) < 0) {
			/* A burst asked for while we cannot send is moot. */
			if (take_burst(w))
				burst_done(w);
			drill_sleep_ms(RECONNECT_PAUSE_MS);
			continue;
		}
		burst = take_burst(w);
		if (run_batch(w, &c, burst ? BURST_OPS : 1, burst) < 0)
			drop(w, &c);
	}
	drop(w, &c);
	return NULL;
}

int writer_start(struct writer *w, const char *target, const char *tag,
		 int reply_timeout_ms, bool after_needs_new_conn)
{
	pthread_condattr_t ca;
	int ret;

	memset(w, 0, sizeof(*w));
	w->fd = -1;
	w->max_incr = -1;
	w->reply_timeout_ms = reply_timeout_ms;
	w->after_needs_new_conn = after_needs_new_conn;
	snprintf(w->target, sizeof(w->target), "%s", target);
	snprintf(w->tag, sizeof(w->tag), "%s", tag);
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	ret = pthread_create(&w->thread, NULL, writer_main, w);
	return -ret;
}

void writer_retarget(struct writer *w, const char *target, bool drop_conn)
{
	pthread_mutex_lock(&w->lock);
	snprintf(w->target, sizeof(w->target), "%s", target);
	if (drop_conn && w->fd >= 0)
		shutdown(w->fd, SHUT_RDWR);
	pthread_mutex_unlock(&w->lock);
}

void writer_burst(struct writer *w, int timeout_ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&w->lock);
	w->burst_wanted = true;
	w->burst_sent = false;
	while (!w->burst_sent)
		if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) ==
		    ETIMEDOUT)
			break;
	pthread_mutex_unlock(&w->lock);
}

void writer_stop(struct writer *w)
{
	atomic_store(&w->stop, true);
	/* A request in flight when we stop is not waited for. */
	pthread_mutex_lock(&w->lock);
	if (w->fd >= 0)
		shutdown(w->fd, SHUT_RDWR);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
}

void writer_free(struct writer *w)
{
	free(w->set_ok);
	free(w->incr);
	w->set_ok = NULL;
	w->incr = NULL;
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
}
