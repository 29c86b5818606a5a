// SPDX-License-Identifier: MIT
/*
 * proc_fds_check and proc_fds_diff on crafted tables, no process: a
 * redis-like table is supported and each kind the design refuses is
 * refused with its fd named; the diff of fixed pairs gives the expected
 * actions in running order; and on random pairs of tables, running the
 * diff's actions on a model of the SVM with the kernel's rules (ADD needs
 * the fd open and not yet added, DEL and MOD need it added, a close drops
 * the fd from every interest list, an accept needs a pending connection)
 * makes it equal to the PVM.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proc-fds.h"
#include "shim-abi.h"
#include "tap.h"

#define PORT 6379
#define MAX_FDS 48

/* A table built by hand, kept in fd order. */
struct table {
	struct proc_fd fds[MAX_FDS];
	struct proc_epoll_item items[MAX_FDS][MAX_FDS];
	size_t slots;                   /* items[] rows given out */
	struct proc_fd_table t;
};

static struct proc_fd *add(struct table *tb, int fd, enum proc_fd_kind kind,
			   const char *target)
{
	struct proc_fd *f;

	size_t at = tb->t.n;

	CHECK(tb->t.n < MAX_FDS && tb->slots < MAX_FDS);
	while (at > 0 && tb->fds[at - 1].fd > fd)
		at--;
	CHECK(at == 0 || tb->fds[at - 1].fd != fd);
	memmove(&tb->fds[at + 1], &tb->fds[at],
		(tb->t.n - at) * sizeof(tb->fds[0]));
	f = &tb->fds[at];
	memset(f, 0, sizeof(*f));
	f->fd = fd;
	f->kind = kind;
	f->flags = O_RDWR;
	f->cloexec = true;
	f->target = (char *)target;
	f->items = tb->items[tb->slots++];
	tb->t.fds = tb->fds;
	tb->t.n++;
	return f;
}

static void set_end(struct proc_tcp_end *e, uint16_t port)
{
	memset(e, 0, sizeof(*e));
	e->family = AF_INET;
	inet_pton(AF_INET, "127.0.0.1", e->addr);
	e->port = port;
}

static struct proc_fd *add_listen(struct table *tb, int fd, int family,
				  uint32_t pending)
{
	struct proc_fd *f = add(tb, fd, PROC_FD_TCP_LISTEN, "socket:[1]");

	f->tcp_state = TCP_LISTEN;
	set_end(&f->local, PORT);
	f->local.family = family;
	if (family == AF_INET6)
		memset(f->local.addr, 0, 16);
	f->pending = pending;
	return f;
}

static struct proc_fd *add_conn(struct table *tb, int fd, uint16_t peer)
{
	struct proc_fd *f = add(tb, fd, PROC_FD_TCP_CONN, "socket:[2]");

	f->tcp_state = TCP_ESTABLISHED;
	f->flags = O_RDWR | O_NONBLOCK;
	set_end(&f->local, PORT);
	set_end(&f->remote, peer);
	return f;
}

static void add_item(struct proc_fd *ep, int tfd, uint32_t events)
{
	ep->items[ep->n_items++] = (struct proc_epoll_item){ tfd, events,
							     (uint64_t)tfd };
}

/* What redis-server 7.0 under the shim holds, with two clients. */
static void redis_like(struct table *tb, uint32_t pending)
{
	struct proc_fd *f, *ep;

	memset(tb, 0, sizeof(*tb));
	add(tb, 0, PROC_FD_NULL_DEV, "/dev/null")->flags = O_RDONLY;
	add(tb, 1, PROC_FD_PIPE, "pipe:[10]")->ino = 10;  /* the daemon's */
	add(tb, 2, PROC_FD_PIPE, "pipe:[10]")->ino = 10;
	f = add(tb, 3, PROC_FD_PIPE, "pipe:[20]");
	f->ino = 20;
	f->flags = O_RDONLY | O_NONBLOCK;
	f = add(tb, 4, PROC_FD_PIPE, "pipe:[20]");
	f->ino = 20;
	f->flags = O_WRONLY | O_NONBLOCK;
	ep = add(tb, 5, PROC_FD_EPOLL, "anon_inode:[eventpoll]");
	add_listen(tb, 6, AF_INET, pending);
	add_listen(tb, 7, AF_INET6, 0);
	add_conn(tb, 8, 40000);
	add_conn(tb, 9, 40001)->tcp_state = TCP_CLOSE_WAIT;
	add(tb, COLO_SHIM_UFFD_FD, PROC_FD_OTHER, "anon_inode:[userfaultfd]");
	add_item(ep, 3, 1);
	add_item(ep, 6, 1);
	add_item(ep, 7, 1);
	add_item(ep, 8, 1);
	add_item(ep, 9, 1);
}

