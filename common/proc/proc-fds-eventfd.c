// SPDX-License-Identifier: MIT
/*
 * An eventfd's counter set from outside the program: the daemon takes a
 * duplicate with pidfd_getfd, which shares the counter, and reads and
 * writes it there. No call runs inside the program and its fd keeps its
 * flags. poll() before each read, so that a blocking eventfd at 0 never
 * blocks the daemon.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "proc-fds.h"

#define MAX_READS 65536         /* a semaphore-mode counter, one by one */

static int readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;

	do
		r = poll(&p, 1, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return r > 0 && (p.revents & POLLIN);
}

static int set_count(int fd, uint64_t count)
{
	uint64_t v;
	int r, reads = 0;

	while ((r = readable(fd)) > 0) {
		if (++reads > MAX_READS)
			return -EOVERFLOW;
		if (read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v) &&
		    errno != EAGAIN && errno != EINTR)
			return -errno;
	}
	if (r < 0)
		return r;
	if (count && write(fd, &count, sizeof(count)) != (ssize_t)sizeof(count))
		return -errno;
	return 0;
}

int proc_fds_eventfd_set(int pidfd, int fd, uint64_t count)
{
	int dup = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0), r;

	if (dup < 0) {
		r = -errno;
		log_error("pidfd_getfd of eventfd %d: %s", fd, strerror(-r));
		return r;
	}
	r = set_count(dup, count);
	if (r < 0)
		log_error("eventfd %d: counter not set to %llu: %s", fd,
			  (unsigned long long)count, strerror(-r));
	close(dup);
	return r;
}
