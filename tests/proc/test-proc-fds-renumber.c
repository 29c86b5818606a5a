// SPDX-License-Identifier: MIT
/*
 * proc_fds_diff's renumbering, on crafted tables, no process: the same
 * objects (epolls, eventfds, pipes, a listening socket, /dev/null) at
 * other numbers on the SVM, as memcached's threads leave them. The
 * actions run on a model of the kernel that keeps what renumbering can
 * get wrong: an fd number names an open file, a dup3 onto an open
 * number closes it, an epoll entry is keyed by its file and the number it
 * was added under (so DEL by number after a move fails), a file leaves
 * every interest list only when its last fd closes. Afterwards each PVM
 * number must hold a like file (a pipe's fds on one pipe), each
 * epoll the PVM's entries under their numbers, each eventfd its counter,
 * and nothing else may be open.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc-fds.h"
#include "tap.h"

#define NUMS 64         /* fd numbers in the model */
#define FILES 64        /* open files in the model */
#define ITEMS 16

struct mfile {
	struct proc_fd like;    /* kind, flags, ino (pipes), count */
	int refs;
	struct { int file, num; uint32_t events; uint64_t data; } items[ITEMS];
	int n_items;
};

struct model {
	int fd[NUMS];           /* the file at each number, or -1 */
	bool cloexec[NUMS];
	struct mfile f[FILES];
	int n_files;
};

static void model_drop(struct model *m, int file)
{
	if (--m->f[file].refs > 0)
		return;
	for (int i = 0; i < m->n_files; i++) {
		struct mfile *e = &m->f[i];

		for (int k = 0; k < e->n_items; k++)
			if (e->items[k].file == file)
				e->items[k--] = e->items[--e->n_items];
	}
	m->f[file].n_items = 0;
}

/* The model of the SVM t; a pipe's fds of one direction share a file
 * (each end is a file of the pipe's inode; these were dup'ed). */
static void model_init(struct model *m, const struct proc_fd_table *t)
{
	memset(m, 0, sizeof(*m));
	for (int n = 0; n < NUMS; n++)
		m->fd[n] = -1;
	for (size_t i = 0; i < t->n; i++) {
		const struct proc_fd *f = &t->fds[i];
		int file = -1;

		for (size_t j = 0; j < i && f->kind == PROC_FD_PIPE; j++)
			if (t->fds[j].kind == PROC_FD_PIPE &&
			    t->fds[j].ino == f->ino &&
			    t->fds[j].flags == f->flags)
				file = m->fd[t->fds[j].fd];
		if (file < 0) {
			file = m->n_files++;
			m->f[file].like = *f;
		}
		m->f[file].refs++;
		m->fd[f->fd] = file;
		m->cloexec[f->fd] = f->cloexec;
	}
	for (size_t i = 0; i < t->n; i++) {
		const struct proc_fd *f = &t->fds[i];
		struct mfile *e = &m->f[m->fd[f->fd]];

		for (size_t k = 0; k < f->n_items; k++) {
			e->items[e->n_items].file = m->fd[f->items[k].tfd];
			e->items[e->n_items].num = f->items[k].tfd;
			e->items[e->n_items].events = f->items[k].events;
			e->items[e->n_items++].data = f->items[k].data;
		}
	}
}

static int entry(struct mfile *e, int file, int num)
{
	for (int k = 0; k < e->n_items; k++)
		if (e->items[k].file == file && e->items[k].num == num)
			return k;
	return -1;
}

