// SPDX-License-Identifier: MIT
/*
 * The PVM's fd table against the SVM's: what proc-inject must run in the
 * stopped SVM so that it holds the same fds as the PVM.
 *
 * First the SVM's own objects are given the PVM's numbers
 * (proc-fds-renumber.c); then, on the SVM's table as those moves leave
 * it, per fd number, in both tables or one:
 *   PVM only, a connection        accept it from the SVM's listening socket
 *                                 (the secondary opened the same
 *                                 connections, still pending there)
 *   SVM only                      close it; but a connection the SVM
 *                                 accepted while the PVM still has some
 *                                 pending may be the PVM's next one:
 *                                 refused, as it cannot be put back
 *   both, another connection      close it, then accept (the PVM closed
 *   (or PVM's is one, SVM's not)  and accepted again at the same number)
 *   both, the same                nothing, but what state they keep must
 *                                 match: ports, masks, offsets, flags; an
 *                                 epoll fd's interest list is reconciled
 *                                 with DEL, ADD and MOD, an eventfd's
 *                                 counter set, a file in the scratch /tmp
 *                                 given the PVM's offset (lseek)
 *   anything else                 refused: the fd cannot be created
 *
 * A refusal is transient ("not now") when it only says that the PVM was
 * stopped between an open and the close of a regular file: a PVM-only
 * regular file (redis's DEBUG RELOAD holding dump.rdb, a foreground SAVE
 * its temp-PID.rdb), or a regular file at a number where the other side
 * holds another kind (the SVM's next client took the number the PVM's
 * file has, or the other way round). The same program a moment later
 * holds no such file, so the checkpoint is tried again. Everything else
 * stays fatal: a file both sides hold but differently (name, offset,
 * flags) is the program doing different things with it, not a moment's
 * difference; and the other kinds (epoll, eventfd, signalfd, pipes,
 * listeners, connections) are objects the program keeps, whose mismatch
 * waiting does not mend.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proc-fds.h"
#include "proc-fds-renumber.h"

static void refuse_va(struct proc_fd_builder *b, int fd, bool transient,
		      const char *fmt, va_list ap)
{
	struct proc_fd_action *a = proc_fd_builder_push(b, PROC_FD_ACT_REFUSE,
							fd);
	int n;

	if (!a)
		return;
	a->transient = transient;
	n = snprintf(a->reason, sizeof(a->reason), "fd %d: ", fd);
	vsnprintf(a->reason + n, sizeof(a->reason) - (size_t)n, fmt, ap);
}

static void __attribute__((format(printf, 3, 4)))
refuse(struct proc_fd_builder *b, int fd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	refuse_va(b, fd, false, fmt, ap);
	va_end(ap);
}

/* A refusal that a moment later would not be (the header comment). */
static void __attribute__((format(printf, 3, 4)))
not_now(struct proc_fd_builder *b, int fd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	refuse_va(b, fd, true, fmt, ap);
	va_end(ap);
}

/* The table's listening socket a connection on local came through. */
static const struct proc_fd *listener_of(const struct proc_fd_table *t,
					 const struct proc_tcp_end *local)
{
	const struct proc_fd *any = NULL;

	for (size_t i = 0; i < t->n; i++) {
		const struct proc_fd *l = &t->fds[i];

		if (l->kind != PROC_FD_TCP_LISTEN || l->local.port != local->port)
			continue;
		if (l->local.family == local->family)
			return l;
		any = l;        /* an IPv6 socket takes IPv4 too */
	}
	return any;
}

/* PVM's connection p into fd p->fd of the SVM, from its twin listener. */
static void accept_into(struct proc_fd_builder *b,
			const struct proc_fd_table *svm,
			const struct proc_fd_table *pvm, const struct proc_fd *p)
{
	const struct proc_fd *pl = listener_of(pvm, &p->local), *sl;
	struct proc_fd_action *a;

	if (!pl) {
		refuse(b, p->fd, "TCP connection on port %u of no listening "
		       "socket of the PVM", (unsigned)p->local.port);
		return;
	}
	sl = proc_fds_find(svm, pl->fd);
	if (!sl || sl->kind != PROC_FD_TCP_LISTEN ||
	    !proc_tcp_end_same(&sl->local, &pl->local)) {
		refuse(b, p->fd, "its listening socket fd %d is not the same "
		       "on the SVM", pl->fd);
		return;
	}
	a = proc_fd_builder_push(b, PROC_FD_ACT_ACCEPT, p->fd);
	if (!a)
		return;
	a->listen_fd = sl->fd;
	a->accept_flags = (p->flags & O_NONBLOCK ? SOCK_NONBLOCK : 0) |
			  (p->cloexec ? SOCK_CLOEXEC : 0);
}

