// SPDX-License-Identifier: MIT
/*
 * rdma-stray HOST:PORT: an RDMA connection request carrying a token that
 * no TLS session exported (random bytes), as a stray or hostile client
 * would send it, without the TCP connection a primary makes first. Exit 0
 * when the secondary refused it, 1 when it was accepted (a hole in the
 * binding), 77 when this build has no RDMA.
 */
#include <stdio.h>
#include <sys/random.h>

#include "log.h"
#include "xport-rdma.h"
#include "xport.h"

int main(int argc, char **argv)
{
	uint8_t token[XPORT_RDMA_TOKEN_LEN];
	struct xport *x;
	char err[256];

	if (argc != 2) {
		fprintf(stderr, "usage: rdma-stray HOST:PORT\n");
		return 2;
	}
	if (!xport_rdma_built()) {
		printf("SKIP: built without RDMA\n");
		return 77;
	}
	log_init("rdma-stray", LOG_LVL_WARN);
	if (getrandom(token, sizeof(token), 0) != (ssize_t)sizeof(token))
		return 2;
	x = xport_rdma_connect(argv[1], token, NULL, 5000, err, sizeof(err));
	if (x) {
		printf("accepted: a token no TLS session exported got in\n");
		xport_free(x);
		return 1;
	}
	printf("refused: %s\n", err);
	return 0;
}
