// SPDX-License-Identifier: MIT
/*
 * Capturing a stopped program's fd table. For each entry of
 * /proc/PID/fd: the link names it ("socket:[41267]", "anon_inode:[eventpoll]",
 * "/dev/null"), stat() through the link gives its type and inode, fdinfo
 * its flags, offset and kind-specific lines; a socket describes itself
 * (proc-fds-sock.c), and the queues of a connection or a pipe are
 * measured, through a duplicate taken with pidfd_getfd(), which leaves
 * the program's own fd untouched.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "log.h"
#include "proc-fds-sock.h"
#include "proc-fds.h"

#define FDINFO_MAX (64u << 20)  /* an epoll of every possible client */

static const char *const kind_name[PROC_FD__MAX] = {
	[PROC_FD_TCP_LISTEN] = "TCP listening socket",
	[PROC_FD_TCP_CONN] = "TCP connection",
	[PROC_FD_EPOLL] = "epoll",
	[PROC_FD_EVENTFD] = "eventfd",
	[PROC_FD_PIPE] = "pipe",
	[PROC_FD_TIMERFD] = "timerfd",
	[PROC_FD_SIGNALFD] = "signalfd",
	[PROC_FD_NULL_DEV] = "character device",
	[PROC_FD_FILE] = "regular file",
	[PROC_FD_OTHER] = "other",
};

const char *proc_fd_kind_name(enum proc_fd_kind kind)
{
	return kind < PROC_FD__MAX ? kind_name[kind] : "?";
}

/* A /proc file, whole: its size is known only once it has been read. */
static int read_text(const char *path, char **text, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap), *nb;
	int fd, err = 0;
	ssize_t r;

	if (!buf)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(buf);
		return -errno;
	}
	for (;;) {
		if (n == cap) {
			nb = cap < FDINFO_MAX ? realloc(buf, cap * 2) : NULL;
			if (!nb) {
				err = -ENOMEM;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			err = r < 0 ? -errno : 0;
			break;
		}
		n += (size_t)r;
	}
	close(fd);
	if (err) {
		free(buf);
		return err;
	}
	*text = buf;
	*len = n;
	return 0;
}

/* /dev/null and the other devices whose reads and writes keep no state. */
static bool is_null_dev(dev_t rdev)
{
	unsigned min = minor(rdev);

	return major(rdev) == 1 &&
	       (min == 3 || min == 5 || min == 7 || min == 8 || min == 9);
}

/* What f is; a socket is asked itself (proc-fds-sock). */
static int classify(int pidfd, struct proc_fd *f, const struct stat *st)
{
	int r;

	f->kind = PROC_FD_OTHER;
	/* Checked first: the kernel has changed the mode anon inodes show. */
	if (!strcmp(f->target, "anon_inode:[eventpoll]"))
		f->kind = PROC_FD_EPOLL;
	else if (!strcmp(f->target, "anon_inode:[eventfd]"))
		f->kind = PROC_FD_EVENTFD;
	else if (!strcmp(f->target, "anon_inode:[timerfd]"))
		f->kind = PROC_FD_TIMERFD;
	else if (!strcmp(f->target, "anon_inode:[signalfd]"))
		f->kind = PROC_FD_SIGNALFD;
	else if (!strncmp(f->target, "anon_inode:", 11))
		f->kind = PROC_FD_OTHER;
	else if (S_ISSOCK(st->st_mode)) {
		r = proc_fds_sock_query(pidfd, f);
		return r < 0 ? r : 0;
	} else if (S_ISFIFO(st->st_mode))
		f->kind = PROC_FD_PIPE;
	else if (S_ISREG(st->st_mode))
		f->kind = PROC_FD_FILE;
	else if (S_ISCHR(st->st_mode) && is_null_dev(st->st_rdev))
		f->kind = PROC_FD_NULL_DEV;
	return 0;
}

/* Bytes the program has not read from a pipe, on its own file: the
 * duplicate shares it. */