/* Both sides hold a "same" fd: the state it keeps must match. Standard
 * input, output and error are each host's own (/dev/null and the
 * daemon's log, as proc_fds_check says): where a log file's offset is on
 * one host is nothing the program's state depends on. */
static void compare_same(struct proc_fd_builder *b, const struct proc_fd *p,
			 const struct proc_fd *s)
{
	struct proc_fd_action *a;

	if (p->fd <= 2)
		return;
	if (p->flags != s->flags || p->cloexec != s->cloexec) {
		refuse(b, p->fd, "flags %#o%s on the PVM, %#o%s on the SVM",
		       (unsigned)p->flags, p->cloexec ? " cloexec" : "",
		       (unsigned)s->flags, s->cloexec ? " cloexec" : "");
		return;
	}
	switch (p->kind) {
	case PROC_FD_TCP_LISTEN:
		if (!proc_tcp_end_same(&p->local, &s->local))
			refuse(b, p->fd, "listening on port %u on the PVM, %u "
			       "on the SVM", (unsigned)p->local.port,
			       (unsigned)s->local.port);
		break;
	case PROC_FD_EVENTFD:
		/* A count the program's threads left for each other (a wake-up
		 * not yet read) is state like memory: copied. */
		if (p->count != s->count &&
		    (a = proc_fd_builder_push(b, PROC_FD_ACT_EVENTFD_SET,
					      p->fd)))
			a->count = p->count;
		break;
	case PROC_FD_SIGNALFD:
		if (p->sigmask != s->sigmask)
			refuse(b, p->fd, "signalfd mask %llx on the PVM, %llx "
			       "on the SVM", (unsigned long long)p->sigmask,
			       (unsigned long long)s->sigmask);
		break;
	case PROC_FD_PIPE:
		/* The bytes in a pipe are the reader's state: at a write end
		 * (the daemon's stderr, say) they are output already given,
		 * and a pipe inside the program shows them at its read end. */
		if ((p->flags & O_ACCMODE) != O_WRONLY && p->unread != s->unread)
			refuse(b, p->fd, "pipe holding %u bytes on the PVM, %u "
			       "on the SVM", p->unread, s->unread);
		break;
	case PROC_FD_FILE:
		/* In the scratch /tmp each side has its own copy of the file,
		 * written alike: the SVM's goes on from the PVM's offset. */
		if (p->pos != s->pos && proc_fd_in_scratch(p)) {
			a = proc_fd_builder_push(b, PROC_FD_ACT_LSEEK, p->fd);
			if (a)
				a->offset = p->pos;
		} else if (p->pos != s->pos)
			refuse(b, p->fd, "file offset %llu on the PVM, %llu "
			       "on the SVM", (unsigned long long)p->pos,
			       (unsigned long long)s->pos);
		__attribute__((fallthrough));  /* and the same file */
	case PROC_FD_NULL_DEV:
	case PROC_FD_TIMERFD:
	case PROC_FD_OTHER:
		if (!p->target || !s->target || strcmp(p->target, s->target))
			refuse(b, p->fd, "%s on the PVM, %s on the SVM",
			       p->target ? p->target : "?",
			       s->target ? s->target : "?");
		break;
	default:
		break;          /* connections and epoll: the caller's */
	}
}

/* An fd the SVM holds and the PVM does not. */
static void svm_only(struct proc_fd_builder *b, const struct proc_fd_table *pvm,
		     const struct proc_fd *s)
{
	const struct proc_fd *pl;

	if (s->kind == PROC_FD_TCP_CONN &&
	    (pl = listener_of(pvm, &s->local)) && pl->pending) {
		refuse(b, s->fd, "a connection accepted on the SVM only, "
		       "while the PVM's fd %d has %u pending", pl->fd,
		       pl->pending);
		return;
	}
	proc_fd_builder_push(b, PROC_FD_ACT_CLOSE, s->fd);
}

/* Whether fd n of the SVM is closed and replaced by the PVM's. */
static bool replaced(const struct proc_fd *p, const struct proc_fd *s)
{
	if (!p || !s || p->kind != PROC_FD_TCP_CONN)
		return false;
	return s->kind != PROC_FD_TCP_CONN ||
	       !proc_tcp_end_same(&p->local, &s->local) ||
	       !proc_tcp_end_same(&p->remote, &s->remote);
}

