/* SPDX-License-Identifier: MIT */
/* Private to proc-fds: a program's socket described from a duplicate. */
#ifndef COLO_PROC_FDS_SOCK_H
#define COLO_PROC_FDS_SOCK_H

#include "proc-fds.h"

/*
 * If the program's fd f->fd (of the program with pidfd) is a TCP socket
 * with ends, fills f's kind (TCP_LISTEN or TCP_CONN), tcp_state, local,
 * remote, and pending (a listener's accept queue) or unread and unsent (a
 * connection's SIOCINQ and SIOCOUTQ) and returns 0; 1 when it is another
 * kind of socket, or a TCP one without ends (TCP_CLOSE); -errno.
 */
int proc_fds_sock_query(int pidfd, struct proc_fd *f);

/* The int an ioctl such as FIONREAD answers on fd, negative as 0. */
int proc_fds_queue(int fd, unsigned long req, uint32_t *out);

#endif
