// SPDX-License-Identifier: MIT
/*
 * Giving the SVM's own objects the PVM's fd numbers. A program whose
 * threads start while others open fds numbers its epolls, eventfds and
 * pipes differently from run to run: memcached's logger thread holds an
 * fd for a moment while the main thread makes its worker's event base,
 * so the PVM may have `6 eventfd, 8 epoll` where the SVM has `6 eventfd,
 * 7 epoll`. The image copies the program's memory, which names the PVM's
 * numbers, so each must hold a like object on the SVM.
 *
 * Objects the program made for itself carry nothing of the other host's:
 * an epoll's interest list is reconciled after, an eventfd's counter is
 * set after, an empty pipe is any empty pipe. So a PVM fd may take any
 * unclaimed SVM fd that is alike (same kind and flags; a listening socket
 * on the same address, a file or device of the same name and offset, a
 * signalfd of the same mask), and a pipe is matched whole: all the fds on
 * one pipe, in fd order, with the same directions and flags. An fd keeps
 * its number when it can. A connection is alike only to the one with the
 * same two ends (the pair opens each from the same port on both hosts):
 * the program accepts in the same order on both, but a thread that holds
 * an fd for a moment can push one accept to the next number (a new
 * thread's first act, in the shim, is to read /proc/self/maps: redis's
 * bio threads did it while the main thread accepted). What the SVM has
 * not accepted, proc-fds-diff accepts. fds 0-2 (each host's own) and the
 * shim's uffd keep their numbers.
 *
 * A move is dup3 then close, and an epoll's entry is keyed by file and
 * the number it was added under: a moved fd stays in an interest list
 * under its old number, where no DEL by number can reach it. So what
 * moves is taken out of every interest list first (proc-fds-diff adds
 * back what the PVM's lists hold), then moved to a free number, then to
 * its own: two hops, so that swaps and chains need no ordering. An SVM fd
 * standing where another must go, and that has no PVM twin, is moved
 * aside to a free number, where proc-fds-diff closes it or refuses.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proc-fds-renumber.h"
#include "shim-abi.h"

#define NONE SIZE_MAX

struct proc_fd_action *proc_fd_builder_push(struct proc_fd_builder *b,
					    enum proc_fd_action_kind kind,
					    int fd)
{
	struct proc_fd_action *a;

	if (b->err)
		return NULL;
	if (b->out->n == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 16;

		a = realloc(b->out->a, ncap * sizeof(*a));
		if (!a) {
			b->err = -ENOMEM;
			return NULL;
		}
		b->out->a = a;
		b->cap = ncap;
	}
	a = &b->out->a[b->out->n++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->fd = fd;
	a->listen_fd = -1;
	a->from = -1;
	return a;
}

static bool movable(const struct proc_fd *f)
{
	return f->fd > 2 && f->fd != COLO_SHIM_UFFD_FD &&
	       f->kind < PROC_FD__MAX;
}

/*
 * unit[i]: the index of the first fd of i's object (a pipe's fds share
 * one), NONE for an fd that is not renumbered. Pipes are few: quadratic.
 */
static size_t *units_of(const struct proc_fd_table *t)
{
	size_t *unit = malloc((t->n + 1) * sizeof(*unit));

	if (!unit)
		return NULL;
	for (size_t i = 0; i < t->n; i++) {
		const struct proc_fd *f = &t->fds[i];

		unit[i] = movable(f) ? i : NONE;
		if (unit[i] == NONE || f->kind != PROC_FD_PIPE)
			continue;
		for (size_t j = 0; j < i; j++)
			if (unit[j] == j && t->fds[j].kind == PROC_FD_PIPE &&
			    t->fds[j].ino == f->ino) {
				unit[i] = j;
				break;
			}
	}
	return unit;
}

