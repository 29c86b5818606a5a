/* SPDX-License-Identifier: MIT */
/*
 * What the proc tests share: the skips (root, namespaces, the dirty log),
 * launching a program and waiting for its port, one-line requests, and
 * reading /proc/PID/smaps for the uffd-wp flag.
 */
#ifndef COLO_TEST_PROC_FIXTURE_H
#define COLO_TEST_PROC_FIXTURE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "need-dirtylog.h"
#include "proc-launch.h"
#include "tap.h"

#define TARGET_PORT 7070
#define FIXTURE_WAIT_MS 10000

static inline void fixture_require_root(void)
{
	if (geteuid() != 0)
		SKIP("proc-launch needs root (namespaces, mounts)");
}

/* Launches, or skips when the kernel refuses namespaces here. */
static inline void fixture_launch(const struct proc_launch_spec *spec,
				  struct proc_child *c)
{
	int err = proc_launch(spec, c);

	if (err == -EPERM)
		SKIP("proc_launch: %s (a container without CAP_SYS_ADMIN?)",
		     strerror(-err));
	CHECK_EQ(err, 0);
}

static inline uint64_t fixture_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Connects once the program listens on port (it is starting up). */
static inline int fixture_connect(pid_t pid, uint16_t port)
{
	uint64_t deadline = fixture_now_ms() + FIXTURE_WAIT_MS;
	int fd;

	while ((fd = proc_connect(pid, port)) == -ECONNREFUSED &&
	       fixture_now_ms() < deadline)
		usleep(20000);
	CHECK(fd >= 0);
	return fd;
}

/* Sends req, reads until reply holds `lines` newlines. */
static inline void fixture_ask(int fd, const char *req, char *reply,
			       size_t len, int lines)
{
	size_t n = 0;
	int seen = 0;

	CHECK_EQ(write(fd, req, strlen(req)), (long long)strlen(req));
	while (seen < lines) {
		ssize_t r = read(fd, reply + n, len - 1 - n);

		CHECK(r > 0);
		for (ssize_t i = 0; i < r; i++)
			seen += reply[n + (size_t)i] == '\n';
		n += (size_t)r;
		CHECK(n < len - 1);
	}
	reply[n] = '\0';
}

/*
 * Whether the VMA starting at start carries VM_UFFD_WP ("uw" among its
 * VmFlags): the kernel's own word, independent of proc-track's check.
 */
static inline bool fixture_vma_has_uw(pid_t pid, uint64_t start)
{
	char path[64], line[512];
	bool in = false, found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	f = fopen(path, "r");
	CHECK(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long long s, e;
		char perms[5];

		if (sscanf(line, "%llx-%llx %4s", &s, &e, perms) == 3) {
			in = s == start;
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8)) {
			found = strstr(line, " uw") != NULL;
			break;
		}
	}
	fclose(f);
	return found;
}

#endif
