// SPDX-License-Identifier: MIT
/*
 * The comparator against a naive model: per connection keep both streams
 * since the last checkpoint whole, a guest's close as one more token at the
 * end; what may have been released is their longest common prefix, and
 * they have diverged iff they differ within the shorter one. Random
 * chunkings, random divergence points, closes at the same or at other
 * offsets, many connections interleaved, checkpoints and connection ends in
 * the middle.
 */
#include "compare.h"
#include "tap.h"

#include <errno.h>
#include <stdbool.h>

#define NCONN 12
#define EPOCH_MAX 6000         /* bytes per side per epoch, at most */

struct model {
	uint32_t id;
	bool open;
	uint32_t epoch;
	size_t split;          /* SVM differs from here on, this epoch */
	size_t close_at;       /* both guests close here, this epoch */
	bool pclosed, sclosed; /* this epoch */
	uint64_t close_stamp;
	bool over;             /* a checkpoint released the PVM's close */
	bool close_out;        /* the comparator released the close */
	uint8_t *pv, *sv;      /* this epoch's streams */
	uint64_t *stamp;       /* per PVM byte */
	size_t npv, nsv;
	bool diverged;
	uint8_t *hist;         /* every PVM byte since open */
	size_t nhist, base;    /* base: hist bytes before this epoch */
	uint8_t *out;          /* what the comparator released */
	size_t nout;
};

struct world {
	struct model m[NCONN];
	uint64_t released, mismatches, closes;
};

static uint8_t byte_at(uint32_t id, uint32_t epoch, size_t pos)
{
	uint64_t s = ((uint64_t)id << 32 | epoch) ^ (pos * 0x9E3779B97F4A7C15ULL);

	/* A small alphabet so that the streams often agree by chance too. */
	return (uint8_t)(test_rand(&s) % 4 + 'a');
}

static struct model *model_of(struct world *w, uint32_t id)
{
	for (int i = 0; i < NCONN; i++)
		if (w->m[i].open && w->m[i].id == id)
			return &w->m[i];
	return NULL;
}

static void on_release(void *opaque, uint32_t conn, const uint8_t *buf,
		       size_t len)
{
	struct world *w = opaque;
	struct model *m = model_of(w, conn);

	CHECK(m);
	CHECK(len > 0);
	CHECK(!m->close_out);
	CHECK(m->nout + len <= m->nhist);
	memcpy(m->out + m->nout, buf, len);
	m->nout += len;
	w->released += len;
}

static void on_release_close(void *opaque, uint32_t conn)
{
	struct world *w = opaque;
	struct model *m = model_of(w, conn);

	CHECK(m);
	CHECK(!m->close_out);
	/* Every byte the PVM said went out before its close. */
	CHECK_EQ(m->nout, m->nhist);
	m->close_out = true;
	w->closes++;
}

static size_t lcp(const struct model *m)
{
	size_t n = m->npv < m->nsv ? m->npv : m->nsv, i;

	for (i = 0; i < n && m->pv[i] == m->sv[i]; i++)
		;
	return i;
}

/* Differ within the shorter token stream; a close is a token no byte
 * equals. */
static bool model_diverged(const struct model *m)
{
	if (lcp(m) < (m->npv < m->nsv ? m->npv : m->nsv))
		return true;
	return (m->pclosed && m->nsv > m->npv) ||
	       (m->sclosed && m->npv > m->nsv);
}

static bool model_close_out(const struct model *m)
{
	return m->over || (m->pclosed && m->sclosed && m->npv == m->nsv &&
			   !model_diverged(m));
}

static void new_epoch(struct model *m, uint64_t *rs)
{
	m->epoch++;
	m->base = m->nhist;
	m->npv = m->nsv = 0;
	m->diverged = false;
	/* Half the epochs agree throughout. */
	m->split = test_rand(rs) % 2 ? SIZE_MAX : test_rand(rs) % EPOCH_MAX;
	/* A PVM close outlives the checkpoint; the SVM's is dropped. */
	m->over = m->over || m->pclosed;
	m->sclosed = false;
	m->close_at = test_rand(rs) % 3 ? SIZE_MAX : test_rand(rs) % EPOCH_MAX;
}

