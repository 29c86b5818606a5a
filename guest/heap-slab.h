/* SPDX-License-Identifier: MIT */
/*
 * Size classes and one-page slabs (heap-slab.c), for objects up to
 * HEAP_SMALL_MAX.
 */
#ifndef COLO_GUEST_HEAP_SLAB_H
#define COLO_GUEST_HEAP_SLAB_H

#include <stddef.h>
#include <stdint.h>

#include "heap-layout.h"

int heap_size_class(size_t size);
uint32_t heap_class_size(int cls);
void *heap_slab_alloc(struct heap *h, int cls);
void heap_slab_free(struct heap *h, uint32_t page, void *p);

#endif
