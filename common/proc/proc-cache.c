// SPDX-License-Identifier: MIT
/*
 * The secondary's page cache (proc-cache.h): chunks of 512 aligned pages,
 * each a 2 MiB anonymous mapping of its own with a bitmap of the pages it
 * holds, kept in an array of pointers sorted by address and found by
 * binary search. A program's memory is a few hundred chunks at most (one
 * per 2 MiB it holds pages in), so inserting into the array costs little
 * and a lookup is a handful of compares.
 *
 * Memory: a page the cache never held was never touched, so it costs no
 * RSS (the chunk is mapped NORESERVE and without transparent huge pages,
 * which would fault in 2 MiB at the first byte). A page that stops being
 * held keeps its bytes (invisible, as its bit is clear) until its whole
 * chunk holds nothing, when the chunk is unmapped: one call per chunk,
 * never one per page or run.
 *
 * An update is one procedure for a full image and a delta alike: the
 * pages to hold after it (a delta's present list; a full image's runs),
 * each chunk's bitmap rebuilt from them, the runs' bytes copied in, and
 * the chunks left empty unmapped. For a delta a check pass comes first,
 * which changes nothing: every page to hold is in a run or held now, and
 * every run lies in the pages to hold.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "proc-cache.h"
#include "proc-idle.h"

#define PAGE 4096ULL
#define CHUNK_BYTES (PROC_CACHE_CHUNK_PAGES * PAGE)
#define WORDS (PROC_CACHE_CHUNK_PAGES / 64)

struct chunk {
	uint64_t addr;                  /* CHUNK_BYTES-aligned */
	uint64_t held[WORDS];
	uint8_t *bytes;                 /* CHUNK_BYTES, mmap'd */
};

struct proc_cache {
	struct chunk **chunk;           /* sorted by addr */
	size_t n, cap;
	uint64_t pages;                 /* held, over all chunks */
};

static uint64_t chunk_of(uint64_t addr)
{
	return addr & ~(CHUNK_BYTES - 1);
}

static bool test_bit(const struct chunk *c, size_t i)
{
	return c->held[i / 64] >> (i % 64) & 1;
}

static void set_bits(struct chunk *c, size_t from, size_t n)
{
	for (size_t i = from; i < from + n; i++)
		c->held[i / 64] |= 1ULL << (i % 64);
}

static uint64_t count_bits(const struct chunk *c)
{
	uint64_t n = 0;

	for (size_t w = 0; w < WORDS; w++)
		n += (uint64_t)__builtin_popcountll(c->held[w]);
	return n;
}

/* The index of the chunk at addr, or where it would be inserted. */
static size_t find(const struct proc_cache *c, uint64_t addr, bool *found)
{
	size_t lo = 0, hi = c->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->chunk[mid]->addr < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < c->n && c->chunk[lo]->addr == addr;
	return lo;
}

static struct chunk *lookup(const struct proc_cache *c, uint64_t addr)
{
	bool found;
	size_t i = find(c, chunk_of(addr), &found);

	return found ? c->chunk[i] : NULL;
}

static void chunk_free(struct chunk *k)
{
	if (!k)
		return;
	munmap(k->bytes, CHUNK_BYTES);
	free(k);
}

/* The chunk at addr, made (empty) if there is none. NULL: out of memory. */
static struct chunk *get_chunk(struct proc_cache *c, uint64_t addr)
{
	bool found;
	size_t i = find(c, addr, &found);
	struct chunk *k;

	if (found)
		return c->chunk[i];
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 64;
		struct chunk **more = realloc(c->chunk, ncap * sizeof(*more));

