// SPDX-License-Identifier: MIT
/*
 * proc-cache on hand-made images, no process:
 *   - an empty cache holds nothing and refuses a delta, naming it
 *   - a full image crossing chunk boundaries, then deltas that change,
 *     add and drop pages across them (a chunk emptied, one made), each
 *     checked page by page and through the walk against a naive model
 *     (a flag and a tag per page)
 *   - a delta with a present page in neither the delta nor the cache, or
 *     a run outside its present list: -EPROTO naming the address, and the
 *     cache as it was
 *   - random rounds of deltas and full images against the same model
 * With --bench: a 1 GiB cache updated by a delta of 2,000 pages, timed.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proc-cache.h"
#include "tap.h"

#define PAGE 4096ULL
#define CHUNK (PROC_CACHE_CHUNK_PAGES * PAGE)
#define BASE 0x7f0000000000ULL          /* chunk-aligned */
#define NPAGES (4 * PROC_CACHE_CHUNK_PAGES + 8)

/* The model: per page of [BASE, BASE + NPAGES pages), held and its tag. */
struct model {
	bool held[NPAGES];
	uint32_t tag[NPAGES];
};

static void fill(uint8_t *p, uint32_t tag)
{
	uint64_t s = tag * 0x9e3779b97f4a7c15ULL + 1;

	for (size_t i = 0; i < PAGE; i += 8) {
		uint64_t v = test_rand(&s);

		memcpy(p + i, &v, 8);
	}
}

static uint64_t addr_of(size_t page)
{
	return BASE + page * PAGE;
}

/* Appends page p to ranges, merged into the last one it continues. */
static void add_range(struct proc_image_range **r, size_t *n, uint64_t addr)
{
	if (*n && (*r)[*n - 1].addr + (*r)[*n - 1].pages * PAGE == addr) {
		(*r)[*n - 1].pages++;
		return;
	}
	*r = realloc(*r, (*n + 1) * sizeof(**r));
	CHECK(*r);
	(*r)[(*n)++] = (struct proc_image_range){ addr, 1 };
}

/*
 * The image that makes the model's next state: carry[p] pages carried
 * with tag[p]; present (a delta) every page held[p]. Runs merged.
 */
static void make_image(struct proc_image *img, const bool *held,
		       const bool *carry, const uint32_t *tag, bool delta)
{
	struct proc_image_range *runs = NULL;
	size_t n = 0;

	*img = (struct proc_image){ .delta = delta };
	for (size_t p = 0; p < NPAGES; p++) {
		if (carry[p])
			add_range(&runs, &n, addr_of(p));
		if (delta && held[p])
			add_range(&img->present, &img->n_present, addr_of(p));
	}
	img->runs = calloc(n ? n : 1, sizeof(*img->runs));
	CHECK(img->runs);
	img->n_runs = n;
	for (size_t i = 0; i < n; i++) {
		struct proc_image_run *run = &img->runs[i];
		size_t first = (runs[i].addr - BASE) / PAGE;

		run->addr = runs[i].addr;
		run->pages = runs[i].pages;
		run->data = malloc(run->pages * PAGE);
		CHECK(run->data);
		for (size_t k = 0; k < run->pages; k++)
			fill(run->data + k * PAGE, tag[first + k]);
	}
	free(runs);
}

struct walked {
	const struct model *m;
	size_t next;            /* the first page the walk may report next */
	uint64_t pages;
};

