/* SPDX-License-Identifier: MIT */
/*
 * A process's memory map, as /proc/PID/maps prints it, parsed into an
 * array in address order. The parser is pure (text in, array out) so that
 * it can be tested on fixed text and fuzzed.
 */
#ifndef COLO_PROC_MAPS_H
#define COLO_PROC_MAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum proc_vma_kind {
	PROC_VMA_ANON,          /* no name: anonymous memory (mmap, arenas) */
	PROC_VMA_FILE,          /* a mapped file: the path is its name */
	PROC_VMA_HEAP,          /* [heap]: the brk area */
	PROC_VMA_STACK,         /* [stack]: the main thread's stack */
	PROC_VMA_VDSO,          /* [vdso], [vvar], [vsyscall]: the kernel's */
	PROC_VMA_OTHER,         /* any other [name] ([anon:x], [uprobes]...) */
};

struct proc_vma {
	uint64_t start, end;    /* [start, end), page aligned */
	uint64_t offset;        /* in the file, for PROC_VMA_FILE */
	int prot;               /* PROT_READ | PROT_WRITE | PROT_EXEC */
	bool shared;            /* 's' rather than 'p' */
	enum proc_vma_kind kind;
	char *path;             /* the name column, "" when there is none */
};

struct proc_maps {
	struct proc_vma *vma;
	size_t n;
};

/*
 * Parses text[len] (the whole file). 0, -ENOMEM, or -EINVAL for a line
 * that is not a maps line (then out is left empty). out must be empty or
 * freed; proc_maps_free releases it.
 */
int proc_maps_parse(const char *text, size_t len, struct proc_maps *out);

/* Reads and parses /proc/PID/maps. 0 or -errno (logged). */
int proc_maps_read(pid_t pid, struct proc_maps *out);

void proc_maps_free(struct proc_maps *m);

/*
 * Private data, writable or read-only (RELRO, a loader's page, a mapping
 * the program may make writable again): the memory the dirty log follows
 * and an image carries. Read-only data is followed too, so that a delta
 * need not carry it every time, and a page written between an mprotect
 * to writable and one back is still seen.
 */
bool proc_vma_is_tracked_kind(const struct proc_vma *v);

/* Index of the VMA holding addr, or -1. */
ssize_t proc_maps_find(const struct proc_maps *m, uint64_t addr);

#endif
