/* SPDX-License-Identifier: MIT */
/*
 * Guest RAM blocks. Each block is a memfd that the guest maps at a fixed
 * virtual address (the same on both hosts, so pointers inside guest RAM stay
 * valid on the other side) and that its daemon maps a second time anywhere:
 * the alias view. The kernel's dirty log only tracks the guest's own mapping,
 * so writes through the alias (the secondary's flush) are not logged.
 */
#ifndef COLO_RAMBLOCK_H
#define COLO_RAMBLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#define RAM_PAGE_SIZE 4096ULL
#define RAM_PAGE_SHIFT 12
/*
 * Far from where the kernel places ordinary mappings, below 47 bits.
 * ThreadSanitizer's x86-64 layout keeps this address for itself and fails
 * any mapping there, so its build (meson.build, b_sanitize=thread) passes
 * another base with -D, in the low range TSan leaves to the program.
 */
#ifndef RAM_GUEST_BASE
#define RAM_GUEST_BASE 0x200000000000ULL
#endif
#define RAM_MAX_BLOCKS 8
#define RAM_BLOCK_NAME_MAX 32

struct ramblock {
	uint32_t id;                    /* index in the layout */
	char name[RAM_BLOCK_NAME_MAX];  /* NUL-terminated */
	uint64_t size;                  /* bytes, a multiple of RAM_PAGE_SIZE */
	uint64_t guest_addr;            /* where the guest maps it */
	int memfd;                      /* -1 when not created */
	uint8_t *alias;                 /* the daemon's untracked view */
};

struct ram_layout {
	uint32_t nblocks;
	struct ramblock blocks[RAM_MAX_BLOCKS];
};

/* memfd_create + ftruncate + the alias mapping. 0 or -errno. */
int ramblock_create(struct ramblock *rb, uint32_t id, const char *name,
		    uint64_t size, uint64_t guest_addr);
void ramblock_destroy(struct ramblock *rb);

static inline uint64_t ramblock_pages(const struct ramblock *rb)
{
	return rb->size >> RAM_PAGE_SHIFT;
}

static inline uint8_t *ramblock_page(const struct ramblock *rb, uint64_t page)
{
	return rb->alias + (page << RAM_PAGE_SHIFT);
}

/* Whether a page is all zero (sent as a flag, not 4 KiB of zeros). */
static inline bool ram_page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;
	size_t i;

	for (i = 0; i < RAM_PAGE_SIZE / sizeof(*w); i += 4)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3])
			return false;
	return true;
}

/* The usual layout: one block "guest-ram" of size bytes at RAM_GUEST_BASE. */
int ram_layout_create(struct ram_layout *l, uint64_t size);
void ram_layout_destroy(struct ram_layout *l);
uint64_t ram_layout_bytes(const struct ram_layout *l);

/*
 * Guest side: map memfd at exactly addr (MAP_SHARED | MAP_FIXED_NOREPLACE).
 * 0 or -errno (-EEXIST when something already lives there).
 */
int ramblock_map_guest(int memfd, uint64_t addr, uint64_t size);

#endif
