/* SPDX-License-Identifier: MIT */
/*
 * Inside the secondary's link: what sec-link.c (accepting, handshakes,
 * the served link) and sec-link-rdma.c (binding an RDMA connection to an
 * authenticated one) share. Not for the link's users: sec-link.h is its
 * API.
 */
#ifndef COLO_SECONDARY_SEC_LINK_INT_H
#define COLO_SECONDARY_SEC_LINK_INT_H

#include <stdbool.h>

#include "sec-link.h"

/* How long a connection may take to authenticate (and, over RDMA, to
 * follow with its RDMA request): the primary's silence, with a floor. */
unsigned sec_handshake_ms(const struct sec_link *l);

/* Free a pending slot, its connection closed; reject: with a log line and
 * last_error saying why. */
void sec_pending_end(struct sec_link *l, struct sec_pending *pp);
void sec_pending_reject(struct sec_link *l, struct sec_pending *pp,
			const char *err);

/* x becomes the link (sec_link_adopt), rdma saying what it is. */
int sec_link_adopt_x(struct sec_link *l, struct xport *x, bool rdma);

/* sec-link-rdma.c. A TLS handshake just finished: take its token and
 * await the RDMA request that carries it. */
void sec_rdma_bound(struct sec_link *l, struct sec_pending *pp);
/* A pending connection past its handshake is readable: the token in
 * clear (--insecure), or a peer that speaks or closes where nothing is
 * expected. */
void sec_rdma_on_pending(struct sec_link *l, struct sec_pending *pp);
/* Why a pending connection that reached its deadline is dropped. */
const char *sec_pending_late(const struct sec_link *l,
			     const struct sec_pending *pp);
void sec_link_unlisten_rdma(struct sec_link *l);

#endif
