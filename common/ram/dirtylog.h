/* SPDX-License-Identifier: MIT */
/*
 * The dirty log: which guest pages were written since they were last
 * write-protected. The guest registers its RAM with userfaultfd in
 * write-protect async mode (dirtylog_guest_register); its daemon reads and
 * re-protects with the PAGEMAP_SCAN ioctl on /proc/PID/pagemap, much as QEMU
 * reads KVM's dirty log.
 *
 * Reading (dirtylog_sync) and clearing (dirtylog_clear) are separate so that
 * the migration code can clear lazily, a chunk at a time (clear_bmap).
 */
#ifndef COLO_DIRTYLOG_H
#define COLO_DIRTYLOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct bitmap;

struct dirtylog {
	int pagemap_fd;
	pid_t pid;
	void *vec;          /* struct page_region[vec_len], reused per scan */
	uint64_t vec_len;
};

/*
 * Guest side, called once at start-up by the guest process itself: create a
 * userfaultfd with UFFD_FEATURE_WP_ASYNC (and the shmem/unpopulated
 * features), register [addr, addr + len) in write-protect mode and
 * write-protect all of it. The fd must stay open for the guest's life.
 * Returns the fd, or -errno; -EOPNOTSUPP when the kernel lacks WP async.
 */
int dirtylog_guest_register(uint64_t addr, uint64_t len);

/*
 * Whether this kernel has what the dirty log needs (userfaultfd write-protect
 * async and PAGEMAP_SCAN, Linux 6.7+), tried in the calling process: the
 * daemons call it before they say "ready", the tests before they need it.
 * 0, or -errno with one line in why[len] naming the running kernel (uname)
 * and what failed: -EOPNOTSUPP for a kernel too old, other values for a
 * refusal (seccomp, a sysctl). The environment variable
 * COLO_TEST_FAKE_OLD_KERNEL=1 makes it answer -EOPNOTSUPP, so that tests
 * can see that path on a kernel that has it all.
 */
int dirtylog_probe(char *why, size_t len);

/* Daemon side: open /proc/PID/pagemap and check PAGEMAP_SCAN works there. */
int dirtylog_open(struct dirtylog *dl, pid_t pid);
void dirtylog_close(struct dirtylog *dl);

/*
 * Report the written pages of [addr, addr + len) without clearing them:
 * for each, set bit (page - addr) / RAM_PAGE_SIZE + bit_offset in bm.
 * Returns the number of written pages found (>= 0) or -errno.
 */
int64_t dirtylog_sync(struct dirtylog *dl, uint64_t addr, uint64_t len,
		      struct bitmap *bm, uint64_t bit_offset);

/*
 * Get-and-clear: like dirtylog_sync, but also write-protects again every
 * written page it reports, in one ioctl pass. bm may be NULL to discard
 * the report (only ever do that for pages whose content is about to be
 * sent anyway, or whose content the guest gave up).
 */
int64_t dirtylog_sync_and_clear(struct dirtylog *dl, uint64_t addr,
				uint64_t len, struct bitmap *bm,
				uint64_t bit_offset);

/* Re-protect [addr, addr + len), discarding what it finds. 0 or -errno. */
int dirtylog_clear(struct dirtylog *dl, uint64_t addr, uint64_t len);

#endif
