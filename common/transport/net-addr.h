/* SPDX-License-Identifier: MIT */
/*
 * Socket addresses: "host:port" or "[v6]:port" resolved for the sockets
 * and the RDMA CM, and printed back as "ip:port", "[v6]:port" or "unix".
 */
#ifndef COLO_NET_ADDR_H
#define COLO_NET_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct addrinfo;

/* hostport's stream addresses (passive: for a listener) in *res, to be
 * freed with freeaddrinfo; 0, or -errno with the reason in err. */
int net_resolve(const char *hostport, bool passive, struct addrinfo **res,
		char *err, size_t errlen);

/* sa in numeric form into buf; 0 or -EAFNOSUPPORT. */
int net_format_addr(const struct sockaddr *sa, socklen_t salen, char *buf,
		    size_t buflen);
/* The peer of a connected socket; 0 or -errno. */
int net_peer_name(int fd, char *buf, size_t buflen);

#endif