static int measure_pipe(int pidfd, struct proc_fd *f)
{
	int dup, err;

	dup = (int)syscall(SYS_pidfd_getfd, pidfd, f->fd, 0);
	if (dup < 0)
		return -errno;
	err = proc_fds_queue(dup, FIONREAD, &f->unread);
	close(dup);
	return err;
}

/* One fd; -ENOENT/-EBADF when it closed while we looked. */
static int capture_fd(pid_t pid, int pidfd, int fd, struct proc_fd *f)
{
	char path[64], link[4096], *text = NULL;
	struct proc_fdinfo fi;
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int err;

	memset(f, 0, sizeof(*f));
	f->fd = fd;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0 || stat(path, &st) < 0)
		return -errno;
	link[n] = '\0';
	f->target = strdup(link);
	if (!f->target)
		return -ENOMEM;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)pid, fd);
	err = read_text(path, &text, &len);
	if (err)
		return err;
	err = proc_fdinfo_parse(text, len, &fi);
	free(text);
	if (err) {
		log_error("parse %s: %s", path, strerror(-err));
		return err;
	}
	f->flags = fi.flags & (O_ACCMODE | O_NONBLOCK);
	f->cloexec = fi.flags & O_CLOEXEC;
	f->pos = fi.pos;
	f->ino = (uint64_t)st.st_ino;
	err = classify(pidfd, f, &st);
	if (err) {
		proc_fdinfo_free(&fi);
		return err;
	}
	if (f->kind == PROC_FD_EPOLL) {
		f->items = fi.items;
		f->n_items = fi.n_items;
		fi.items = NULL;
	}
	f->count = fi.count;
	f->sigmask = fi.sigmask;
	proc_fdinfo_free(&fi);

	if (f->kind == PROC_FD_PIPE)
		return measure_pipe(pidfd, f);
	return 0;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* The fd numbers, ascending. */
static int list_fds(pid_t pid, int **fds, size_t *n)
{
	char path[64];
	size_t cap = 0;
	struct dirent *de;
	DIR *d;

	*fds = NULL;
	*n = 0;
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d) {
		int err = -errno;

		log_error("opendir %s: %s", path, strerror(errno));
		return err;
	}
	while ((de = readdir(d))) {
		char *e;
		long v = strtol(de->d_name, &e, 10);

		if (*e || e == de->d_name || v < 0 || v > INT32_MAX)
			continue;       /* "." and ".." */
		if (*n == cap) {
			int *nf = realloc(*fds, (cap ? cap * 2 : 32) * sizeof(int));

			if (!nf) {
				closedir(d);
				return -ENOMEM;
			}
			*fds = nf;
			cap = cap ? cap * 2 : 32;
		}
		(*fds)[(*n)++] = (int)v;
	}
	closedir(d);
	qsort(*fds, *n, sizeof(int), cmp_int);
	return 0;
}

int proc_fds_capture(pid_t pid, int pidfd, struct proc_fd_table *out)
{
	int *fds = NULL, err;
	size_t n = 0;

	out->fds = NULL;
	out->n = 0;
	err = list_fds(pid, &fds, &n);
	if (!err && n && !(out->fds = calloc(n, sizeof(*out->fds))))
		err = -ENOMEM;
	for (size_t i = 0; i < n && !err; i++) {
		struct proc_fd *f = &out->fds[out->n];

		err = capture_fd(pid, pidfd, fds[i], f);
		if (err == -ENOENT || err == -EBADF) {
			/* Closed meanwhile: the program was not stopped. */
			free(f->target);
			free(f->items);
			err = 0;
			continue;
		}
		out->n++;
		if (err)
			log_error("pid %d fd %d (%s): %s", (int)pid, fds[i],
				  f->target ? f->target : "?", strerror(-err));
	}
	free(fds);
	if (err)
		proc_fds_free(out);
	return err;
}

void proc_fds_free(struct proc_fd_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->fds[i].target);
		free(t->fds[i].items);
	}
	free(t->fds);
	t->fds = NULL;
	t->n = 0;
}

const struct proc_fd *proc_fds_find(const struct proc_fd_table *t, int fd)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->fds[mid].fd == fd)
			return &t->fds[mid];
		if (t->fds[mid].fd < fd)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
