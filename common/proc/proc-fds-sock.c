// SPDX-License-Identifier: MIT
/*
 * A program's TCP socket described from a duplicate of it (pidfd_getfd):
 * its state and backlog from TCP_INFO, its ends from getsockname and
 * getpeername, its queues from SIOCINQ/SIOCOUTQ. Reading the program's
 * net/tcp instead costs a walk of the kernel's whole connection hash per
 * read, shared by every namespace (a quarter of a checkpoint's CPU on the
 * secondary, measured), and says nothing a socket itself cannot.
 */
#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "proc-fds-sock.h"

static void end_of(const struct sockaddr_storage *ss, struct proc_tcp_end *e)
{
	memset(e, 0, sizeof(*e));
	e->family = ss->ss_family;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;

		memcpy(e->addr, &s4->sin_addr, 4);
		e->port = ntohs(s4->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		memcpy(e->addr, &s6->sin6_addr, 16);
		e->port = ntohs(s6->sin6_port);
	}
}

int proc_fds_queue(int fd, unsigned long req, uint32_t *out)
{
	int v = 0;

	if (ioctl(fd, req, &v) < 0)
		return -errno;
	*out = v < 0 ? 0 : (uint32_t)v;
	return 0;
}

static int describe(int s, struct proc_fd *f)
{
	struct sockaddr_storage ss;
	struct tcp_info ti;
	socklen_t len = sizeof(int);
	int proto = 0, err;

	if (getsockopt(s, SOL_SOCKET, SO_PROTOCOL, &proto, &len) < 0)
		return -errno;
	if (proto != IPPROTO_TCP)
		return 1;
	len = sizeof(ti);
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return -errno;
	/* Reset or never connected: no ends to match, as before a TCP
	 * socket was one (the kernel lists none such in net/tcp). */
	if (ti.tcpi_state == TCP_CLOSE)
		return 1;
	len = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (getsockname(s, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	end_of(&ss, &f->local);
	len = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (getpeername(s, (struct sockaddr *)&ss, &len) == 0)
		end_of(&ss, &f->remote);
	else if (errno != ENOTCONN)
		return -errno;
	else
		f->remote.family = f->local.family;
	f->tcp_state = ti.tcpi_state;
	if (ti.tcpi_state == TCP_LISTEN) {
		f->kind = PROC_FD_TCP_LISTEN;
		f->pending = ti.tcpi_unacked;   /* the accept queue, for LISTEN */
		return 0;
	}
	f->kind = PROC_FD_TCP_CONN;
	err = proc_fds_queue(s, SIOCINQ, &f->unread);
	return err ? err : proc_fds_queue(s, SIOCOUTQ, &f->unsent);
}

int proc_fds_sock_query(int pidfd, struct proc_fd *f)
{
	int s = (int)syscall(SYS_pidfd_getfd, pidfd, f->fd, 0), err;

	if (s < 0)
		return -errno;
	err = describe(s, f);
	close(s);
	return err;
}
