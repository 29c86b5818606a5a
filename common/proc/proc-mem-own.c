// SPDX-License-Identifier: MIT
/*
 * A program's own pages (proc-image.h) found with PAGEMAP_SCAN: the kernel
 * walks the page tables and reports only the matching runs, so a mapping
 * of a gigabyte that holds a few pages costs a few regions, not a
 * pagemap entry per page. Asked for: present or swapped, and neither the
 * shared zero page nor a file's page.
 *
 * One catch: the scan counts every non-present, non-empty page table
 * entry as swapped, and the shim's userfaultfd (WP_UNPOPULATED) leaves a
 * marker in each empty entry it write-protects, which is nearly every
 * untouched page of a tracked mapping. A marker holds no content (the
 * page reads as zero or as the file), so the swapped runs are checked
 * against /proc/PID/pagemap, whose entry names the swap type: the kernel
 * keeps type 31, the last, for markers (real swap devices and migration
 * entries have lower ones). Without CAP_SYS_ADMIN the kernel hides the
 * type (0): the page then counts as own, which costs bytes, not
 * correctness (its content is what the twin would read anyway).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/ioctl.h>

#include "proc-image.h"
#include "proc-mem.h"
#include "proc-ranges.h"
#include "uffd-compat.h"

#define PAGE 4096ULL
#define SCAN_VEC 256            /* regions per ioctl */
#define PM_CHUNK 256            /* pagemap entries per read */
#define PM_PRESENT (1ULL << 63)
#define PM_SWAP (1ULL << 62)
#define PM_SWAP_TYPE 0x1fULL
#define SWP_MARKER_TYPE 0x1fULL

/* A uffd-wp (or other) marker: not present, swap type 31. */
static bool is_marker(uint64_t pm)
{
	return !(pm & PM_PRESENT) && (pm & PM_SWAP) &&
	       (pm & PM_SWAP_TYPE) == SWP_MARKER_TYPE;
}

/* The pages of a "swapped" region [start, end) that are not markers. */
static int append_swapped(int pagemap, uint64_t start, uint64_t end,
			  struct proc_ranges *out)
{
	uint64_t pm[PM_CHUNK];
	int r = 0;

	for (uint64_t a = start; a < end && r == 0; a += PM_CHUNK * PAGE) {
		size_t count = (end - a) / PAGE;

		if (count > PM_CHUNK)
			count = PM_CHUNK;
		r = proc_mem_pagemap(pagemap, a, count, pm);
		for (size_t k = 0; k < count && r == 0; k++)
			if (!is_marker(pm[k]))
				r = proc_ranges_add(out, a + k * PAGE, 1);
	}
	return r;
}

int proc_mem_own_pages(int pagemap, uint64_t start, uint64_t end,
		       struct proc_ranges *out)
{
	struct page_region vec[SCAN_VEC];
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.start = start,
		.end = end,
		.vec = (uintptr_t)vec,
		.vec_len = SCAN_VEC,
		.category_inverted = PAGE_IS_PFNZERO | PAGE_IS_FILE,
		.category_mask = PAGE_IS_PFNZERO | PAGE_IS_FILE,
		.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
		.return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
	};

	if ((start | end) % PAGE || start > end)
		return -EINVAL;
	while (arg.start < arg.end) {
		long got = ioctl(pagemap, PAGEMAP_SCAN, &arg);
		int r = 0;

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		for (long i = 0; i < got && r == 0; i++) {
			const struct page_region *g = &vec[i];

			if (g->categories & PAGE_IS_PRESENT)
				r = proc_ranges_add(out, g->start,
						    (g->end - g->start) / PAGE);
			else
				r = append_swapped(pagemap, g->start, g->end,
						   out);
		}
		if (r < 0)
			return r;
		/* The kernel stops early when vec is full; never in place. */
		if (arg.walk_end <= arg.start || arg.walk_end > arg.end)
			return -EIO;
		arg.start = arg.walk_end;
	}
	return 0;
}
