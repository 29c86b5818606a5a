// SPDX-License-Identifier: MIT
/*
 * proc-track on proc-target launched with the shim:
 *  - the growth of a glibc arena made by a thread escapes the shim's hooks (no `uw` in
 *    smaps), and proc_track_refresh registers it: afterwards every
 *    writable private VMA carries `uw`, and none was refused;
 *  - memory the kernel refuses to register is reported whole;
 *  - writing N known pages of the target's buffer shows exactly those
 *    pages written, get-and-clear reports them once, and after it none.
 *
 * Usage: test-proc-track PROC-TARGET COLO-SHIM.SO
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "bitmap.h"
#include "proc-fixture.h"
#include "proc-maps.h"
#include "proc-track.h"

static uint64_t ask_addr(int fd, const char *req)
{
	char reply[128];
	unsigned long long a = 0;

	fixture_ask(fd, req, reply, sizeof(reply), 1);
	CHECK_EQ(sscanf(reply, "%llx", &a), 1);
	CHECK(a != 0);
	return a;
}

static size_t vma_index(struct proc_track *t, uint64_t addr)
{
	ssize_t i = proc_maps_find(&t->maps, addr);

	CHECK(i >= 0);
	return (size_t)i;
}

static void check_all_tracked(struct proc_track *t)
{
	size_t followed = 0;

	for (size_t i = 0; i < t->maps.n; i++) {
		const struct proc_vma *v = &t->maps.vma[i];

		if (!proc_vma_is_tracked_kind(v)) {
			CHECK_EQ(t->track[i], PROC_TRACK_NONE);
			continue;
		}
		if (!fixture_vma_has_uw(t->pid, v->start))
			fprintf(stderr, "not uw: %llx-%llx %s\n",
				(unsigned long long)v->start,
				(unsigned long long)v->end, v->path);
		CHECK(fixture_vma_has_uw(t->pid, v->start));
		CHECK(t->track[i] == PROC_TRACK_LOGGED ||
		      t->track[i] == PROC_TRACK_NEW);
		followed++;
	}
	CHECK(followed >= 5);   /* .data, .bss, libc's, the stack, ours... */
}

static void test_missed_arena(struct proc_track *t, int fd)
{
	struct proc_maps now;
	struct bitmap bm;
	uint64_t arena;
	ssize_t j;
	size_t i;

	CHECK(proc_track_refresh(t) >= 0);
	arena = ask_addr(fd, "arena\n");

	/* glibc mapped it past the hooks: nobody registered it yet. */
	CHECK_EQ(proc_maps_read(t->pid, &now), 0);
	j = proc_maps_find(&now, arena);
	CHECK(j >= 0);
	CHECK(!fixture_vma_has_uw(t->pid, now.vma[j].start));
	proc_maps_free(&now);

	CHECK(proc_track_refresh(t) >= 1);
	i = vma_index(t, arena);
	CHECK_EQ(t->track[i], PROC_TRACK_NEW);
	check_all_tracked(t);
	/* Registered without protection: its earlier writes show (64 KiB). */
	CHECK_EQ(bitmap_init(&bm, (t->maps.vma[i].end -
				   t->maps.vma[i].start) / 4096), 0);
	CHECK(proc_track_sync(t, i, &bm, 0, false) >= 16);
	CHECK(bitmap_test(&bm, (arena - t->maps.vma[i].start) / 4096));
	bitmap_deinit(&bm);

	/* Nothing new since: a second refresh registers nothing. */
	CHECK_EQ(proc_track_refresh(t), 0);
	CHECK_EQ(t->track[vma_index(t, arena)], PROC_TRACK_LOGGED);
}

/*
 * sbrk and mremap go through the shim's hooks: registered before any
 * refresh. The pages mremap moved were written before: they show (and on
 * Linux 6.18 so do the empty ones of a range registered unprotected).
 */
