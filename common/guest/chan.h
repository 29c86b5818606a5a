/* SPDX-License-Identifier: MIT */
/*
 * The channel between a guest process and its daemon: a local stream socket
 * carrying small framed messages (native byte order; both ends are on one
 * host and run one binary's worth of ABI).
 *
 *   daemon -> guest : EV_OPEN, EV_DATA, EV_CLOSE, EV_TICK, EV_BARRIER
 *   guest -> daemon : READY, OUTPUT, CLOSE, BARRIER_DONE
 *   hint socket     : guest HINT -> daemon HINT_ACK (synchronous)
 *
 * Every input the guest ever sees is an event on this channel, in order, so
 * two guests fed the same events compute the same thing. The guest is at a
 * safe point whenever it has answered every barrier it was sent: it is then
 * blocked in its loop waiting for the next event, with no stack worth saving.
 *
 * A guest is started with these environment variables (CHAN_ENV_*):
 *   COLO_GUEST_RAM    "fd:addr:size[,fd:addr:size...]" (addr, size in hex)
 *   COLO_GUEST_CHAN   fd of the event channel
 *   COLO_GUEST_HINT   fd of the free-page-hint channel
 *   COLO_GUEST_RESUME "1" when guest RAM already holds a running state
 *                     (the SVM started from a checkpoint): do not initialise
 */
#ifndef COLO_CHAN_H
#define COLO_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CHAN_ENV_RAM "COLO_GUEST_RAM"
#define CHAN_ENV_CHAN "COLO_GUEST_CHAN"
#define CHAN_ENV_HINT "COLO_GUEST_HINT"
#define CHAN_ENV_RESUME "COLO_GUEST_RESUME"

/* Larger outputs are split by the sender. */
#define CHAN_MAX_DATA (1u << 20)

enum chan_type {
	CHAN_EV_OPEN = 1,   /* conn: a client connected */
	CHAN_EV_DATA,       /* conn, data: bytes from the client */
	CHAN_EV_CLOSE,      /* conn: the client went away */
	CHAN_EV_TICK,       /* a: the daemon's clock in ms (same on both sides) */
	CHAN_EV_BARRIER,    /* a: barrier id */
	CHAN_READY,         /* the guest mapped RAM and registered its dirty log */
	CHAN_OUTPUT,        /* conn, data: bytes for the client */
	CHAN_CLOSE,         /* conn: the guest closes this connection */
	CHAN_BARRIER_DONE,  /* a: barrier id, answered after all earlier events */
	CHAN_HINT,          /* a: block id, b: byte offset, len in c: free pages */
	CHAN_HINT_ACK,      /* a: 0 or a negative errno */
	CHAN__MAX
};

struct chan_msg {
	uint32_t type;        /* enum chan_type */
	uint32_t conn;
	uint64_t seq;         /* the event's input sequence number (events) */
	uint64_t a, b, c;
	uint32_t len;         /* bytes at data */
	const uint8_t *data;  /* valid until the next chan_next/chan_recv */
};

/* Writes one whole message (header and data), retrying on EINTR and short
 * writes. 0 or -errno; -EMSGSIZE when len > CHAN_MAX_DATA. */
int chan_send(int fd, const struct chan_msg *m);

/*
 * The daemon's side must never block writing to its guest: the guest may be
 * blocked writing output that only the daemon's loop reads. A writer queues
 * whole messages and writes what the socket takes; the loop calls
 * chan_flush again when the fd is writable.
 */
struct chan_writer {
	int fd;
	uint8_t *buf;
	size_t start, end, cap;
	uint64_t written;   /* bytes written since init: with chan_queued, a
			     * caller can tell whether its message went out */
};

int chan_writer_init(struct chan_writer *w, int fd);
void chan_writer_deinit(struct chan_writer *w);
/* Queue one message (copied) and write what can go now. 0 or -errno (the
 * guest is gone); -EMSGSIZE when len > CHAN_MAX_DATA. */
int chan_queue(struct chan_writer *w, const struct chan_msg *m);
/* Queue one message (copied) without writing: the caller flushes, once for
 * all it queued (one syscall for a round's events). 0 or -errno. */
int chan_append(struct chan_writer *w, const struct chan_msg *m);
/* Write what is queued without blocking: bytes still queued, or -errno. */
ssize_t chan_flush(struct chan_writer *w);
/* Write all that is queued, waiting for the socket as needed (a guest's
 * side, which may block). 0 or -errno. */
int chan_flush_wait(struct chan_writer *w);
static inline size_t chan_queued(const struct chan_writer *w)
{
	return w->end - w->start;
}
/* Stream offset just past the last byte queued so far. */
static inline uint64_t chan_queued_end(const struct chan_writer *w)
{
	return w->written + chan_queued(w);
}

struct chan_reader {
	int fd;
	uint8_t *buf;
	size_t cap, start, end;
	bool drained;       /* the last fill read less than it had room for:
			     * another read now would most likely give EAGAIN */
};

int chan_reader_init(struct chan_reader *r, int fd);
void chan_reader_deinit(struct chan_reader *r);
/* One read() into the buffer. Bytes read, 0 at EOF, or -errno (-EAGAIN). */
int chan_fill(struct chan_reader *r);
/* Takes one complete buffered message: 1 got one, 0 need more bytes,
 * -EPROTO for an unknown type or an oversized length. */
int chan_next(struct chan_reader *r, struct chan_msg *m);
/* Blocking: chan_next, filling as needed. 0, -ECONNRESET at EOF, -errno. */
int chan_recv(struct chan_reader *r, struct chan_msg *m);

#endif
