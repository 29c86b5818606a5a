// SPDX-License-Identifier: MIT
/*
 * The dirty log needs uapi that Debian 12's headers (Linux 6.1) predate: the
 * PAGEMAP_SCAN ioctl from linux/fs.h and the userfaultfd write-protect
 * features from linux/userfaultfd.h, both as of Linux 6.7. The values below
 * are the kernel's ABI; each is defined only where the system header has not
 * already done so, so newer headers win.
 */
#ifndef COLO_UFFD_COMPAT_H
#define COLO_UFFD_COMPAT_H

#include <linux/fs.h>
#include <linux/types.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>

#ifndef PAGEMAP_SCAN
/* Page categories: asked for in pm_scan_arg, reported in page_region. */
#define PAGE_IS_WPALLOWED	(1 << 0)
#define PAGE_IS_WRITTEN		(1 << 1)
#define PAGE_IS_FILE		(1 << 2)
#define PAGE_IS_PRESENT		(1 << 3)
#define PAGE_IS_SWAPPED		(1 << 4)
#define PAGE_IS_PFNZERO		(1 << 5)
#define PAGE_IS_HUGE		(1 << 6)
#define PAGE_IS_SOFT_DIRTY	(1 << 7)

/* One run of pages [start, end) sharing the same reported categories. */
struct page_region {
	__u64 start;
	__u64 end;
	__u64 categories;
};

/* Write-protect the pages that matched (get-and-clear). */
#define PM_SCAN_WP_MATCHING	(1 << 0)
/* Fail the scan on a page that has no async write protection. */
#define PM_SCAN_CHECK_WPASYNC	(1 << 1)

struct pm_scan_arg {
	__u64 size;		/* sizeof(struct pm_scan_arg) */
	__u64 flags;		/* PM_SCAN_* */
	__u64 start;		/* range to walk, page aligned */
	__u64 end;
	__u64 walk_end;		/* out: where the walk stopped */
	__u64 vec;		/* struct page_region[vec_len] */
	__u64 vec_len;
	__u64 max_pages;	/* 0: no limit */
	__u64 category_inverted;
	__u64 category_mask;
	__u64 category_anyof_mask;
	__u64 return_mask;
};

#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif

#ifndef UFFD_FEATURE_WP_HUGETLBFS_SHMEM
#define UFFD_FEATURE_WP_HUGETLBFS_SHMEM	(1 << 12)
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED	(1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC		(1 << 15)
#endif

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC		0xAA
#define USERFAULTFD_IOC_NEW	_IO(USERFAULTFD_IOC, 0x00)
#endif

#endif