static void model_open(struct model *m, uint32_t id, uint64_t *rs)
{
	free(m->hist);
	free(m->out);
	m->id = id;
	m->open = true;
	m->epoch = 0;
	m->pclosed = m->over = m->close_out = false;
	m->nhist = m->nout = 0;
	m->hist = malloc(64 * EPOCH_MAX);
	m->out = malloc(64 * EPOCH_MAX);
	CHECK(m->pv && m->sv && m->stamp && m->hist && m->out);
	new_epoch(m, rs);
}

/* The comparator's visible state must equal the model's, byte for byte. */
static void check_conn(struct cmp *c, struct model *m)
{
	size_t common = lcp(m);

	CHECK_EQ(m->nout, m->base + common);
	CHECK(!memcmp(m->out, m->hist, m->nout));
	CHECK_EQ(cmp_pvm_held(c, m->id), m->npv - common);
	CHECK_EQ(m->close_out, model_close_out(m));
}

static void check_all(struct cmp *c, struct world *w)
{
	uint64_t oldest = UINT64_MAX, held = 0;
	struct cmp_stats st;

	for (int i = 0; i < NCONN; i++) {
		struct model *m = &w->m[i];
		size_t common;

		if (!m->open)
			continue;
		check_conn(c, m);
		common = lcp(m);
		held += m->npv - common;
		if (m->npv > common) {
			if (m->stamp[common] < oldest)
				oldest = m->stamp[common];
		} else if (m->pclosed && !m->close_out &&
			   m->close_stamp < oldest) {
			oldest = m->close_stamp;
		}
	}
	CHECK_EQ(cmp_oldest_pvm_ms(c), oldest);
	cmp_get_stats(c, &st);
	CHECK_EQ(st.held_bytes, held);
	CHECK_EQ(st.released_bytes, w->released);
	CHECK_EQ(st.mismatches, w->mismatches);
	CHECK_EQ(st.released_closes, w->closes);
}

/* After a model change: a new difference is reported once, as rc. */
static void settle(struct cmp *c, struct world *w, struct model *m, bool was,
		   int rc)
{
	m->diverged = model_diverged(m);
	if (m->diverged && !was)
		w->mismatches++;
	CHECK_EQ(rc, m->diverged && !was ? CMP_MISMATCH : CMP_OK);
	check_conn(c, m);
}

/* A side's close: where both guests close this epoch, or (rarely) early. */
static void close_side(struct cmp *c, struct world *w, struct model *m,
		       bool pvm, uint64_t now, uint64_t *rs)
{
	size_t pos = pvm ? m->npv : m->nsv;
	bool *closed = pvm ? &m->pclosed : &m->sclosed;
	bool was = m->diverged;
	int rc;

	if (pos != m->close_at && test_rand(rs) % 8)
		return;
	if (*closed || m->over) {
		/* A second close, or one after the end: ignored. */
		rc = pvm ? cmp_close_pvm(c, m->id, now) :
			   cmp_close_svm(c, m->id);
		CHECK_EQ(rc, CMP_OK);
		check_conn(c, m);
		return;
	}
	*closed = true;
	if (pvm) {
		m->close_stamp = now;
		rc = cmp_close_pvm(c, m->id, now);
	} else {
		rc = cmp_close_svm(c, m->id);
	}
	settle(c, w, m, was, rc);
}

