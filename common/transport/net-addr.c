// SPDX-License-Identifier: MIT
/*
 * Socket addresses as the logs and the control socket print them. Kept out
 * of xport-tcp.c so that the buffered layer (xport.c), which names every
 * link's peer, does not depend on one of its own transports.
 */
#include "net-addr.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <sys/socket.h>

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