		if (!more)
			return NULL;
		c->chunk = more;
		c->cap = ncap;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->addr = addr;
	k->bytes = mmap(NULL, CHUNK_BYTES, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (k->bytes == MAP_FAILED) {
		free(k);
		return NULL;
	}
	/* A huge page would make a chunk's first byte cost 2 MiB. */
	madvise(k->bytes, CHUNK_BYTES, MADV_NOHUGEPAGE);
	memmove(&c->chunk[i + 1], &c->chunk[i], (c->n - i) * sizeof(*c->chunk));
	c->chunk[i] = k;
	c->n++;
	return k;
}

struct proc_cache *proc_cache_new(void)
{
	return calloc(1, sizeof(struct proc_cache));
}

void proc_cache_free(struct proc_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		chunk_free(c->chunk[i]);
	free(c->chunk);
	free(c);
}

static int refuse(char *why, size_t why_len, const char *what, uint64_t addr)
{
	if (why && why_len)
		snprintf(why, why_len, "%s %#llx", what,
			 (unsigned long long)addr);
	return -EPROTO;
}

/* The index of the run holding addr at or after *i, advancing *i. */
static bool in_runs(const struct proc_image *img, size_t *i, uint64_t addr)
{
	while (*i < img->n_runs &&
	       img->runs[*i].addr + img->runs[*i].pages * PAGE <= addr)
		(*i)++;
	return *i < img->n_runs && img->runs[*i].addr <= addr;
}

/* Whether the delta's present ranges hold addr, from *i on. */
static bool in_present(const struct proc_image *img, size_t *i, uint64_t addr)
{
	while (*i < img->n_present &&
	       img->present[*i].addr + img->present[*i].pages * PAGE <= addr)
		(*i)++;
	return *i < img->n_present && img->present[*i].addr <= addr;
}

/* The delta's check pass: nothing changes. 0 or -EPROTO. */
static int check_delta(const struct proc_cache *c,
		       const struct proc_image *img, char *why, size_t why_len)
{
	size_t run = 0, pres = 0;

	if (!c->pages)
		return refuse(why, why_len, "a delta on an empty cache, at",
			      img->n_present ? img->present[0].addr : 0);
	for (size_t i = 0; i < img->n_runs; i++)
		for (uint64_t p = 0; p < img->runs[i].pages; p++) {
			uint64_t a = img->runs[i].addr + p * PAGE;

			if (!in_present(img, &pres, a))
				return refuse(why, why_len, "a run's page is "
					      "not present:", a);
		}
	for (size_t i = 0; i < img->n_present; i++) {
		uint64_t a = img->present[i].addr;
		uint64_t end = a + img->present[i].pages * PAGE;
		const struct chunk *k = NULL;

		for (; a < end; a += PAGE) {
			if (in_runs(img, &run, a))
				continue;
			if (!k || k->addr != chunk_of(a))
				k = lookup(c, a);
			if (!k || !test_bit(k, (a - k->addr) / PAGE))
				return refuse(why, why_len, "present page in "
					      "neither the delta nor the "
					      "cache:", a);
		}
	}
	return 0;
}

/* Holds the pages of the n ranges too (bits only). */
static int mark(struct proc_cache *c, const struct proc_image_range *r,
		size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t a = r[i].addr, end = a + r[i].pages * PAGE;

		while (a < end) {
			uint64_t base = chunk_of(a);
			uint64_t stop = end < base + CHUNK_BYTES ?
					end : base + CHUNK_BYTES;
			struct chunk *k = get_chunk(c, base);

			if (!k)
				return -ENOMEM;
			set_bits(k, (a - base) / PAGE, (stop - a) / PAGE);
			a = stop;
		}
	}
	return 0;
}

/* Holds exactly the pages of the n ranges from now on (bits only). */
static int hold(struct proc_cache *c, const struct proc_image_range *r,
		size_t n)
{
	for (size_t i = 0; i < c->n; i++)
		memset(c->chunk[i]->held, 0, sizeof(c->chunk[i]->held));
	return mark(c, r, n);
}

/* The ranges of img's runs, malloc'd (n_runs of them). */
static struct proc_image_range *runs_of(const struct proc_image *img)
{
	struct proc_image_range *r;