static void push(struct cmp *c, struct world *w, struct model *m, bool pvm,
		 size_t len, uint64_t now, uint64_t *rs)
{
	uint8_t buf[EPOCH_MAX];
	size_t pos = pvm ? m->npv : m->nsv;
	bool was = m->diverged;
	int rc;

	if (pos + len > EPOCH_MAX)
		len = EPOCH_MAX - pos;
	/* Mostly stop where the guests close, sometimes overrun it. */
	if (m->close_at != SIZE_MAX && pos <= m->close_at &&
	    pos + len > m->close_at && test_rand(rs) % 16)
		len = m->close_at - pos;
	if ((pvm ? m->pclosed : m->sclosed) || m->over) {
		/* Output after its own close (or the end) has no reader. */
		rc = pvm ? cmp_push_pvm(c, m->id, "zz", 2, now) :
			   cmp_push_svm(c, m->id, "zz", 2);
		CHECK_EQ(rc, CMP_OK);
		check_conn(c, m);
		return;
	}
	for (size_t i = 0; i < len; i++) {
		buf[i] = byte_at(m->id, m->epoch, pos + i);
		if (!pvm && pos + i >= m->split)
			buf[i] ^= 0x20;
	}
	if (pvm) {
		memcpy(m->pv + pos, buf, len);
		memcpy(m->hist + m->nhist, buf, len);
		for (size_t i = 0; i < len; i++)
			m->stamp[pos + i] = now;
		m->npv += len;
		m->nhist += len;
		rc = cmp_push_pvm(c, m->id, buf, len, now);
	} else {
		memcpy(m->sv + pos, buf, len);
		m->nsv += len;
		rc = cmp_push_svm(c, m->id, buf, len);
	}
	settle(c, w, m, was, rc);
}

static size_t rand_len(uint64_t *rs)
{
	switch (test_rand(rs) % 4) {
	case 0:
		return 1;
	case 1:
		return 1 + test_rand(rs) % 16;
	case 2:
		return 1 + test_rand(rs) % 300;
	default:
		return 1 + test_rand(rs) % 3000;
	}
}

static void checkpoint(struct cmp *c, struct world *w, uint64_t *rs)
{
	cmp_checkpoint_done(c);
	for (int i = 0; i < NCONN; i++) {
		struct model *m = &w->m[i];

		if (!m->open)
			continue;
		/* Everything the PVM said is out now, its close too. */
		CHECK_EQ(m->nout, m->nhist);
		CHECK(!memcmp(m->out, m->hist, m->nout));
		CHECK_EQ(m->close_out, m->pclosed || m->over);
		new_epoch(m, rs);
	}
	check_all(c, w);
}

static void test_random(uint64_t seed)
{
	struct world w = { 0 };
	uint64_t rs = seed, now = 1000;
	struct cmp *c = cmp_new(on_release, on_release_close, &w);

	CHECK(c);
	for (int i = 0; i < NCONN; i++) {
		struct model *m = &w.m[i];

		m->pv = malloc(EPOCH_MAX);
		m->sv = malloc(EPOCH_MAX);
		m->stamp = malloc(EPOCH_MAX * sizeof(*m->stamp));
		/* Sparse ids, so the sorted table sees inserts everywhere. */
		model_open(m, (uint32_t)test_rand(&rs), &rs);
		CHECK_EQ(cmp_conn_open(c, m->id), 0);
	}
	for (int step = 0; step < 20000; step++) {
		struct model *m = &w.m[test_rand(&rs) % NCONN];
		unsigned r = test_rand(&rs) % 1000;

		now += test_rand(&rs) % 3;        /* equal stamps are common */
		if (r < 3) {
			checkpoint(c, &w, &rs);
		} else if (r < 6 || (m->close_out && r < 60)) {
			/* Close, then reopen under a new id. */
			cmp_conn_close(c, m->id);
			m->open = false;
			CHECK_EQ(cmp_pvm_held(c, m->id), 0);
			CHECK_EQ(cmp_push_svm(c, m->id, "x", 1), -ENOENT);
			model_open(m, (uint32_t)test_rand(&rs), &rs);
			CHECK_EQ(cmp_conn_open(c, m->id), 0);
		} else if (r < 100) {
			close_side(c, &w, m, r % 2, now, &rs);
		} else if (m->nhist + EPOCH_MAX < 64 * EPOCH_MAX) {
			push(c, &w, m, r % 2, rand_len(&rs), now, &rs);
		}
		if (step % 97 == 0)
			check_all(c, &w);
	}
	check_all(c, &w);
	checkpoint(c, &w, &rs);
	CHECK_EQ(cmp_oldest_pvm_ms(c), UINT64_MAX);
	cmp_free(c);
	for (int i = 0; i < NCONN; i++) {
		free(w.m[i].pv);
		free(w.m[i].sv);
		free(w.m[i].stamp);
		free(w.m[i].hist);
		free(w.m[i].out);
	}
}

