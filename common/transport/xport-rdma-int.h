/* SPDX-License-Identifier: MIT */
/*
 * Inside the RDMA transport: the wire format both ends speak, and the
 * connection state that connection setup (xport-rdma-cm.c) builds and the
 * data path (xport-rdma.c) runs. Not an API: nothing outside those two
 * files includes it.
 *
 * Every size here is fixed at compile time (I9): the peer's private data
 * and headers are checked against these bounds, never used to size memory.
 */
#ifndef COLO_XPORT_RDMA_INT_H
#define COLO_XPORT_RDMA_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "xport-rdma.h"
#include "xport.h"

/* --- wire ---------------------------------------------------------------- */

#define RDMA_MAGIC 0x434f4c52u          /* "COLR" */
#define RDMA_VERSION 1

/* One message: a header, then len bytes. A slot holds one message. */
#define RDMA_SLOT_SIZE (32 * 1024)
#define RDMA_RECV_SLOTS 32
#define RDMA_SEND_SLOTS 32
/* SENDs plus WRITEs in flight; WRITEs need no slot and no credit. */
#define RDMA_SQ_DEPTH 128
#define RDMA_CQ_DEPTH (RDMA_SQ_DEPTH + RDMA_RECV_SLOTS + 8)

#define RDMA_MAX_REGIONS 64
#define RDMA_MAX_SOURCES 64
#define RDMA_MAX_EVENTS 1024            /* pending placements, regions */
#define RDMA_WRITE_MAX (1024 * 1024)    /* placements merge up to this */

enum rdma_msg_type {
	RDMA_MSG_DATA = 1,      /* stream bytes */
	RDMA_MSG_CREDIT = 2,    /* only the header's credits and consumed */
	RDMA_MSG_ACKREQ = 3,    /* "say when you have read up to pos" */
	RDMA_MSG_REGION = 4,    /* a region exposed for our WRITEs */
};

/* Little-endian on the wire; both ends are x86 or arm64 in practice, and
 * the hello's magic catches anything else. */
struct rdma_msg_hdr {
	uint8_t type;
	uint8_t pad;
	uint16_t credits;       /* receive buffers reposted since last told */
	uint32_t len;           /* payload bytes after this header */
	uint64_t consumed;      /* stream bytes the sender's reader has taken */
};

#define RDMA_PAYLOAD_MAX (RDMA_SLOT_SIZE - sizeof(struct rdma_msg_hdr))

struct rdma_msg_ackreq {
	uint64_t pos;
};

struct rdma_msg_region {
	uint32_t region;
	uint32_t rkey;
	uint64_t addr;
	uint64_t len;
};

/* The CM private data of a request and of an accept (56 bytes at most
 * fit a request). The token is all zeroes in an accept. */
struct rdma_hello {
	uint32_t magic;
	uint16_t version;
	uint16_t recv_slots;    /* the credits the peer starts with */
	uint32_t slot_size;
	uint8_t token[XPORT_RDMA_TOKEN_LEN];
};

/* A reject's private data, so the client can say why. */
enum rdma_reject_reason {
	RDMA_REJECT_REFUSED = 1,        /* token unknown, or not wanted */
	RDMA_REJECT_MALFORMED = 2,      /* the request's hello was bad */
	RDMA_REJECT_RESOURCES = 3,      /* the server could not set up */
};

struct rdma_reject {
	uint32_t magic;
	uint32_t reason;
};

/* --- connection state ---------------------------------------------------- */

/* A placement (a WRITE) or a region's announcement, at a stream position. */
struct rdma_event {
	uint64_t pos;
	uint64_t gate;          /* WRITE: posted once the peer consumed this */
	bool is_write;
	uint32_t region;
	uint32_t rkey;          /* WRITE: the peer's; REGION: ours */
	uint32_t lkey;
	uint64_t raddr;         /* WRITE: target; REGION: our exposed addr */
	uint64_t laddr;         /* WRITE: source */
	uint64_t len;
};

struct rdma_peer_region {
	bool valid;
	uint32_t rkey;
	uint64_t addr, len;
};

struct rdma_xport {
	struct xport x;
	struct rdma_cm_id *id;
	struct rdma_event_channel *ch;  /* this connection's CM events */
	struct ibv_pd *pd;
	struct ibv_comp_channel *cc;
	struct ibv_cq *cq;
	struct xport *guard;            /* the TLS session the token is from */
	bool qp_made;

	/* receive ring */
	uint8_t *rmem;
	struct ibv_mr *rmr;
	uint16_t ready[RDMA_RECV_SLOTS];    /* slots with data, oldest first */
	uint32_t ready_len[RDMA_RECV_SLOTS];
	unsigned ready_head, ready_n;
	uint32_t ready_off;             /* bytes of ready[head] handed out */
	unsigned unreported;            /* reposted, not yet told the peer */
	unsigned held;                  /* ACKREQ buffers, told with the ack */
	uint64_t received;              /* stream bytes that arrived */
	uint64_t handed_out;            /* stream bytes given to the reader */
	uint64_t consumed;              /* ... and taken by it (see read) */
	uint64_t want_ack;              /* the peer waits for consumed >= */

