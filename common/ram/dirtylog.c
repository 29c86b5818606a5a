// SPDX-License-Identifier: MIT
/*
 * The dirty log over userfaultfd write-protect async mode and PAGEMAP_SCAN.
 *
 * The guest registers its RAM once; from then on a write to a protected page
 * does not stop the guest: the kernel just drops the protection bit of that
 * page table entry. The daemon finds the written pages by scanning the
 * guest's /proc/PID/pagemap for PAGE_IS_WRITTEN, and re-protects them in the
 * same pass when asked to clear.
 *
 * What the tests establish on Linux 6.18 (tests/unit/test-dirtylog.c):
 *  - a write by the guest through its fixed mapping is reported, whether the
 *    page was already populated or never touched before: write-protecting
 *    leaves markers in empty entries. For shmem (our memfd) the kernel uses
 *    markers anyway; UFFD_FEATURE_WP_UNPOPULATED extends that to anonymous
 *    memory, and with WP_ASYNC the shmem feature is not checked either. On
 *    6.18 the results are the same without those two, but we ask for them
 *    so that nothing silently depends on that;
 *  - so is a write the kernel makes into guest RAM for the guest (read(2)
 *    into a buffer there), although the uffd is user-mode-only;
 *  - reads are not reported, nor are pages never touched;
 *  - writes through any other mapping of the memfd (the daemon's alias, or
 *    another process's) are not reported: the log lives in the guest's page
 *    tables, not in the page cache;
 *  - after a get-and-clear, the next write to the page is reported again;
 *  - the scan works from another process (the daemon) holding the guest's
 *    pagemap open;
 *  - after fallocate(PUNCH_HOLE) on the memfd, nothing is reported until the
 *    guest writes again, and then the write is reported (observed only;
 *    nothing relies on it).
 *
 * The result vector is finite. When it fills, the kernel stops early and
 * says where in walk_end; the pages after it were neither reported nor
 * re-protected, so every scan here loops from walk_end until it reaches end.
 * The vector is scratch space of its struct dirtylog: one scan at a time on
 * each (the callers hold bitmap_mutex around scans).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bitmap.h"
#include "dirtylog.h"
#include "log.h"
#include "ramblock.h"
#include "uffd-compat.h"

/* Regions per ioctl: 24 KiB of vector, a thousand discontiguous runs. */
#define DIRTYLOG_VEC_LEN 1024

#define WP_FEATURES (UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED | \
		     UFFD_FEATURE_WP_HUGETLBFS_SHMEM)

/* Fails with -errno and the reason in why[len]; logs nothing. */
static int uffd_open(char *why, size_t len)
{
	/*
	 * Write-protect async never delivers a fault to userspace, so
	 * user-mode-only costs nothing and lets an unprivileged guest use
	 * the syscall when vm.unprivileged_userfaultfd is 0.
	 */
	int flags = O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY;
	int fd, dev, err;

	fd = (int)syscall(SYS_userfaultfd, flags);
	if (fd >= 0)
		return fd;
	err = -errno;
	if (errno != EPERM && errno != ENOSYS) {
		snprintf(why, len, "userfaultfd: %s", strerror(errno));
		return err;
	}

	/* Refused by policy (seccomp, sysctl): the device may still work. */
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		snprintf(why, len, "userfaultfd: %s, and /dev/userfaultfd: %s",
			 strerror(-err), strerror(errno));
		return err;
	}
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		err = -errno;
		snprintf(why, len, "USERFAULTFD_IOC_NEW: %s", strerror(errno));
	}
	close(dev);
	return fd < 0 ? err : fd;
}

/* The API handshake; -EOPNOTSUPP with the reason when WP async is missing. */
static int uffd_api_wp_async(int fd, char *why, size_t len)
{
	struct uffdio_api api = { .api = UFFD_API, .features = WP_FEATURES };

	/* It fails with EINVAL on any feature the kernel does not know. */
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		snprintf(why, len, "userfaultfd WP async: UFFDIO_API: %s",
			 strerror(errno));
		return -EOPNOTSUPP;
	}
	if ((api.features & WP_FEATURES) != WP_FEATURES) {
		snprintf(why, len, "userfaultfd WP async: features 0x%llx",
			 (unsigned long long)api.features);
		return -EOPNOTSUPP;
	}
	return 0;
}

