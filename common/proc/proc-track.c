// SPDX-License-Identifier: MIT
/*
 * Following the written pages of a program that knows nothing of us.
 *
 * Registration from outside works because a userfaultfd belongs to the
 * address space it was created in, not to the process holding the fd:
 * UFFDIO_REGISTER on our copy of the shim's fd registers ranges of the
 * program's memory. Whether a range is registered already is answered by
 * the kernel itself: PAGEMAP_SCAN with PM_SCAN_CHECK_WPASYNC fails with
 * EPERM on a VMA without WP-async registration (the spike measured the
 * same answer as `uw` in /proc/PID/smaps, without parsing smaps).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bitmap.h"
#include "log.h"
#include "proc-track.h"
#include "ramblock.h"
#include "shim-abi.h"
#include "uffd-compat.h"

#define UFFD_LINK "anon_inode:[userfaultfd]"

/* fd is a userfaultfd, not whatever else the program put at that number. */
static bool is_userfaultfd(int fd)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return false;
	link[n] = '\0';
	return !strcmp(link, UFFD_LINK);
}

static int take_shim_uffd(pid_t pid, int pidfd)
{
	int fd, err;

	fd = (int)syscall(SYS_pidfd_getfd, pidfd, COLO_SHIM_UFFD_FD, 0);
	if (fd < 0 && errno == EBADF) {
		log_error("pid %d has no fd %d: colo-shim.so is not loaded",
			  (int)pid, COLO_SHIM_UFFD_FD);
		return -ENOENT;
	}
	if (fd < 0) {
		err = -errno;
		log_error("pidfd_getfd(pid %d, fd %d): %s", (int)pid,
			  COLO_SHIM_UFFD_FD, strerror(errno));
		return err;
	}
	if (!is_userfaultfd(fd)) {
		log_error("pid %d: fd %d is not colo-shim.so's userfaultfd",
			  (int)pid, COLO_SHIM_UFFD_FD);
		close(fd);
		return -ENOENT;
	}
	return fd;
}

int proc_track_open(struct proc_track *t, pid_t pid, int pidfd)
{
	int err;

	memset(t, 0, sizeof(*t));
	t->pid = pid;
	t->dl.pagemap_fd = -1;
	t->uffd = take_shim_uffd(pid, pidfd);
	if (t->uffd < 0)
		return t->uffd;
	err = dirtylog_open(&t->dl, pid);
	if (err) {
		close(t->uffd);
		t->uffd = -1;
		return err;
	}
	return 0;
}

void proc_track_close(struct proc_track *t)
{
	if (!t)
		return;
	if (t->uffd >= 0)
		close(t->uffd);
	t->uffd = -1;
	dirtylog_close(&t->dl);
	proc_maps_free(&t->maps);
	free(t->track);
	t->track = NULL;
}

/* 1 registered, 0 not, or -errno. */
static int is_registered(struct proc_track *t, const struct proc_vma *v)
{
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.flags = PM_SCAN_CHECK_WPASYNC,
		.start = v->start,
		.end = v->end,
		.category_mask = PAGE_IS_WRITTEN,
		.return_mask = PAGE_IS_WRITTEN,
	};

	/* vec_len 0: nothing reported, nothing changed; only the check. */
	if (ioctl(t->dl.pagemap_fd, PAGEMAP_SCAN, &arg) == 0)
		return 1;
	if (errno == EPERM)
		return 0;
	return -errno;
}

static int register_vma(struct proc_track *t, const struct proc_vma *v)
{
	struct uffdio_register reg = {
		.range = { .start = v->start, .len = v->end - v->start },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};

	return ioctl(t->uffd, UFFDIO_REGISTER, &reg) < 0 ? -errno : 0;
}

/* Whether the same range was refused at the previous refresh. */
static bool refused_before(const struct proc_maps *old,
			   const enum proc_vma_track *old_track,
			   const struct proc_vma *v)
{
	ssize_t j = proc_maps_find(old, v->start);

	return j >= 0 && old->vma[j].start == v->start &&
	       old->vma[j].end == v->end && old_track[j] == PROC_TRACK_REFUSED;
}

static int follow_vma(struct proc_track *t, size_t i,
		      const struct proc_maps *old,
		      const enum proc_vma_track *old_track)
{
	const struct proc_vma *v = &t->maps.vma[i];
	int r;

	t->track[i] = PROC_TRACK_NONE;
	if (!proc_vma_is_tracked_kind(v))
		return 0;
	r = is_registered(t, v);
	if (r < 0) {
		log_error("PAGEMAP_SCAN pid %d 0x%llx-0x%llx: %s", (int)t->pid,
			  (unsigned long long)v->start,
			  (unsigned long long)v->end, strerror(-r));
		return r;
	}
	if (r == 1) {
		t->track[i] = PROC_TRACK_LOGGED;
		return 0;
	}
	r = register_vma(t, v);
	if (r == 0) {
		t->track[i] = PROC_TRACK_NEW;
		log_debug("pid %d: registered 0x%llx-0x%llx %s", (int)t->pid,
			  (unsigned long long)v->start,
			  (unsigned long long)v->end, v->path);
		return 1;
	}
	/* The program may have unmapped it since we read the map. */
	if (r == -ENOMEM)
		return 0;
	t->track[i] = PROC_TRACK_REFUSED;
	if (refused_before(old, old_track, v))
		return 0;       /* said once, when it first was */
	log_warn("pid %d: 0x%llx-0x%llx %s refuses userfaultfd registration "
		 "(%s): copied whole at every checkpoint", (int)t->pid,
		 (unsigned long long)v->start, (unsigned long long)v->end,
		 v->path, strerror(-r));
	return 0;
}

int proc_track_refresh(struct proc_track *t)
{
	struct proc_maps maps, old;
	enum proc_vma_track *track, *old_track;
	int err = 0, added = 0;

	err = proc_maps_read(t->pid, &maps);
	if (err)
		return err;
	track = calloc(maps.n ? maps.n : 1, sizeof(*track));
	if (!track) {
		proc_maps_free(&maps);
		return -ENOMEM;
	}
	old = t->maps;
	old_track = t->track;
	t->maps = maps;
	t->track = track;

	for (size_t i = 0; i < t->maps.n; i++) {
		err = follow_vma(t, i, &old, old_track);
		if (err < 0)
			break;
		added += err;
	}
	proc_maps_free(&old);
	free(old_track);
	return err < 0 ? err : added;
}

int64_t proc_track_sync(struct proc_track *t, size_t i, struct bitmap *bm,
			uint64_t bit_offset, bool clear)
{
	const struct proc_vma *v;
	uint64_t len, pages;

	if (i >= t->maps.n || t->track[i] == PROC_TRACK_NONE)
		return -EINVAL;
	v = &t->maps.vma[i];
	len = v->end - v->start;
	if (t->track[i] == PROC_TRACK_REFUSED) {
		pages = len >> RAM_PAGE_SHIFT;
		if (bm && bit_offset + pages > bm->nbits)
			return -ERANGE;
		if (bm)
			bitmap_set_range(bm, bit_offset, pages);
		return (int64_t)pages;
	}
	if (clear)
		return dirtylog_sync_and_clear(&t->dl, v->start, len, bm,
					       bit_offset);
	return dirtylog_sync(&t->dl, v->start, len, bm, bit_offset);
}