static void diff_fd(struct proc_fd_builder *b, const struct proc_fd_table *pvm,
		    const struct proc_fd_table *svm, const struct proc_fd *p,
		    const struct proc_fd *s)
{
	char pw[320], sw[320];

	if (!p) {
		svm_only(b, pvm, s);
	} else if (!s || replaced(p, s)) {
		if (p->kind == PROC_FD_FILE) {
			proc_fd_describe(p, pw, sizeof(pw));
			not_now(b, p->fd, "%s open on the PVM only (between "
				"its open and close?)", pw);
			return;
		}
		if (p->kind != PROC_FD_TCP_CONN) {
			proc_fd_describe(p, pw, sizeof(pw));
			refuse(b, p->fd, "%s open on the PVM only (no like "
			       "fd of the SVM's to move there)", pw);
			return;
		}
		if (s)
			proc_fd_builder_push(b, PROC_FD_ACT_CLOSE, s->fd);
		accept_into(b, svm, pvm, p);
	} else if (p->kind != s->kind) {
		proc_fd_describe(p, pw, sizeof(pw));
		proc_fd_describe(s, sw, sizeof(sw));
		if (p->kind == PROC_FD_FILE || s->kind == PROC_FD_FILE)
			not_now(b, p->fd, "%s on the PVM, %s on the SVM", pw,
				sw);
		else
			refuse(b, p->fd, "%s on the PVM, %s on the SVM", pw,
			       sw);
	} else {
		compare_same(b, p, s);
	}
}

static int cmp_item(const void *x, const void *y)
{
	const struct proc_epoll_item *a = x, *b = y;

	return (a->tfd > b->tfd) - (a->tfd < b->tfd);
}

static struct proc_epoll_item *sorted_items(const struct proc_fd *f)
{
	struct proc_epoll_item *v = malloc((f->n_items + 1) * sizeof(*v));

	if (v && f->n_items) {
		memcpy(v, f->items, f->n_items * sizeof(*v));
		qsort(v, f->n_items, sizeof(*v), cmp_item);
	}
	return v;
}

static bool tfd_replaced(const struct proc_fd_table *pvm,
			 const struct proc_fd_table *svm, int tfd)
{
	return replaced(proc_fds_find(pvm, tfd), proc_fds_find(svm, tfd));
}

static void epoll_op(struct proc_fd_builder *b, enum proc_fd_action_kind kind,
		     int epfd, const struct proc_epoll_item *it)
{
	struct proc_fd_action *a = proc_fd_builder_push(b, kind, epfd);

	if (a)
		a->item = *it;
}

/* The interest list of the epoll fd p (the PVM's) on s (the SVM's). */
static void diff_epoll(struct proc_fd_builder *b,
		       const struct proc_fd_table *pvm,
		       const struct proc_fd_table *svm,
		       const struct proc_fd *p, const struct proc_fd *s)
{
	struct proc_epoll_item *pi = sorted_items(p), *si = sorted_items(s);
	size_t i = 0, j = 0;

	if (!pi || !si) {
		b->err = -ENOMEM;
		goto out;
	}
	/*
	 * A target outlives its fd number while a dup of its file is open:
	 * an ADD, which names the file by an open fd, cannot make that.
	 */
	for (size_t k = 0; k < p->n_items; k++)
		if (!proc_fds_find(pvm, pi[k].tfd))
			refuse(b, p->fd, "epoll watches fd %d, which is not "
			       "open on the PVM", pi[k].tfd);
	while (i < p->n_items || j < s->n_items) {
		int pt = i < p->n_items ? pi[i].tfd : INT32_MAX;
		int st = j < s->n_items ? si[j].tfd : INT32_MAX;

		if (st < pt) {
			epoll_op(b, PROC_FD_ACT_EPOLL_DEL, s->fd, &si[j++]);
		} else if (pt < st) {
			epoll_op(b, PROC_FD_ACT_EPOLL_ADD, p->fd, &pi[i++]);
		} else if (tfd_replaced(pvm, svm, pt)) {
			/* Another file behind the number: out, then in. */
			epoll_op(b, PROC_FD_ACT_EPOLL_DEL, s->fd, &si[j++]);
			epoll_op(b, PROC_FD_ACT_EPOLL_ADD, p->fd, &pi[i++]);
		} else {
			if (pi[i].events != si[j].events ||
			    pi[i].data != si[j].data)
				epoll_op(b, PROC_FD_ACT_EPOLL_MOD, p->fd, &pi[i]);
			i++;
			j++;
		}
	}
out:
	free(pi);
	free(si);
}