static void expect_refused(const struct table *tb, const char *expect)
{
	char reason[256];

	CHECK_EQ(proc_fds_check(&tb->t, reason, sizeof(reason)),
		 PROC_FDS_UNSUPPORTED);
	if (strcmp(reason, expect))
		fprintf(stderr, "reason: %s\nexpected: %s\n", reason, expect);
	CHECK(!strcmp(reason, expect));
}

/* The redis-like table and one more fd. */
static struct proc_fd *redis_plus(struct table *tb, int fd,
				  enum proc_fd_kind kind, const char *target)
{
	redis_like(tb, 0);
	return add(tb, fd, kind, target);
}

static void test_check(void)
{
	struct table tb;
	struct proc_fd *f;
	char reason[256];

	redis_like(&tb, 0);
	CHECK_EQ(proc_fds_check(&tb.t, reason, sizeof(reason)), 0);
	CHECK_EQ(reason[0], '\0');

	f = redis_plus(&tb, 10, PROC_FD_FILE, "/var/lib/x");
	f->flags = O_RDONLY;
	CHECK_EQ(proc_fds_check(&tb.t, reason, sizeof(reason)), 0);
	f->flags = O_WRONLY;
	expect_refused(&tb, "fd 10: regular file /var/lib/x opened for "
		       "writing: not supported");
	f->flags = O_RDWR;
	expect_refused(&tb, "fd 10: regular file /var/lib/x opened for "
		       "writing: not supported");
	/* In the program's scratch /tmp (an AOF): its own on each side. */
	f = redis_plus(&tb, 10, PROC_FD_FILE,
		       "/tmp/appendonlydir/appendonly.aof.1.incr.aof");
	f->flags = O_WRONLY | O_APPEND;
	CHECK_EQ(proc_fds_check(&tb.t, reason, sizeof(reason)), 0);
	f = redis_plus(&tb, 10, PROC_FD_FILE, "/tmp/../var/lib/x");
	f->flags = O_WRONLY;
	expect_refused(&tb, "fd 10: regular file /tmp/../var/lib/x opened for "
		       "writing: not supported");
	f = redis_plus(&tb, 10, PROC_FD_FILE, "/tmpfile");
	f->flags = O_WRONLY;
	expect_refused(&tb, "fd 10: regular file /tmpfile opened for "
		       "writing: not supported");

	redis_plus(&tb, 10, PROC_FD_NULL_DEV, "/dev/urandom");
	CHECK_EQ(proc_fds_check(&tb.t, reason, sizeof(reason)), 0);
	redis_plus(&tb, 10, PROC_FD_EVENTFD, "anon_inode:[eventfd]");
	CHECK_EQ(proc_fds_check(&tb.t, reason, sizeof(reason)), 0);
	redis_plus(&tb, 10, PROC_FD_SIGNALFD, "anon_inode:[signalfd]");
	CHECK_EQ(proc_fds_check(&tb.t, reason, sizeof(reason)), 0);

	redis_plus(&tb, 10, PROC_FD_TIMERFD, "anon_inode:[timerfd]");
	expect_refused(&tb, "fd 10: timerfd (its kernel timer is not copied): "
		       "not supported");
	redis_plus(&tb, 10, PROC_FD_OTHER, "socket:[77]");
	expect_refused(&tb, "fd 10: socket:[77] (not a listening or connected "
		       "TCP socket): not supported");
	redis_plus(&tb, 10, PROC_FD_OTHER, "anon_inode:[io_uring]");
	expect_refused(&tb, "fd 10: anon_inode:[io_uring] (a kind the backend "
		       "does not know): not supported");
	/* A userfaultfd is the shim's only at its own number. */
	redis_plus(&tb, 10, PROC_FD_OTHER, "anon_inode:[userfaultfd]");
	expect_refused(&tb, "fd 10: anon_inode:[userfaultfd] (a kind the "
		       "backend does not know): not supported");

	f = redis_plus(&tb, 10, PROC_FD_PIPE, "pipe:[30]");
	f->ino = 30;
	expect_refused(&tb, "fd 10: pipe whose other end is outside the "
		       "program: not supported");
	redis_like(&tb, 0);
	tb.fds[3].unread = 1;
	expect_refused(&tb, "fd 3: pipe holding unread bytes: not supported");

	/* An outbound connection: its local port is no listener's. */
	f = redis_plus(&tb, 10, PROC_FD_TCP_CONN, "socket:[5]");
	f->tcp_state = TCP_ESTABLISHED;
	set_end(&f->local, 50000);
	set_end(&f->remote, 80);
	expect_refused(&tb, "fd 10: TCP connection 127.0.0.1:50000 from "
		       "127.0.0.1:80 not accepted from a listening socket of "
		       "the program (outbound): not supported");
	f->tcp_state = TCP_SYN_SENT;
	expect_refused(&tb, "fd 10: TCP connection 127.0.0.1:50000 from "
		       "127.0.0.1:80 neither established nor half-closed: not "
		       "supported");

	/* Standard streams are the daemon's, whatever they are. */
	redis_like(&tb, 0);
	tb.fds[1].kind = PROC_FD_FILE;
	tb.fds[1].flags = O_WRONLY;
	CHECK_EQ(proc_fds_check(&tb.t, reason, sizeof(reason)), 0);
	/* The first refused fd is named, and a short buffer is cut. */
	tb.fds[3].unread = 5;
	tb.fds[4].unread = 5;
	CHECK_EQ(proc_fds_check(&tb.t, reason, 8), PROC_FDS_UNSUPPORTED);
	CHECK(!strcmp(reason, "fd 3: p"));
}