static int on_run(void *opaque, uint64_t addr, size_t pages,
		  const uint8_t *data)
{
	struct walked *w = opaque;
	uint8_t want[PAGE];
	size_t first;

	CHECK(addr >= BASE && addr % PAGE == 0 && pages > 0);
	first = (addr - BASE) / PAGE;
	CHECK(first >= w->next && first + pages <= NPAGES);
	/* At most a chunk, and maximal inside it. */
	CHECK(pages <= PROC_CACHE_CHUNK_PAGES);
	CHECK((addr / CHUNK) == ((addr + (pages - 1) * PAGE) / CHUNK));
	for (size_t p = w->next; p < first; p++)
		CHECK(!w->m->held[p]);
	if (addr % CHUNK)
		CHECK(!w->m->held[first - 1]);
	for (size_t k = 0; k < pages; k++) {
		CHECK(w->m->held[first + k]);
		fill(want, w->m->tag[first + k]);
		CHECK(!memcmp(data + k * PAGE, want, PAGE));
	}
	if ((addr + pages * PAGE) % CHUNK && first + pages < NPAGES)
		CHECK(!w->m->held[first + pages]);
	w->next = first + pages;
	w->pages += pages;
	return 0;
}

/* The cache holds exactly what the model does, page by page and walked. */
static void check_model(const struct proc_cache *c, const struct model *m)
{
	struct walked w = { m, 0, 0 };
	uint8_t want[PAGE];
	uint64_t held = 0;

	for (size_t p = 0; p < NPAGES; p++) {
		const uint8_t *got = proc_cache_page(c, addr_of(p));

		if (!m->held[p]) {
			CHECK(got == NULL);
			continue;
		}
		held++;
		CHECK(got != NULL);
		fill(want, m->tag[p]);
		CHECK(!memcmp(got, want, PAGE));
	}
	CHECK_EQ(proc_cache_walk(c, on_run, &w), 0);
	for (size_t p = w.next; p < NPAGES; p++)
		CHECK(!m->held[p]);
	CHECK_EQ(w.pages, held);
	CHECK_EQ(proc_cache_pages(c), held);
	CHECK_EQ(proc_cache_filled(c), held > 0);
	CHECK(proc_cache_page(c, addr_of(0) + 8) == NULL);
	CHECK(proc_cache_page(c, BASE - PAGE) == NULL);
}

/* Updates c and the model with the next state; r is what update says. */
static int step(struct proc_cache *c, struct model *m, const bool *held,
		const bool *carry, const uint32_t *tag, bool delta,
		char *why, size_t why_len)
{
	struct proc_image img;
	int r;

	make_image(&img, held, carry, tag, delta);
	r = proc_cache_update(c, &img, why, why_len);
	proc_image_free(&img);
	if (r == 0)
		for (size_t p = 0; p < NPAGES; p++) {
			m->held[p] = held[p];
			if (carry[p])
				m->tag[p] = tag[p];
		}
	return r;
}

struct state {
	bool held[NPAGES], carry[NPAGES];
	uint32_t tag[NPAGES];
};

static void set(struct state *s, size_t from, size_t n, bool held,
		bool carry, uint32_t tag)
{
	for (size_t p = from; p < from + n; p++) {
		s->held[p] = held;
		s->carry[p] = carry;
		s->tag[p] = tag + (uint32_t)p;
	}
}

static void test_empty(void)
{
	struct proc_cache *c = proc_cache_new();
	static struct state s;
	static struct model m;
	char why[160];

	CHECK(c);
	check_model(c, &m);
	set(&s, 10, 3, true, true, 1);
	CHECK_EQ(step(c, &m, s.held, s.carry, s.tag, true, why, sizeof(why)),
		 -EPROTO);
	CHECK(strstr(why, "empty cache"));
	check_model(c, &m);
	/* NULL reason allowed. */
	CHECK_EQ(step(c, &m, s.held, s.carry, s.tag, true, NULL, 0), -EPROTO);
	proc_cache_free(c);
	proc_cache_free(NULL);
}