	/* send ring */
	uint8_t *smem;
	struct ibv_mr *smr;
	uint64_t slot_seq[RDMA_SEND_SLOTS]; /* the WR that frees each slot */
	uint64_t slot_head, slot_tail;
	uint64_t wr_posted, wr_done;    /* sequence numbers, 1-based */
	unsigned unsignaled;
	unsigned credits;               /* peer's receive buffers free */
	unsigned peer_slots;
	uint64_t sent;                  /* stream bytes posted */
	uint64_t peer_consumed;         /* the peer's reader has taken */
	uint64_t ackreq_sent;           /* the last ACKREQ's pos */

	/* placement */
	struct rdma_event events[RDMA_MAX_EVENTS];
	unsigned ev_head, ev_n;
	struct ibv_mr *exposed[RDMA_MAX_REGIONS];
	struct ibv_mr *sources[RDMA_MAX_SOURCES];
	unsigned nsources;
	struct rdma_peer_region peer_regions[RDMA_MAX_REGIONS];
	/* The last placement's position and gate, and the stretch of the
	 * stream declared harmless after it (xport_place_harmless). */
	bool placed_once;
	uint64_t place_pos, place_gate;
	uint64_t harmless_from, harmless_to;

	bool established;               /* the server waits for ESTABLISHED */
	bool peer_closed;               /* DISCONNECTED, or the guard ended */
	bool flushed;                   /* the QP went to error */
	int err;                        /* sticky: the connection broke */
};

static inline struct rdma_xport *to_rdma(struct xport *x)
{
	return (struct rdma_xport *)((char *)x -
				     __builtin_offsetof(struct rdma_xport, x));
}

#define RDMA_WR_RECV (1ull << 63)      /* a receive's wr_id: slot index */

static inline uint8_t *rdma_rslot(struct rdma_xport *t, unsigned i)
{
	return t->rmem + (size_t)i * RDMA_SLOT_SIZE;
}

static inline uint8_t *rdma_sslot(struct rdma_xport *t, unsigned i)
{
	return t->smem + (size_t)i * RDMA_SLOT_SIZE;
}

static inline unsigned rdma_slots_free(const struct rdma_xport *t)
{
	return RDMA_SEND_SLOTS - (unsigned)(t->slot_head - t->slot_tail);
}

static inline unsigned rdma_sq_room(const struct rdma_xport *t)
{
	return RDMA_SQ_DEPTH - (unsigned)(t->wr_posted - t->wr_done);
}

/* Work requests gathered for one ibv_post_send. */
#define RDMA_BATCH_MAX 32
struct rdma_batch {
	struct ibv_send_wr wr[RDMA_BATCH_MAX];
	struct ibv_sge sge[RDMA_BATCH_MAX];
	unsigned n;
};

/* xport-rdma.c: the data path, and its half of setup and teardown. */
extern const struct xport_ops rdma_ops;
/* Takes in what happened (completions, CM events, the guard): 0 or the
 * connection's sticky error. */
int rdma_progress(struct rdma_xport *t);
/* Adds the events due at the current stream position to b: 0, -EAGAIN
 * when one must wait (credits, the peer's reader), -errno. */
int rdma_pump_events(struct rdma_xport *t, struct rdma_batch *b);
int rdma_batch_post(struct rdma_xport *t, struct rdma_batch *b);
/* err for a failed ibv_reg_mr of len bytes; -ENOMEM for the memlock
 * limit, else -errno. */
int rdma_reg_error(int e, const char *what, size_t len, char *err,
		   size_t errlen);

/* xport-rdma-recv.c: the receive side. */
/* The connection is broken: remember why (sticky), tell the peer. */
int rdma_fail(struct rdma_xport *t, int r);
int rdma_recv_post(struct rdma_xport *t, unsigned i);
/* Slot i back on the ring (not while the QP is going); 0 or -errno. */
int rdma_repost(struct rdma_xport *t, unsigned i);

/* xport-rdma-place.c: ops->place. */
int rdma_place(struct xport *x, uint32_t region, uint64_t offset,
	       const void *src, size_t len);
void rdma_place_harmless(struct xport *x);
/* Allocates and registers the rings and posts every receive; 0 or -errno
 * with err. Needs pd, cq and the QP. */
int rdma_buffers_init(struct rdma_xport *t, char *err, size_t errlen);
/* The hello this end sends, its receive ring's size in it. */
void rdma_hello_fill(struct rdma_hello *h,
		     const uint8_t token[XPORT_RDMA_TOKEN_LEN]);
/* The peer's hello checked: 0 or -EPROTO with the reason in err. */
int rdma_hello_check(const void *data, size_t len, struct rdma_hello *h,
		     char *err, size_t errlen);

/* xport-rdma-cm.c: PD, CQ, QP for id; the epoll fd over cc, ch, guard. */
int rdma_conn_setup(struct rdma_xport *t, char *err, size_t errlen);
int rdma_epoll_make(struct rdma_xport *t, char *err, size_t errlen);
void rdma_conn_teardown(struct rdma_xport *t);
/* Handles this connection's CM events; 0 or -errno. */
int rdma_cm_poll(struct rdma_xport *t);

#endif