static void model_run(struct model *m, const struct proc_fd_action *a)
{
	int t = a->item.tfd, k;
	struct mfile *e;

	switch (a->kind) {
	case PROC_FD_ACT_EPOLL_DEL:
	case PROC_FD_ACT_EPOLL_ADD:
	case PROC_FD_ACT_EPOLL_MOD:
		CHECK(m->fd[a->fd] >= 0 && m->fd[t] >= 0);     /* else EBADF */
		e = &m->f[m->fd[a->fd]];
		CHECK_EQ(e->like.kind, PROC_FD_EPOLL);
		k = entry(e, m->fd[t], t);
		CHECK((k >= 0) == (a->kind != PROC_FD_ACT_EPOLL_ADD));
		if (a->kind == PROC_FD_ACT_EPOLL_DEL) {
			e->items[k] = e->items[--e->n_items];
			break;
		}
		if (k < 0) {
			CHECK(e->n_items < ITEMS);
			k = e->n_items++;
		}
		e->items[k].file = m->fd[t];
		e->items[k].num = t;
		e->items[k].events = a->item.events;
		e->items[k].data = a->item.data;
		break;
	case PROC_FD_ACT_CLOSE:
		CHECK(m->fd[a->fd] >= 0);
		model_drop(m, m->fd[a->fd]);
		m->fd[a->fd] = -1;
		break;
	case PROC_FD_ACT_MOVE:
		CHECK(m->fd[a->from] >= 0);
		CHECK(a->fd > 2 && a->fd < NUMS);
		/* dup3 would close it silently: the plan must not need that. */
		CHECK(m->fd[a->fd] < 0);
		m->fd[a->fd] = m->fd[a->from];
		m->cloexec[a->fd] = a->cloexec;
		m->fd[a->from] = -1;
		break;
	case PROC_FD_ACT_EVENTFD_SET:
		CHECK(m->fd[a->fd] >= 0);
		CHECK_EQ(m->f[m->fd[a->fd]].like.kind, PROC_FD_EVENTFD);
		m->f[m->fd[a->fd]].like.count = a->count;
		break;
	default:
		fprintf(stderr, "unexpected action %d: %s\n", a->kind,
			a->reason);
		CHECK(0);
	}
}

/* The model holds what the PVM p holds. */
static void model_equals(struct model *m, const struct proc_fd_table *p)
{
	for (int n = 0; n < NUMS; n++) {
		const struct proc_fd *f = proc_fds_find(p, n);
		struct mfile *e;

		CHECK_EQ(m->fd[n] >= 0, f != NULL);
		if (!f)
			continue;
		e = &m->f[m->fd[n]];
		CHECK_EQ(e->like.kind, f->kind);
		CHECK_EQ(e->like.flags, f->flags);
		CHECK_EQ(m->cloexec[n], f->cloexec);
		if (f->kind == PROC_FD_EVENTFD)
			CHECK_EQ(e->like.count, f->count);
		for (size_t j = 0; j < p->n; j++)   /* the same pipes */
			if (f->kind == PROC_FD_PIPE)
				CHECK_EQ(p->fds[j].kind == PROC_FD_PIPE &&
					 p->fds[j].ino == f->ino,
					 m->f[m->fd[p->fds[j].fd]].like.kind ==
					 PROC_FD_PIPE &&
					 m->f[m->fd[p->fds[j].fd]].like.ino ==
					 e->like.ino);
		if (f->kind != PROC_FD_EPOLL)
			continue;
		CHECK_EQ(e->n_items, (int)f->n_items);
		for (size_t k = 0; k < f->n_items; k++) {
			int t = f->items[k].tfd, at = entry(e, m->fd[t], t);

			CHECK(at >= 0);
			CHECK_EQ(e->items[at].events, f->items[k].events);
			CHECK_EQ(e->items[at].data, f->items[k].data);
		}
	}
}

/* Runs the diff of p and s on the model of s; 0 or the refusal. */
static int diff_and_run(const struct proc_fd_table *p,
			const struct proc_fd_table *s, size_t *n_moves)
{
	struct proc_fd_actions acts;
	struct model m;
	int r = proc_fds_diff(p, s, &acts);

	if (r == PROC_FDS_UNSUPPORTED)
		fprintf(stderr, "refused: %s\n", acts.a[0].reason);

	if (r == 0) {
		model_init(&m, s);
		*n_moves = 0;
		for (size_t i = 0; i < acts.n; i++) {
			model_run(&m, &acts.a[i]);
			*n_moves += acts.a[i].kind == PROC_FD_ACT_MOVE;
		}
		model_equals(&m, p);
	}
	proc_fd_actions_free(&acts);
	return r;
}

/* A table of program-made objects, numbered in a given order. */
struct table {
	struct proc_fd fds[NUMS];
	struct proc_epoll_item items[NUMS][ITEMS];
	struct proc_fd_table t;
};