	r = malloc((img->n_runs ? img->n_runs : 1) * sizeof(*r));
	for (size_t i = 0; r && i < img->n_runs; i++)
		r[i] = (struct proc_image_range){ img->runs[i].addr,
						  img->runs[i].pages };
	return r;
}

/* Copies the runs' bytes into their (held) pages. */
static void copy_runs(struct proc_cache *c, const struct proc_image *img)
{
	for (size_t i = 0; i < img->n_runs; i++) {
		const struct proc_image_run *run = &img->runs[i];
		uint64_t a = run->addr, end = a + run->pages * PAGE;

		while (a < end) {
			uint64_t base = chunk_of(a);
			uint64_t stop = end < base + CHUNK_BYTES ?
					end : base + CHUNK_BYTES;
			struct chunk *k = lookup(c, base);

			memcpy(k->bytes + (a - base),
			       run->data + (a - run->addr), stop - a);
			a = stop;
			/* A heartbeat only: the copy goes on whatever it
			 * says (the cache stays whole); a broken link shows
			 * at the answer. */
			(void)proc_idle_tick();
		}
	}
}

/* Unmaps the chunks that hold nothing; counts the pages of the rest. */
static void prune(struct proc_cache *c)
{
	size_t kept = 0;

	c->pages = 0;
	for (size_t i = 0; i < c->n; i++) {
		uint64_t n = count_bits(c->chunk[i]);

		if (!n) {
			chunk_free(c->chunk[i]);
			continue;
		}
		c->pages += n;
		c->chunk[kept++] = c->chunk[i];
	}
	c->n = kept;
}

int proc_cache_update(struct proc_cache *c, const struct proc_image *img,
		      char *why, size_t why_len)
{
	struct proc_image_range *full = NULL;
	const struct proc_image_range *keep = img->present;
	size_t n_keep = img->n_present;
	int r;

	if (why && why_len)
		why[0] = 0;
	if (img->delta) {
		r = check_delta(c, img, why, why_len);
		if (r < 0)
			return r;
	} else {
		/* A full image holds exactly its runs. */
		full = runs_of(img);
		if (!full)
			return -ENOMEM;
		keep = full;
		n_keep = img->n_runs;
	}
	r = hold(c, keep, n_keep);
	if (r == 0)
		copy_runs(c, img);
	prune(c);
	free(full);
	return r;
}

const uint8_t *proc_cache_page(const struct proc_cache *c, uint64_t addr)
{
	const struct chunk *k = lookup(c, addr);
	size_t i;

	if (!k || addr % PAGE)
		return NULL;
	i = (addr - k->addr) / PAGE;
	return test_bit(k, i) ? k->bytes + i * PAGE : NULL;
}

int proc_cache_walk(const struct proc_cache *c,
		    int (*fn)(void *opaque, uint64_t addr, size_t pages,
			      const uint8_t *data),
		    void *opaque)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct chunk *k = c->chunk[i];

		for (size_t p = 0; p < PROC_CACHE_CHUNK_PAGES;) {
			size_t q = p;
			int r;

			while (q < PROC_CACHE_CHUNK_PAGES && test_bit(k, q))
				q++;
			if (q == p) {
				p++;
				continue;
			}
			r = fn(opaque, k->addr + p * PAGE, q - p,
			       k->bytes + p * PAGE);
			if (r)
				return r;
			p = q;
		}
	}
	return 0;
}

uint64_t proc_cache_pages(const struct proc_cache *c)
{
	return c->pages;
}

bool proc_cache_filled(const struct proc_cache *c)
{
	return c->pages > 0;
}

int proc_cache_add(struct proc_cache *c, const struct proc_image *img)
{
	struct proc_image_range *r;
	int ret;

	if (img->delta)
		return -EINVAL;
	r = runs_of(img);
	if (!r)
		return -ENOMEM;
	ret = mark(c, r, img->n_runs);
	if (ret == 0)
		copy_runs(c, img);
	prune(c);
	free(r);
	return ret;
}
