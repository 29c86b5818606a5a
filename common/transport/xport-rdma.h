/* SPDX-License-Identifier: MIT */
/*
 * RDMA for the replication link (librdmacm for connection setup, libibverbs
 * for data), behind the same struct xport as TCP and TLS.
 *
 * The stream: the protocol's bytes travel in SEND/RECV messages over one
 * reliable connection, with credit-based flow control (a sender never
 * posts a SEND the peer has no receive buffer for), so a slow reader slows
 * the writer as TCP would and nothing waits on RNR retries. The xport's fd
 * is readable whenever there is something to do (a completion, a CM event
 * such as the peer's disconnect): every wait, for reading or for writing,
 * is a wait for POLLIN (x->wait_for says so), and an event loop that
 * polls it for EV_WRITE must also flush on EV_READ. Every call takes in
 * whatever completed, so messages (or the peer's end) may have arrived
 * while the fd says nothing: as for TLS, drain while xport_has_buffered,
 * which stays true once the end or an error waits to be read.
 *
 * Pages: the receiver exposes regions (the secondary's RAM cache, one per
 * RAM block) and the sender places bytes into them with one-sided RDMA
 * WRITEs straight from its own registered memory (the PVM's RAM), batched
 * and signalled selectively. On a reliable connection a WRITE is ordered
 * before every SEND posted after it, so a PAGES message that follows the
 * WRITEs it names finds their bytes in place (xport_place's contract).
 *
 * Security: RDMA has no encryption. A connection is bound to a TLS 1.3
 * session that authenticated both sides on a TCP connection first: the
 * client puts a token exported from that session (RFC 5705 keying
 * material, xport_tls_export_token) in the CM private data, and the
 * server accepts only a request whose token one of its authenticated TLS
 * sessions exported. The TLS connection stays open for the RDMA
 * connection's life and is closed with it. --insecure (plain TCP) binds
 * with a token the client sent in clear: no authentication at all.
 */
#ifndef COLO_XPORT_RDMA_H
#define COLO_XPORT_RDMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct xport;

#define XPORT_RDMA_TOKEN_LEN 32

/*
 * Registering memory pins it: about a second a GiB on a server, tens of
 * seconds for 256 MiB in an emulator (TCG) on a loaded host. Each side
 * pins before it speaks (the primary its RAM before the hello, the
 * secondary its RAM cache before the answer), and allows the other this
 * long (the primary 2 s a GiB more) before it takes the silence for a
 * death. A peer that dies meanwhile ends its connections, which is seen
 * at once; only a host that vanishes mid-hello costs the whole wait.
 */
#define XPORT_RDMA_PIN_ALLOWANCE_MS 60000u

/* Built with librdmacm and libibverbs (-Drdma); when false, every call
 * below fails with -EPROTONOSUPPORT and says why in err. */
bool xport_rdma_built(void);

/*
 * The token binding an RDMA connection to an authenticated TLS session:
 * the same 32 bytes on both ends of that session, known to no one else.
 * 0, or -EINVAL when x is not an established TLS connection.
 */
int xport_tls_export_token(const struct xport *tls,
			   uint8_t token[XPORT_RDMA_TOKEN_LEN]);

/*
 * Client: connect to hostport (an IP address of an RDMA device, and the
 * port in the RDMA CM's TCP port space), carrying token, blocking for at
 * most timeout_ms. guard (may be NULL) is the TLS connection the token
 * came from: the new xport owns it from here, whatever the outcome, keeps
 * it open and frees it with itself. NULL on failure, with the reason in
 * err (no device, no route, rejected: token unknown, timed out).
 */
struct xport *xport_rdma_connect(const char *hostport,
				 const uint8_t token[XPORT_RDMA_TOKEN_LEN],
				 struct xport *guard, int timeout_ms,
				 char *err, size_t errlen);

/* Server. A listener's fd is readable when a request (or another CM
 * event) waits; xport_rdma_next handles them without blocking. */
struct xport_rdma_listener;
struct xport_rdma_request;

struct xport_rdma_listener *xport_rdma_listen(const char *hostport,
					      char *err, size_t errlen);
int xport_rdma_listener_fd(const struct xport_rdma_listener *l);
void xport_rdma_listener_free(struct xport_rdma_listener *l);

/*
 * The next connection request: 1 with *req and its token, 0 when none
 * waits, -errno. A request with malformed private data is rejected here
 * and never returned. The caller must answer every request it got, with
 * xport_rdma_accept or xport_rdma_reject.
 */
int xport_rdma_next(struct xport_rdma_listener *l,
		    struct xport_rdma_request **req,
		    uint8_t token[XPORT_RDMA_TOKEN_LEN]);
/* Accept without blocking; guard as for xport_rdma_connect. The xport, or
 * NULL with the reason in err (the request is rejected then). */
struct xport *xport_rdma_accept(struct xport_rdma_request *req,
				struct xport *guard, char *err, size_t errlen);
void xport_rdma_reject(struct xport_rdma_request *req);

/*
 * Regions, numbered by the caller (the RAM block's index, < 64).
 *
 * expose (the receiver): register [addr, addr + len) for the peer's
 * WRITEs and tell the peer its key, in the stream, before any byte queued
 * after this call. source (the sender): register local memory that
 * xport_place may read from. 0 or -errno (-ENOMEM: the memlock limit, in
 * err's words).
 */
int xport_rdma_expose(struct xport *x, uint32_t region, void *addr,
		      size_t len, char *err, size_t errlen);
int xport_rdma_source(struct xport *x, const void *addr, size_t len,
		      char *err, size_t errlen);

/*
 * Place len bytes from src (inside a source region) at offset of the
 * peer's region with RDMA WRITEs. The WRITE takes its place in the stream
 * where this call is made: it is posted after every byte queued on x
 * before the call and before every byte queued after it (the transport
 * keeps the placements in order with its queue), so the receiver sees the
 * bytes in place exactly when it reads what was queued next, and never
 * before a message queued earlier (a DISCARD of the same page, say).
 * src must stay mapped until the connection ends; what it holds while
 * the WRITE runs is what arrives: the WRITE is posted at the next flush
 * at the earliest and reads src some time after that, so bytes that must
 * arrive as they were at this call stay unchanged until the peer has
 * answered a message queued after it (the checkpoint's ack, say).
 * A placement queued after stream bytes waits until the peer's reader has
 * taken those bytes and asked for more (one round trip per run of
 * placements between two messages): that is what keeps it from landing
 * before the peer handled a message queued earlier.
 * 1 when placed, 0 when x cannot place (not RDMA, no such region exposed
 * by the peer, out of its bounds, src outside every source, or its list
 * of pending placements is full: send the bytes in the stream instead),
 * -errno when the connection broke.
 */
int xport_place(struct xport *x, uint32_t region, uint64_t offset,
		const void *src, size_t len);

/*
 * The bytes queued on x since the last xport_place write nothing the peer
 * exposed when the peer handles them (the PAGES message naming the pages
 * just placed): the next placement need not wait for the peer to have
 * handled them, only for what came before. Without it every placement
 * after a message waits for the peer's reader (a round trip); with it a
 * run of placements and their messages streams. Call it right after
 * queueing those bytes; a byte queued between it and the next
 * xport_place voids it. Does nothing on a transport that cannot place.
 */
void xport_place_harmless(struct xport *x);

#endif
