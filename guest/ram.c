// SPDX-License-Identifier: MIT
/*
 * Guest RAM as libcolo-guest sees it: the header at the start of block 0
 * (magic, version, layout, the app's root pointer) and one heap per block.
 * A first start lays these out; a resumed SVM finds them in the RAM the
 * checkpoint brought and checks that they describe this very layout.
 */
#include "guest-priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "colo-guest-local.h"
#include "log.h"

/* Block 0's first page holds the header; its heap starts after it. */
static void heap_span(const struct guest_block *b, uint32_t i, void **base,
		      size_t *size)
{
	size_t skip = i == 0 ? HEAP_PAGE : 0;

	*base = (void *)(uintptr_t)(b->addr + skip);
	*size = b->size - skip;
}

static int check_header(const struct colo_guest *g)
{
	const struct guest_hdr *hdr = g->hdr;
	uint32_t i;

	if (hdr->magic != GUEST_MAGIC || hdr->version != GUEST_VERSION) {
		log_error("guest RAM: no guest header (magic %llx version %u)",
			  (unsigned long long)hdr->magic, hdr->version);
		return -EINVAL;
	}
	if (hdr->nblocks != g->nblocks) {
		log_error("guest RAM: %u blocks, the header says %u",
			  g->nblocks, hdr->nblocks);
		return -EINVAL;
	}
	for (i = 0; i < g->nblocks; i++) {
		if (hdr->block_addr[i] != g->blk[i].addr ||
		    hdr->block_size[i] != g->blk[i].size) {
			log_error("guest RAM: block %u differs from its header",
				  i);
			return -EINVAL;
		}
	}
	return 0;
}

int guest_setup_ram(struct colo_guest *g)
{
	uint32_t i;
	void *base;
	size_t size;
	int err;

	if (!g->nblocks || g->blk[0].size < 2 * HEAP_PAGE)
		return -EINVAL;
	g->hdr = (struct guest_hdr *)(uintptr_t)g->blk[0].addr;
	if (g->resumed) {
		err = check_header(g);
		if (err)
			return err;
	}
	for (i = 0; i < g->nblocks; i++) {
		heap_span(&g->blk[i], i, &base, &size);
		if (g->resumed)
			err = heap_attach(&g->blk[i].heap, base, size,
					  guest_hint_pages, g);
		else
			err = heap_format(&g->blk[i].heap, base, size,
					  guest_hint_pages, g);
		if (err) {
			log_error("guest RAM: block %u: heap: %s", i,
				  strerror(-err));
			return err;
		}
	}
	if (g->resumed)
		return 0;
	/* Written last: a header means the heaps behind it are laid out. */
	memset(g->hdr, 0, sizeof(*g->hdr));
	g->hdr->version = GUEST_VERSION;
	g->hdr->nblocks = g->nblocks;
	for (i = 0; i < g->nblocks; i++) {
		g->hdr->block_addr[i] = g->blk[i].addr;
		g->hdr->block_size[i] = g->blk[i].size;
	}
	g->hdr->magic = GUEST_MAGIC;
	return 0;
}

bool colo_guest_resumed(const struct colo_guest *g)
{
	return g->resumed;
}

void colo_guest_set_root(struct colo_guest *g, void *root)
{
	g->hdr->root = (uint64_t)(uintptr_t)root;
}

void *colo_guest_root(const struct colo_guest *g)
{
	return (void *)(uintptr_t)g->hdr->root;
}

struct colo_guest *colo_guest_new_local(void *ram, size_t size, bool resume)
{
	struct colo_guest *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->nblocks = 1;
	g->blk[0].addr = (uint64_t)(uintptr_t)ram;
	g->blk[0].size = size & ~(size_t)(HEAP_PAGE - 1);
	g->blk[0].uffd = -1;
	g->resumed = resume;
	g->chan_fd = g->hint_fd = -1;
	if (guest_setup_ram(g)) {
		free(g);
		return NULL;
	}
	return g;
}

void colo_guest_free(struct colo_guest *g)
{
	uint32_t i;

	if (!g)
		return;
	for (i = 0; i < g->nblocks; i++)
		if (g->blk[i].uffd >= 0)
			close(g->blk[i].uffd);
	if (g->chan_fd >= 0)
		close(g->chan_fd);
	if (g->hint_fd >= 0)
		close(g->hint_fd);
	chan_reader_deinit(&g->events);
	chan_reader_deinit(&g->hints);
	chan_writer_deinit(&g->out);
	free(g);
}
