/* SPDX-License-Identifier: MIT */
/*
 * The allocator's in-memory layout, shared by its parts (heap.c, the
 * front; heap-pages.c, page runs; heap-slab.c, size classes; heap-check.c).
 *
 * Layout of a heap of npages pages at base:
 *
 *   page 0 .. first_page-1   struct heap_meta, then heap_page[npages]
 *   first_page .. npages-1   data: slabs, large runs and free runs
 *
 * Every byte of metadata lives inside the buffer and refers to other parts
 * by page index, never by address, so that a heap copied elsewhere (the
 * SVM's RAM after a checkpoint) goes on allocating exactly as the original
 * would, and two heaps fed the same calls are byte-identical wherever they
 * sit. No metadata is ever kept inside a free page: free pages are hinted
 * and so may not be migrated, and the allocator must never read them.
 *
 * Small objects (up to HEAP_SMALL_MAX) come from one-page slabs of a size
 * class; larger ones get a run of whole pages. Free runs are kept in
 * power-of-two bins and coalesced with their neighbours through boundary
 * tags in the page descriptors. A freed run is zeroed and handed to the
 * hint callback before it can be reused.
 */
#ifndef COLO_GUEST_HEAP_LAYOUT_H
#define COLO_GUEST_HEAP_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HEAP_PAGE 4096u
#define HEAP_PAGE_SHIFT 12
#define HEAP_SMALL_MAX 2048u
#define HEAP_NCLASS 24
#define HEAP_NBINS 32
#define HEAP_NONE UINT32_MAX

#define HEAP_MAGIC 0x70616568306f6c63ULL   /* "colo0heap" */
#define HEAP_VERSION 1

/*
 * Called with whole pages that were just zeroed and are about to become
 * free; they are not reused before it returns. 0 or -errno (an error is
 * logged and the pages are reused anyway: a missed hint only costs a page
 * sent for nothing).
 */
typedef int (*heap_hint_fn)(void *arg, void *addr, size_t len);

enum heap_page_kind {
	HP_UNUSED = 0,  /* inside a run; only the run's ends are tagged */
	HP_META,
	HP_FREE,        /* head of a free run: len */
	HP_FREE_TAIL,   /* last page of a free run of >= 2 pages: len = head */
	HP_LARGE,       /* head of an allocated run: len */
	HP_LARGE_TAIL,  /* last page of an allocated run of >= 2 pages */
	HP_SLAB,        /* a slab of class cls */
};

/* One per page, 16 bytes. */
struct heap_page {
	uint8_t kind;
	uint8_t cls;
	uint16_t inuse;         /* slab: objects handed out */
	uint32_t next, prev;    /* free bin or partial-slab list links */
	union {
		uint32_t len;   /* FREE, LARGE: run length; FREE_TAIL: head */
		struct {
			uint16_t bump;     /* slots from here were never used */
			uint16_t freelist; /* first free slot + 1, or 0 */
		} slab;
	};
};

struct heap_meta {
	uint64_t magic;
	uint32_t version;
	uint32_t npages;        /* the whole heap, metadata included */
	uint32_t first_page;    /* first data page */
	uint32_t pad;
	uint64_t used_bytes;    /* handed out, rounded to class or page */
	uint64_t hinted_pages;  /* pages ever hinted */
	uint32_t bins[HEAP_NBINS];      /* free runs, by floor(log2(len)) */
	uint32_t partial[HEAP_NCLASS];  /* slabs with a free slot */
};

/* Process-local handle: where the heap is mapped and whom to hint. */
struct heap {
	struct heap_meta *m;
	struct heap_page *pages;
	uint8_t *base;
	heap_hint_fn hint;
	void *hint_arg;
};

static inline void *heap_page_addr(const struct heap *h, uint32_t page)
{
	return h->base + ((size_t)page << HEAP_PAGE_SHIFT);
}

#endif
