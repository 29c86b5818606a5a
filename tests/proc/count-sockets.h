/* SPDX-License-Identifier: MIT */
/*
 * How many sockets a process holds: what a client's connect adds and its
 * hang-up takes away. Not every fd: redis-server opens /proc/PID/stat for
 * a moment every 100 ms (its RSS in serverCron), and a count that caught
 * that open on a loaded host was one too many.
 */
#ifndef COLO_TEST_COUNT_SOCKETS_H
#define COLO_TEST_COUNT_SOCKETS_H

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "tap.h"

static inline int count_sockets(pid_t pid)
{
	char path[64], link[64];
	struct dirent *e;
	int n = 0;
	ssize_t len;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	CHECK(d != NULL);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		len = readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1);
		if (len < 0)
			continue;  /* closed since readdir */
		link[len] = '\0';
		n += !strncmp(link, "socket:", 7);
	}
	closedir(d);
	return n;
}

#endif
