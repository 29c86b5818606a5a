// SPDX-License-Identifier: MIT
/*
 * The comparator's queues.
 *
 *   cmp_push_pvm(buf) ─┐                           ┌─► release(conn, bytes)
 *                      ▼                           │
 *   conn ──► pvm: [stamp|bytes]─►[stamp|bytes]─► ─ ┤ equal: release, pop both
 *            svm: [bytes]─►[bytes]───────────► ─ ──┤
 *                      ▲                           └─► differ: diverged,
 *   cmp_push_svm(buf) ─┘                               CMP_MISMATCH once
 *
 * Whatever arrives is first compared against the *other* side's queue and
 * only the part that side has not produced yet is queued. So while a
 * connection is in step at most one of its two queues holds bytes: the side
 * that is ahead. That keeps comparing cheap (no byte is ever compared twice)
 * and means an in-step connection never copies bytes when the two sides
 * alternate.
 *
 * Once diverged, PVM bytes are held (they may only leave with a checkpoint,
 * I5) and SVM bytes are dropped on arrival: cmp_checkpoint_done() would drop
 * them anyway, and keeping them would only cost memory.
 *
 * A close is the end of a side's stream, so it needs no offset of its own:
 * while in step, the side that closes first must not be behind (the other
 * side's queue must be empty, else that side said more than this one ever
 * will), and the other side must not go past it (bytes after a close are a
 * difference). Both closed and in step means both said the same bytes and
 * then closed: the close is released, after the last byte.
 *
 * PVM bytes carry the caller's now_ms per chunk, and a chunk only takes
 * pushes with its own stamp, so a connection's oldest held byte is always
 * at the front of its head chunk (given a clock that does not go back).
 *
 * Connections live in an array of pointers sorted by id (binary search):
 * lookups are per push, opens and closes are rare.
 *
 * The release callback must not call back into the same struct cmp.
 */
#include "compare.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Small pushes are appended to the tail chunk rather than getting one each. */
#define CHUNK_MIN 2048

struct chunk {
	struct chunk *next;
	uint64_t stamp;        /* now_ms of the first push into this chunk */
	size_t off;            /* bytes already consumed from the front */
	size_t len;            /* bytes written into data */
	size_t cap;
	uint8_t data[];
};

struct queue {
	struct chunk *head, *tail;
	size_t bytes;          /* not yet consumed */
};

struct conn {
	uint32_t id;
	bool diverged;
	bool pvm_closed, svm_closed;
	bool close_released;   /* over: nothing more goes to the client */
	uint64_t close_stamp;  /* now_ms of the PVM's close */
	struct queue pvm, svm;
};

struct cmp {
	cmp_release_fn release;
	cmp_release_close_fn release_close;
	void *opaque;
	struct conn **conns;   /* sorted by id */
	size_t nconns, capconns;
	struct cmp_stats st;
};

static void queue_clear(struct queue *q)
{
	struct chunk *ch, *next;

	for (ch = q->head; ch; ch = next) {
		next = ch->next;
		free(ch);
	}
	q->head = q->tail = NULL;
	q->bytes = 0;
}

static int queue_push(struct queue *q, const uint8_t *buf, size_t len,
		      uint64_t stamp)
{
	struct chunk *t = q->tail, *ch;
	size_t cap;

	/* Appending keeps the stamp of the tail's first byte; that is only
	 * right when the stamps agree (always, for the SVM side's 0). */
	if (t && t->stamp == stamp && t->cap - t->len >= len) {
		memcpy(t->data + t->len, buf, len);
		t->len += len;
		q->bytes += len;
		return 0;
	}
	cap = len < CHUNK_MIN ? CHUNK_MIN : len;
	ch = malloc(sizeof(*ch) + cap);
	if (!ch)
		return -ENOMEM;
	ch->next = NULL;
	ch->stamp = stamp;
	ch->off = 0;
	ch->len = len;
	ch->cap = cap;
	memcpy(ch->data, buf, len);
	if (t)
		t->next = ch;
	else
		q->head = ch;
	q->tail = ch;
	q->bytes += len;
	return 0;
}

/* Drop n bytes from the front of q; n never exceeds the head chunk. */
static void queue_consume(struct queue *q, size_t n)
{
	struct chunk *h = q->head;

	h->off += n;
	q->bytes -= n;
	if (h->off == h->len) {
		q->head = h->next;
		if (!q->head)
			q->tail = NULL;
		free(h);
	}
}

static size_t common_prefix(const uint8_t *a, const uint8_t *b, size_t n)
{
	size_t i;

	if (!memcmp(a, b, n))
		return n;
	for (i = 0; a[i] == b[i]; i++)
		;
	return i;
}

