/* SPDX-License-Identifier: MIT */
/*
 * A thread's rseq registration belongs to the kernel, not to the program's
 * memory: glibc registers each thread's area, in its TLS (thread pointer
 * plus __rseq_offset), as the thread starts. An image gives a twin thread
 * the source thread's registers, thread pointer included; if the twin
 * thread's area lay elsewhere (its stack mapped at another address, the
 * threads having started in another order), the kernel would go on
 * updating the old place, which now holds other data, and a non-zero
 * rseq_cs read there makes every return to user space fault: SIGSEGV for
 * good, a thread that never runs again (a memcached worker on the
 * secondary that never answered a connection).
 *
 * So, with the twin held: proc_rseq_unhook reads each thread's
 * registration and, where the image's thread pointer puts the area
 * somewhere else, unregisters it (injected, before the twin's memory
 * changes: the kernel's last writes land in memory about to be replaced);
 * proc_rseq_rehook registers those again at the new place, after.
 */
#ifndef COLO_PROC_RSEQ_H
#define COLO_PROC_RSEQ_H

#include <stdint.h>
#include <sys/types.h>

struct proc_image;
struct proc_stop;

struct proc_rseq_move {
	pid_t tid;                      /* the twin's thread */
	uint64_t to;                    /* the area's new address */
	uint32_t size, sig;
};

struct proc_rseq_moves {
	struct proc_rseq_move *m;
	size_t n;
};

/* 0 or -errno (logged); moves lists what proc_rseq_rehook must do. */
int proc_rseq_unhook(struct proc_stop *twin, const struct proc_image *img,
		     struct proc_rseq_moves *moves);
/* 0 or -errno (logged); frees moves. */
int proc_rseq_rehook(struct proc_stop *twin, struct proc_rseq_moves *moves);

#endif
