/* SPDX-License-Identifier: MIT */
/*
 * The replication wire protocol between colo-primary and colo-secondary.
 *
 * Every message is a frame: an 8-byte header (type u16, flags u16, payload
 * length u32, all big-endian) and the payload. Fixed-width big-endian fields
 * throughout. The decoders are pure (bytes in, struct out), check structure
 * only (lengths, counts, enum ranges) and never trust a length to size a
 * read; whether a block id or page range fits the RAM layout is checked by
 * the receiver with proto_check_range(), where the layout is known.
 *
 *   primary                          secondary
 *   [IDENTITY]                       ->        (a process guest's)
 *   HELLO (version, layout, digest) ->
 *                                    <- HELLO_ACK (token) | REFUSE (reason)
 *   live sync:  PAGES / DISCARD ...  ->        (into the RAM cache)
 *   with --channels N, N-1 more connections, each:
 *               CHANNEL (token, index) ->
 *                                    <- CHANNEL (the same) | REFUSE
 *               PAGES / DISCARD ..., CHANNEL_END -> (then closed)
 *   checkpoint: CKPT_BEGIN, PAGES / DISCARD ... | IMAGE ..., DEVICE_STATE,
 *               CKPT_END ->
 *                                    <- [VERIFY] CKPT_ACK
 *   colo state: INPUT ...            ->
 *                                    <- OUTPUT ...
 *   either way: HEARTBEAT
 */
#ifndef COLO_PROTO_H
#define COLO_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ramblock.h"

/* 6: PAGES DELTA (checkpoint page deltas); 7: live-sync channels;
 * 8: both. */
#define PROTO_VERSION 8
#define PROTO_HDR_LEN 8
#define PROTO_DIGEST_LEN 32            /* SHA-256 */
#define PROTO_MAX_PAGES_PER_MSG 256    /* 1 MiB of data */
#define PROTO_MAX_DATA (1u << 20)      /* INPUT / OUTPUT / DEVICE_STATE data */
#define PROTO_MAX_VERIFY_DIGESTS 65536
#define PROTO_MAX_PAYLOAD (PROTO_MAX_VERIFY_DIGESTS * PROTO_DIGEST_LEN + 64)
#define PROTO_REASON_MAX 256
/* Live sync over at most this many connections (--channels). */
#define PROTO_MAX_CHANNELS 8
#define PROTO_TOKEN_LEN 16
/* Each 2 MiB of a block (512 pages) travels one channel: chunk index mod
 * the channel count, so a page sent again never overtakes its old copy. */
#define PROTO_CHANNEL_CHUNK_SHIFT 9

/* The first page past the channel chunk that holds page. */
static inline uint64_t proto_channel_chunk_end(uint64_t page)
{
	return ((page >> PROTO_CHANNEL_CHUNK_SHIFT) + 1)
	       << PROTO_CHANNEL_CHUNK_SHIFT;
}
/* A process image is sent in IMAGE chunks of at most PROTO_MAX_DATA; the
 * whole is bounded so that a lying total cannot make the secondary reserve
 * more than a real program could need. */
#define PROTO_MAX_IMAGE (1ull << 40)

enum proto_type {
	PROTO_HELLO = 1,
	PROTO_HELLO_ACK,
	PROTO_REFUSE,
	PROTO_PAGES,
	PROTO_DISCARD,
	PROTO_CKPT_BEGIN,
	PROTO_DEVICE_STATE,
	PROTO_CKPT_END,
	PROTO_CKPT_ACK,
	PROTO_INPUT,
	PROTO_OUTPUT,
	PROTO_HEARTBEAT,
	PROTO_VERIFY,
	PROTO_IDENTITY,
	PROTO_IMAGE,
	PROTO_CHANNEL,
	PROTO_CHANNEL_END,
	PROTO__MAX
};

