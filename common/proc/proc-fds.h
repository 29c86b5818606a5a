/* SPDX-License-Identifier: MIT */
/*
 * The kernel state of an unmodified program that is not memory: its file
 * descriptors, and the bytes in flight on its TCP connections.
 *
 * Three separate steps, so that each can be tested alone:
 *   proc_fds_capture  /proc/PID/fd, fdinfo and net/tcp(6) of a stopped
 *                     program, and SIOCINQ/SIOCOUTQ on its connections
 *   proc_fds_check    whether the process backend supports the table
 *   proc_fds_diff     what makes the SVM's table equal to the PVM's, as a
 *                     list of actions for proc-inject to run
 * check and diff are pure (tables in, verdict or actions out), as are the
 * two text parsers below, which are fuzzed.
 *
 * Socket kinds come from the program's own /proc/PID/net/tcp and tcp6,
 * matched by inode: the program's network namespace holds only its
 * sockets and the daemon's ends, the files are there without entering
 * the namespace, and their text parses purely; for a listening socket
 * its rx_queue column is the accept queue (connections not yet accepted),
 * which sock_diag would have needed a netlink exchange to give.
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
	uint64_t offset;                /* LSEEK */
	char reason[160];       /* REFUSE */
};

struct proc_fd_actions {
	struct proc_fd_action *a;
	size_t n;
};

/*
 * The actions that make svm's table equal to pvm's, in the order they must
 * run: epoll DELs, closes, accepts, then epoll ADDs and MODs (an ADD needs
 * its tfd in place), then lseeks. Refusals come first. A connection is the same on both
 * sides when its fd number and both ends' addresses are equal, so the
 * daemon's end of each connection must have the same port on both hosts.
 * An accept takes the oldest pending connection of the SVM's listening
 * socket: the caller checks it is the one meant (its remote end).
 * Returns 0, PROC_FDS_UNSUPPORTED when the list holds a refusal, or
 * -ENOMEM. out must be empty or freed.
 */
int proc_fds_diff(const struct proc_fd_table *pvm,
		  const struct proc_fd_table *svm, struct proc_fd_actions *out);

void proc_fd_actions_free(struct proc_fd_actions *acts);

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

/* One line of /proc/PID/net/tcp or tcp6. */
struct proc_tcp_sock {
	uint64_t ino;
	int state;
	struct proc_tcp_end local, remote;
	uint32_t tx_queue, rx_queue;    /* LISTEN: rx_queue is the backlog */
};

struct proc_tcp_table {
	struct proc_tcp_sock *s;
	size_t n;
};

/*
 * Parses text[len] (the header line first) as family's table (AF_INET:
 * tcp, AF_INET6: tcp6), appending to out. 0, -EINVAL (out unchanged) or
 * -ENOMEM. proc_tcp_table_free releases out.
 */
int proc_tcp_parse(const char *text, size_t len, int family,
		   struct proc_tcp_table *out);

void proc_tcp_table_free(struct proc_tcp_table *t);

#endif
