// SPDX-License-Identifier: MIT
/*
 * colo-shim.so: preloaded (LD_PRELOAD, by proc-launch) into a program the
 * pair protects, to make its memory trackable and its behaviour one that
 * a copy can follow.
 *
 * Its constructor, before the program's main():
 *  - creates a userfaultfd with WP_ASYNC | WP_UNPOPULATED and parks it at
 *    COLO_SHIM_UFFD_FD, where the daemon takes it with pidfd_getfd();
 *  - registers every writable private VMA in write-protect mode and
 *    write-protects it (shim_register_all), so that from here on the
 *    kernel notes each first write to a page without stopping the program;
 *  - installs the seccomp filter (shim-seccomp.c).
 * Later mappings are registered by the hooks (shim-hooks.c).
 *
 * A forked child keeps the shim but not its tracking: a userfaultfd acts
 * on the memory of the process that created it, so the child's copy of
 * the fd would register and write-protect ranges of the PARENT (clearing
 * pages from the parent's dirty log that it did write). The child closes
 * it at once (pthread_atfork), and shim_register also checks the caller
 * is the process that opened it, for a fork that bypasses glibc. The
 * kernel drops the child's registrations (the uffd has no EVENT_FORK);
 * the parent's stay, and copy-on-write keeps its dirty log right.
 *
 * A shim that cannot do its work ends the program, with the reason on
 * stderr: an untracked program must not start as if it were protected.
 * Nothing here allocates: /proc/self/maps is read through a small buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"
#include "shim-abi.h"
#include "uffd-compat.h"

#define PAGE_MASK_ ((uintptr_t)4095)
/* VMAs registered per pass over the map; a pass restarts where it ended. */
#define BATCH 256

int shim_uffd = -1;
/* The process that opened shim_uffd (getpid() is not cached by glibc). */
static pid_t shim_owner = -1;

static void __attribute__((noreturn)) die(const char *what, int err)
{
	char msg[160];
	int n = snprintf(msg, sizeof(msg), "colo-shim: %s: %s\n", what,
			 strerror(err));

	if (n > 0 && write(2, msg, (size_t)n) < 0)
		_exit(127);
	_exit(127);
}

void shim_register(uintptr_t start, uintptr_t len, bool protect)
{
	uintptr_t first = start & ~PAGE_MASK_;
	uintptr_t end = (start + len + PAGE_MASK_) & ~PAGE_MASK_;
	struct uffdio_register reg = {
		.range = { .start = first, .len = end - first },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};
	struct uffdio_writeprotect wp = {
		.range = { .start = first, .len = end - first },
		.mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};
	int saved = errno;      /* the program must not see ours */

	if (shim_uffd < 0 || end <= first ||
	    (pid_t)syscall(SYS_getpid) != shim_owner)
		return;
	if (ioctl(shim_uffd, UFFDIO_REGISTER, &reg) == 0 && protect)
		ioctl(shim_uffd, UFFDIO_WRITEPROTECT, &wp);
	errno = saved;
}

struct range {
	uintptr_t start, end;
};

/* "start-end perms ...": a writable private VMA of the program's own. */
static bool parse_line(const char *line, struct range *r)
{
	unsigned long s, e;
	char perms[5];

	if (sscanf(line, "%lx-%lx %4s", &s, &e, perms) != 3)
		return false;
	if (perms[1] != 'w' || perms[3] != 'p')
		return false;
	/* [vdso], [vvar], [vsyscall] are never writable, but say so anyway. */
	if (strstr(line, "[vdso]") || strstr(line, "[vvar") ||
	    strstr(line, "[vsyscall]"))
		return false;
	r->start = s;
	r->end = e;
	return true;
}

/*
 * Up to BATCH writable private ranges at or above from. Registering can
 * merge neighbours, so the map is read first and registered after.
 * Returns how many, or -errno.
 */
static int read_ranges(uintptr_t from, struct range *out)
{
	char buf[4096], line[512];
	size_t used = 0;
	int fd, n = 0;
	ssize_t r;

	fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (n < BATCH && (r = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < r && n < BATCH; i++) {
			struct range rg;

			if (buf[i] != '\n') {
				if (used < sizeof(line) - 1)
					line[used++] = buf[i];
				continue;
			}
			line[used] = '\0';
			used = 0;
			if (parse_line(line, &rg) && rg.start >= from)
				out[n++] = rg;
		}
	}
	close(fd);
	return n;
}

int shim_register_all(bool protect)
{
	struct range r[BATCH];
	uintptr_t from = 0;
	int n;

	do {
		n = read_ranges(from, r);
		if (n < 0)
			return n;
		for (int i = 0; i < n; i++)
			shim_register(r[i].start, r[i].end - r[i].start,
				      protect);
		if (n)
			from = r[n - 1].end;
	} while (n == BATCH);
	return 0;
}

static int open_uffd(void)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED,
	};
	int fd, parked;

	/* Async WP never delivers faults: user-mode-only costs nothing. */
	fd = (int)syscall(SYS_userfaultfd,
			  O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0)
		die("userfaultfd", errno);
	if (ioctl(fd, UFFDIO_API, &api) < 0)
		die("UFFDIO_API (WP_ASYNC|WP_UNPOPULATED, Linux 6.7+)", errno);
	if (fcntl(COLO_SHIM_UFFD_FD, F_GETFD) >= 0)
		die("the fixed fd COLO_SHIM_UFFD_FD is taken", EBUSY);
	parked = dup3(fd, COLO_SHIM_UFFD_FD, O_CLOEXEC);
	if (parked < 0)
		die("dup3 to the fixed fd", errno);
	close(fd);
	return parked;
}

/* In a forked child: the parent's tracking is none of its business. */
static void forget_uffd(void)
{
	if (shim_uffd >= 0)
		close(shim_uffd);
	shim_uffd = -1;
}

__attribute__((constructor)) static void shim_init(void)
{
	int err;

	shim_owner = (pid_t)syscall(SYS_getpid);
	shim_uffd = open_uffd();
	err = pthread_atfork(NULL, NULL, forget_uffd);
	if (err)
		die("pthread_atfork", err);
	err = shim_register_all(true);
	if (err)
		die("reading /proc/self/maps", -err);
	err = shim_seccomp_install();
	if (err)
		die("seccomp", -err);
}