static bool same_name(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

static bool alike(const struct proc_fd *p, const struct proc_fd *s)
{
	if (p->kind != s->kind || p->flags != s->flags)
		return false;
	switch (p->kind) {
	case PROC_FD_TCP_LISTEN:
		return proc_tcp_end_same(&p->local, &s->local);
	case PROC_FD_TCP_CONN:
		return proc_tcp_end_same(&p->local, &s->local) &&
		       proc_tcp_end_same(&p->remote, &s->remote);
	case PROC_FD_SIGNALFD:
		return p->sigmask == s->sigmask;
	case PROC_FD_FILE:
		return p->pos == s->pos && same_name(p->target, s->target);
	case PROC_FD_NULL_DEV:
	case PROC_FD_OTHER:
		return same_name(p->target, s->target);
	default:
		return true;
	}
}

/*
 * Pairs the fds of PVM unit pu with those of SVM unit su, alike each
 * (and at the same numbers, if in_place): pair[i] for each member i of
 * pu. The fds on one pipe are one file, so any pairing of alike ones
 * does. Units are small (a pipe's ends): quadratic. Whether they pair.
 */
static bool pair_units(const struct proc_fd_table *pvm, const size_t *punit,
		       size_t pu, const struct proc_fd_table *svm,
		       const size_t *sunit, size_t su, bool in_place,
		       size_t *pair)
{
	size_t np = 0, ns = 0;

	for (size_t j = su; j < svm->n; j++)
		ns += sunit[j] == su;
	for (size_t i = pu; i < pvm->n; i++) {
		const struct proc_fd *p = &pvm->fds[i];
		size_t j;

		if (punit[i] != pu)
			continue;
		np++;
		pair[i] = NONE;
		for (j = su; j < svm->n && pair[i] == NONE; j++) {
			bool taken = false;

			if (sunit[j] != su || !alike(p, &svm->fds[j]) ||
			    (in_place && p->fd != svm->fds[j].fd))
				continue;
			for (size_t k = pu; k < i && !taken; k++)
				taken = punit[k] == pu && pair[k] == j;
			if (!taken)
				pair[i] = j;
		}
		if (pair[i] == NONE)
			return false;
	}
	return np == ns;
}

struct plan {
	const struct proc_fd_table *pvm, *svm;
	size_t *punit, *sunit;
	size_t *pmatch;         /* per PVM unit: the SVM unit it takes */
	size_t *pair;           /* per PVM fd of a matched unit: its SVM fd */
	bool *sclaimed;         /* per SVM unit */
	int *to;                /* per SVM fd: its new number, or -1 */
	int *hop;               /* per SVM fd that moves: the free number */
	bool *cloexec;          /* per SVM fd that moves: FD_CLOEXEC after */
	int next_free;
};

static void match_units(struct plan *pl)
{
	const struct proc_fd_table *pvm = pl->pvm, *svm = pl->svm;

	/* In place first, so that no fd leaves a number it already fits. */
	for (size_t pu = 0; pu < pvm->n; pu++) {
		const struct proc_fd *s;
		size_t su;

		pl->pmatch[pu] = NONE;
		if (pl->punit[pu] != pu)
			continue;
		s = proc_fds_find(svm, pvm->fds[pu].fd);
		su = s ? pl->sunit[s - svm->fds] : NONE;
		if (su != NONE && !pl->sclaimed[su] &&
		    pair_units(pvm, pl->punit, pu, svm, pl->sunit, su, true,
			       pl->pair)) {
			pl->pmatch[pu] = su;
			pl->sclaimed[su] = true;
		}
	}
	for (size_t pu = 0; pu < pvm->n; pu++) {
		if (pl->punit[pu] != pu || pl->pmatch[pu] != NONE)
			continue;
		for (size_t su = 0; su < svm->n; su++)
			if (pl->sunit[su] == su && !pl->sclaimed[su] &&
			    pair_units(pvm, pl->punit, pu, svm, pl->sunit, su,
				       false, pl->pair)) {
				pl->pmatch[pu] = su;
				pl->sclaimed[su] = true;
				break;
			}
	}
}

/* A number neither table uses, nor a hop taken before. */
static int free_number(struct plan *pl)
{
	while (proc_fds_find(pl->pvm, pl->next_free) ||
	       proc_fds_find(pl->svm, pl->next_free))
		pl->next_free++;
	return pl->next_free++;
}

/* pl->to and pl->cloexec for every SVM fd that moves or stands aside. */
static void plan_moves(struct plan *pl)
{
	const struct proc_fd_table *pvm = pl->pvm, *svm = pl->svm;

	for (size_t j = 0; j < svm->n; j++)
		pl->to[j] = -1;
	for (size_t i = 0; i < pvm->n; i++) {
		size_t pu = pl->punit[i], j;

		if (pu == NONE || pl->pmatch[pu] == NONE)
			continue;
		j = pl->pair[i];
		/* A move gives FD_CLOEXEC too: one onto its own number, when
		 * that is all that differs (a pipe's dup'ed ends, paired by
		 * direction only). */
		if (pvm->fds[i].fd != svm->fds[j].fd ||
		    pvm->fds[i].cloexec != svm->fds[j].cloexec) {
			pl->to[j] = pvm->fds[i].fd;
			pl->cloexec[j] = pvm->fds[i].cloexec;
		}
	}
	/* What stands on a number an fd moves to goes aside. */
	for (size_t j = 0; j < svm->n; j++) {
		const struct proc_fd *in_way;
		size_t k;

		if (pl->to[j] < 0 || pl->hop[j] >= 0)
			continue;
		pl->hop[j] = free_number(pl);
		in_way = proc_fds_find(svm, pl->to[j]);
		k = in_way ? (size_t)(in_way - svm->fds) : NONE;
		if (k != NONE && pl->to[k] < 0) {
			pl->hop[k] = free_number(pl);
			pl->to[k] = pl->hop[k];
			pl->cloexec[k] = in_way->cloexec;
		}
	}
}

static void emit(struct proc_fd_builder *b, const struct plan *pl)
{
	const struct proc_fd_table *svm = pl->svm;
	struct proc_fd_action *a;

	for (size_t e = 0; e < svm->n; e++) {
		const struct proc_fd *ep = &svm->fds[e];

		if (ep->kind != PROC_FD_EPOLL)
			continue;
		for (size_t k = 0; k < ep->n_items; k++) {
			const struct proc_fd *t = proc_fds_find(svm,
							ep->items[k].tfd);

			if (t && pl->to[t - svm->fds] >= 0 &&
			    (a = proc_fd_builder_push(b, PROC_FD_ACT_EPOLL_DEL,
						      ep->fd)))
				a->item = ep->items[k];
		}
	}
	for (size_t j = 0; j < svm->n; j++)
		if (pl->to[j] >= 0 &&
		    (a = proc_fd_builder_push(b, PROC_FD_ACT_MOVE, pl->hop[j]))) {
			a->from = svm->fds[j].fd;
			a->cloexec = svm->fds[j].cloexec;
		}
	for (size_t j = 0; j < svm->n; j++)
		if (pl->to[j] >= 0 && pl->to[j] != pl->hop[j] &&
		    (a = proc_fd_builder_push(b, PROC_FD_ACT_MOVE, pl->to[j]))) {
			a->from = pl->hop[j];
			a->cloexec = pl->cloexec[j];
		}
}

static int cmp_fd(const void *x, const void *y)
{
	int a = ((const struct proc_fd *)x)->fd;
	int b = ((const struct proc_fd *)y)->fd;

	return (a > b) - (a < b);
}

/* svm once the moves ran; its epolls' items copied, the moved left out. */
static int build_after(const struct plan *pl, struct proc_fd_table *after)
{
	const struct proc_fd_table *svm = pl->svm;

	after->n = 0;
	after->fds = calloc(svm->n + 1, sizeof(*after->fds));
	if (!after->fds)
		return -ENOMEM;
	for (size_t j = 0; j < svm->n; j++) {
		struct proc_fd *f = &after->fds[after->n++];
		const struct proc_fd *s = &svm->fds[j];

		*f = *s;
		f->items = NULL;
		f->n_items = 0;
		if (pl->to[j] >= 0) {
			f->fd = pl->to[j];
			f->cloexec = pl->cloexec[j];
		}
		if (s->kind != PROC_FD_EPOLL)
			continue;
		f->items = malloc((s->n_items + 1) * sizeof(*f->items));
		if (!f->items)
			return -ENOMEM;
		for (size_t k = 0; k < s->n_items; k++) {
			const struct proc_fd *t = proc_fds_find(svm,
							s->items[k].tfd);

			if (!t || pl->to[t - svm->fds] < 0)
				f->items[f->n_items++] = s->items[k];
		}
	}
	qsort(after->fds, after->n, sizeof(*after->fds), cmp_fd);
	return 0;
}

int proc_fds_renumber(struct proc_fd_builder *b,
		      const struct proc_fd_table *pvm,
		      const struct proc_fd_table *svm,
		      struct proc_fd_table *after)
{
	size_t n = svm->n + 1, m = pvm->n + 1;
	struct plan pl = {
		.pvm = pvm, .svm = svm, .next_free = 3,
		.punit = units_of(pvm), .sunit = units_of(svm),
		.pmatch = malloc(m * sizeof(size_t)),
		.pair = malloc(m * sizeof(size_t)),
		.sclaimed = calloc(n, sizeof(bool)),
		.to = malloc(n * sizeof(int)),
		.hop = malloc(n * sizeof(int)),
		.cloexec = calloc(n, sizeof(bool)),
	};
	int err = -ENOMEM;

	after->fds = NULL;
	after->n = 0;
	if (pl.punit && pl.sunit && pl.pmatch && pl.pair && pl.sclaimed &&
	    pl.to && pl.hop && pl.cloexec) {
		memset(pl.hop, 0xff, n * sizeof(int));      /* all -1 */
		match_units(&pl);
		plan_moves(&pl);
		emit(b, &pl);
		err = build_after(&pl, after);
	}
	if (!err)
		err = b->err;
	if (err)
		proc_fds_renumbered_free(after);
	free(pl.punit);
	free(pl.sunit);
	free(pl.pmatch);
	free(pl.pair);
	free(pl.sclaimed);
	free(pl.to);
	free(pl.hop);
	free(pl.cloexec);
	return err;
}

void proc_fds_renumbered_free(struct proc_fd_table *after)
{
	if (!after)
		return;
	for (size_t i = 0; i < after->n; i++)
		free(after->fds[i].items);
	free(after->fds);
	after->fds = NULL;
	after->n = 0;
}
