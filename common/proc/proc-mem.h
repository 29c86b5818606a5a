/* SPDX-License-Identifier: MIT */
/*
 * Making a stopped twin's memory what a stopped source's is: first its map
 * (proc_mem_reconcile), then its pages (proc_mem_copy). Both programs run
 * the same binary with ASLR off, so what they share sits at the same
 * addresses; what differs is what each did since it started.
 *
 * Both held stopped by the calling thread (proc-stop.h), which also runs
 * the injected calls (proc-inject.h).
 */
#ifndef COLO_PROC_MEM_H
#define COLO_PROC_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proc-inject.h"

/*
 * Injects into dst (through in) what makes its map cover the same
 * private memory as src's, with the same protections: brk to the same
 * program break, munmap what src lacks, anonymous mmap(MAP_FIXED) what
 * dst lacks, mprotect where protections differ. VMA boundaries may still
 * differ (the kernel merges neighbours differently): pages are compared,
 * not lines. 0; -ENOTSUP (logged, naming it) for a file or shared mapping
 * that only src has, which an anonymous mapping cannot stand for;
 * -EPROTO (logged) if the maps still differ after; other -errno.
 */
int proc_mem_reconcile(pid_t src, pid_t dst, struct proc_inject *in);

/* The same, towards a map captured earlier (proc-image.h). */
struct proc_maps;
int proc_mem_reconcile_to(const struct proc_maps *want, pid_t dst,
			  struct proc_inject *in);

struct proc_mem_stats {
	uint64_t pages;                 /* writable private pages copied */
	uint64_t ro_compared;           /* read-only private pages compared */
	uint64_t ro_copied;             /* ... and copied, as they differed */
};

/*
 * Copies into dst every page of src's writable private VMAs that is
 * present in either (not-present in both is zero or the file's on both),
 * and the read-only private data pages (RELRO, the loader's) that differ.
 * Executable and shared mappings are left alone. The maps must already
 * agree (proc_mem_reconcile). 0 or -errno (logged).
 */
int proc_mem_copy(pid_t src, pid_t dst, struct proc_mem_stats *stats);

/*
 * The page access proc-image shares with proc_mem_copy. proc_mem_open
 * opens /proc/PID/<file> (logged when it fails). proc_mem_pagemap reads
 * n pagemap entries from addr (0 past the end); proc_mem_present says
 * whether an entry is a present or swapped page. proc_mem_read and
 * proc_mem_write move len bytes with process_vm_readv/writev, falling
 * back to the mem file (mem) for pages the program cannot access as it
 * is protected. Each 0 or -errno.
 */
int proc_mem_open(pid_t pid, const char *file, int flags);
int proc_mem_pagemap(int pagemap, uint64_t addr, size_t n, uint64_t *out);
bool proc_mem_present(uint64_t pagemap_entry);
int proc_mem_read(pid_t pid, int mem, uint64_t addr, void *buf, size_t len);
int proc_mem_write(pid_t pid, int mem, uint64_t addr, const void *buf,
		   size_t len);

/*
 * The own pages (proc-image.h) of [start, end), page-aligned, of the
 * program whose pagemap is open at pagemap, found with PAGEMAP_SCAN:
 * appended to out (proc-ranges.h), whose last range must not end past
 * start. 0 or -errno.
 */
struct proc_ranges;
int proc_mem_own_pages(int pagemap, uint64_t start, uint64_t end,
		       struct proc_ranges *out);

#endif
