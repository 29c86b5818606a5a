// SPDX-License-Identifier: MIT
/*
 * The page delta codec (page-delta.h). The encoder compares a word at a
 * time until the first difference, then takes changed bytes literally
 * until three equal bytes in a row: a new op costs at least two bytes of
 * lengths, so a gap of one equal byte is cheaper carried along, a gap of
 * three cheaper skipped.
 */
#include "page-delta.h"

#include <errno.h>
#include <string.h>

#define GAP 3

/* Bytes of the varint of v (v <= RAM_PAGE_SIZE). */
static size_t len_size(size_t v)
{
	return v < 0x80 ? 1 : 2;
}

static size_t put_len(uint8_t *out, size_t v)
{
	if (v < 0x80) {
		out[0] = (uint8_t)v;
		return 1;
	}
	out[0] = (uint8_t)(0x80 | (v & 0x7f));
	out[1] = (uint8_t)(v >> 7);
	return 2;
}

/* A varint at data[*i], within len and canonical; -EPROTO otherwise. */
static int get_len(const uint8_t *data, size_t len, size_t *i, uint32_t *v)
{
	uint8_t b0, b1;

	if (*i >= len)
		return -EPROTO;
	b0 = data[*i];
	if (!(b0 & 0x80)) {
		*v = b0;
		*i += 1;
		return 0;
	}
	if (len - *i < 2)
		return -EPROTO;
	b1 = data[*i + 1];
	/* No third byte, and no second one that adds nothing. */
	if (b1 & 0x80 || b1 == 0)
		return -EPROTO;
	*v = (uint32_t)(b0 & 0x7f) | (uint32_t)b1 << 7;
	if (*v > RAM_PAGE_SIZE)
		return -EPROTO;
	*i += 2;
	return 0;
}

/* The same, for data already checked. */
static uint32_t take_len(const uint8_t **p)
{
	uint32_t v = (*p)[0];

	if (!(v & 0x80)) {
		*p += 1;
		return v;
	}
	v = (v & 0x7f) | (uint32_t)(*p)[1] << 7;
	*p += 2;
	return v;
}

/* The first offset at or after i where a and b differ; RAM_PAGE_SIZE for
 * none. Whole words while they match (memcpy: no alignment assumed). */
static size_t first_diff(const uint8_t *a, const uint8_t *b, size_t i)
{
	uint64_t x, y;

	while (i < RAM_PAGE_SIZE && (i & 7)) {
		if (a[i] != b[i])
			return i;
		i++;
	}
	for (; i + 8 <= RAM_PAGE_SIZE; i += 8) {
		memcpy(&x, a + i, 8);
		memcpy(&y, b + i, 8);
		if (x != y)
			break;
	}
	while (i < RAM_PAGE_SIZE && a[i] == b[i])
		i++;
	return i;
}

/* Where the literal run that starts at d (a difference) ends: at GAP
 * equal bytes in a row, or the page's end. */
static size_t literal_end(const uint8_t *a, const uint8_t *b, size_t d)
{
	size_t e = d + 1, r;

	for (;;) {
		while (e < RAM_PAGE_SIZE && a[e] != b[e])
			e++;
		if (e == RAM_PAGE_SIZE)
			return e;
		for (r = 0; r < GAP && e + r < RAM_PAGE_SIZE &&
			    a[e + r] == b[e + r]; r++)
			;
		/* Equal to the end of the page: the tail op skips it. */
		if (r == GAP || e + r == RAM_PAGE_SIZE)
			return e;
		e += r;
	}
}

size_t page_delta_encode(const uint8_t *old, const uint8_t *new,
			 uint8_t *out, size_t cap)
{
	size_t pos = 0, o = 0;

	while (pos < RAM_PAGE_SIZE) {
		size_t d = first_diff(old, new, pos), e, need;

		if (d == RAM_PAGE_SIZE)
			break;
		e = literal_end(old, new, d);
		need = len_size(d - pos) + len_size(e - d) + (e - d);
		if (need > cap - o)
			return 0;
		o += put_len(out + o, d - pos);
		o += put_len(out + o, e - d);
		memcpy(out + o, new + d, e - d);
		o += e - d;
		pos = e;
	}
	if (pos < RAM_PAGE_SIZE) {
		if (len_size(RAM_PAGE_SIZE - pos) + 1 > cap - o)
			return 0;
		o += put_len(out + o, RAM_PAGE_SIZE - pos);
		o += put_len(out + o, 0);
	}
	return o;
}

size_t page_delta_whole(const uint8_t *new, uint8_t *out)
{
	size_t o = put_len(out, 0);

	o += put_len(out + o, RAM_PAGE_SIZE);
	memcpy(out + o, new, RAM_PAGE_SIZE);
	return o + RAM_PAGE_SIZE;
}

int page_delta_check(const uint8_t *data, size_t len, uint32_t count)
{
	size_t i = 0;
	uint32_t n;

	for (n = 0; n < count; n++) {
		uint32_t pos = 0;

		while (pos < RAM_PAGE_SIZE) {
			uint32_t skip, lit;

			if (get_len(data, len, &i, &skip) ||
			    get_len(data, len, &i, &lit))
				return -EPROTO;
			/* Each at most a page: the sum cannot wrap. */
			if (skip + lit == 0 || skip + lit > RAM_PAGE_SIZE - pos)
				return -EPROTO;
			if (lit == 0 && pos + skip != RAM_PAGE_SIZE)
				return -EPROTO;
			if (lit > len - i)
				return -EPROTO;
			i += lit;
			pos += skip + lit;
		}
	}
	return i == len ? 0 : -EPROTO;
}

size_t page_delta_apply(uint8_t *page, const uint8_t *data)
{
	const uint8_t *p = data;
	uint32_t pos = 0;

	while (pos < RAM_PAGE_SIZE) {
		uint32_t skip = take_len(&p), lit = take_len(&p);

		pos += skip;
		memcpy(page + pos, p, lit);
		p += lit;
		pos += lit;
	}
	return (size_t)(p - data);
}
