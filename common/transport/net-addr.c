// SPDX-License-Identifier: MIT
/*
 * Socket addresses as the daemons take and print them. Kept out of
 * xport-tcp.c so that the buffered layer (xport.c), which names every
 * link's peer, and the RDMA CM, which resolves as the sockets do, do not
 * depend on one of their own transports.
 */
#include "net-addr.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"

int net_resolve(const char *hostport, bool passive, struct addrinfo **res,
		char *err, size_t errlen)
{
	struct addrinfo hints = { 0 };
	char host[256], port[16];
	int r;

	if (config_parse_hostport(hostport, host, sizeof(host), port,
				  sizeof(port)) < 0) {
		snprintf(err, errlen,
			 "bad address '%s': expected host:port or [v6]:port",
			 hostport);
		return -EINVAL;
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	r = getaddrinfo(host, port, &hints, res);
	if (!r)
		return 0;
	snprintf(err, errlen, "getaddrinfo %s: %s", hostport,
		 r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
	if (r == EAI_SYSTEM)
		return -errno;
	return r == EAI_MEMORY ? -ENOMEM : -EADDRNOTAVAIL;
}

int net_format_addr(const struct sockaddr *sa, socklen_t salen, char *buf,
		    size_t buflen)
{
	char host[NI_MAXHOST], serv[NI_MAXSERV];
	int r;

	if (sa->sa_family == AF_UNIX) {
		snprintf(buf, buflen, "unix");
		return 0;
	}
	r = getnameinfo(sa, salen, host, sizeof(host), serv, sizeof(serv),
			NI_NUMERICHOST | NI_NUMERICSERV);
	if (r)
		return -EAFNOSUPPORT;
	/* Brackets keep a v6 address apart from its port, as on the CLI. */
	if (sa->sa_family == AF_INET6)
		snprintf(buf, buflen, "[%s]:%s", host, serv);
	else
		snprintf(buf, buflen, "%s:%s", host, serv);
	return 0;
}

int net_peer_name(int fd, char *buf, size_t buflen)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	return net_format_addr((struct sockaddr *)&ss, len, buf, buflen);
}
