// SPDX-License-Identifier: MIT
/*
 * The event loop over epoll. Handlers sit in a table indexed by fd, grown
 * on demand (fds are small and dense).
 *
 * A callback may add, modify or delete any fd, its own included, while the
 * other events of the same epoll_wait() round are still waiting to run. A
 * deleted fd's pending event must then be skipped, and if the number was
 * closed and reused by a new registration in the same round, the old event
 * must not reach the new handler either. So each registration gets a
 * generation number, carried in the epoll data next to the fd, and an event
 * runs only if its generation is still the one in the table.
 */
#include "evloop.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define EV_BATCH 64
/* Deferred writers: one per unit that writes (link, guest channel), so a
 * handful; beyond this the work runs at once. */
#define EV_DEFER_MAX 16

struct handler {
	ev_fn fn;              /* NULL: slot free */
	void *opaque;
	uint32_t events;
	uint32_t gen;
};

struct deferred {
	ev_defer_fn fn;
	void *opaque;
};

struct evloop {
	int epfd;
	struct handler *tab;
	size_t ntab;
	uint32_t next_gen;
	struct deferred defer[EV_DEFER_MAX];
	size_t ndefer;
};

struct evloop *evloop_new(void)
{
	struct evloop *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		free(l);
		return NULL;
	}
	return l;
}

void evloop_free(struct evloop *l)
{
	if (!l)
		return;
	close(l->epfd);
	free(l->tab);
	free(l);
}

static uint32_t to_epoll(uint32_t events)
{
	return (events & EV_READ ? EPOLLIN : 0) |
	       (events & EV_WRITE ? EPOLLOUT : 0);
}

static struct handler *lookup(struct evloop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->ntab || !l->tab[fd].fn)
		return NULL;
	return &l->tab[fd];
}

static int grow(struct evloop *l, int fd)
{
	size_t n = l->ntab ? l->ntab : 64;
	struct handler *t;

	while (n <= (size_t)fd)
		n *= 2;
	t = realloc(l->tab, n * sizeof(*t));
	if (!t)
		return -ENOMEM;
	memset(t + l->ntab, 0, (n - l->ntab) * sizeof(*t));
	l->tab = t;
	l->ntab = n;
	return 0;
}

int evloop_add(struct evloop *l, int fd, uint32_t events, ev_fn fn,
	       void *opaque)
{
	struct epoll_event ev = { .events = to_epoll(events) };
	struct handler *h;
	int rc;

	if (fd < 0 || !fn)
		return -EINVAL;
	if (lookup(l, fd))
		return -EEXIST;
	if ((size_t)fd >= l->ntab) {
		rc = grow(l, fd);
		if (rc < 0)
			return rc;
	}
	h = &l->tab[fd];
	h->gen = ++l->next_gen;
	ev.data.u64 = (uint64_t)h->gen << 32 | (uint32_t)fd;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	h->fn = fn;
	h->opaque = opaque;
	h->events = events;
	return 0;
}

int evloop_mod(struct evloop *l, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = to_epoll(events) };
	struct handler *h = lookup(l, fd);

	if (!h)
		return -ENOENT;
	/* Callers say what they want after every write; the kernel hears
	 * only of a change (an epoll_ctl per request was the daemons'
	 * commonest syscall). */
	if (h->events == events)
		return 0;
	ev.data.u64 = (uint64_t)h->gen << 32 | (uint32_t)fd;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	h->events = events;
	return 0;
}

int evloop_del(struct evloop *l, int fd)
{
	struct handler *h = lookup(l, fd);
	int rc = 0;

	if (!h)
		return -ENOENT;
	if (epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL) < 0)
		rc = -errno;
	/* Free the slot even if the kernel already forgot the fd. */
	h->fn = NULL;
	h->opaque = NULL;
	h->events = 0;
	return rc;
}

int evloop_defer(struct evloop *l, ev_defer_fn fn, void *opaque)
{
	size_t i;

	for (i = 0; i < l->ndefer; i++)
		if (l->defer[i].fn == fn && l->defer[i].opaque == opaque)
			return 0;
	if (l->ndefer == EV_DEFER_MAX) {
		fn(opaque);
		return -ENOMEM;
	}
	l->defer[l->ndefer].fn = fn;
	l->defer[l->ndefer].opaque = opaque;
	l->ndefer++;
	return 0;
}

void evloop_defer_cancel(struct evloop *l, ev_defer_fn fn, void *opaque)
{
	size_t i;

	for (i = 0; i < l->ndefer; i++) {
		if (l->defer[i].fn == fn && l->defer[i].opaque == opaque) {
			l->defer[i] = l->defer[--l->ndefer];
			return;
		}
	}
}

/* In the order asked for (the link's INPUT after the PVM's events is no
 * rule, but order costs nothing); work a deferred fn asks for runs in the
 * same pass. */
static void run_deferred(struct evloop *l)
{
	while (l->ndefer) {
		struct deferred d = l->defer[0];

		memmove(l->defer, l->defer + 1,
			(l->ndefer - 1) * sizeof(l->defer[0]));
		l->ndefer--;
		d.fn(d.opaque);
	}
}

int evloop_run_once(struct evloop *l, int timeout_ms)
{
	struct epoll_event evs[EV_BATCH];
	int n, i, ran = 0;

	/* Queued between rounds (the caller's timed work): out before we
	 * sleep. */
	run_deferred(l);
	n = epoll_wait(l->epfd, evs, EV_BATCH, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < n; i++) {
		int fd = (int)(uint32_t)evs[i].data.u64;
		uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
		struct handler *h = lookup(l, fd);
		uint32_t got;

		if (!h || h->gen != gen)
			continue;     /* deleted (or replaced) this round */
		/* Errors and hang-ups surface through the read or write the
		 * handler is waiting for; it sees EOF or the errno there. */
		if (evs[i].events & (EPOLLERR | EPOLLHUP))
			got = h->events ? h->events : EV_READ;
		else
			got = (((evs[i].events & EPOLLIN) ? EV_READ : 0) |
			       ((evs[i].events & EPOLLOUT) ? EV_WRITE : 0)) &
			      h->events;  /* may have narrowed this round */
		if (!got)
			continue;
		h->fn(l, fd, got, h->opaque);
		ran++;
	}
	run_deferred(l);
	return ran;
}

uint64_t evloop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t evloop_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t evloop_thread_cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

bool evloop_fd_readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return fd >= 0 && poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}