static void test_hooked(struct proc_track *t, int fd)
{
	unsigned long long grown = 0, moved = 0;
	struct bitmap bm;
	char reply[128];
	size_t i;

	fixture_ask(fd, "hooks\n", reply, sizeof(reply), 1);
	CHECK_EQ(sscanf(reply, "%llx %llx", &grown, &moved), 2);
	/* LOGGED, not NEW: the refresh found them registered already. */
	CHECK(proc_track_refresh(t) >= 0);
	i = vma_index(t, grown);
	CHECK_EQ(t->track[i], PROC_TRACK_LOGGED);
	CHECK(fixture_vma_has_uw(t->pid, t->maps.vma[i].start));

	i = vma_index(t, moved);
	CHECK_EQ(t->maps.vma[i].start, moved);
	CHECK_EQ(t->maps.vma[i].end, moved + 32 * 4096);
	CHECK_EQ(t->track[i], PROC_TRACK_LOGGED);
	CHECK_EQ(bitmap_init(&bm, 32), 0);
	CHECK(proc_track_sync(t, i, &bm, 0, true) >= 4);
	for (int p = 0; p < 4; p++)
		CHECK(bitmap_test(&bm, (uint64_t)p));
	fprintf(stderr, "after mremap: %llu of 32 pages reported\n",
		(unsigned long long)bitmap_count(&bm));
	bitmap_zero(&bm);
	CHECK_EQ(proc_track_sync(t, i, &bm, 0, false), 0);
	bitmap_deinit(&bm);
}

/*
 * A VMA the kernel will not register (MAP_DROPPABLE memory, Linux 6.11+)
 * is reported REFUSED, and a sync of it reports every page: the caller
 * copies it whole.
 */
static void test_refused(struct proc_track *t, int fd)
{
	unsigned long long addr = 0;
	struct bitmap bm;
	char reply[64];
	size_t i;

	fixture_ask(fd, "droppable\n", reply, sizeof(reply), 1);
	if (!strcmp(reply, "none\n")) {
		fprintf(stderr, "no MAP_DROPPABLE here: refusal not tried\n");
		return;
	}
	CHECK_EQ(sscanf(reply, "%llx", &addr), 1);
	CHECK(proc_track_refresh(t) >= 0);
	i = vma_index(t, addr);
	CHECK_EQ(t->maps.vma[i].end - t->maps.vma[i].start, 8 * 4096);
	CHECK_EQ(t->track[i], PROC_TRACK_REFUSED);
	CHECK(!fixture_vma_has_uw(t->pid, addr));
	CHECK_EQ(bitmap_init(&bm, 9), 0);
	CHECK_EQ(proc_track_sync(t, i, &bm, 1, true), 8);
	CHECK_EQ(bitmap_count(&bm), 8);
	CHECK(!bitmap_test(&bm, 0));
	CHECK_EQ(proc_track_sync(t, i, &bm, 2, false), -ERANGE);
	CHECK_EQ(proc_track_sync(t, i, NULL, 0, true), 8);
	/* Still refused at the next refresh (and not logged again). */
	CHECK(proc_track_refresh(t) >= 0);
	CHECK_EQ(t->track[vma_index(t, addr)], PROC_TRACK_REFUSED);
	bitmap_deinit(&bm);
}

static void check_exactly(const struct bitmap *bm, const int *pages, int n)
{
	CHECK_EQ(bitmap_count(bm), n);
	for (int k = 0; k < n; k++)
		CHECK(bitmap_test(bm, (uint64_t)pages[k]));
}

