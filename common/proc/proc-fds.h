/* SPDX-License-Identifier: MIT */
/*
 * The kernel state of an unmodified program that is not memory: its file
 * descriptors, and the bytes in flight on its TCP connections.
 *
 * Three separate steps, so that each can be tested alone:
 *   proc_fds_capture  /proc/PID/fd and fdinfo of a stopped program, its
 *                     sockets asked through duplicates (TCP_INFO, their
 *                     names, SIOCINQ/SIOCOUTQ)
 *   proc_fds_check    whether the process backend supports the table
 *   proc_fds_diff     what makes the SVM's table equal to the PVM's, as a
 *                     list of actions for proc-inject to run
 * check and diff are pure (tables in, verdict or actions out), as is the
 * fdinfo parser below, which is fuzzed.
 *
 * A socket is described by a duplicate of it (pidfd_getfd): TCP_INFO
 * gives its state and, for a listener, its accept queue; getsockname and
 * getpeername its ends. The program's net/tcp would say the same at the
 * cost of a walk over the kernel's whole connection hash, every
 * namespace's, per read.
 */
#ifndef COLO_PROC_FDS_H
#define COLO_PROC_FDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum proc_fd_kind {
	PROC_FD_TCP_LISTEN,     /* a listening TCP socket */
	PROC_FD_TCP_CONN,       /* a TCP socket in any other state */
	PROC_FD_EPOLL,
	PROC_FD_EVENTFD,
	PROC_FD_PIPE,           /* either end; FIFOs too */
	PROC_FD_TIMERFD,
	PROC_FD_SIGNALFD,
	PROC_FD_NULL_DEV,       /* /dev/null, zero, full, random, urandom */
	PROC_FD_FILE,           /* a regular file (memfds too) */
	PROC_FD_OTHER,          /* anything else: see target */
	PROC_FD__MAX
};

/* One end of a TCP connection; family AF_INET or AF_INET6. */
struct proc_tcp_end {
	int family;
	uint8_t addr[16];       /* network order; 4 bytes for AF_INET */
	uint16_t port;
};

/* One entry of an epoll fd's interest list, as fdinfo prints it. */
struct proc_epoll_item {
	int tfd;
	uint32_t events;
	uint64_t data;
};

struct proc_fd {
	int fd;
	enum proc_fd_kind kind;
	int flags;              /* O_ACCMODE and O_NONBLOCK bits */
	bool cloexec;           /* FD_CLOEXEC */
	char *target;           /* /proc/PID/fd/N's link: "socket:[12]"... */
	uint64_t ino;
	uint64_t pos;           /* file offset (fdinfo "pos") */

	/* TCP: the kernel's TCP_* state and both ends. */
	int tcp_state;
	struct proc_tcp_end local, remote;
	uint32_t pending;       /* LISTEN: connections not yet accepted */
	uint32_t unread;        /* CONN: SIOCINQ; PIPE: FIONREAD */
	uint32_t unsent;        /* CONN: SIOCOUTQ (not yet acknowledged) */

	struct proc_epoll_item *items;  /* EPOLL: the interest list */
	size_t n_items;
	uint64_t count;         /* EVENTFD: its counter */
	uint64_t sigmask;       /* SIGNALFD: the signals it takes */
};

/* In fd order, each fd once. */
struct proc_fd_table {
	struct proc_fd *fds;
	size_t n;
};

/*
 * Captures the fd table of the program pid (pidfd its pidfd), which should
 * be stopped: a running one may change it while it is read (an fd that
 * vanishes meanwhile is left out). Needs ptrace rights over it
 * (pidfd_getfd). 0 or -errno (logged); out must be empty or freed.
 */
int proc_fds_capture(pid_t pid, int pidfd, struct proc_fd_table *out);

void proc_fds_free(struct proc_fd_table *t);

/* The entry for fd, or NULL. */
const struct proc_fd *proc_fds_find(const struct proc_fd_table *t, int fd);

/* "epoll", "TCP listening socket"...: for reasons and logs. */
const char *proc_fd_kind_name(enum proc_fd_kind kind);

/*
 * One fd in words, for reasons and logs: "TCP connection 127.0.0.1:6379
 * from 127.0.0.1:40112", "regular file /etc/x", "epoll (3 targets)".
 */
void proc_fd_describe(const struct proc_fd *f, char *buf, size_t len);

/* The program's scratch directory (proc-launch's tmpfs), as its fds name
 * files there: with the slash. */
#define PROC_FDS_SCRATCH "/tmp/"

/* Whether f is a regular file in the program's scratch /tmp. */
bool proc_fd_in_scratch(const struct proc_fd *f);

/* A documented positive result: the table is not supported. */
#define PROC_FDS_UNSUPPORTED 1
/* proc_fds_diff's other one: refused for now only, the PVM caught between
 * the open and the close of a regular file; a moment later it may pass. */
#define PROC_FDS_NOT_NOW 2

/*
 * Whether the process backend supports the program with this table (the
 * design's "file descriptors" row). 0, or PROC_FDS_UNSUPPORTED with one
 * line in reason naming the first fd refused and why, e.g. "fd 7: regular
 * file /var/lib/x opened for writing: not supported". fds 0-2 are the
 * standard streams proc-launch set up and are not judged. A regular file
 * open for writing is supported under /tmp (PROC_FDS_SCRATCH), the
 * program's own scratch tmpfs: each side writes its own copy, the diff
 * gives the SVM's the PVM's offset.
 */
