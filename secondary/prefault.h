/* SPDX-License-Identifier: MIT */
/*
 * Allocating the secondary's fresh memory ahead of the live sync, on a
 * thread of its own. A live sync writes every page twice here, into the
 * RAM cache and into the SVM's RAM, both memfds, and allocating a page is
 * most of what the first write of it costs (in these VMs the host backs
 * each new page on first touch too). Started at hello, the thread walks
 * the memfds in address order, the order the primary sends in, a step at
 * a time, with fallocate: pages in their page cache, which the receiver
 * then fills with pwrite in about half the time a fresh page takes
 * (ramcache.c, store_at). So on two cores the allocation runs beside the
 * decryption instead of after it.
 *
 * The receiver and the thread never wait for each other (the kernel
 * serialises them per memfd for a moment) and neither can change a byte
 * the other wrote: fallocate (mode 0) allocates holes and leaves existing
 * pages and the size alone; a page the receiver writes first is simply
 * skipped. Only an optimisation: a failing fallocate ends the thread
 * early, and the receiver allocates the rest itself.
 */
#ifndef COLO_SECONDARY_PREFAULT_H
#define COLO_SECONDARY_PREFAULT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ramblock.h"

/* One block: its cache's and its SVM RAM's memfds (-1: skip that one),
 * of size bytes each. */
struct prefault_area {
	int fd[2];
	uint64_t size;
};

struct prefault {
	/* Set by prefault_start, read-only while the thread runs. */
	struct prefault_area areas[RAM_MAX_BLOCKS];
	uint32_t nareas;
	pthread_t thread;
	bool running;           /* started and not joined (owner's) */
	_Atomic bool stop;
	_Atomic bool done;      /* the thread has finished (a test waits) */
	/* The thread's until the join: what it did. */
	uint64_t bytes;         /* allocated, all memfds counted */
	uint64_t ms, cpu_ms;    /* its time, and its CPU time */
	int err;                /* the -errno that ended it early, or 0 */
};

/* Start the thread over areas (copied). 0 or -errno (no thread then: the
 * caller goes on without). */
int prefault_start(struct prefault *pf, const struct prefault_area *areas,
		   uint32_t n);
/* Stop (at the end of the current step, a few ms) and join; a no-op on a
 * prefault that never started. */
void prefault_stop(struct prefault *pf);

#endif