static void release(struct cmp *c, struct conn *cn, const uint8_t *buf,
		    size_t len)
{
	if (!len)
		return;
	c->st.released_bytes += len;
	c->release(c->opaque, cn->id, buf, len);
}

static void release_close(struct cmp *c, struct conn *cn)
{
	cn->close_released = true;
	c->st.released_closes++;
	c->release_close(c->opaque, cn->id);
}

/* Drop what the SVM said ahead of the PVM on cn, keeping the count. */
static void svm_clear(struct cmp *c, struct conn *cn)
{
	c->st.svm_held_bytes -= cn->svm.bytes;
	queue_clear(&cn->svm);
}

/* From here on the SVM's side of cn is forgotten, its close too. */
static void diverge(struct cmp *c, struct conn *cn)
{
	cn->diverged = true;
	c->st.mismatches++;
	svm_clear(c, cn);
	cn->svm_closed = false;
}

static struct conn **conn_slot(const struct cmp *c, uint32_t id, bool *found)
{
	size_t lo = 0, hi = c->nconns;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->conns[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < c->nconns && c->conns[lo]->id == id;
	/* Before the first open conns is NULL, and NULL + 0 is undefined in
	 * C (UBSan's pointer-overflow check says so). */
	return lo ? c->conns + lo : c->conns;
}

static struct conn *conn_find(const struct cmp *c, uint32_t id)
{
	bool found;
	struct conn **slot = conn_slot(c, id, &found);

	return found ? *slot : NULL;
}

struct cmp *cmp_new(cmp_release_fn release, cmp_release_close_fn close,
		    void *opaque)
{
	struct cmp *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->release = release;
	c->release_close = close;
	c->opaque = opaque;
	return c;
}

static void conn_free(struct cmp *c, struct conn *cn)
{
	c->st.held_bytes -= cn->pvm.bytes;
	queue_clear(&cn->pvm);
	svm_clear(c, cn);
	free(cn);
}

void cmp_free(struct cmp *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->nconns; i++)
		conn_free(c, c->conns[i]);
	free(c->conns);
	free(c);
}

