/* SPDX-License-Identifier: MIT */
/*
 * What must be equal on two hosts before a process image may be copied
 * from one to the other: the kernel (registers and the loader's view of
 * it), the CPU features (glibc records in the copied memory which memset
 * it picked for this CPU) and every file the program maps executable
 * (the program, the loader, libc and the other libraries, the shim). The
 * primary sends its identity in the hello; the secondary checks it
 * against itself and refuses with a reason naming what differs.
 */
#ifndef COLO_PROC_IDENTITY_H
#define COLO_PROC_IDENTITY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROC_IDENTITY_KERNEL_MAX 160   /* "release version", NUL included */
#define PROC_IDENTITY_MACHINE_MAX 65   /* uname's machine, NUL included */
#define PROC_IDENTITY_MAX_FILES 256
#define PROC_IDENTITY_PATH_MAX 2048    /* a file's path, NUL excluded */
/* The largest encoding, for a caller that frames it. */
#define PROC_IDENTITY_ENCODED_MAX                                          \
	(2 + PROC_IDENTITY_KERNEL_MAX + 2 + PROC_IDENTITY_MACHINE_MAX + 32 + \
	 4 + PROC_IDENTITY_MAX_FILES * (2 + PROC_IDENTITY_PATH_MAX + 32))

struct proc_identity_file {
	char *path;
	uint8_t sha256[32];
};

struct proc_identity {
	char kernel[PROC_IDENTITY_KERNEL_MAX];   /* uname release and version */
	char machine[PROC_IDENTITY_MACHINE_MAX];
	uint8_t cpu[32];          /* SHA-256 of the CPUID leaves naming features */
	struct proc_identity_file *files;  /* mapped executable, map order */
	size_t nfiles;
};

/*
 * This host's identity and that of program pid's files: each regular file
 * mapped executable in /proc/PID/maps, hashed once, read through
 * /proc/PID/root so a path means what it means to the program. 0 or
 * -errno (logged); a file mapped but deleted since (an upgrade while the
 * program runs) is -ESTALE: what it was cannot be hashed any more.
 * out is empty on failure; proc_identity_free releases it.
 */
int proc_identity_of(pid_t pid, struct proc_identity *out);
void proc_identity_free(struct proc_identity *id);

/*
 * Bytes for the hello, big-endian: the kernel, the machine (u16 length,
 * bytes), the CPU digest, a u32 count of files, each a u16 length, the
 * path and its digest. encode: 0, -ENOMEM or -E2BIG (over the bounds
 * above); *out is the caller's to free. decode is pure and takes exactly
 * len bytes: 0, or -EPROTO (-ENOMEM) with the reason in why; out is then
 * empty.
 */
int proc_identity_encode(const struct proc_identity *id, uint8_t **out,
			 size_t *len);
int proc_identity_decode(const uint8_t *buf, size_t len,
			 struct proc_identity *out, char *why, size_t why_len);

/*
 * The secondary's check of the primary's identity against this host: the
 * kernel, the machine, the CPU features, and each of theirs->files hashed
 * here at the same path. 0, or -EPROTO with a one-line reason naming the
 * first thing that differs ("kernel X here, Y on the primary",
 * "/usr/lib/x86_64-linux-gnu/libc.so.6 differs"); -errno with a reason
 * too when this host's own identity cannot be read.
 */
int proc_identity_check(const struct proc_identity *theirs, char *reason,
			size_t len);

#endif