/* Accepts take pending connections: the SVM must have enough. */
static void check_pending(struct proc_fd_builder *b,
			  const struct proc_fd_table *svm)
{
	size_t n = b->out->n;

	for (size_t i = 0; i < n; i++) {
		const struct proc_fd_action *a = &b->out->a[i];
		const struct proc_fd *l;
		uint32_t wanted = 0;
		bool first = true;

		if (a->kind != PROC_FD_ACT_ACCEPT)
			continue;
		for (size_t k = 0; k < n; k++) {
			if (b->out->a[k].kind != PROC_FD_ACT_ACCEPT ||
			    b->out->a[k].listen_fd != a->listen_fd)
				continue;
			first = first && k >= i;
			wanted++;
		}
		l = proc_fds_find(svm, a->listen_fd);
		if (first && l && wanted > l->pending)
			refuse(b, a->listen_fd, "%u connections to accept, %u "
			       "pending on the SVM", wanted, l->pending);
	}
}

/* Stable order by kind: the enum lists the kinds in running order. */
static int order_by_kind(struct proc_fd_actions *acts)
{
	struct proc_fd_action *v;
	size_t k = 0;

	if (!acts->n)
		return 0;
	v = malloc(acts->n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (int kind = 0; kind < PROC_FD_ACT__MAX; kind++) {
		int want = kind == PROC_FD_ACT_EPOLL_MOD ? -1 : kind;

		for (size_t i = 0; i < acts->n; i++) {
			int have = acts->a[i].kind;

			if (have == PROC_FD_ACT_EPOLL_MOD)
				have = PROC_FD_ACT_EPOLL_ADD;
			if (have == want)
				v[k++] = acts->a[i];
		}
	}
	free(acts->a);
	acts->a = v;
	return 0;
}

/* The actions on svm (renumbered already) in running order, into b. */
static void diff_tables(struct proc_fd_builder *b,
			const struct proc_fd_table *pvm,
			const struct proc_fd_table *svm)
{
	size_t i = 0, j = 0;

	while (i < pvm->n || j < svm->n) {
		const struct proc_fd *p = i < pvm->n ? &pvm->fds[i] : NULL;
		const struct proc_fd *s = j < svm->n ? &svm->fds[j] : NULL;

		if (p && s && p->fd == s->fd) {
			diff_fd(b, pvm, svm, p, s);
			if (p->kind == PROC_FD_EPOLL && s->kind == PROC_FD_EPOLL)
				diff_epoll(b, pvm, svm, p, s);
			i++;
			j++;
		} else if (p && (!s || p->fd < s->fd)) {
			diff_fd(b, pvm, svm, p, NULL);
			i++;
		} else {
			diff_fd(b, pvm, svm, NULL, s);
			j++;
		}
	}
	check_pending(b, svm);
	if (!b->err)
		b->err = order_by_kind(b->out);
}

int proc_fds_diff(const struct proc_fd_table *pvm,
		  const struct proc_fd_table *svm, struct proc_fd_actions *out)
{
	struct proc_fd_actions rest = { NULL, 0 };
	struct proc_fd_builder b = { out, 0, 0 }, rb = { &rest, 0, 0 };
	struct proc_fd_table after = { NULL, 0 };
	struct proc_fd_action *v;
	int r;

	out->a = NULL;
	out->n = 0;
	b.err = proc_fds_renumber(&b, pvm, svm, &after);
	if (!b.err) {
		diff_tables(&rb, pvm, &after);
		b.err = rb.err;
	}
	/* Refusals (rest's come first in it), the renumbering, then the
	 * rest, which names the fds where the renumbering put them. */
	if (!b.err && rest.n) {
		size_t r = 0;

		while (r < rest.n && rest.a[r].kind == PROC_FD_ACT_REFUSE)
			r++;
		v = malloc((out->n + rest.n) * sizeof(*v));
		if (v) {
			memcpy(v, rest.a, r * sizeof(*v));
			if (out->n)
				memcpy(v + r, out->a, out->n * sizeof(*v));
			memcpy(v + r + out->n, rest.a + r,
			       (rest.n - r) * sizeof(*v));
			free(out->a);
			out->a = v;
			out->n += rest.n;
		} else {
			b.err = -ENOMEM;
		}
	}
	proc_fd_actions_free(&rest);
	proc_fds_renumbered_free(&after);
	if (b.err) {
		proc_fd_actions_free(out);
		return b.err;
	}
	/* One transient refusal makes them all "not now": the fd numbers a
	 * file mid-way takes shift the program's next ones, so the others
	 * may be its consequences; retried, they show for what they are. */
	r = 0;
	for (size_t k = 0; k < out->n; k++)
		if (out->a[k].kind == PROC_FD_ACT_REFUSE)
			r = out->a[k].transient ? PROC_FDS_NOT_NOW :
			    r ? r : PROC_FDS_UNSUPPORTED;
	return r;
}

void proc_fd_actions_free(struct proc_fd_actions *acts)
{
	if (!acts)
		return;
	free(acts->a);
	acts->a = NULL;
	acts->n = 0;
}