static void test_fixed(void)
{
	const size_t cp = PROC_CACHE_CHUNK_PAGES;
	struct proc_cache *c = proc_cache_new();
	static struct state s;
	static struct model m;
	char why[160], want[64];

	CHECK(c);
	/* Full: across the first boundary, in chunk 2, across into 3. */
	set(&s, cp - 3, 6, true, true, 100);
	set(&s, 2 * cp + 5, 1, true, true, 200);
	set(&s, 3 * cp - 1, 9, true, true, 300);
	CHECK_EQ(step(c, &m, s.held, s.carry, s.tag, false, why, sizeof(why)),
		 0);
	check_model(c, &m);
	CHECK_EQ(proc_cache_pages(c), 16);

	/* Delta: one changed each side of the boundary, kept pages not
	 * carried, chunk 2's page dropped (the chunk empties), pages added
	 * in a chunk held (3) and one not (4), a page dropped in chunk 3. */
	memset(s.carry, 0, sizeof(s.carry));
	s.carry[cp - 1] = s.carry[cp] = true;
	s.tag[cp - 1] = s.tag[cp] = 999;
	s.held[2 * cp + 5] = false;
	set(&s, 3 * cp + 20, 2, true, true, 400);
	set(&s, 4 * cp + 1, 3, true, true, 500);
	s.held[3 * cp + 2] = false;
	CHECK_EQ(step(c, &m, s.held, s.carry, s.tag, true, why, sizeof(why)),
		 0);
	CHECK_EQ(why[0], 0);
	check_model(c, &m);
	CHECK(proc_cache_page(c, addr_of(2 * cp + 5)) == NULL);
	CHECK_EQ(proc_cache_pages(c), 16 - 2 + 5);

	/* A present page the cache does not hold and the delta lacks. */
	memset(s.carry, 0, sizeof(s.carry));
	s.held[2 * cp + 5] = true;
	CHECK_EQ(step(c, &m, s.held, s.carry, s.tag, true, why, sizeof(why)),
		 -EPROTO);
	snprintf(want, sizeof(want), "%#llx",
		 (unsigned long long)addr_of(2 * cp + 5));
	CHECK(strstr(why, "neither") && strstr(why, want));
	check_model(c, &m);
	s.held[2 * cp + 5] = false;

	/* A run outside the present list. */
	s.carry[2 * cp + 7] = true;
	CHECK_EQ(step(c, &m, s.held, s.carry, s.tag, true, why, sizeof(why)),
		 -EPROTO);
	snprintf(want, sizeof(want), "%#llx",
		 (unsigned long long)addr_of(2 * cp + 7));
	CHECK(strstr(why, "not present") && strstr(why, want));
	check_model(c, &m);
	s.carry[2 * cp + 7] = false;

	/* A delta that keeps everything and carries nothing. */
	CHECK_EQ(step(c, &m, s.held, s.carry, s.tag, true, why, sizeof(why)),
		 0);
	check_model(c, &m);

	/* A full image replaces: only its pages afterwards. */
	memset(&s, 0, sizeof(s));
	set(&s, 7, 1, true, true, 600);
	CHECK_EQ(step(c, &m, s.held, s.carry, s.tag, false, why, sizeof(why)),
		 0);
	check_model(c, &m);
	CHECK_EQ(proc_cache_pages(c), 1);
	/* A delta holding nothing empties it (and a delta then is refused). */
	s.held[7] = s.carry[7] = false;
	CHECK_EQ(step(c, &m, s.held, s.carry, s.tag, true, why, sizeof(why)),
		 0);
	check_model(c, &m);
	CHECK(!proc_cache_filled(c));
	proc_cache_free(c);
}

/* A walk stopped by its callback returns what the callback did. */
static int stop_at_first(void *opaque, uint64_t addr, size_t pages,
			 const uint8_t *data)
{
	(void)addr;
	(void)pages;
	(void)data;
	++*(int *)opaque;
	return 42;
}

static void test_walk_stops(void)
{
	struct proc_cache *c = proc_cache_new();
	static struct state s;
	static struct model m;
	int calls = 0;

	set(&s, 1, 1, true, true, 1);
	set(&s, 5, 1, true, true, 1);
	CHECK_EQ(step(c, &m, s.held, s.carry, s.tag, false, NULL, 0), 0);
	CHECK_EQ(proc_cache_walk(c, stop_at_first, &calls), 42);
	CHECK_EQ(calls, 1);
	proc_cache_free(c);
}