struct sink {
	uint8_t buf[256];
	size_t n;
};

static void to_sink(void *opaque, uint32_t conn, const uint8_t *buf,
		    size_t len)
{
	struct sink *s = opaque;

	(void)conn;
	memcpy(s->buf + s->n, buf, len);
	s->n += len;
}

/* A released close shows in the sink as '#', in its place in the stream. */
static void sink_close(void *opaque, uint32_t conn)
{
	struct sink *s = opaque;

	(void)conn;
	s->buf[s->n++] = '#';
}

#define SINK_IS(s, str) \
	do { CHECK_EQ((s).n, strlen(str)); \
	     CHECK(!memcmp((s).buf, str, (s).n)); } while (0)

/* A hand-written walk through the contract, including the oldest stamp. */
static void test_basic(void)
{
	struct sink s = { .n = 0 };
	struct cmp *c = cmp_new(to_sink, sink_close, &s);
	struct cmp_stats st;

	CHECK(c);
	CHECK_EQ(cmp_conn_open(c, 7), 0);
	CHECK_EQ(cmp_conn_open(c, 7), -EEXIST);
	CHECK_EQ(cmp_conn_open(c, 3), 0);
	CHECK_EQ(cmp_push_pvm(c, 9, "x", 1, 1), -ENOENT);
	CHECK_EQ(cmp_oldest_pvm_ms(c), UINT64_MAX);

	CHECK_EQ(cmp_push_pvm(c, 7, "hello ", 6, 100), CMP_OK);
	CHECK_EQ(cmp_push_pvm(c, 3, "abc", 3, 150), CMP_OK);
	CHECK_EQ(cmp_push_pvm(c, 7, "world", 5, 200), CMP_OK);
	CHECK_EQ(cmp_oldest_pvm_ms(c), 100);
	CHECK_EQ(cmp_pvm_held(c, 7), 11);
	CHECK_EQ(s.n, 0);

	/* The SVM catches up on conn 7 past its first chunk. */
	CHECK_EQ(cmp_push_svm(c, 7, "hello w", 7), CMP_OK);
	CHECK_EQ(s.n, 7);
	CHECK(!memcmp(s.buf, "hello w", 7));
	CHECK_EQ(cmp_pvm_held(c, 7), 4);
	CHECK_EQ(cmp_oldest_pvm_ms(c), 150);
	CHECK_EQ(cmp_push_svm(c, 3, "abc", 3), CMP_OK);
	CHECK_EQ(cmp_oldest_pvm_ms(c), 200);

	/* A difference: reported once, nothing more released. */
	CHECK_EQ(cmp_push_svm(c, 7, "orLd", 4), CMP_MISMATCH);
	CHECK_EQ(s.n, 12);
	CHECK_EQ(cmp_push_svm(c, 7, "d", 1), CMP_OK);
	CHECK_EQ(cmp_push_pvm(c, 7, "!", 1, 300), CMP_OK);
	CHECK_EQ(s.n, 12);
	CHECK_EQ(cmp_pvm_held(c, 7), 3);
	cmp_get_stats(c, &st);
	CHECK_EQ(st.mismatches, 1);
	CHECK_EQ(st.held_bytes, 3);

	cmp_checkpoint_done(c);
	CHECK_EQ(s.n, 15);
	CHECK(!memcmp(s.buf, "hello wabcorld!", 15));
	CHECK_EQ(cmp_oldest_pvm_ms(c), UINT64_MAX);

	/* After the checkpoint, both start afresh: SVM ahead this time. */
	CHECK_EQ(cmp_push_svm(c, 7, "ok", 2), CMP_OK);
	CHECK_EQ(cmp_push_pvm(c, 7, "o", 1, 400), CMP_OK);
	CHECK_EQ(s.n, 16);
	CHECK_EQ(cmp_push_pvm(c, 7, "kay", 3, 500), CMP_OK);
	CHECK_EQ(s.n, 17);
	CHECK_EQ(cmp_oldest_pvm_ms(c), 500);
	cmp_conn_close(c, 7);
	CHECK_EQ(cmp_oldest_pvm_ms(c), UINT64_MAX);
	cmp_get_stats(c, &st);
	CHECK_EQ(st.released_bytes, 17);
	CHECK_EQ(st.held_bytes, 0);
	cmp_free(c);
	cmp_free(NULL);
}