static struct proc_fd *put(struct table *tb, int fd, enum proc_fd_kind kind,
			   uint64_t ino, int flags)
{
	struct proc_fd *f = &tb->fds[tb->t.n];

	CHECK(tb->t.n == 0 || tb->fds[tb->t.n - 1].fd < fd);
	memset(f, 0, sizeof(*f));
	f->fd = fd;
	f->kind = kind;
	f->ino = ino;
	f->flags = flags;
	f->cloexec = true;
	f->target = kind == PROC_FD_NULL_DEV ? "/dev/null" : "anon";
	f->items = tb->items[tb->t.n];
	f->tcp_state = kind == PROC_FD_TCP_LISTEN ? 10 : 0;
	f->local.family = 2;
	f->local.port = 11211;
	tb->t.fds = tb->fds;
	tb->t.n++;
	return f;
}

static void watch(struct table *tb, int epfd, int tfd, uint32_t events)
{
	struct proc_fd *e = (struct proc_fd *)proc_fds_find(&tb->t, epfd);

	CHECK(e && e->kind == PROC_FD_EPOLL && e->n_items < ITEMS);
	e->items[e->n_items++] = (struct proc_epoll_item){ tfd, events,
							   (uint64_t)tfd };
}

/*
 * memcached -t 1: the main thread's epoll, a pipe, the worker's eventfd,
 * epoll and pipe, the listening socket; hole leaves a number free where
 * the logger thread held an fd a moment (0: none).
 */
static void memcached_like(struct table *tb, int hole)
{
	int n = 3, ep0, efd, ep1, l;

	memset(tb, 0, sizeof(*tb));
	put(tb, 0, PROC_FD_NULL_DEV, 0, O_RDONLY);
#define NEXT() (n == hole ? ++n, n++ : n++)
	ep0 = NEXT();
	put(tb, ep0, PROC_FD_EPOLL, 0, O_RDWR);
	put(tb, NEXT(), PROC_FD_PIPE, 100, O_RDONLY | O_NONBLOCK);
	put(tb, NEXT(), PROC_FD_PIPE, 100, O_WRONLY | O_NONBLOCK);
	efd = NEXT();
	put(tb, efd, PROC_FD_EVENTFD, 0, O_RDWR | O_NONBLOCK)->cloexec = false;
	ep1 = NEXT();
	put(tb, ep1, PROC_FD_EPOLL, 0, O_RDWR);
	put(tb, NEXT(), PROC_FD_PIPE, 200, O_RDONLY | O_NONBLOCK);
	put(tb, NEXT(), PROC_FD_PIPE, 200, O_WRONLY | O_NONBLOCK);
	l = NEXT();
	put(tb, l, PROC_FD_TCP_LISTEN, 0, O_RDWR | O_NONBLOCK)->cloexec = false;
#undef NEXT
	watch(tb, ep0, l, 0x19);
	watch(tb, ep1, efd, 0x19);
}

static void test_memcached(void)
{
	struct table p, s;
	size_t moves;

	/* Alike: nothing to do. */
	memcached_like(&p, 0);
	memcached_like(&s, 0);
	CHECK_EQ(diff_and_run(&p.t, &s.t, &moves), 0);
	CHECK_EQ(moves, 0);

	/* The PVM's logger held fd 7 while its worker's epoll was made. */
	memcached_like(&p, 7);
	CHECK_EQ(diff_and_run(&p.t, &s.t, &moves), 0);
	CHECK_EQ(moves, 4 * 2);         /* epoll, pipe (2 fds), listener */

	/* And the other way round, with a counter left for the worker. */
	memcached_like(&p, 0);
	memcached_like(&s, 5);
	((struct proc_fd *)proc_fds_find(&p.t, 6))->count = 1;
	CHECK_EQ(diff_and_run(&p.t, &s.t, &moves), 0);
	CHECK_EQ(moves, 6 * 2);      /* 5, efd, ep1, pipe (2), listener */

	/* An object the SVM does not have: refused, saying so. */
	memcached_like(&p, 0);
	memcached_like(&s, 0);
	put(&p, 20, PROC_FD_EPOLL, 0, O_RDWR);
	{
		struct proc_fd_actions acts;

		CHECK_EQ(proc_fds_diff(&p.t, &s.t, &acts),
			 PROC_FDS_UNSUPPORTED);
		CHECK_EQ(acts.a[0].kind, PROC_FD_ACT_REFUSE);
		CHECK(!strcmp(acts.a[0].reason, "fd 20: epoll (0 targets) "
			      "open on the PVM only (no like fd of the SVM's "
			      "to move there)"));
		proc_fd_actions_free(&acts);
	}

	/* Two eventfds that differ in flags swap numbers: through a free
	 * number, each to the one alike. */
	memset(&p, 0, sizeof(p));
	memset(&s, 0, sizeof(s));
	put(&p, 3, PROC_FD_EVENTFD, 0, O_RDWR);
	put(&p, 4, PROC_FD_EVENTFD, 0, O_RDWR | O_NONBLOCK);
	put(&s, 3, PROC_FD_EVENTFD, 0, O_RDWR | O_NONBLOCK);
	put(&s, 4, PROC_FD_EVENTFD, 0, O_RDWR);
	CHECK_EQ(diff_and_run(&p.t, &s.t, &moves), 0);
	CHECK_EQ(moves, 4);
}