/* Random deltas (and now and then a full image) against the model. */
static void test_random(void)
{
	struct proc_cache *c = proc_cache_new();
	static struct state s;
	static struct model m;
	uint64_t seed = 0x5eed;
	uint32_t tag = 1;
	char why[160];

	for (int round = 0; round < 200; round++) {
		bool full = round == 0 || test_rand(&seed) % 16 == 0;

		for (size_t p = 0; p < NPAGES; p++) {
			uint64_t r = test_rand(&seed) % 100;

			if (full) {
				s.held[p] = r < 40;
				s.carry[p] = s.held[p];
			} else if (!m.held[p]) {
				s.held[p] = r < 5;      /* added */
				s.carry[p] = s.held[p];
			} else {
				s.held[p] = r >= 5;     /* 5% dropped */
				s.carry[p] = s.held[p] && r >= 90;
			}
			s.tag[p] = tag++;
		}
		CHECK_EQ(step(c, &m, s.held, s.carry, s.tag, !full, why,
			      sizeof(why)), 0);
		check_model(c, &m);
		/* Now and then a bad delta: refused, nothing changed. */
		if (round % 7 == 3) {
			size_t p = test_rand(&seed) % NPAGES;

			while (m.held[p])
				p = (p + 1) % NPAGES;
			memcpy(s.held, m.held, sizeof(s.held));
			memset(s.carry, 0, sizeof(s.carry));
			s.held[p] = true;
			CHECK_EQ(step(c, &m, s.held, s.carry, s.tag, true, why,
				      sizeof(why)), -EPROTO);
			check_model(c, &m);
		}
	}
	proc_cache_free(c);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/*
 * A 1 GiB cache (every page held), then a delta carrying 2,000 pages
 * spread over it. Every run of the full image shares one buffer of a
 * chunk's bytes, so that only the cache costs the gigabyte.
 */
static void bench(void)
{
	const size_t chunks = 512, pages = chunks * PROC_CACHE_CHUNK_PAGES;
	struct proc_cache *c = proc_cache_new();
	struct proc_image full = { 0 }, delta = { .delta = true };
	uint8_t *bytes = malloc(CHUNK);
	double t0, t1, t2;

	CHECK(c && bytes);
	memset(bytes, 0x5a, CHUNK);
	full.runs = calloc(chunks, sizeof(*full.runs));
	delta.runs = calloc(2000, sizeof(*delta.runs));
	delta.present = calloc(1, sizeof(*delta.present));
	CHECK(full.runs && delta.runs && delta.present);
	for (size_t i = 0; i < chunks; i++)
		full.runs[i] = (struct proc_image_run){
			BASE + i * CHUNK, PROC_CACHE_CHUNK_PAGES, bytes };
	full.n_runs = chunks;
	for (size_t i = 0; i < 2000; i++)
		delta.runs[i] = (struct proc_image_run){
			BASE + (i * (pages / 2000)) * PAGE, 1, bytes };
	delta.n_runs = 2000;
	delta.present[0] = (struct proc_image_range){ BASE, pages };
	delta.n_present = 1;
	t0 = now_ms();
	CHECK_EQ(proc_cache_update(c, &full, NULL, 0), 0);
	t1 = now_ms();
	CHECK_EQ(proc_cache_update(c, &delta, NULL, 0), 0);
	t2 = now_ms();
	CHECK_EQ(proc_cache_pages(c), pages);
	fprintf(stderr, "bench: 1 GiB full image %.1f ms, a delta of 2000 "
		"pages into it %.2f ms\n", t1 - t0, t2 - t1);
	free(full.runs);
	free(delta.runs);
	free(delta.present);
	free(bytes);
	proc_cache_free(c);
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--bench")) {
		bench();
		return 0;
	}
	test_empty();
	test_fixed();
	test_walk_stops();
	test_random();
	return 0;
}
