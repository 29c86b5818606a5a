/* SPDX-License-Identifier: MIT */
/*
 * libcolo-guest internals shared by its files: the per-process context and
 * the header that guest RAM starts with.
 */
#ifndef COLO_GUEST_PRIV_H
#define COLO_GUEST_PRIV_H

#include "colo-guest.h"

#include "chan.h"
#include "heap.h"
#include "ramblock.h"

#define GUEST_MAGIC 0x7473656730306f6cULL   /* "lo00gest" */
#define GUEST_VERSION 1

/*
 * The first page of block 0. Block 0's heap starts on the next page; every
 * other block is a heap from its first byte. root is an address in guest
 * RAM, valid on both hosts because blocks sit at the same address there.
 */
struct guest_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t nblocks;
	uint64_t block_addr[RAM_MAX_BLOCKS];
	uint64_t block_size[RAM_MAX_BLOCKS];
	uint64_t root;
};

struct guest_block {
	uint64_t addr, size;
	int uffd;               /* the dirty log registration, kept open */
	struct heap heap;
};

/* Process-local: nothing here survives a checkpoint, nothing needs to. */
struct colo_guest {
	struct guest_hdr *hdr;
	uint32_t nblocks;
	struct guest_block blk[RAM_MAX_BLOCKS];
	bool resumed;
	int chan_fd, hint_fd;   /* -1 for a local guest (no daemon) */
	struct chan_reader events, hints;
	/* Output (and closes) of the events read so far, written once the
	 * loop has handled every event it holds (or OUT_FLUSH_AT is queued):
	 * one write for a whole batch of requests. Always empty at a safe
	 * point. */
	struct chan_writer out;
	uint64_t seq;           /* of the event being handled */
};

/* Formats (or, when g->resumed, checks and attaches) the header and the
 * heaps of g->blk[0..nblocks). 0 or -errno. */
int guest_setup_ram(struct colo_guest *g);

/* heap_hint_fn for guest RAM: a CHAN_HINT round trip on the hint channel
 * (nothing for a local guest). */
int guest_hint_pages(void *arg, void *addr, size_t len);

#endif