/* The same objects as obj[] (kinds, flags, pipes by ino) at random
 * numbers from 3, with random holes, random interest lists, counters. */
struct obj { enum proc_fd_kind kind; int flags; uint64_t ino; };

static const struct obj objs[] = {
	{ PROC_FD_EPOLL, O_RDWR, 0 },
	{ PROC_FD_EPOLL, O_RDWR, 0 },
	{ PROC_FD_EVENTFD, O_RDWR | O_NONBLOCK, 0 },
	{ PROC_FD_EVENTFD, O_RDWR | O_NONBLOCK, 0 },
	{ PROC_FD_EVENTFD, O_RDWR, 0 },
	{ PROC_FD_PIPE, O_RDONLY | O_NONBLOCK, 100 },
	{ PROC_FD_PIPE, O_WRONLY | O_NONBLOCK, 100 },
	{ PROC_FD_PIPE, O_RDONLY, 200 },
	{ PROC_FD_PIPE, O_WRONLY, 200 },
	{ PROC_FD_PIPE, O_WRONLY, 200 },        /* a dup of a write end */
	{ PROC_FD_TCP_LISTEN, O_RDWR | O_NONBLOCK, 0 },
	{ PROC_FD_NULL_DEV, O_RDWR, 0 },
};
#define N_OBJS (sizeof(objs) / sizeof(objs[0]))

static void random_table(struct table *tb, uint64_t *seed)
{
	size_t order[N_OBJS];
	int n = 3;

	memset(tb, 0, sizeof(*tb));
	for (size_t i = 0; i < N_OBJS; i++)
		order[i] = i;
	for (size_t i = N_OBJS; i > 1; i--) {
		size_t j = test_rand(seed) % i, x = order[i - 1];

		order[i - 1] = order[j];
		order[j] = x;
	}
	for (size_t i = 0; i < N_OBJS; i++) {
		const struct obj *o = &objs[order[i]];
		struct proc_fd *f;

		n += test_rand(seed) % 4 == 0;                 /* a hole */
		f = put(tb, n++, o->kind, o->ino, o->flags);
		f->cloexec = order[i] % 2;      /* the program's choice */
		if (o->kind == PROC_FD_EVENTFD)
			f->count = test_rand(seed) % 3;
	}
	/* An SVM-only fd in the way sometimes: a connection, closed. */
	if (test_rand(seed) % 3 == 0)
		put(tb, n, PROC_FD_TCP_CONN, 0, O_RDWR)->tcp_state = 1;
	for (size_t e = 0; e < tb->t.n; e++)
		if (tb->fds[e].kind == PROC_FD_EPOLL)
			for (size_t t = 0; t < tb->t.n; t++)
				if (t != e && tb->fds[t].kind != PROC_FD_TCP_CONN &&
				    test_rand(seed) % 3 == 0)
					watch(tb, tb->fds[e].fd, tb->fds[t].fd,
					      1 + test_rand(seed) % 4);
}

static void test_random(void)
{
	uint64_t seed = 0x2e9b3e7;
	size_t moves, total = 0;

	for (int round = 0; round < 5000; round++) {
		struct table p, s;

		random_table(&p, &seed);
		if (p.fds[p.t.n - 1].kind == PROC_FD_TCP_CONN)
			p.t.n--;                /* the PVM has none */
		random_table(&s, &seed);
		CHECK_EQ(diff_and_run(&p.t, &s.t, &moves), 0);
		total += moves;
	}
	CHECK(total > 0);
	printf("ok: 5000 random renumberings, %zu moves\n", total);
}

int main(void)
{
	test_memcached();
	printf("ok: memcached's fds at other numbers, a swap, a refusal\n");
	test_random();
	return 0;
}
