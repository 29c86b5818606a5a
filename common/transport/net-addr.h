/* SPDX-License-Identifier: MIT */
/*
 * Printable socket addresses: "ip:port", "[v6]:port", or "unix".
 */
#ifndef COLO_NET_ADDR_H
#define COLO_NET_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* sa in numeric form into buf; 0 or -EAFNOSUPPORT. */
int net_format_addr(const struct sockaddr *sa, socklen_t salen, char *buf,
		    size_t buflen);
/* The peer of a connected socket; 0 or -errno. */
int net_peer_name(int fd, char *buf, size_t buflen);

#endif