int dirtylog_guest_register(uint64_t addr, uint64_t len)
{
	struct uffdio_register reg = {
		.range = { .start = addr, .len = len },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};
	struct uffdio_writeprotect wp = {
		.range = { .start = addr, .len = len },
		.mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};
	char why[160];
	int fd, err;

	fd = uffd_open(why, sizeof(why));
	if (fd < 0) {
		log_error("%s", why);
		return fd;
	}
	err = uffd_api_wp_async(fd, why, sizeof(why));
	if (err < 0) {
		log_error("Linux 6.7+ needed: %s", why);
		close(fd);
		return err;
	}
	if (ioctl(fd, UFFDIO_REGISTER, &reg) < 0) {
		err = -errno;
		log_error("UFFDIO_REGISTER 0x%llx+0x%llx: %s",
			  (unsigned long long)addr, (unsigned long long)len,
			  strerror(errno));
		close(fd);
		return err;
	}
	/* Also installs markers in empty entries (WP_UNPOPULATED). */
	if (ioctl(fd, UFFDIO_WRITEPROTECT, &wp) < 0) {
		err = -errno;
		log_error("UFFDIO_WRITEPROTECT 0x%llx+0x%llx: %s",
			  (unsigned long long)addr, (unsigned long long)len,
			  strerror(errno));
		close(fd);
		return err;
	}
	return fd;
}

static void scan_arg_init(struct pm_scan_arg *arg, uint64_t start,
			  uint64_t end, uint64_t flags)
{
	memset(arg, 0, sizeof(*arg));
	arg->size = sizeof(*arg);
	arg->flags = flags;
	arg->start = start;
	arg->end = end;
	arg->category_mask = PAGE_IS_WRITTEN;
	arg->return_mask = PAGE_IS_WRITTEN;
}

/* A one-page scan of the zero page, which nobody maps. 0 or -errno,
 * -EOPNOTSUPP when the kernel has no such ioctl. */
static int pagemap_scan_works(int pagemap_fd)
{
	struct pm_scan_arg arg;

	scan_arg_init(&arg, 0, RAM_PAGE_SIZE, 0);
	if (ioctl(pagemap_fd, PAGEMAP_SCAN, &arg) < 0)
		return errno == ENOTTY ? -EOPNOTSUPP : -errno;
	return 0;
}

static int probe_uffd(char *why, size_t len)
{
	int fd, err;

	fd = uffd_open(why, len);
	/* No syscall, or no UFFD_USER_MODE_ONLY (before 5.11): too old. */
	if (fd == -ENOSYS || fd == -EINVAL)
		return -EOPNOTSUPP;
	if (fd < 0)
		return fd;
	err = uffd_api_wp_async(fd, why, len);
	close(fd);
	return err;
}

static int probe_pagemap(char *why, size_t len)
{
	int fd, err;

	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		snprintf(why, len, "open /proc/self/pagemap: %s",
			 strerror(errno));
		return err;
	}
	err = pagemap_scan_works(fd);
	close(fd);
	if (err < 0)
		snprintf(why, len, "PAGEMAP_SCAN: %s", strerror(-err));
	return err;
}

/* Set and not "0": the tests' way to see the old-kernel path here. */
static bool fake_old_kernel(void)
{
	const char *v = getenv("COLO_TEST_FAKE_OLD_KERNEL");

	return v && *v && strcmp(v, "0");
}

int dirtylog_probe(char *why, size_t len)
{
	struct utsname u;
	char detail[160];
	int err;

	if (fake_old_kernel()) {
		snprintf(detail, sizeof(detail),
			 "faked by COLO_TEST_FAKE_OLD_KERNEL");
		err = -EOPNOTSUPP;
	} else {
		err = probe_uffd(detail, sizeof(detail));
		if (!err)
			err = probe_pagemap(detail, sizeof(detail));
	}
	if (!err)
		return 0;
	if (uname(&u) < 0)
		snprintf(u.release, sizeof(u.release), "(uname: %s)",
			 strerror(errno));
	if (err == -EOPNOTSUPP)
		snprintf(why, len, "Linux 6.7+ needed for the dirty log "
			 "(userfaultfd WP async, PAGEMAP_SCAN), this is Linux "
			 "%s: %s", u.release, detail);
	else
		snprintf(why, len, "the dirty log is unavailable on Linux %s: "
			 "%s", u.release, detail);
	return err;
}

