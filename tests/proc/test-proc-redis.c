// SPDX-License-Identifier: MIT
/*
 * Debian's redis-server, unmodified, launched through proc-launch with the
 * shim: it answers PING/SET/GET through a connection made inside its
 * network namespace, and BGSAVE forks its child, which saves into the
 * program's /tmp (its working directory) and is reaped by redis; after
 * proc_track_refresh every writable private VMA
 * of it is registered (`uw` in smaps, none refused); and a SET after a
 * clear of all of them shows up as written pages. Skipped (77) without
 * redis-server.
 *
 * Usage: test-proc-redis COLO-SHIM.SO
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "bitmap.h"
#include "proc-fixture.h"
#include "proc-maps.h"
#include "proc-track.h"

#define REDIS "/usr/bin/redis-server"
#define REDIS_PORT 6379

static void check_redis_answers(int fd)
{
	char reply[128];

	fixture_ask(fd, "PING\r\n", reply, sizeof(reply), 1);
	CHECK(!strcmp(reply, "+PONG\r\n"));
	fixture_ask(fd, "SET colo:key colo-value\r\n", reply, sizeof(reply), 1);
	CHECK(!strcmp(reply, "+OK\r\n"));
	fixture_ask(fd, "GET colo:key\r\n", reply, sizeof(reply), 2);
	CHECK(!strcmp(reply, "$10\r\ncolo-value\r\n"));
	/* fork is let through: the child saves, redis reaps it. */
	fixture_ask(fd, "BGSAVE\r\n", reply, sizeof(reply), 1);
	fprintf(stderr, "BGSAVE: %s", reply);
	CHECK(!strcmp(reply, "+Background saving started\r\n"));
	/* SAVE is refused while the child lives, and done once it is reaped. */
	for (int i = 0; i < 100; i++) {
		fixture_ask(fd, "SAVE\r\n", reply, sizeof(reply), 1);
		if (strncmp(reply, "-ERR Background save already", 28))
			break;
		usleep(50 * 1000);
	}
	CHECK(!strcmp(reply, "+OK\r\n"));
	fixture_ask(fd, "PING\r\n", reply, sizeof(reply), 1);
	CHECK(!strcmp(reply, "+PONG\r\n"));
}

static void check_every_vma_tracked(struct proc_track *t)
{
	size_t followed = 0;

	CHECK(proc_track_refresh(t) >= 0);
	for (size_t i = 0; i < t->maps.n; i++) {
		const struct proc_vma *v = &t->maps.vma[i];

		if (!proc_vma_is_tracked_kind(v))
			continue;
		if (!fixture_vma_has_uw(t->pid, v->start))
			fprintf(stderr, "not uw: %llx-%llx %s\n",
				(unsigned long long)v->start,
				(unsigned long long)v->end, v->path);
		CHECK(fixture_vma_has_uw(t->pid, v->start));
		CHECK(t->track[i] == PROC_TRACK_LOGGED ||
		      t->track[i] == PROC_TRACK_NEW);
		followed++;
	}
	fprintf(stderr, "redis-server: %zu VMAs, %zu followed\n", t->maps.n,
		followed);
	CHECK(followed >= 10);
}

/* Clears every followed VMA, runs a SET, and counts what it wrote. */
static int64_t pages_written_by_a_set(struct proc_track *t, int fd)
{
	char reply[64];
	int64_t total = 0;

	for (size_t i = 0; i < t->maps.n; i++) {
		if (t->track[i] == PROC_TRACK_NONE)
			continue;
		CHECK(proc_track_sync(t, i, NULL, 0, true) >= 0);
	}
	fixture_ask(fd, "SET colo:other 12345\r\n", reply, sizeof(reply), 1);
	CHECK(!strcmp(reply, "+OK\r\n"));
	for (size_t i = 0; i < t->maps.n; i++) {
		const struct proc_vma *v = &t->maps.vma[i];
		struct bitmap bm;
		int64_t n;

		if (t->track[i] == PROC_TRACK_NONE)
			continue;
		CHECK_EQ(bitmap_init(&bm, (v->end - v->start) / 4096), 0);
		n = proc_track_sync(t, i, &bm, 0, false);
		CHECK(n >= 0);
		CHECK_EQ(bitmap_count(&bm), n);
		total += n;
		bitmap_deinit(&bm);
	}
	return total;
}

int main(int argc, char **argv)
{
	const char *args[] = { "--port", "6379", "--save", "",
			       "--appendonly", "no", "--loglevel", "warning",
			       NULL };
	struct proc_launch_spec spec = { REDIS, args, NULL };
	struct proc_track t;
	struct proc_child c;
	int64_t written;
	int fd;

	CHECK_EQ(argc, 2);
	if (access(REDIS, X_OK) < 0)
		SKIP("%s: %s (Debian's redis-server package)", REDIS,
		     strerror(errno));
	fixture_require_root();
	test_require_dirtylog();
	spec.shim = argv[1];

	fixture_launch(&spec, &c);
	fd = fixture_connect(c.pid, REDIS_PORT);
	check_redis_answers(fd);
	CHECK_EQ(proc_track_open(&t, c.pid, c.pidfd), 0);
	check_every_vma_tracked(&t);

	written = pages_written_by_a_set(&t, fd);
	fprintf(stderr, "redis-server: one SET wrote %lld pages\n",
		(long long)written);
	CHECK(written >= 1);

	proc_track_close(&t);
	CHECK_EQ(proc_kill(&c), SIGKILL);
	close(fd);
	return 0;
}