/* PAGES flags */
#define PROTO_PAGES_ZERO 0x1u   /* every page is zero; no data follows */
/* The bytes are already in the receiver's RAM cache, put there by RDMA
 * WRITEs ordered before this message (xport_place); no data follows. Only
 * an RDMA link may carry it, and never together with ZERO. */
#define PROTO_PAGES_PLACED 0x2u
/* The data is count pages as deltas (page-delta.h) against the receiver's
 * RAM cache, delta_len bytes, checked whole by the decoder. The sender
 * keeps what it sent last for each page it deltas against; only a
 * checkpoint's pages use it (never with ZERO or PLACED). */
#define PROTO_PAGES_DELTA 0x4u
/* CKPT_BEGIN flags */
#define PROTO_CKPT_FIRST 0x1u   /* ends the live sync: start the SVM */
#define PROTO_CKPT_VERIFY 0x2u  /* answer with VERIFY before CKPT_ACK */

enum proto_input_kind {
	PROTO_IN_OPEN = 1, PROTO_IN_DATA, PROTO_IN_CLOSE, PROTO_IN_TICK,
	PROTO_IN__MAX
};
enum proto_output_kind { PROTO_OUT_DATA = 1, PROTO_OUT_CLOSE, PROTO_OUT__MAX };

/*
 * Which state a side holds (I8): a random id drawn when a primary starts a
 * pair, kept through takeovers, and the number of checkpoints begun in that
 * pair. A secondary holding a fenced SVM compares them before it lets a
 * primary replace it.
 */
struct proto_generation {
	uint64_t pair_id;
	uint64_t generation;
};

/* The operator's settings, carried so that a promoted secondary keeps
 * them. Ranges are the receiver's to check. */
struct proto_tunables {
	uint32_t checkpoint_delay_ms;
	uint32_t compare_timeout_ms;
	uint32_t max_wait_ms;
	uint32_t clear_bitmap_shift;
	uint32_t heartbeat_ms;
	uint32_t failover_timeout_ms;
};

/* nblocks 0: the guest is an unmodified program (--exec), which has no RAM
 * layout; its IDENTITY came first. */
struct proto_hello {
	uint32_t version;
	uint32_t page_size;
	uint8_t guest_digest[PROTO_DIGEST_LEN];
	struct proto_generation gen;           /* the primary's */
	/* Connections of the live sync, this one included: 0..
	 * PROTO_MAX_CHANNELS, 0 and 1 both meaning this one alone. */
	uint32_t channels;
	uint32_t nblocks;                      /* 0..RAM_MAX_BLOCKS */
	struct {
		uint32_t id;
		char name[RAM_BLOCK_NAME_MAX];     /* NUL-terminated on decode */
		uint64_t size;
		uint64_t guest_addr;
	} blocks[RAM_MAX_BLOCKS];
};

/* The secondary's answer to an accepted hello: the token an extra
 * channel of this session presents (random, drawn per session). */
struct proto_hello_ack { uint8_t token[PROTO_TOKEN_LEN]; };

/* First on an extra live-sync connection (and the secondary's answer when
 * it takes it): the session's token and which channel this is,
 * 1..PROTO_MAX_CHANNELS - 1 (0 is the link). */
struct proto_channel {
	uint8_t token[PROTO_TOKEN_LEN];
	uint32_t index;
};

/* Last on an extra channel: the pages (DISCARDs not counted) it carried. */
struct proto_channel_end { uint64_t pages; };

struct proto_refuse { char reason[PROTO_REASON_MAX]; };

struct proto_pages {
	uint32_t block;
	uint64_t first;                        /* page index in the block */
	uint32_t count;                        /* 1..PROTO_MAX_PAGES_PER_MSG */
	uint32_t flags;                        /* PROTO_PAGES_* */
	uint32_t delta_len;                    /* DELTA: bytes of data; else 0 */
	const uint8_t *data;                   /* count pages (DELTA: their
						* deltas), NULL when ZERO or
						* PLACED */
};