static void expect_action(const struct proc_fd_actions *acts, size_t i,
			  enum proc_fd_action_kind kind, int fd, int other)
{
	CHECK(i < acts->n);
	if (acts->a[i].kind != kind || acts->a[i].fd != fd)
		fprintf(stderr, "action %zu: kind %d fd %d (%s)\n", i,
			acts->a[i].kind, acts->a[i].fd, acts->a[i].reason);
	CHECK_EQ(acts->a[i].kind, kind);
	CHECK_EQ(acts->a[i].fd, fd);
	if (kind == PROC_FD_ACT_ACCEPT)
		CHECK_EQ(acts->a[i].listen_fd, other);
	else if (kind == PROC_FD_ACT_EPOLL_DEL || kind == PROC_FD_ACT_EPOLL_ADD ||
		 kind == PROC_FD_ACT_EPOLL_MOD)
		CHECK_EQ(acts->a[i].item.tfd, other);
}

static void test_diff_fixed(void)
{
	struct table p, s;
	struct proc_fd_actions acts;

	redis_like(&p, 0);
	redis_like(&s, 0);
	CHECK_EQ(proc_fds_diff(&p.t, &s.t, &acts), 0);
	CHECK_EQ(acts.n, 0);
	proc_fd_actions_free(&acts);

	/* A client the PVM accepted at fd 10, pending on the SVM. */
	redis_like(&p, 0);
	add_conn(&p, 10, 40002);
	add_item(&p.fds[5], 10, 0x80000001u);
	redis_like(&s, 1);
	CHECK_EQ(proc_fds_diff(&p.t, &s.t, &acts), 0);
	CHECK_EQ(acts.n, 2);
	expect_action(&acts, 0, PROC_FD_ACT_ACCEPT, 10, 6);
	CHECK_EQ(acts.a[0].accept_flags, SOCK_NONBLOCK | SOCK_CLOEXEC);
	expect_action(&acts, 1, PROC_FD_ACT_EPOLL_ADD, 5, 10);
	CHECK_EQ(acts.a[1].item.events, 0x80000001u);
	CHECK_EQ(acts.a[1].item.data, 10);
	proc_fd_actions_free(&acts);

	/* The same, with nothing pending on the SVM: refused. */
	s.fds[6].pending = 0;
	CHECK_EQ(proc_fds_diff(&p.t, &s.t, &acts), PROC_FDS_UNSUPPORTED);
	expect_action(&acts, 0, PROC_FD_ACT_REFUSE, 6, 0);
	CHECK(!strcmp(acts.a[0].reason, "fd 6: 1 connections to accept, 0 "
		      "pending on the SVM"));
	proc_fd_actions_free(&acts);

	/* The SVM accepted the PVM's fd 9 at 10: a new thread of the
	 * program held fd 9 a moment (the shim reads /proc/self/maps), as
	 * redis's bio threads did in a loaded drill. Nothing is pending:
	 * the connection is moved, through a free number, not accepted. */
	redis_like(&p, 0);
	redis_like(&s, 0);
	s.fds[9].fd = 10;
	s.fds[5].items[4].tfd = 10;
	CHECK_EQ(proc_fds_diff(&p.t, &s.t, &acts), 0);
	CHECK_EQ(acts.n, 4);
	expect_action(&acts, 0, PROC_FD_ACT_EPOLL_DEL, 5, 10);
	expect_action(&acts, 1, PROC_FD_ACT_MOVE, 11, 0);
	CHECK_EQ(acts.a[1].from, 10);
	expect_action(&acts, 2, PROC_FD_ACT_MOVE, 9, 0);
	CHECK_EQ(acts.a[2].from, 11);
	expect_action(&acts, 3, PROC_FD_ACT_EPOLL_ADD, 5, 9);
	proc_fd_actions_free(&acts);

	/* The PVM closed fd 9; then a new client got fd 8 on the PVM. */
	redis_like(&p, 0);
	redis_like(&s, 0);
	p.fds[9] = p.fds[10];           /* drop fd 9 (1000 moves down) */
	p.t.n--;
	p.fds[5].n_items--;             /* and its epoll item, the last */
	p.fds[8].remote.port = 40005;
	p.fds[5].items[3].events = 5;   /* fd 8 is now wanted otherwise */
	s.fds[6].pending = 1;
	CHECK_EQ(proc_fds_diff(&p.t, &s.t, &acts), 0);
	CHECK_EQ(acts.n, 6);
	expect_action(&acts, 0, PROC_FD_ACT_EPOLL_DEL, 5, 8);
	expect_action(&acts, 1, PROC_FD_ACT_EPOLL_DEL, 5, 9);
	expect_action(&acts, 2, PROC_FD_ACT_CLOSE, 8, 0);
	expect_action(&acts, 3, PROC_FD_ACT_CLOSE, 9, 0);
	expect_action(&acts, 4, PROC_FD_ACT_ACCEPT, 8, 6);
	expect_action(&acts, 5, PROC_FD_ACT_EPOLL_ADD, 5, 8);
	CHECK_EQ(acts.a[5].item.events, 5);
	proc_fd_actions_free(&acts);

	/* Only the events of an item differ: MOD. */
	redis_like(&p, 0);
	redis_like(&s, 0);
	p.fds[5].items[0].events = 5;
	CHECK_EQ(proc_fds_diff(&p.t, &s.t, &acts), 0);
	CHECK_EQ(acts.n, 1);
	expect_action(&acts, 0, PROC_FD_ACT_EPOLL_MOD, 5, 3);
	CHECK_EQ(acts.a[0].item.events, 5);
	proc_fd_actions_free(&acts);
}