int proc_fds_check(const struct proc_fd_table *t, char *reason, size_t len);

enum proc_fd_action_kind {
	PROC_FD_ACT_REFUSE,     /* fd: reason; nothing else should be run */
	PROC_FD_ACT_EPOLL_DEL,  /* epoll_ctl(fd, DEL, tfd) */
	PROC_FD_ACT_CLOSE,      /* close(fd) */
	PROC_FD_ACT_ACCEPT,     /* accept4(listen_fd, flags) moved to fd */
	PROC_FD_ACT_EPOLL_ADD,  /* epoll_ctl(fd, ADD, tfd, {events, data}) */
	PROC_FD_ACT_EPOLL_MOD,  /* epoll_ctl(fd, MOD, tfd, {events, data}) */
	PROC_FD_ACT_EVENTFD_SET, /* the eventfd fd's counter made count
				  * (proc_fds_eventfd_set) */
	PROC_FD_ACT_MOVE,       /* dup3(from, fd, cloexec ? O_CLOEXEC : 0),
				 * then close(from): renumbering only */
	PROC_FD_ACT_LSEEK,      /* lseek(fd, offset, SEEK_SET): a file of the
				 * program's scratch /tmp (its own copy on each
				 * side) where the PVM's offset is */
	PROC_FD_ACT__MAX
};

struct proc_fd_action {
	enum proc_fd_action_kind kind;
	int fd;                 /* the fd acted on (for epoll: the epoll fd) */
	int listen_fd;          /* ACCEPT */
	int accept_flags;       /* ACCEPT: SOCK_NONBLOCK | SOCK_CLOEXEC */
	struct proc_epoll_item item;    /* EPOLL_* */
	int from;               /* MOVE: the fd moved to fd */
	bool cloexec;           /* MOVE: FD_CLOEXEC of fd afterwards */
	uint64_t count;         /* EVENTFD_SET */
	uint64_t offset;                /* LSEEK */
	char reason[160];       /* REFUSE */
	bool transient;         /* REFUSE: only for now (PROC_FDS_NOT_NOW) */
};

struct proc_fd_actions {
	struct proc_fd_action *a;
	size_t n;
};

/*
 * The actions that make svm's table equal to pvm's, in the order they must
 * run. First the renumbering: a program whose threads open fds while
 * others start (memcached's) numbers its own objects differently on each
 * run, so each of the PVM's fds that are the program's own (epoll,
 * eventfd, signalfd, a pipe with all its ends, a listening socket, a
 * device or file by name, a connection by both its ends) takes a like
 * one of the SVM's, at its own
 * number when it can, else the first unclaimed one, moved: epoll DELs of
 * what moves, then MOVEs through free numbers (an SVM fd in the way is
 * moved aside too, to be closed below). Then, on the table as it is after
 * those: epoll DELs, closes, accepts, epoll ADDs and MODs (an ADD needs
 * its tfd in place), eventfd counters, lseeks of files in the scratch
 * /tmp. Refusals come first. A connection
 * is the same on both sides when both ends' addresses are equal, so the
 * daemon's end of each connection must have the same port on both
 * hosts; one the SVM has not accepted is accepted. An accept takes the
 * oldest pending connection of the SVM's listening socket: the caller
 * checks it is the one meant (its remote end).
 * Returns 0; PROC_FDS_NOT_NOW when the list holds a transient refusal
 * (a regular file open on the PVM only, or a regular file against another
 * kind at one number: proc-fds-diff.c says why those), whatever else it
 * holds; PROC_FDS_UNSUPPORTED when it holds only other refusals; or
 * -ENOMEM. out must be empty or freed.
 */
int proc_fds_diff(const struct proc_fd_table *pvm,
		  const struct proc_fd_table *svm, struct proc_fd_actions *out);

void proc_fd_actions_free(struct proc_fd_actions *acts);

/*
 * Makes the counter of the eventfd fd of the program behind pidfd equal
 * to count, through a duplicate taken with pidfd_getfd (the program's own
 * fd is not touched; it shares the counter): read until it is 0 (one read
 * in the normal mode, one per unit in semaphore mode, at most 65536),
 * then count written. The program should be stopped. 0 or -errno.
 */
int proc_fds_eventfd_set(int pidfd, int fd, uint64_t count);

/* The pure parsers capture uses, exported for the tests and fuzzing. */

/* What /proc/PID/fdinfo/N says. */
struct proc_fdinfo {
	uint64_t pos;
	int flags;              /* as open(2) takes them, O_CLOEXEC included */
	uint64_t ino;
	struct proc_epoll_item *items;  /* "tfd:" lines, in file order */
	size_t n_items;
	bool has_count;         /* "eventfd-count:" */
	uint64_t count;
	bool has_sigmask;       /* "sigmask:" */
	uint64_t sigmask;
};

/*
 * Parses text[len]. Lines it does not know are skipped (each kind adds
 * its own); "pos:" and "flags:" must be there. 0, -EINVAL (out left
 * empty) or -ENOMEM. proc_fdinfo_free releases out.
 */
int proc_fdinfo_parse(const char *text, size_t len, struct proc_fdinfo *out);

void proc_fdinfo_free(struct proc_fdinfo *fi);

#endif