/* Closes at the same offset: the close goes out only after both. */
static void test_close_same_offset(void)
{
	struct sink s = { .n = 0 };
	struct cmp *c = cmp_new(to_sink, sink_close, &s);
	struct cmp_stats st;

	CHECK(c);
	CHECK_EQ(cmp_close_pvm(c, 1, 10), -ENOENT);
	CHECK_EQ(cmp_close_svm(c, 1), -ENOENT);
	CHECK_EQ(cmp_conn_open(c, 1), 0);
	CHECK_EQ(cmp_conn_open(c, 2), 0);
	CHECK_EQ(cmp_conn_open(c, 3), 0);

	/* PVM first: its bytes and close wait for the SVM's. */
	CHECK_EQ(cmp_push_pvm(c, 1, "+OK\r\n", 5, 10), CMP_OK);
	CHECK_EQ(cmp_close_pvm(c, 1, 20), CMP_OK);
	SINK_IS(s, "");
	CHECK_EQ(cmp_oldest_pvm_ms(c), 10);
	CHECK_EQ(cmp_push_svm(c, 1, "+OK\r\n", 5), CMP_OK);
	SINK_IS(s, "+OK\r\n");
	CHECK_EQ(cmp_oldest_pvm_ms(c), 20);   /* the close is still held */
	CHECK_EQ(cmp_close_svm(c, 1), CMP_OK);
	SINK_IS(s, "+OK\r\n#");
	CHECK_EQ(cmp_oldest_pvm_ms(c), UINT64_MAX);

	/* SVM first: the PVM's bytes go at once, its close with it. */
	CHECK_EQ(cmp_push_svm(c, 2, "ab", 2), CMP_OK);
	CHECK_EQ(cmp_close_svm(c, 2), CMP_OK);
	CHECK_EQ(cmp_push_pvm(c, 2, "ab", 2, 30), CMP_OK);
	SINK_IS(s, "+OK\r\n#ab");
	CHECK_EQ(cmp_close_pvm(c, 2, 40), CMP_OK);
	SINK_IS(s, "+OK\r\n#ab#");

	/* A connection closed without a byte, and closes repeated. */
	CHECK_EQ(cmp_close_pvm(c, 3, 50), CMP_OK);
	CHECK_EQ(cmp_close_pvm(c, 3, 60), CMP_OK);
	CHECK_EQ(cmp_oldest_pvm_ms(c), 50);
	CHECK_EQ(cmp_close_svm(c, 3), CMP_OK);
	CHECK_EQ(cmp_close_svm(c, 3), CMP_OK);
	SINK_IS(s, "+OK\r\n#ab##");

	/* Output after a side's own close has no reader. */
	CHECK_EQ(cmp_push_pvm(c, 3, "late", 4, 70), CMP_OK);
	CHECK_EQ(cmp_push_svm(c, 3, "late", 4), CMP_OK);
	CHECK_EQ(cmp_pvm_held(c, 3), 0);
	cmp_checkpoint_done(c);
	SINK_IS(s, "+OK\r\n#ab##");
	cmp_get_stats(c, &st);
	CHECK_EQ(st.released_closes, 3);
	CHECK_EQ(st.mismatches, 0);
	cmp_free(c);
}