static void expect_refusal(struct table *p, struct table *s, const char *why)
{
	struct proc_fd_actions acts;

	CHECK_EQ(proc_fds_diff(&p->t, &s->t, &acts), PROC_FDS_UNSUPPORTED);
	CHECK(acts.n >= 1);
	if (strcmp(acts.a[0].reason, why))
		fprintf(stderr, "reason: %s\nexpected: %s\n", acts.a[0].reason,
			why);
	CHECK_EQ(acts.a[0].kind, PROC_FD_ACT_REFUSE);
	CHECK(!strcmp(acts.a[0].reason, why));
	proc_fd_actions_free(&acts);
}

static void test_diff_refusals(void)
{
	struct table p, s;

	redis_like(&p, 0);
	redis_like(&s, 0);
	add(&p, 1001, PROC_FD_EVENTFD, "anon_inode:[eventfd]")->count = 3;
	add(&s, 1001, PROC_FD_EVENTFD, "anon_inode:[eventfd]")->count = 2;
	{
		/* A counter is copied, not refused. */
		struct proc_fd_actions acts;

		CHECK_EQ(proc_fds_diff(&p.t, &s.t, &acts), 0);
		CHECK_EQ(acts.n, 1);
		expect_action(&acts, 0, PROC_FD_ACT_EVENTFD_SET, 1001, 0);
		CHECK_EQ(acts.a[0].count, 3);
		proc_fd_actions_free(&acts);
	}

	/* Bytes at a write end are output already given (the daemon's
	 * stderr, read whenever its reader gets to it): not compared. The
	 * program's own pipe shows them at its read end: compared there. */
	redis_like(&p, 0);
	redis_like(&s, 0);
	p.fds[2].flags = s.fds[2].flags = O_WRONLY;
	p.fds[2].unread = 121;
	p.fds[4].unread = 3;
	{
		struct proc_fd_actions acts;

		CHECK_EQ(proc_fds_diff(&p.t, &s.t, &acts), 0);
		CHECK_EQ(acts.n, 0);
		proc_fd_actions_free(&acts);
	}
	p.fds[3].unread = 3;
	expect_refusal(&p, &s, "fd 3: pipe holding 3 bytes on the PVM, 0 on "
		       "the SVM");

	redis_like(&p, 0);
	redis_like(&s, 0);
	add(&p, 1001, PROC_FD_EPOLL, "anon_inode:[eventpoll]");
	expect_refusal(&p, &s, "fd 1001: epoll (0 targets) open on the PVM "
		       "only (no like fd of the SVM's to move there)");

	redis_like(&p, 0);
	redis_like(&s, 0);
	add(&p, 1001, PROC_FD_SIGNALFD, "anon_inode:[signalfd]");
	add(&s, 1001, PROC_FD_EVENTFD, "anon_inode:[eventfd]");
	expect_refusal(&p, &s, "fd 1001: signalfd on the PVM, eventfd on the "
		       "SVM");

	redis_like(&p, 0);
	redis_like(&s, 0);
	s.fds[3].flags = O_RDONLY;
	expect_refusal(&p, &s, "fd 3: flags 04000 cloexec on the PVM, 0 "
		       "cloexec on the SVM");

	/* Standard output to each host's own log file: where each file's
	 * offset stands is no state of the program's (proc_fds_check leaves
	 * fds 0-2 alone too); the same on fd 3 is. */
	redis_like(&p, 0);
	redis_like(&s, 0);
	p.fds[1].kind = s.fds[1].kind = PROC_FD_FILE;
	p.fds[1].flags = s.fds[1].flags = O_WRONLY | O_APPEND;
	p.fds[1].pos = 6507;
	s.fds[1].pos = 18871;
	{
		struct proc_fd_actions acts;

		CHECK_EQ(proc_fds_diff(&p.t, &s.t, &acts), 0);
		CHECK_EQ(acts.n, 0);
		proc_fd_actions_free(&acts);
	}

	/* The same file of the scratch /tmp at another offset: set, last. */
	{
		const char *aof = "/tmp/appendonlydir/appendonly.aof.1.incr.aof";
		struct proc_fd_actions acts;
		struct proc_fd *f;

		redis_like(&p, 0);
		add_conn(&p, 10, 40002);
		f = add(&p, 1001, PROC_FD_FILE, aof);
		f->pos = 6507;
		f->flags = O_WRONLY | O_APPEND;
		redis_like(&s, 1);
		f = add(&s, 1001, PROC_FD_FILE, aof);
		f->pos = 6480;
		f->flags = O_WRONLY | O_APPEND;
		CHECK_EQ(proc_fds_diff(&p.t, &s.t, &acts), 0);
		CHECK_EQ(acts.n, 2);
		CHECK_EQ(acts.a[0].kind, PROC_FD_ACT_ACCEPT);
		CHECK_EQ(acts.a[1].kind, PROC_FD_ACT_LSEEK);
		CHECK_EQ(acts.a[1].fd, 1001);
		CHECK_EQ(acts.a[1].offset, 6507);
		proc_fd_actions_free(&acts);
		/* Other flags, or another file: still refused. */
		f->flags = O_WRONLY;
		expect_refusal(&p, &s, "fd 1001: flags 02001 cloexec on the "
			       "PVM, 01 cloexec on the SVM");
		f->flags = O_WRONLY | O_APPEND;
		f->target = "/tmp/other";
		expect_refusal(&p, &s, "fd 1001: /tmp/appendonlydir/appendonly."
			       "aof.1.incr.aof on the PVM, /tmp/other on the "
			       "SVM");
	}

	redis_like(&p, 0);
	redis_like(&s, 0);
	add(&p, 1001, PROC_FD_FILE, "/etc/x")->pos = 10;
	add(&s, 1001, PROC_FD_FILE, "/etc/x")->pos = 12;
	expect_refusal(&p, &s, "fd 1001: file offset 10 on the PVM, 12 on the "
		       "SVM");

	redis_like(&p, 0);
	redis_like(&s, 0);
	add_item(&p.fds[5], 11, 1);
	expect_refusal(&p, &s, "fd 5: epoll watches fd 11, which is not open "
		       "on the PVM");

	/* The SVM accepted a client the PVM may still have pending. */
	redis_like(&p, 1);
	redis_like(&s, 0);
	add_conn(&s, 1001, 40009);
	expect_refusal(&p, &s, "fd 1001: a connection accepted on the SVM "
		       "only, while the PVM's fd 6 has 1 pending");
}

