// SPDX-License-Identifier: MIT
/*
 * Capturing a stopped program's fd table. For each entry of
 * /proc/PID/fd: the link names it ("socket:[41267]", "anon_inode:[eventpoll]",
 * "/dev/null"), stat() through the link gives its type and inode, fdinfo
 * its flags, offset and kind-specific lines; a socket is looked up by
 * inode in the program's net/tcp and tcp6; and the queues of a connection
 * or a pipe are measured with ioctls on a duplicate taken with
 * pidfd_getfd(), which leaves the program's own fd untouched.
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

/* net/tcp and tcp6; a kernel without IPv6 has no tcp6. */
static int read_tcp(pid_t pid, struct proc_tcp_table *t)
{
	static const struct { const char *name; int family; } files[] = {
		{ "tcp", AF_INET }, { "tcp6", AF_INET6 },
	};
	char path[64], *text;
	size_t len;
	int err;

	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "/proc/%d/net/%s", (int)pid,
			 files[i].name);
		err = read_text(path, &text, &len);
		if (err == -ENOENT && files[i].family == AF_INET6)
			continue;
		if (!err) {
			err = proc_tcp_parse(text, len, files[i].family, t);
			free(text);
		}
		if (err) {
			log_error("read %s: %s", path, strerror(-err));
			return err;
		}
	}
	return 0;
}

static int cmp_ino(const void *a, const void *b)
{
	uint64_t x = ((const struct proc_tcp_sock *)a)->ino;
	uint64_t y = ((const struct proc_tcp_sock *)b)->ino;

	return (x > y) - (x < y);
}

/* t sorted by inode: a server with many clients has as many lines. */
static const struct proc_tcp_sock *find_sock(const struct proc_tcp_table *t,
					     uint64_t ino)
{
	struct proc_tcp_sock key = { .ino = ino };

	if (!ino)               /* TIME_WAIT lines: no socket behind them */
		return NULL;
	return bsearch(&key, t->s, t->n, sizeof(key), cmp_ino);
}

/* /dev/null and the other devices whose reads and writes keep no state. */
static bool is_null_dev(dev_t rdev)
{
	unsigned min = minor(rdev);

	return major(rdev) == 1 &&
	       (min == 3 || min == 5 || min == 7 || min == 8 || min == 9);
}

static void classify(struct proc_fd *f, const struct stat *st,
		     const struct proc_tcp_table *tcp)
{
	const struct proc_tcp_sock *s;

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
	else if (S_ISSOCK(st->st_mode) && (s = find_sock(tcp, f->ino))) {
		f->kind = s->state == TCP_LISTEN ? PROC_FD_TCP_LISTEN :
			  PROC_FD_TCP_CONN;
		f->tcp_state = s->state;
		f->local = s->local;
		f->remote = s->remote;
		if (f->kind == PROC_FD_TCP_LISTEN)
			f->pending = s->rx_queue;
	} else if (S_ISFIFO(st->st_mode))
		f->kind = PROC_FD_PIPE;
	else if (S_ISREG(st->st_mode))
		f->kind = PROC_FD_FILE;
	else if (S_ISCHR(st->st_mode) && is_null_dev(st->st_rdev))
		f->kind = PROC_FD_NULL_DEV;
}

static int queue_ioctl(int fd, unsigned long req, uint32_t *out)
{
	int v = 0;

	if (ioctl(fd, req, &v) < 0)
		return -errno;
	*out = v < 0 ? 0 : (uint32_t)v;
	return 0;
}

/*
 * Bytes the program has not read (and, for a connection, not had
 * acknowledged), on its own file: the duplicate shares it.
 */
static int measure_queues(int pidfd, struct proc_fd *f)
{
	int dup, err;

	dup = (int)syscall(SYS_pidfd_getfd, pidfd, f->fd, 0);
	if (dup < 0)
		return -errno;
	if (f->kind == PROC_FD_PIPE) {
		err = queue_ioctl(dup, FIONREAD, &f->unread);
	} else {
		err = queue_ioctl(dup, SIOCINQ, &f->unread);
		if (!err)
			err = queue_ioctl(dup, SIOCOUTQ, &f->unsent);
	}
	close(dup);
	return err;
}

/* One fd; -ENOENT/-EBADF when it closed while we looked. */
static int capture_fd(pid_t pid, int pidfd, int fd,
		      const struct proc_tcp_table *tcp, struct proc_fd *f)
{
	char path[64], link[4096], *text;
	struct proc_fdinfo fi;
	struct stat st;
	ssize_t n;
	size_t len;
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
	classify(f, &st, tcp);
	if (f->kind == PROC_FD_EPOLL) {
		f->items = fi.items;
		f->n_items = fi.n_items;
		fi.items = NULL;
	}
	f->count = fi.count;
	f->sigmask = fi.sigmask;
	proc_fdinfo_free(&fi);

	if (f->kind == PROC_FD_TCP_CONN || f->kind == PROC_FD_PIPE)
		return measure_queues(pidfd, f);
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
	struct proc_tcp_table tcp = { NULL, 0 };
	int *fds = NULL, err;
	size_t n = 0;

	out->fds = NULL;
	out->n = 0;
	err = list_fds(pid, &fds, &n);
	if (!err)
		err = read_tcp(pid, &tcp);
	if (!err && tcp.n)
		qsort(tcp.s, tcp.n, sizeof(tcp.s[0]), cmp_ino);
	if (!err && n && !(out->fds = calloc(n, sizeof(*out->fds))))
		err = -ENOMEM;
	for (size_t i = 0; i < n && !err; i++) {
		struct proc_fd *f = &out->fds[out->n];

		err = capture_fd(pid, pidfd, fds[i], &tcp, f);
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
	proc_tcp_table_free(&tcp);
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
