// SPDX-License-Identifier: MIT
/*
 * The comparator against test-compare.c's naive model, so that wrong answers
 * are found, not only crashes: both streams since the last checkpoint kept
 * whole; released is their common prefix; diverged iff they differ within
 * the shorter, a close being a token no byte equals. Input: ops, a byte
 * each (conn 0-3, op); a push is followed by a length byte and the bytes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"

#define CAP 4096                /* input bytes; no stream gets longer */
#define CHECK(x) do { if (!(x)) abort(); } while (0)
#define MIN(a, b) ((a) < (b) ? (a) : (b))

struct side { uint8_t b[CAP]; size_t n; bool closed; };
static struct model {
	bool open, over, div, cl_out;  /* over: a checkpoint let the close out */
	struct side s[2];              /* PVM, SVM: this epoch */
	size_t nhist, nout;            /* PVM bytes since open; released */
} M[4];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_release(void *o, uint32_t id, const uint8_t *buf, size_t len)
{
	struct model *m = &M[id & 3];
	size_t at = m->nout - (m->nhist - m->s[0].n);   /* into this epoch */

	CHECK(!o && id < 4 && m->open && !m->cl_out && len > 0 &&
	      at + len <= m->s[0].n && !memcmp(m->s[0].b + at, buf, len));
	m->nout += len;
}

static void on_close(void *o, uint32_t id)
{
	CHECK(!o && id < 4 && !M[id].cl_out && M[id].nout == M[id].nhist);
	M[id].cl_out = true;
}

static size_t lcp(const struct side *p, const struct side *s)
{
	size_t i = 0;

	while (i < MIN(p->n, s->n) && p->b[i] == s->b[i])
		i++;
	return i;
}

/* Bytes (buf) or a close (!buf) of a side: the comparator's answer. */
static int expect(struct model *m, int side, const uint8_t *buf, size_t len)
{
	struct side *sd = &m->s[side], *p = &m->s[0], *s = &m->s[1];
	bool was = m->div;

	if (!m->open || sd->closed || m->over) /* after its end: no reader */
		return m->open ? CMP_OK : -ENOENT;
	memcpy(sd->b + sd->n, buf ? buf : sd->b, buf ? len : 0);
	sd->n += buf ? len : 0;
	m->nhist += buf && !side ? len : 0;
	sd->closed |= !buf;
	m->div = lcp(p, s) < MIN(p->n, s->n) || (p->closed && s->n > p->n) ||
		 (s->closed && p->n > s->n);
	return m->div && !was ? CMP_MISMATCH : CMP_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cmp *c = cmp_new(on_release, on_close, NULL);
	struct model *m;
	size_t off = 0, n;

	for (memset(M, 0, sizeof(M)); c && off < size && size <= CAP;) {
		uint32_t id = data[off] & 3;
		int op = (data[off++] >> 2) % 6, sd = op & 1, want;

		m = &M[id];
		if (op < 2) {                      /* bytes from the PVM, SVM */
			n = off < size ? data[off++] % 64u : 0;
			n = MIN(n, size - off);
			want = expect(m, sd, data + off, n); /* model first: */
			CHECK(want == (sd ? cmp_push_svm(c, id, data + off, n) :
				  cmp_push_pvm(c, id, data + off, n, off))); /* it releases */
			off += n;
		} else if (op < 4) {               /* their close */
			want = expect(m, sd, NULL, 0);
			CHECK(want == (sd ? cmp_close_svm(c, id) : cmp_close_pvm(c, id, off)));
		} else if (op == 4) {              /* checkpoint: PVM's all out */
			cmp_checkpoint_done(c);
			for (m = M; m < M + 4; m++) {
				CHECK(!m->open || (m->nout == m->nhist &&
				      m->cl_out == (m->s[0].closed || m->over)));
				m->over |= m->s[0].closed;
				m->s[0].n = m->s[1].n = 0;
				m->s[1].closed = m->div = false;
			}
		} else if ((m->open = !m->open)) { /* open or forget it */
			CHECK(cmp_conn_open(c, id) == 0);
			memset(m, 0, sizeof(*m)), m->open = true;
		} else {
			cmp_conn_close(c, id);
		}
		for (m = M; m < M + 4; m++) {
			size_t common = lcp(&m->s[0], &m->s[1]);

			CHECK(!m->open || (m->nout == m->nhist - m->s[0].n + common &&
			      cmp_pvm_held(c, (uint32_t)(m - M)) == m->s[0].n - common &&
			      m->cl_out == (m->over || (m->s[0].closed && m->s[1].closed
				&& m->s[0].n == m->s[1].n && !m->div))));
		}
	}
	cmp_free(c);
	return 0;
}