/* The diff's verdict on p and s, its first transient refusal's reason
 * (or its first refusal's) checked too. */
static void expect_verdict(struct table *p, struct table *s, int verdict,
			   const char *why)
{
	struct proc_fd_actions acts;
	const struct proc_fd_action *a = NULL;
	int r;

	r = proc_fds_diff(&p->t, &s->t, &acts);
	if (r != verdict && acts.n)
		fprintf(stderr, "verdict %d: %s\n", r, acts.a[0].reason);
	CHECK_EQ(r, verdict);
	for (size_t i = 0; i < acts.n; i++)
		if (acts.a[i].kind == PROC_FD_ACT_REFUSE &&
		    (!a || (acts.a[i].transient && !a->transient)))
			a = &acts.a[i];
	CHECK(a != NULL);
	CHECK_EQ(a->transient, verdict == PROC_FDS_NOT_NOW);
	if (strcmp(a->reason, why))
		fprintf(stderr, "reason: %s\nexpected: %s\n", a->reason, why);
	CHECK(!strcmp(a->reason, why));
	proc_fd_actions_free(&acts);
}

/*
 * "Not now": the PVM stopped between the open and the close of a regular
 * file (DEBUG RELOAD's dump.rdb, a SAVE's temp file) is refused only for
 * now; what waiting does not mend stays refused for good.
 */
