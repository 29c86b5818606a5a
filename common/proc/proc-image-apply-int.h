/* SPDX-License-Identifier: MIT */
/* Private to proc-image-apply*.c: the state of one apply. */
#ifndef COLO_PROC_IMAGE_APPLY_INT_H
#define COLO_PROC_IMAGE_APPLY_INT_H

#include "proc-image.h"
#include "proc-inject.h"

struct applier {
	const struct proc_image *img;
	struct proc_stop *twin;
	int pidfd;
	int mem;                        /* the twin's /proc/PID/mem */
	struct proc_inject in;
	const struct proc_cache *cache; /* apply_cached: the pages */
	struct proc_track *track;       /* apply_cached: the twin's log */
	bool twin_is_cache;             /* apply_cached: only what may differ */
	const struct proc_image_idle *idle;     /* apply_cached, or NULL */
	uint64_t since_idle;            /* bytes written since it was called */
};

/* madvise(MADV_DONTNEED) injected into the twin: its pages dropped. */
int proc_apply_drop(struct applier *ap, uint64_t addr, uint64_t pages);

/* Step 4's pages for apply_cached, the map already reconciled. */
int proc_apply_pages_cached(struct applier *ap);

#endif