static void test_written_pages(struct proc_track *t, int fd)
{
	static const int pages[] = { 0, 5, 17, 18, 40, 63 };
	const int n = (int)(sizeof(pages) / sizeof(pages[0]));
	struct bitmap bm;
	char reply[64];
	uint64_t buf;
	size_t i;

	buf = ask_addr(fd, "buf\n");
	CHECK(proc_track_refresh(t) >= 0);
	i = vma_index(t, buf);
	CHECK_EQ(t->maps.vma[i].start, buf);
	CHECK_EQ(t->maps.vma[i].end, buf + 64 * 4096);
	CHECK_EQ(t->track[i], PROC_TRACK_LOGGED);   /* the mmap hook's */
	CHECK_EQ(bitmap_init(&bm, 64), 0);

	/* Registered and protected at mmap, never written: clean. */
	CHECK_EQ(proc_track_sync(t, i, &bm, 0, false), 0);

	fixture_ask(fd, "write 0 5 17 18 40 63\n", reply, sizeof(reply), 1);
	CHECK(!strcmp(reply, "ok\n"));
	CHECK_EQ(proc_track_sync(t, i, &bm, 0, false), n);
	check_exactly(&bm, pages, n);
	/* Reading does not clear... */
	bitmap_zero(&bm);
	CHECK_EQ(proc_track_sync(t, i, &bm, 0, false), n);
	check_exactly(&bm, pages, n);
	/* ...get-and-clear reports them once more, then none are left. */
	bitmap_zero(&bm);
	CHECK_EQ(proc_track_sync(t, i, &bm, 0, true), n);
	check_exactly(&bm, pages, n);
	bitmap_zero(&bm);
	CHECK_EQ(proc_track_sync(t, i, &bm, 0, false), 0);
	CHECK_EQ(bitmap_count(&bm), 0);

	/* And a page written again after the clear is seen again. */
	fixture_ask(fd, "write 17\n", reply, sizeof(reply), 1);
	CHECK_EQ(proc_track_sync(t, i, &bm, 0, true), 1);
	CHECK(bitmap_test(&bm, 17));

	/* A VMA that is not followed is refused, not scanned. */
	for (size_t k = 0; k < t->maps.n; k++)
		if (t->track[k] == PROC_TRACK_NONE) {
			CHECK_EQ(proc_track_sync(t, k, &bm, 0, false), -EINVAL);
			break;
		}
	bitmap_deinit(&bm);
}

/*
 * Across a fork: the parent's pages written before it stay written, one
 * written after it (copy-on-write) is seen, and the child's own mmap over
 * its copy of the buffer (the shim's hook, in the child) registers and
 * protects nothing of the parent's: the shim dropped its uffd there.
 */
static void test_fork(struct proc_track *t, int fd)
{
	static const int pages[] = { 3, 7, 9 };
	struct bitmap bm;
	char reply[64];
	uint64_t buf = ask_addr(fd, "buf\n");
	size_t i;

	CHECK(proc_track_refresh(t) >= 0);
	i = vma_index(t, buf);
	CHECK_EQ(bitmap_init(&bm, 64), 0);
	CHECK(proc_track_sync(t, i, &bm, 0, true) >= 0);
	bitmap_zero(&bm);
	fixture_ask(fd, "write 3 7\n", reply, sizeof(reply), 1);
	CHECK(!strcmp(reply, "ok\n"));
	fixture_ask(fd, "forkmap\n", reply, sizeof(reply), 1);
	CHECK(!strcmp(reply, "ok\n"));
	fixture_ask(fd, "write 9\n", reply, sizeof(reply), 1);
	CHECK(!strcmp(reply, "ok\n"));
	CHECK(proc_track_refresh(t) >= 0);
	i = vma_index(t, buf);
	CHECK_EQ(proc_track_sync(t, i, &bm, 0, false), 3);
	check_exactly(&bm, pages, 3);
	bitmap_deinit(&bm);
}

/* Without the shim there is no userfaultfd to take: refused, named. */
static void test_no_shim(const char *target)
{
	const char *args[] = { "7070", NULL };
	struct proc_launch_spec spec = { target, args, NULL };
	struct proc_track t;
	struct proc_child c;
	int fd;

	fixture_launch(&spec, &c);
	fd = fixture_connect(c.pid, TARGET_PORT);
	CHECK_EQ(proc_track_open(&t, c.pid, c.pidfd), -ENOENT);
	CHECK_EQ(proc_kill(&c), SIGKILL);
	close(fd);
}

int main(int argc, char **argv)
{
	const char *args[] = { "7070", NULL };
	struct proc_launch_spec spec = { argv[1], args, argv[2] };
	struct proc_track t;
	struct proc_child c;
	int fd;

	CHECK_EQ(argc, 3);
	fixture_require_root();
	test_require_dirtylog();

	fixture_launch(&spec, &c);
	fd = fixture_connect(c.pid, TARGET_PORT);
	CHECK_EQ(proc_track_open(&t, c.pid, c.pidfd), 0);
	test_written_pages(&t, fd);
	test_fork(&t, fd);
	test_hooked(&t, fd);
	test_missed_arena(&t, fd);
	test_refused(&t, fd);
	proc_track_close(&t);
	CHECK_EQ(proc_kill(&c), SIGKILL);
	close(fd);

	test_no_shim(argv[1]);
	return 0;
}
