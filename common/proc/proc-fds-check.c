// SPDX-License-Identifier: MIT
/*
 * What the process backend supports of a program's fds (ARCHITECTURE.md,
 * "The process backend", the rows "file descriptors", "client
 * connections", "timers, signals"). A kind is supported when the SVM can
 * be given the same one, by proc_fds_diff's actions or because both
 * programs made it alike:
 *
 *   TCP listening sockets      made alike at start (same port, same netns)
 *   TCP connections            the daemon's: accepted from the program's
 *                              own listening port, established or
 *                              half-closed by the client
 *   epoll                      its interest list reconciled
 *   eventfd, signalfd          their counter and mask compared
 *   pipes                      both ends in the program, and empty
 *   /dev/null-like devices     nothing to copy
 *   regular files              read-only (/ is read-only anyway), or
 *                              under /tmp, the program's scratch tmpfs
 *                              (each side's own copy; the SVM's must be
 *                              open at the same fd, its offset is set)
 *   the shim's userfaultfd     at COLO_SHIM_UFFD_FD
 *
 * Refused: a timerfd (a kernel timer is not copied), a socket that is
 * neither a listening nor a connected TCP one (unix, UDP, or TCP only
 * created or bound), an outbound or half-open TCP connection, a
 * regular file outside /tmp open for writing, any other kind.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "proc-fds.h"
#include "shim-abi.h"

static void format_end(const struct proc_tcp_end *e, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	inet_ntop(e->family == AF_INET6 ? AF_INET6 : AF_INET, e->addr, a,
		  sizeof(a));
	snprintf(buf, len, e->family == AF_INET6 ? "[%s]:%u" : "%s:%u", a,
		 (unsigned)e->port);
}

void proc_fd_describe(const struct proc_fd *f, char *buf, size_t len)
{
	char l[64], r[64];

	switch (f->kind) {
	case PROC_FD_TCP_LISTEN:
		format_end(&f->local, l, sizeof(l));
		snprintf(buf, len, "TCP listening socket %s", l);
		break;
	case PROC_FD_TCP_CONN:
		format_end(&f->local, l, sizeof(l));
		format_end(&f->remote, r, sizeof(r));
		snprintf(buf, len, "TCP connection %s from %s", l, r);
		break;
	case PROC_FD_EPOLL:
		snprintf(buf, len, "epoll (%zu targets)", f->n_items);
		break;
	case PROC_FD_FILE:
	case PROC_FD_NULL_DEV:
		snprintf(buf, len, "%s %s", proc_fd_kind_name(f->kind),
			 f->target ? f->target : "?");
		break;
	case PROC_FD_OTHER:
		snprintf(buf, len, "%s", f->target ? f->target : "?");
		break;
	default:
		snprintf(buf, len, "%s", proc_fd_kind_name(f->kind));
	}
}

bool proc_fd_in_scratch(const struct proc_fd *f)
{
	size_t n = strlen(PROC_FDS_SCRATCH);

	/* A name the kernel suffixes " (deleted)" is still the file. */
	return f->kind == PROC_FD_FILE && f->target &&
	       !strncmp(f->target, PROC_FDS_SCRATCH, n) &&
	       !strstr(f->target, "/../");
}

static bool has_listener_on(const struct proc_fd_table *t, uint16_t port)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->fds[i].kind == PROC_FD_TCP_LISTEN &&
		    t->fds[i].local.port == port)
			return true;
	return false;
}

static bool other_end_inside(const struct proc_fd_table *t,
			     const struct proc_fd *f)
{
	for (size_t i = 0; i < t->n; i++)
		if (&t->fds[i] != f && t->fds[i].kind == PROC_FD_PIPE &&
		    t->fds[i].ino == f->ino)
			return true;
	return false;
}

/* NULL when f is supported, else why not (after "fd N: <f>: "). */
static const char *refusal(const struct proc_fd_table *t,
			   const struct proc_fd *f)
{
	switch (f->kind) {
	case PROC_FD_TCP_LISTEN:
	case PROC_FD_EPOLL:
	case PROC_FD_EVENTFD:
	case PROC_FD_SIGNALFD:
	case PROC_FD_NULL_DEV:
		return NULL;
	case PROC_FD_TCP_CONN:
		if (f->tcp_state != TCP_ESTABLISHED &&
		    f->tcp_state != TCP_CLOSE_WAIT)
			return "neither established nor half-closed";
		if (!has_listener_on(t, f->local.port))
			return "not accepted from a listening socket of the "
			       "program (outbound)";
		return NULL;
	case PROC_FD_PIPE:
		if (!other_end_inside(t, f))
			return "whose other end is outside the program";
		return f->unread ? "holding unread bytes" : NULL;
	case PROC_FD_TIMERFD:
		return "(its kernel timer is not copied)";
	case PROC_FD_FILE:
		return (f->flags & O_ACCMODE) != O_RDONLY &&
		       !proc_fd_in_scratch(f) ? "opened for writing" : NULL;
	case PROC_FD_OTHER:
		if (f->fd == COLO_SHIM_UFFD_FD && f->target &&
		    !strcmp(f->target, "anon_inode:[userfaultfd]"))
			return NULL;    /* the shim's, for the dirty log */
		if (f->target && !strncmp(f->target, "socket:", 7))
			return "(not a listening or connected TCP socket)";
		return "(a kind the backend does not know)";
	case PROC_FD__MAX:
		break;
	}
	return "(an unknown kind)";
}

int proc_fds_check(const struct proc_fd_table *t, char *reason, size_t len)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct proc_fd *f = &t->fds[i];
		const char *why;
		char what[320];

		if (f->fd <= 2)
			continue;
		why = refusal(t, f);
		if (!why)
			continue;
		proc_fd_describe(f, what, sizeof(what));
		snprintf(reason, len, "fd %d: %s %s: not supported", f->fd,
			 what, why);
		return PROC_FDS_UNSUPPORTED;
	}
	if (len)
		reason[0] = '\0';
	return 0;
}