int cmp_conn_open(struct cmp *c, uint32_t id)
{
	struct conn **slot, *cn;
	size_t at;
	bool found;

	slot = conn_slot(c, id, &found);
	if (found)
		return -EEXIST;
	at = (size_t)(slot - c->conns);
	if (c->nconns == c->capconns) {
		size_t cap = c->capconns ? 2 * c->capconns : 16;
		struct conn **n = realloc(c->conns, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		c->conns = n;
		c->capconns = cap;
	}
	cn = calloc(1, sizeof(*cn));
	if (!cn)
		return -ENOMEM;
	cn->id = id;
	memmove(c->conns + at + 1, c->conns + at,
		(c->nconns - at) * sizeof(*c->conns));
	c->conns[at] = cn;
	c->nconns++;
	return 0;
}

void cmp_conn_close(struct cmp *c, uint32_t id)
{
	struct conn **slot;
	size_t at;
	bool found;

	slot = conn_slot(c, id, &found);
	if (!found)
		return;
	at = (size_t)(slot - c->conns);
	conn_free(c, *slot);
	memmove(c->conns + at, c->conns + at + 1,
		(c->nconns - at - 1) * sizeof(*c->conns));
	c->nconns--;
}

int cmp_push_pvm(struct cmp *c, uint32_t id, const void *data, size_t len,
		 uint64_t now_ms)
{
	struct conn *cn = conn_find(c, id);
	const uint8_t *buf = data;
	int ret = CMP_OK, rc;

	if (!cn)
		return -ENOENT;
	if (cn->pvm_closed)
		return CMP_OK;     /* no reader after its own close */
	/* Match against what the SVM already said; its bytes are ahead. */
	while (!cn->diverged && len && cn->svm.head) {
		struct chunk *h = cn->svm.head;
		size_t n = h->len - h->off, eq;

		if (n > len)
			n = len;
		eq = common_prefix(buf, h->data + h->off, n);
		release(c, cn, buf, eq);
		buf += eq;
		len -= eq;
		if (eq < n) {
			diverge(c, cn);
			ret = CMP_MISMATCH;
			break;
		}
		queue_consume(&cn->svm, eq);
		c->st.svm_held_bytes -= eq;
	}
	if (!len)
		return ret;
	if (!cn->diverged && cn->svm_closed) {
		/* The SVM closed before saying this. */
		diverge(c, cn);
		ret = CMP_MISMATCH;
	}
	rc = queue_push(&cn->pvm, buf, len, now_ms);
	if (rc < 0)
		return rc;
	c->st.held_bytes += len;
	return ret;
}

int cmp_push_svm(struct cmp *c, uint32_t id, const void *data, size_t len)
{
	struct conn *cn = conn_find(c, id);
	const uint8_t *buf = data;

	if (!cn)
		return -ENOENT;
	if (cn->diverged || cn->svm_closed || cn->close_released)
		return CMP_OK;
	/* Match against what the PVM already said and release it. */
	while (len && cn->pvm.head) {
		struct chunk *h = cn->pvm.head;
		size_t n = h->len - h->off, eq;

		if (n > len)
			n = len;
		eq = common_prefix(h->data + h->off, buf, n);
		buf += eq;
		len -= eq;
		c->st.held_bytes -= eq;
		if (eq < n) {
			/* Release first: consuming may free the chunk. */
			release(c, cn, h->data + h->off, eq);
			if (eq)
				queue_consume(&cn->pvm, eq);
			diverge(c, cn);
			return CMP_MISMATCH;
		}
		release(c, cn, h->data + h->off, eq);
		queue_consume(&cn->pvm, eq);
	}
	if (!len)
		return CMP_OK;
	if (cn->pvm_closed) {
		/* The PVM closed before saying this. */
		diverge(c, cn);
		return CMP_MISMATCH;
	}
	if (queue_push(&cn->svm, buf, len, 0) < 0)
		return -ENOMEM;
	c->st.svm_held_bytes += len;
	return CMP_OK;
}

int cmp_close_pvm(struct cmp *c, uint32_t id, uint64_t now_ms)
{
	struct conn *cn = conn_find(c, id);

	if (!cn)
		return -ENOENT;
	if (cn->pvm_closed)
		return CMP_OK;
	cn->pvm_closed = true;
	cn->close_stamp = now_ms;
	if (cn->diverged)
		return CMP_OK;     /* held for the checkpoint, like bytes */
	if (cn->svm.bytes) {
		/* The SVM said more than the PVM ever will. */
		diverge(c, cn);
		return CMP_MISMATCH;
	}
	/* In step with an SVM that closed: it said no more and no less. */
	if (cn->svm_closed)
		release_close(c, cn);
	return CMP_OK;
}

int cmp_close_svm(struct cmp *c, uint32_t id)
{
	struct conn *cn = conn_find(c, id);

	if (!cn)
		return -ENOENT;
	if (cn->diverged || cn->svm_closed || cn->close_released)
		return CMP_OK;
	if (cn->pvm.bytes) {
		/* The PVM said more than the SVM ever will. */
		diverge(c, cn);
		return CMP_MISMATCH;
	}
	cn->svm_closed = true;
	if (cn->pvm_closed)
		release_close(c, cn);
	return CMP_OK;
}

void cmp_checkpoint_done(struct cmp *c)
{
	size_t i;

	for (i = 0; i < c->nconns; i++) {
		struct conn *cn = c->conns[i];

		while (cn->pvm.head) {
			struct chunk *h = cn->pvm.head;
			size_t n = h->len - h->off;

			release(c, cn, h->data + h->off, n);
			c->st.held_bytes -= n;
			queue_consume(&cn->pvm, n);
		}
		if (cn->pvm_closed && !cn->close_released)
			release_close(c, cn);
		svm_clear(c, cn);
		cn->svm_closed = false;
		cn->diverged = false;
	}
}

uint64_t cmp_oldest_pvm_ms(const struct cmp *c)
{
	uint64_t oldest = UINT64_MAX;
	size_t i;

	/* A conn's head chunk holds its oldest byte; one look per conn. */
	for (i = 0; i < c->nconns; i++) {
		const struct conn *cn = c->conns[i];
		const struct chunk *h = cn->pvm.head;

		if (h && h->stamp < oldest)
			oldest = h->stamp;
		if (cn->pvm_closed && !cn->close_released &&
		    cn->close_stamp < oldest)
			oldest = cn->close_stamp;
	}
	return oldest;
}

size_t cmp_pvm_held(const struct cmp *c, uint32_t id)
{
	const struct conn *cn = conn_find(c, id);

	return cn ? cn->pvm.bytes : 0;
}

size_t cmp_held(const struct cmp *c, uint32_t id)
{
	const struct conn *cn = conn_find(c, id);

	return cn ? cn->pvm.bytes + cn->svm.bytes : 0;
}

void cmp_get_stats(const struct cmp *c, struct cmp_stats *st)
{
	*st = c->st;
}