static void test_diff_not_now(void)
{
	struct table p, s;
	struct proc_fd *f;

	/* dump.rdb open on the PVM only. */
	redis_like(&p, 0);
	redis_like(&s, 0);
	add(&p, 10, PROC_FD_FILE, "/tmp/dump.rdb")->flags = O_RDONLY;
	expect_verdict(&p, &s, PROC_FDS_NOT_NOW, "fd 10: regular file "
		       "/tmp/dump.rdb open on the PVM only (between its open "
		       "and close?)");

	/* A SAVE's temp file at the number the SVM's next client took; its
	 * consequences (that client pending on the PVM) ride along. */
	redis_like(&p, 1);
	redis_like(&s, 0);
	f = add(&p, 10, PROC_FD_FILE, "/tmp/temp-1.rdb");
	f->flags = O_WRONLY;
	add_conn(&s, 10, 40002);
	expect_verdict(&p, &s, PROC_FDS_NOT_NOW, "fd 10: regular file "
		       "/tmp/temp-1.rdb on the PVM, TCP connection "
		       "127.0.0.1:6379 from 127.0.0.1:40002 on the SVM");

	/* The SVM caught mid-way instead: closed there, no refusal. */
	redis_like(&p, 0);
	redis_like(&s, 0);
	add(&s, 10, PROC_FD_FILE, "/tmp/dump.rdb")->flags = O_RDONLY;
	{
		struct proc_fd_actions acts;

		CHECK_EQ(proc_fds_diff(&p.t, &s.t, &acts), 0);
		CHECK_EQ(acts.n, 1);
		expect_action(&acts, 0, PROC_FD_ACT_CLOSE, 10, 0);
		proc_fd_actions_free(&acts);
	}

	/* Not files: fatal as before. */
	redis_like(&p, 0);
	redis_like(&s, 0);
	add(&p, 10, PROC_FD_EVENTFD, "anon_inode:[eventfd]");
	expect_verdict(&p, &s, PROC_FDS_UNSUPPORTED, "fd 10: eventfd open on "
		       "the PVM only (no like fd of the SVM's to move there)");
	redis_like(&p, 0);
	redis_like(&s, 0);
	add(&p, 10, PROC_FD_SIGNALFD, "anon_inode:[signalfd]");
	add(&s, 10, PROC_FD_EVENTFD, "anon_inode:[eventfd]");
	expect_verdict(&p, &s, PROC_FDS_UNSUPPORTED, "fd 10: signalfd on the "
		       "PVM, eventfd on the SVM");
	/* A file both hold, but another one or elsewhere in it: the program
	 * does different things, no moment's difference. */
	redis_like(&p, 0);
	redis_like(&s, 0);
	add(&p, 10, PROC_FD_FILE, "/etc/x")->pos = 10;
	add(&s, 10, PROC_FD_FILE, "/etc/x")->pos = 12;
	expect_verdict(&p, &s, PROC_FDS_UNSUPPORTED, "fd 10: file offset 10 "
		       "on the PVM, 12 on the SVM");
	redis_like(&p, 0);
	redis_like(&s, 0);
	add(&p, 10, PROC_FD_FILE, "/etc/x");
	add(&s, 10, PROC_FD_FILE, "/etc/y");
	expect_verdict(&p, &s, PROC_FDS_UNSUPPORTED, "fd 10: /etc/x on the "
		       "PVM, /etc/y on the SVM");

	/* A fatal refusal beside a transient one: not now (it may be the
	 * file's consequence); once the file is closed, fatal. */
	redis_like(&p, 0);
	redis_like(&s, 0);
	add(&p, 10, PROC_FD_FILE, "/tmp/dump.rdb")->flags = O_RDONLY;
	p.fds[3].unread = 3;
	expect_verdict(&p, &s, PROC_FDS_NOT_NOW, "fd 10: regular file "
		       "/tmp/dump.rdb open on the PVM only (between its open "
		       "and close?)");
	redis_like(&p, 0);
	p.fds[3].unread = 3;
	expect_verdict(&p, &s, PROC_FDS_UNSUPPORTED, "fd 3: pipe holding 3 "
		       "bytes on the PVM, 0 on the SVM");
}

