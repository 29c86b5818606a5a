// SPDX-License-Identifier: MIT
/*
 * The page delta codec: random edits of random pages round-trip (encode,
 * check, apply gives the new page) and stay small when the edit is; a
 * page changed throughout does not fit under a page; and every malformed
 * form is refused by page_delta_check: each truncation of a valid
 * encoding, trailing bytes, too few or too many pages, an op past the
 * page, an op that does not move, an empty op before the end, varints
 * that are overlong, three bytes long or over a page.
 */
#include "page-delta.h"
#include "tap.h"

#include <errno.h>

#define PS RAM_PAGE_SIZE
#define NPAGES 8

static uint8_t old_pages[NPAGES][PS], new_pages[NPAGES][PS];
static uint8_t enc[NPAGES * PAGE_DELTA_MAX];

static void rand_bytes(uint64_t *s, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)test_rand(s);
}

/* new = old with a random edit: a few bytes, runs, a gap of one or two
 * equal bytes between changes, the first or last byte, nothing. */
static void rand_edit(uint64_t *s, const uint8_t *old, uint8_t *new)
{
	unsigned kind = (unsigned)(test_rand(s) % 6), n, i;

	memcpy(new, old, PS);
	switch (kind) {
	case 0:                                 /* nothing */
		break;
	case 1:                                 /* scattered bytes */
		n = 1 + (unsigned)(test_rand(s) % 64);
		for (i = 0; i < n; i++)
			new[test_rand(s) % PS] ^= 1 + (uint8_t)(test_rand(s) % 255);
		break;
	case 2: {                               /* a few runs */
		n = 1 + (unsigned)(test_rand(s) % 8);
		for (i = 0; i < n; i++) {
			size_t at = test_rand(s) % PS;
			size_t len = 1 + test_rand(s) % 300;

			if (len > PS - at)
				len = PS - at;
			rand_bytes(s, new + at, len);
		}
		break;
	}
	case 3:                                 /* ends of the page */
		new[0] ^= 0x55;
		new[PS - 1] ^= 0xaa;
		break;
	case 4:                                 /* changes 1 or 2 apart */
		for (i = (unsigned)(test_rand(s) % 16); i < PS;
		     i += 2 + (unsigned)(test_rand(s) % 2))
			new[i] ^= 0xff;
		break;
	default:                                /* everything */
		for (i = 0; i < PS; i++)
			new[i] = (uint8_t)~old[i];
	}
}

static void test_round_trip(void)
{
	uint64_t seed = 11;
	uint8_t page[PS];

	for (int round = 0; round < 2000; round++) {
		size_t len = 0, n, used = 0;
		unsigned count = 1 + (unsigned)(test_rand(&seed) % NPAGES);

		for (unsigned i = 0; i < count; i++) {
			rand_bytes(&seed, old_pages[i], PS);
			rand_edit(&seed, old_pages[i], new_pages[i]);
			n = page_delta_encode(old_pages[i], new_pages[i],
					      enc + len, PS - 1);
			if (!n)
				n = page_delta_whole(new_pages[i], enc + len);
			CHECK(n <= PAGE_DELTA_MAX);
			len += n;
		}
		CHECK_EQ(page_delta_check(enc, len, count), 0);
		for (unsigned i = 0; i < count; i++) {
			memcpy(page, old_pages[i], PS);
			used += page_delta_apply(page, enc + used);
			CHECK(!memcmp(page, new_pages[i], PS));
		}
		CHECK_EQ(used, len);
	}
}

static void test_sizes(void)
{
	uint64_t seed = 5;
	size_t n;

	rand_bytes(&seed, old_pages[0], PS);
	/* Nothing changed: one op skipping the page. */
	n = page_delta_encode(old_pages[0], old_pages[0], enc, PS);
	CHECK_EQ(n, 3);
	/* A SET's few hundred bytes: a few more than those. */
	memcpy(new_pages[0], old_pages[0], PS);
	for (int i = 0; i < 200; i++)
		new_pages[0][1000 + i] ^= 0x5a;
	n = page_delta_encode(old_pages[0], new_pages[0], enc, PS);
	CHECK(n >= 200 && n <= 210);
	/* Changed throughout: not under a page, so 0 at that cap... */
	for (size_t i = 0; i < PS; i++)
		new_pages[0][i] = (uint8_t)~old_pages[0][i];
	CHECK_EQ(page_delta_encode(old_pages[0], new_pages[0], enc, PS - 1), 0);
	/* ...and too small a cap for any change is 0 too. */
	CHECK_EQ(page_delta_encode(old_pages[0], new_pages[0], enc, 2), 0);
	/* The whole-page form needs no older copy. */
	CHECK_EQ(page_delta_whole(new_pages[0], enc), PAGE_DELTA_MAX);
	memset(old_pages[1], 0, PS);
	CHECK_EQ(page_delta_apply(old_pages[1], enc), PAGE_DELTA_MAX);
	CHECK(!memcmp(old_pages[1], new_pages[0], PS));
}