int dirtylog_open(struct dirtylog *dl, pid_t pid)
{
	char path[64];
	int err;

	dl->pid = pid;
	dl->vec_len = 0;
	dl->vec = NULL;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	dl->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (dl->pagemap_fd < 0) {
		err = -errno;
		log_error("open %s: %s", path, strerror(errno));
		return err;
	}

	err = pagemap_scan_works(dl->pagemap_fd);
	if (err < 0) {
		log_error("PAGEMAP_SCAN on %s: %s%s", path, strerror(-err),
			  err == -EOPNOTSUPP ? " (Linux 6.7+ needed)" : "");
		dirtylog_close(dl);
		return err;
	}

	dl->vec = calloc(DIRTYLOG_VEC_LEN, sizeof(struct page_region));
	if (!dl->vec) {
		dirtylog_close(dl);
		return -ENOMEM;
	}
	dl->vec_len = DIRTYLOG_VEC_LEN;
	return 0;
}

void dirtylog_close(struct dirtylog *dl)
{
	if (!dl)
		return;
	if (dl->pagemap_fd >= 0)
		close(dl->pagemap_fd);
	free(dl->vec);
	dl->pagemap_fd = -1;
	dl->vec = NULL;
	dl->vec_len = 0;
}

static int check_range(uint64_t addr, uint64_t len, const struct bitmap *bm,
		       uint64_t bit_offset)
{
	uint64_t pages = len >> RAM_PAGE_SHIFT;

	if ((addr | len) & (RAM_PAGE_SIZE - 1) || addr + len < addr)
		return -EINVAL;
	if (bm && (bit_offset + pages < bit_offset ||
		   bit_offset + pages > bm->nbits))
		return -ERANGE;
	return 0;
}

/*
 * One logical scan of [addr, addr + len), as many ioctls as the vector
 * needs. With vec_len 0 the kernel reports nothing and never stops early,
 * which is what a pure clear wants.
 */
static int64_t scan(struct dirtylog *dl, uint64_t addr, uint64_t len,
		    uint64_t flags, uint64_t vec_len, struct bitmap *bm,
		    uint64_t bit_offset)
{
	struct page_region *vec = dl->vec;
	struct pm_scan_arg arg;
	int64_t found = 0;
	long n;
	int err;

	err = check_range(addr, len, bm, bit_offset);
	if (err)
		return err;
	scan_arg_init(&arg, addr, addr + len, flags);
	arg.vec = vec_len ? (uintptr_t)vec : 0;
	arg.vec_len = vec_len;

	while (arg.start < arg.end) {
		n = ioctl(dl->pagemap_fd, PAGEMAP_SCAN, &arg);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			log_error("PAGEMAP_SCAN pid %d 0x%llx-0x%llx: %s",
				  (int)dl->pid, (unsigned long long)arg.start,
				  (unsigned long long)arg.end, strerror(errno));
			return err;
		}
		for (long i = 0; i < n; i++) {
			uint64_t first = (vec[i].start - addr) >> RAM_PAGE_SHIFT;
			uint64_t count = (vec[i].end - vec[i].start) >>
					 RAM_PAGE_SHIFT;

			if (bm)
				bitmap_set_range(bm, bit_offset + first, count);
			found += (int64_t)count;
		}
		/* A walk that stops without progress would spin forever. */
		if (arg.walk_end <= arg.start || arg.walk_end > arg.end) {
			log_error("PAGEMAP_SCAN pid %d: walk_end 0x%llx out of 0x%llx-0x%llx",
				  (int)dl->pid,
				  (unsigned long long)arg.walk_end,
				  (unsigned long long)arg.start,
				  (unsigned long long)arg.end);
			return -EIO;
		}
		arg.start = arg.walk_end;
	}
	return found;
}

int64_t dirtylog_sync(struct dirtylog *dl, uint64_t addr, uint64_t len,
		      struct bitmap *bm, uint64_t bit_offset)
{
	return scan(dl, addr, len, 0, dl->vec_len, bm, bit_offset);
}

int64_t dirtylog_sync_and_clear(struct dirtylog *dl, uint64_t addr,
				uint64_t len, struct bitmap *bm,
				uint64_t bit_offset)
{
	/*
	 * CHECK_WPASYNC makes the kernel refuse (EPERM) a range the guest
	 * did not register, rather than report every page of it as written
	 * and "clear" nothing.
	 */
	return scan(dl, addr, len, PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
		    dl->vec_len, bm, bit_offset);
}

int dirtylog_clear(struct dirtylog *dl, uint64_t addr, uint64_t len)
{
	int64_t r;

	r = scan(dl, addr, len, PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
		 0, NULL, 0);
	return r < 0 ? (int)r : 0;
}