/* The SVM as the kernel would hold it while the actions run. */
struct model {
	bool open[MAX_FDS];
	struct proc_fd fd[MAX_FDS];
	bool added[MAX_FDS];            /* in the epoll fd's interest list */
	struct proc_epoll_item item[MAX_FDS];
	uint32_t pending;
	uint16_t queued[MAX_FDS];       /* their peers' ports, if known */
};

#define EPFD 3
#define LFD 4

static void model_run(struct model *m, const struct proc_fd_table *pvm,
		      const struct proc_fd_action *a)
{
	const struct proc_fd *p;
	int t = a->item.tfd;

	switch (a->kind) {
	case PROC_FD_ACT_EPOLL_DEL:
		CHECK_EQ(a->fd, EPFD);
		CHECK(m->added[t]);             /* else ENOENT */
		m->added[t] = false;
		break;
	case PROC_FD_ACT_EPOLL_ADD:
	case PROC_FD_ACT_EPOLL_MOD:
		CHECK_EQ(a->fd, EPFD);
		CHECK(m->open[t]);              /* else EBADF */
		CHECK(m->added[t] == (a->kind == PROC_FD_ACT_EPOLL_MOD));
		m->added[t] = true;
		m->item[t] = a->item;
		break;
	case PROC_FD_ACT_CLOSE:
		CHECK(m->open[a->fd]);
		m->open[a->fd] = false;
		m->added[a->fd] = false;        /* the kernel drops it */
		break;
	case PROC_FD_ACT_ACCEPT:
		CHECK_EQ(a->listen_fd, LFD);
		CHECK(!m->open[a->fd]);         /* dup3 would close it */
		CHECK(m->pending > 0);
		/* The connection meant: the caller checks its remote end.
		 * It must be in the queue (random tables keep a count of it). */
		p = proc_fds_find(pvm, a->fd);
		CHECK(p);
		if (m->queued[0]) {
			uint32_t q = 0;

			while (q < m->pending && m->queued[q] != p->remote.port)
				q++;
			CHECK(q < m->pending);
			m->queued[q] = m->queued[m->pending - 1];
		}
		m->pending--;
		m->fd[a->fd] = *p;
		m->fd[a->fd].flags = O_RDWR |
			(a->accept_flags & SOCK_NONBLOCK ? O_NONBLOCK : 0);
		m->fd[a->fd].cloexec = a->accept_flags & SOCK_CLOEXEC;
		m->open[a->fd] = true;
		break;
	case PROC_FD_ACT_MOVE:
		/* dup3 then close: an epoll entry under the old number would
		 * outlive it, out of reach of any DEL. */
		CHECK(m->open[a->from] && !m->added[a->from]);
		CHECK(a->fd >= 5 && a->fd < MAX_FDS && !m->open[a->fd]);
		m->fd[a->fd] = m->fd[a->from];
		m->fd[a->fd].cloexec = a->cloexec;
		m->open[a->fd] = true;
		m->open[a->from] = false;
		break;
	default:
		fprintf(stderr, "unexpected action %d: %s\n", a->kind,
			a->reason);
		CHECK(0);
	}
}

/*
 * fds 3 (epoll) and 4 (listening), then random connections 5... from
 * peers of a small pool, each at most once (two open connections never
 * share both ends): the PVM and the SVM hold one peer's connection at the
 * same number, at another (accepted while a thread held an fd), or only
 * one of them does, and a number holds other peers' on each side.
 */