struct proto_discard { uint32_t block; uint64_t first; uint64_t count; };

struct proto_ckpt_begin { uint64_t id; uint32_t flags; };

/* The "device state": what the SVM's daemon must know besides RAM. */
struct proto_device_state {
	uint64_t input_seq;                    /* last input event before it */
	uint64_t clock_ms;                     /* the daemon clock ticks carry */
	struct proto_generation gen;           /* this checkpoint's */
	struct proto_tunables tunables;        /* the primary's, as of now */
	uint32_t nconns;                       /* open connections */
	const uint8_t *conn_ids;               /* nconns big-endian u32 */
	/* For an --exec guest the ids are the daemon's connections to the
	 * program, PROTO_CONN_SHUT set on those the client half-closed (the
	 * program may still hold them): the SVM must hold the same. */
};

#define PROTO_CONN_SHUT 0x80000000u

struct proto_ckpt_end { uint64_t id; uint64_t pages; };
/*
 * The acknowledgement, with where the secondary's time went (microseconds,
 * saturated at UINT32_MAX), so that the primary's status shows the whole
 * checkpoint: receive_us from CKPT_BEGIN read to CKPT_END read (the pages
 * into the cache, while the primary sends); svm_barrier_us stopping the
 * SVM at a safe point; flush_us colo_flush_ram_cache; end_us from CKPT_END
 * read to the ack queued (the flush included; the barrier too when it came
 * after CKPT_END); cpu_us the CPU time the secondary's thread used from
 * CKPT_BEGIN to the ack. Only reported, never trusted for anything.
 * status -EAGAIN is "not now": an --exec program's checkpoint the
 * secondary could not take at that moment and did not start applying (the
 * SVM runs on as before it); the primary tries again (checkpoint.c).
 */
struct proto_ckpt_ack {
	uint64_t id;
	int32_t status;                        /* 0, -EAGAIN or -errno */
	uint32_t receive_us, svm_barrier_us, flush_us, end_us, cpu_us;
};

struct proto_input {
	uint64_t seq;
	uint32_t conn;
	uint32_t kind;                         /* enum proto_input_kind */
	uint64_t arg;                          /* TICK: clock in ms */
	uint32_t len;
	const uint8_t *data;
};

struct proto_output {
	uint32_t conn;
	uint32_t kind;                         /* enum proto_output_kind */
	uint32_t len;
	const uint8_t *data;
};

/* time_ms: the sender's clock, for logs. The rest measures the link's
 * round trip (hb-rtt.h): the sender's stamp, and the last stamp it heard
 * from the peer with how long it held it before this heartbeat (0, 0:
 * none heard yet). All in microseconds of the sender's monotonic clock
 * but echo_us, which is the peer's. */
struct proto_heartbeat {
	uint64_t time_ms;
	uint64_t stamp_us, echo_us, held_us;
};

/* What a process guest's copy needs alike on both hosts (proc-identity.h
 * encodes it): opaque here. */
struct proto_identity {
	uint32_t len;                          /* 1..PROTO_MAX_DATA */
	const uint8_t *data;
};

/* One piece of a checkpoint's process image (proc-image-wire.h): the
 * pieces come in order, offset 0 first, and add up to total. */
struct proto_image {
	uint64_t offset;
	uint64_t total;                        /* 1..PROTO_MAX_IMAGE */
	uint32_t len;                          /* 1..PROTO_MAX_DATA */
	const uint8_t *data;
};

struct proto_verify {
	uint64_t id;
	uint32_t chunk_pages;
	uint32_t ndigests;
	const uint8_t *digests;                /* ndigests * PROTO_DIGEST_LEN */
};