/* page_delta_check on bytes spelled out. */
static int check_bytes(const uint8_t *b, size_t len, uint32_t count)
{
	return page_delta_check(b, len, count);
}

static void test_malformed(void)
{
	uint64_t seed = 9;
	size_t len, n, i;

	/* Truncated anywhere, or with a byte more: refused. */
	rand_bytes(&seed, old_pages[0], PS);
	memcpy(new_pages[0], old_pages[0], PS);
	for (i = 0; i < PS; i += 97)
		new_pages[0][i] ^= 1;
	len = page_delta_encode(old_pages[0], new_pages[0], enc, PS);
	CHECK(len > 40);
	n = page_delta_whole(new_pages[0], enc + len);
	len += n;
	CHECK_EQ(page_delta_check(enc, len, 2), 0);
	for (i = 0; i < len; i++)
		CHECK_EQ(page_delta_check(enc, i, 2), -EPROTO);
	enc[len] = 0;
	CHECK_EQ(page_delta_check(enc, len + 1, 2), -EPROTO);
	CHECK_EQ(page_delta_check(enc, len, 1), -EPROTO);   /* trailing */
	CHECK_EQ(page_delta_check(enc, len, 3), -EPROTO);   /* short */
	CHECK_EQ(page_delta_check(enc, 0, 0), 0);

	{       /* skip 4000, then 200 bytes: past the page */
		static uint8_t b[4 + 200];

		b[0] = 0x80 | (4000 & 0x7f);
		b[1] = 4000 >> 7;
		b[2] = 0x80 | (200 & 0x7f);
		b[3] = 200 >> 7;
		CHECK_EQ(check_bytes(b, sizeof(b), 1), -EPROTO);
	}
	{       /* skip 4096, len 0: the valid "unchanged" page */
		static const uint8_t b[] = { 0x80, 0x20, 0 };

		CHECK_EQ(check_bytes(b, sizeof(b), 1), 0);
	}
	{       /* the same in an overlong varint for the 0 */
		static const uint8_t b[] = { 0x80, 0x20, 0x80, 0x00 };

		CHECK_EQ(check_bytes(b, sizeof(b), 1), -EPROTO);
	}
	{       /* a three-byte varint */
		static const uint8_t b[] = { 0x80, 0xa0, 0x00, 0 };

		CHECK_EQ(check_bytes(b, sizeof(b), 1), -EPROTO);
	}
	{       /* skip 4097 */
		static const uint8_t b[] = { 0x81, 0x20, 0 };

		CHECK_EQ(check_bytes(b, sizeof(b), 1), -EPROTO);
	}
	{       /* an op that does not move, then the page */
		static const uint8_t b[] = { 0, 0, 0x80, 0x20, 0 };

		CHECK_EQ(check_bytes(b, sizeof(b), 1), -EPROTO);
	}
	{       /* skip 10, len 0 before the end, then the rest */
		static const uint8_t b[] = { 10, 0, 0xf6, 0x1f, 0 };

		CHECK_EQ(check_bytes(b, sizeof(b), 1), -EPROTO);
		/* (the rest alone, 4086, is fine after a real op) */
	}
	{       /* skip 10, 1 byte, the rest (4085) skipped: valid */
		static const uint8_t b[] = { 10, 1, 0xee, 0xf5, 0x1f, 0 };

		CHECK_EQ(check_bytes(b, sizeof(b), 1), 0);
		memset(old_pages[0], 0, PS);
		CHECK_EQ(page_delta_apply(old_pages[0], b), sizeof(b));
		CHECK_EQ(old_pages[0][10], 0xee);
		CHECK_EQ(old_pages[0][9] | old_pages[0][11], 0);
		/* short of the page's end by one: refused */
		static const uint8_t c[] = { 10, 1, 0xee, 0xf4, 0x1f, 0 };

		CHECK_EQ(check_bytes(c, sizeof(c), 1), -EPROTO);
	}
}

int main(void)
{
	test_round_trip();
	test_sizes();
	test_malformed();
	return 0;
}
