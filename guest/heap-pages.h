/* SPDX-License-Identifier: MIT */
/*
 * Runs of whole pages (heap-pages.c): what the front (heap.c) and the slabs
 * (heap-slab.c) take pages from and give them back to.
 */
#ifndef COLO_GUEST_HEAP_PAGES_H
#define COLO_GUEST_HEAP_PAGES_H

#include <stdbool.h>
#include <stdint.h>

#include "heap-layout.h"

uint32_t heap_pages_alloc(struct heap *h, uint32_t n);
void heap_pages_free(struct heap *h, uint32_t head, uint32_t n);
bool heap_pages_grow(struct heap *h, uint32_t head, uint32_t n, uint32_t m);
void heap_free_run_insert(struct heap *h, uint32_t head, uint32_t len);

#endif