struct proto_msg {
	enum proto_type type;
	union {
		struct proto_hello hello;
		struct proto_hello_ack hello_ack;
		struct proto_channel channel;
		struct proto_channel_end channel_end;
		struct proto_refuse refuse;
		struct proto_pages pages;
		struct proto_discard discard;
		struct proto_ckpt_begin ckpt_begin;
		struct proto_device_state device_state;
		struct proto_ckpt_end ckpt_end;
		struct proto_ckpt_ack ckpt_ack;
		struct proto_input input;
		struct proto_output output;
		struct proto_heartbeat heartbeat;
		struct proto_verify verify;
		struct proto_identity identity;
		struct proto_image image;
	};
};

const char *proto_type_name(uint32_t type);   /* "PAGES", or "unknown" */

/* Header: 0, or -EPROTO (unknown type, payload over PROTO_MAX_PAYLOAD). */
int proto_decode_hdr(const uint8_t hdr[PROTO_HDR_LEN], uint32_t *type,
		     uint32_t *len);
/* Payload of a frame of type; pointers in m point into payload. 0 or
 * -EPROTO (wrong length, count out of range, bad enum). */
int proto_decode(uint32_t type, const uint8_t *payload, size_t len,
		 struct proto_msg *m);

/* The frame's total size: header, fixed part and variable data; 0 for a
 * message the decoder would refuse (the encoders check the same rules). */
size_t proto_frame_len(const struct proto_msg *m);
/* Encodes the whole frame into buf (cap >= proto_frame_len). Returns the
 * length written, or 0 when it does not fit or m is invalid. */
size_t proto_encode(const struct proto_msg *m, uint8_t *buf, size_t cap);
/* The frame up to its bulk data (pages, conn ids, input/output bytes,
 * digests), which is left where it is: *data and *datalen say what follows
 * (NULL, 0 for none). For senders that write the data without a copy.
 * Returns the length written, or 0 when m is invalid or does not fit; a
 * head is at most PROTO_HEAD_MAX bytes. */
#define PROTO_HEAD_MAX 512
size_t proto_encode_head(const struct proto_msg *m, uint8_t *buf, size_t cap,
			 const uint8_t **data, size_t *datalen);

/* Does [first, first + count) of block lie inside the layout? 0 or -ERANGE. */
int proto_check_range(const struct ram_layout *l, uint32_t block,
		      uint64_t first, uint64_t count);

/* Framed I/O over a transport (proto-io.c). */
struct xport;
struct proto_rxbuf {
	uint8_t *buf;
	size_t cap;
	size_t frame_len;      /* of the last frame read, header included */
};
/* Encodes m and queues it on x (buffered; xport_flush sends). 0 or -errno. */
int proto_send(struct xport *x, const struct proto_msg *m);
/* Encodes m onto x's output queue without writing anything (the event
 * loop's style: xport_flush_nb when the fd is writable). 0 or -errno. */
int proto_queue(struct xport *x, const struct proto_msg *m);
/* Reads and decodes one frame; pointers in m point into rx. 0, -ECONNRESET
 * at EOF, -EPROTO for a malformed frame, or -errno. */
int proto_recv(struct xport *x, struct proto_rxbuf *rx, struct proto_msg *m);
void proto_rxbuf_free(struct proto_rxbuf *rx);

/*
 * Fair loops (I9, I10): what an event loop takes from one peer in one
 * wake-up before it serves its other sockets (control, guest channel)
 * again. A peer streaming pages never runs dry, and TLS keeps the next
 * record where epoll cannot see it, so "read while anything is buffered"
 * alone could hold the loop for a whole live sync. A few full PAGES frames
 * is enough to keep the link near its speed.
 */
#define PROTO_BUDGET_BYTES (1u << 20)
#define PROTO_BUDGET_MSGS 64u
struct proto_budget { size_t bytes; unsigned msgs; };
/* Count the frame just read; true while the budget lasts. */
static inline bool proto_budget_spend(struct proto_budget *b,
				      const struct proto_rxbuf *rx)
{
	b->bytes += rx->frame_len;
	b->msgs++;
	return b->bytes < PROTO_BUDGET_BYTES && b->msgs < PROTO_BUDGET_MSGS;
}

#endif
