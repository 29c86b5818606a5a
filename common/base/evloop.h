/* SPDX-License-Identifier: MIT */
/*
 * A small epoll event loop, in the spirit of Redis's ae: file events with a
 * callback each, and a wait bounded by the caller's next deadline. Timers
 * are the caller's business (evloop_now_ms gives the monotonic clock).
 */
#ifndef COLO_EVLOOP_H
#define COLO_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>

#define EV_READ 0x1u
#define EV_WRITE 0x2u

struct evloop;
typedef void (*ev_fn)(struct evloop *l, int fd, uint32_t events, void *opaque);

struct evloop *evloop_new(void);
void evloop_free(struct evloop *l);                  /* NULL-safe */
int evloop_add(struct evloop *l, int fd, uint32_t events, ev_fn fn,
	       void *opaque);                         /* 0 or -errno */
int evloop_mod(struct evloop *l, int fd, uint32_t events);
int evloop_del(struct evloop *l, int fd);             /* before close(fd) */
/*
 * Work for the end of the round: fn(opaque) runs once after the callbacks
 * of this epoll_wait() round (and before the next wait), however often it
 * was asked for meanwhile. Writers queue during the round and write once
 * here, so that all the events of one round leave in one syscall (one TLS
 * record). Outside a round it runs before the next wait. 0, or -ENOMEM
 * when too many are pending (fn then runs at once).
 */
typedef void (*ev_defer_fn)(void *opaque);
int evloop_defer(struct evloop *l, ev_defer_fn fn, void *opaque);
/* Forget fn(opaque) if it is pending (its object is going away). */
void evloop_defer_cancel(struct evloop *l, ev_defer_fn fn, void *opaque);
/* Waits up to timeout_ms (-1: forever) and runs the callbacks of the ready
 * fds, then the deferred work. Returns how many callbacks ran, or -errno. */
int evloop_run_once(struct evloop *l, int timeout_ms);
uint64_t evloop_now_ms(void);                         /* CLOCK_MONOTONIC */
/* The same clock in microseconds: for timing the phases of a checkpoint. */
uint64_t evloop_now_us(void);
/* CPU time the calling thread has used, in microseconds: what a phase
 * cost, apart from what others on the machine took meanwhile. */
uint64_t evloop_thread_cpu_us(void);
/* Is fd readable right now (a zero-timeout poll)? For code outside the
 * loop that must not block on a peer, such as the migration thread looking
 * for the secondary's heartbeats between iterations. */
bool evloop_fd_readable(int fd);

#endif