/* A close where the other side said more, or less, is a difference. */
static void test_close_mismatch(void)
{
	struct sink s = { .n = 0 };
	struct cmp *c = cmp_new(to_sink, sink_close, &s);
	struct cmp_stats st;

	CHECK(c);
	for (uint32_t id = 1; id <= 5; id++)
		CHECK_EQ(cmp_conn_open(c, id), 0);

	/* 1: the PVM closes after more bytes than the SVM. */
	CHECK_EQ(cmp_push_pvm(c, 1, "abc", 3, 10), CMP_OK);
	CHECK_EQ(cmp_close_pvm(c, 1, 10), CMP_OK);
	CHECK_EQ(cmp_push_svm(c, 1, "ab", 2), CMP_OK);
	CHECK_EQ(cmp_close_svm(c, 1), CMP_MISMATCH);
	SINK_IS(s, "ab");
	/* 2: the PVM closes before bytes the SVM already said. */
	CHECK_EQ(cmp_push_svm(c, 2, "xyz", 3), CMP_OK);
	CHECK_EQ(cmp_push_pvm(c, 2, "xy", 2, 10), CMP_OK);
	CHECK_EQ(cmp_close_pvm(c, 2, 10), CMP_MISMATCH);
	SINK_IS(s, "abxy");
	/* 3: PVM bytes after the SVM closed. */
	CHECK_EQ(cmp_close_svm(c, 3), CMP_OK);
	CHECK_EQ(cmp_push_pvm(c, 3, "q", 1, 10), CMP_MISMATCH);
	/* 4: SVM bytes after the PVM closed. */
	CHECK_EQ(cmp_push_pvm(c, 4, "k", 1, 10), CMP_OK);
	CHECK_EQ(cmp_close_pvm(c, 4, 10), CMP_OK);
	CHECK_EQ(cmp_push_svm(c, 4, "kk", 2), CMP_MISMATCH);
	SINK_IS(s, "abxyk");
	/* 5: the SVM closes while the PVM is ahead (and still open). */
	CHECK_EQ(cmp_push_pvm(c, 5, "m", 1, 10), CMP_OK);
	CHECK_EQ(cmp_close_svm(c, 5), CMP_MISMATCH);
	/* Diverged: nothing more is released, whatever the SVM says. */
	CHECK_EQ(cmp_close_pvm(c, 5, 10), CMP_OK);
	CHECK_EQ(cmp_push_svm(c, 1, "c", 1), CMP_OK);
	CHECK_EQ(cmp_close_svm(c, 2), CMP_OK);
	SINK_IS(s, "abxyk");
	cmp_get_stats(c, &st);
	CHECK_EQ(st.mismatches, 5);
	CHECK_EQ(st.released_closes, 0);
	cmp_free(c);
}

/* After a checkpoint the PVM is the truth: its held closes go out, and a
 * close only the SVM made is forgotten. */
static void test_close_checkpoint(void)
{
	struct sink s = { .n = 0 };
	struct cmp *c = cmp_new(to_sink, sink_close, &s);
	struct cmp_stats st;

	CHECK(c);
	CHECK_EQ(cmp_conn_open(c, 1), 0);
	CHECK_EQ(cmp_conn_open(c, 2), 0);
	CHECK_EQ(cmp_push_pvm(c, 1, "bye", 3, 10), CMP_OK);
	CHECK_EQ(cmp_close_pvm(c, 1, 10), CMP_OK);
	CHECK_EQ(cmp_close_svm(c, 2), CMP_OK);      /* the PVM did not */
	cmp_checkpoint_done(c);
	SINK_IS(s, "bye#");
	CHECK_EQ(cmp_oldest_pvm_ms(c), UINT64_MAX);
	/* The close went out once; the SVM's late word changes nothing. */
	CHECK_EQ(cmp_close_svm(c, 1), CMP_OK);
	CHECK_EQ(cmp_push_svm(c, 1, "bye", 3), CMP_OK);
	cmp_checkpoint_done(c);
	SINK_IS(s, "bye#");
	/* Conn 2 is open on both again: compared as usual. */
	CHECK_EQ(cmp_push_pvm(c, 2, "on", 2, 20), CMP_OK);
	CHECK_EQ(cmp_push_svm(c, 2, "on", 2), CMP_OK);
	SINK_IS(s, "bye#on");
	cmp_get_stats(c, &st);
	CHECK_EQ(st.mismatches, 0);
	CHECK_EQ(st.released_closes, 1);
	cmp_free(c);
}

int main(void)
{
	test_basic();
	test_close_same_offset();
	test_close_mismatch();
	test_close_checkpoint();
	for (uint64_t seed = 1; seed <= 8; seed++)
		test_random(seed * 0x1234567ULL);
	return 0;
}
