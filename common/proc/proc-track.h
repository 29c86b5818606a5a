/* SPDX-License-Identifier: MIT */
/*
 * The dirty log of an unmodified program, per VMA.
 *
 * The shim (colo-shim.so) registers the program's writable private memory
 * with its userfaultfd in write-protect async mode, at start and through
 * its hooks on mmap/mremap/brk/pthread_create. Some memory escapes the
 * hooks (glibc's own thread stacks and malloc arenas, made through its
 * internal mmap); proc_track_refresh finds it in /proc/PID/maps and
 * registers it from outside through the shim's userfaultfd, taken with
 * pidfd_getfd(). The written pages of each VMA are then read with
 * PAGEMAP_SCAN, through dirtylog (common/ram/dirtylog.h).
 *
 * One caller at a time per struct proc_track (the checkpoint thread, with
 * the program stopped when the answer must be exact).
 */
#ifndef COLO_PROC_TRACK_H
#define COLO_PROC_TRACK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "dirtylog.h"
#include "proc-maps.h"

struct bitmap;

enum proc_vma_track {
	PROC_TRACK_NONE,        /* not writable private memory: not followed */
	PROC_TRACK_LOGGED,      /* registered (by the shim or earlier by us) */
	PROC_TRACK_NEW,         /* registered by this refresh: its writes
				 * before now are unknown, copy it whole once */
	PROC_TRACK_REFUSED,     /* the kernel refused registration: copy it
				 * whole every time */
};

struct proc_track {
	pid_t pid;
	int uffd;                       /* the shim's, our copy */
	struct dirtylog dl;
	struct proc_maps maps;          /* as of the last refresh */
	enum proc_vma_track *track;     /* [maps.n] */
};

/*
 * Takes the shim's userfaultfd from the program (pidfd_getfd on pidfd)
 * and opens its pagemap. -ENOENT when the program has no userfaultfd at
 * COLO_SHIM_UFFD_FD (the shim is not loaded), other -errno; all logged.
 * Then proc_track_refresh before the first sync.
 */
int proc_track_open(struct proc_track *t, pid_t pid, int pidfd);
void proc_track_close(struct proc_track *t);

/*
 * Re-reads the memory map and registers every writable private VMA that
 * is not registered yet (a PAGEMAP_SCAN with PM_SCAN_CHECK_WPASYNC says
 * which). Registration from here does not write-protect: every page of
 * such a VMA (empty ones too, tests/proc/test-proc-track.c) shows as
 * written at its next sync, which is what a VMA whose earlier writes are
 * unknown needs; the get-and-clear then protects it all. Returns the
 * number of VMAs registered now (PROC_TRACK_NEW) or -errno. A VMA the
 * kernel refuses is PROC_TRACK_REFUSED, logged when it first is.
 */
int proc_track_refresh(struct proc_track *t);

/*
 * The written pages of VMA i (of t->maps) since it was last cleared: bit
 * (page - start) / page size + bit_offset set in bm for each. With clear,
 * they are write-protected again in the same pass; bm may be NULL to clear
 * without a report. A REFUSED VMA reports
 * every page. Returns the number of pages set, or -errno; -EINVAL for a
 * VMA that is not followed (PROC_TRACK_NONE).
 */
int64_t proc_track_sync(struct proc_track *t, size_t i, struct bitmap *bm,
			uint64_t bit_offset, bool clear);

#endif
