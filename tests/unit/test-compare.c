// SPDX-License-Identifier: MIT
/*
 * The comparator against a naive model: per connection keep both streams
 * since the last checkpoint whole; what may have been released is their
 * longest common prefix, and they have diverged iff they differ within the
 * shorter one. Random chunkings, random divergence points, many connections
 * interleaved, checkpoints and closes in the middle.
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
	uint64_t released, mismatches;
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
	CHECK(m->nout + len <= m->nhist);
	memcpy(m->out + m->nout, buf, len);
	m->nout += len;
	w->released += len;
}

static size_t lcp(const struct model *m)
{
	size_t n = m->npv < m->nsv ? m->npv : m->nsv, i;

	for (i = 0; i < n && m->pv[i] == m->sv[i]; i++)
		;
	return i;
}

static void new_epoch(struct model *m, uint64_t *rs)
{
	m->epoch++;
	m->base = m->nhist;
	m->npv = m->nsv = 0;
	m->diverged = false;
	/* Half the epochs agree throughout. */
	m->split = test_rand(rs) % 2 ? SIZE_MAX : test_rand(rs) % EPOCH_MAX;
}

static void model_open(struct model *m, uint32_t id, uint64_t *rs)
{
	free(m->hist);
	free(m->out);
	m->id = id;
	m->open = true;
	m->epoch = 0;
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
		if (m->npv > common && m->stamp[common] < oldest)
			oldest = m->stamp[common];
	}
	CHECK_EQ(cmp_oldest_pvm_ms(c), oldest);
	cmp_get_stats(c, &st);
	CHECK_EQ(st.held_bytes, held);
	CHECK_EQ(st.released_bytes, w->released);
	CHECK_EQ(st.mismatches, w->mismatches);
}

static void push(struct cmp *c, struct world *w, struct model *m, bool pvm,
		 size_t len, uint64_t now)
{
	uint8_t buf[EPOCH_MAX];
	size_t pos = pvm ? m->npv : m->nsv;
	bool was = m->diverged;
	int rc;

	if (pos + len > EPOCH_MAX)
		len = EPOCH_MAX - pos;
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
	m->diverged = lcp(m) < (m->npv < m->nsv ? m->npv : m->nsv);
	if (m->diverged && !was)
		w->mismatches++;
	CHECK_EQ(rc, m->diverged && !was ? CMP_MISMATCH : CMP_OK);
	check_conn(c, m);
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
		/* Everything the PVM said is out now. */
		CHECK_EQ(m->nout, m->nhist);
		CHECK(!memcmp(m->out, m->hist, m->nout));
		new_epoch(m, rs);
	}
	check_all(c, w);
}

static void test_random(uint64_t seed)
{
	struct world w = { 0 };
	uint64_t rs = seed, now = 1000;
	struct cmp *c = cmp_new(on_release, &w);

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
		} else if (r < 6) {
			/* Close, then reopen under a new id. */
			cmp_conn_close(c, m->id);
			m->open = false;
			CHECK_EQ(cmp_pvm_held(c, m->id), 0);
			CHECK_EQ(cmp_push_svm(c, m->id, "x", 1), -ENOENT);
			model_open(m, (uint32_t)test_rand(&rs), &rs);
			CHECK_EQ(cmp_conn_open(c, m->id), 0);
		} else if (m->nhist + EPOCH_MAX < 64 * EPOCH_MAX) {
			push(c, &w, m, r % 2, rand_len(&rs), now);
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

/* A hand-written walk through the contract, including the oldest stamp. */
static void test_basic(void)
{
	struct sink s = { .n = 0 };
	struct cmp *c = cmp_new(to_sink, &s);
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

int main(void)
{
	test_basic();
	for (uint64_t seed = 1; seed <= 8; seed++)
		test_random(seed * 0x1234567ULL);
	return 0;
}