static void random_table(struct table *tb, uint64_t *seed, uint32_t pending)
{
	uint16_t peers[24];
	struct proc_fd *ep;
	size_t n = 0;

	memset(tb, 0, sizeof(*tb));
	for (size_t i = 0; i < 24; i++)
		peers[i] = (uint16_t)(40000 + i);
	for (size_t k = test_rand(seed) % 4; k > 0; k--) {
		size_t i = test_rand(seed) % 24, j = test_rand(seed) % 24;
		uint16_t x = peers[i];

		peers[i] = peers[j];
		peers[j] = x;
	}
	ep = add(tb, EPFD, PROC_FD_EPOLL, "anon_inode:[eventpoll]");
	add_listen(tb, LFD, AF_INET, pending);
	for (int fd = 5; fd < 20; fd++)
		if (test_rand(seed) % 3)
			add_conn(tb, fd, peers[n++]);
	for (size_t i = 1; i < tb->t.n; i++)
		if (test_rand(seed) % 4) {
			add_item(ep, tb->fds[i].fd, 1 + test_rand(seed) % 2);
			if (test_rand(seed) % 5 == 0)
				ep->items[ep->n_items - 1].data = 7;
		}
	/* The kernel lists targets in its tree order, not by number. */
	for (size_t i = ep->n_items; i > 1; i--) {
		size_t j = test_rand(seed) % i;
		struct proc_epoll_item x = ep->items[i - 1];

		ep->items[i - 1] = ep->items[j];
		ep->items[j] = x;
	}
}

/* Whether t holds a connection from peer port. */
static bool held_by(const struct proc_fd_table *t, uint16_t port)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->fds[i].kind == PROC_FD_TCP_CONN &&
		    t->fds[i].remote.port == port)
			return true;
	return false;
}

static void test_diff_random(void)
{
	uint64_t seed = 0x5eed0fd5;
	size_t moves = 0, accepts = 0;

	for (int round = 0; round < 3000; round++) {
		struct table p, s;
		struct proc_fd_actions acts;
		struct model m;
		const struct proc_fd *ep;

		random_table(&p, &seed, 0);
		random_table(&s, &seed, 0);
		memset(&m, 0, sizeof(m));
		/* The SVM's listen queue holds what it has not accepted of
		 * the PVM's connections, no more: one accepted at another
		 * number is not there twice. */
		for (size_t i = 0; i < p.t.n; i++)
			if (p.fds[i].kind == PROC_FD_TCP_CONN &&
			    !held_by(&s.t, p.fds[i].remote.port))
				m.queued[m.pending++] = p.fds[i].remote.port;
		s.fds[1].pending = m.pending;
		for (size_t i = 0; i < s.t.n; i++) {
			m.open[s.fds[i].fd] = true;
			m.fd[s.fds[i].fd] = s.fds[i];
		}
		for (size_t i = 0; i < s.fds[0].n_items; i++) {
			m.added[s.fds[0].items[i].tfd] = true;
			m.item[s.fds[0].items[i].tfd] = s.fds[0].items[i];
		}
		CHECK_EQ(proc_fds_diff(&p.t, &s.t, &acts), 0);
		for (size_t i = 0; i < acts.n; i++) {
			model_run(&m, &p.t, &acts.a[i]);
			moves += acts.a[i].kind == PROC_FD_ACT_MOVE;
			accepts += acts.a[i].kind == PROC_FD_ACT_ACCEPT;
		}
		proc_fd_actions_free(&acts);

		/* Now the model holds what the PVM holds. */
		for (int fd = 5; fd < MAX_FDS; fd++) {
			const struct proc_fd *f = proc_fds_find(&p.t, fd);

			CHECK_EQ(m.open[fd], f != NULL);
			if (!f)
				continue;
			CHECK_EQ(m.fd[fd].remote.port, f->remote.port);
			CHECK_EQ(m.fd[fd].flags, f->flags);
			CHECK_EQ(m.fd[fd].cloexec, f->cloexec);
		}
		ep = &p.fds[0];
		for (int fd = 0; fd < MAX_FDS; fd++) {
			const struct proc_epoll_item *want = NULL;

			for (size_t i = 0; i < ep->n_items; i++)
				if (ep->items[i].tfd == fd)
					want = &ep->items[i];
			CHECK_EQ(m.added[fd], want != NULL);
			if (want) {
				CHECK_EQ(m.item[fd].events, want->events);
				CHECK_EQ(m.item[fd].data, want->data);
			}
		}
	}
	/* Both ways of making the PVM's connections were taken. */
	CHECK(moves > 0 && accepts > 0);
	printf("ok: 3000 random connection tables: %zu moves, %zu accepts\n",
	       moves, accepts);
}

int main(void)
{
	test_check();
	test_diff_fixed();
	test_diff_refusals();
	test_diff_not_now();
	test_diff_random();
	return 0;
}
