/* SPDX-License-Identifier: MIT */
/*
 * The allocator core behind colo_alloc(), internal to libcolo-guest and
 * usable over any page-aligned buffer so that it can be tested without a
 * daemon. heap-layout.h says how a heap sits in its pages; heap-pages.h
 * and heap-slab.h are the parts this front routes calls to.
 */
#ifndef COLO_GUEST_HEAP_H
#define COLO_GUEST_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heap-layout.h"

/* Lays out an empty heap over [base, base + size). base is page aligned;
 * size is rounded down to pages. 0, -EINVAL or -ENOSPC when too small. */
int heap_format(struct heap *h, void *base, size_t size, heap_hint_fn hint,
		void *hint_arg);
/* Takes over a heap that heap_format laid out earlier (maybe in another
 * process). 0, or -EINVAL when the metadata does not match size. */
int heap_attach(struct heap *h, void *base, size_t size, heap_hint_fn hint,
		void *hint_arg);

void *heap_alloc(struct heap *h, size_t size);
void heap_free(struct heap *h, void *p);
/* realloc(p, 0) keeps a minimal object rather than freeing it, so that
 * NULL always means "out of memory". */
void *heap_realloc(struct heap *h, void *p, size_t size);
bool heap_contains(const struct heap *h, const void *p);
size_t heap_usable_size(const struct heap *h, const void *p);

/* Walks every page and list; 0 or -EUCLEAN on the first inconsistency.
 * free_pages, when not NULL, gets the pages in free runs. */
int heap_check(const struct heap *h, uint64_t *free_pages);

#endif
