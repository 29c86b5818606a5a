// SPDX-License-Identifier: MIT
/*
 * proc_maps_parse on fixed text: every kind of line /proc/PID/maps prints,
 * names with spaces, an anonymous line with and without its trailing
 * space, and lines it must refuse; proc_maps_find against a linear search.
 */
#include <errno.h>
#include <sys/mman.h>

#include "proc-maps.h"
#include "tap.h"

static const char sample[] =
	"555555554000-555555556000 r--p 00000000 fe:01 1234   /usr/bin/x y\n"
	"555555556000-555555558000 r-xp 00002000 fe:01 1234   /usr/bin/x y\n"
	"555555559000-55555557a000 rw-p 00000000 00:00 0      [heap]\n"
	"7ffff7d00000-7ffff7d21000 rw-p 00000000 00:00 0 \n"
	"7ffff7d21000-7ffff7d22000 ---p 00000000 00:00 0\n"
	"7ffff7d22000-7ffff7d23000 rw-s 00000000 00:05 99 /memfd:ram (deleted)\n"
	"7ffff7d23000-7ffff7d24000 rw-p 00000000 00:00 0      [anon:glibc]\n"
	"7ffff7fc1000-7ffff7fc3000 r-xp 00000000 00:00 0      [vdso]\n"
	"7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0      [stack]\n"
	"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0  [vsyscall]\n";

static void refuses(const char *line)
{
	struct proc_maps m;

	CHECK_EQ(proc_maps_parse(line, strlen(line), &m), -EINVAL);
	CHECK_EQ(m.n, 0);
}

int main(void)
{
	struct proc_maps m;

	CHECK_EQ(proc_maps_parse(sample, sizeof(sample) - 1, &m), 0);
	CHECK_EQ(m.n, 10);
	CHECK_EQ(m.vma[0].start, 0x555555554000ULL);
	CHECK_EQ(m.vma[0].end, 0x555555556000ULL);
	CHECK_EQ(m.vma[0].kind, PROC_VMA_FILE);
	CHECK(!strcmp(m.vma[0].path, "/usr/bin/x y"));
	CHECK_EQ(m.vma[1].prot, PROT_READ | PROT_EXEC);
	CHECK_EQ(m.vma[1].offset, 0x2000);
	CHECK_EQ(m.vma[2].kind, PROC_VMA_HEAP);
	CHECK_EQ(m.vma[2].prot, PROT_READ | PROT_WRITE);
	CHECK_EQ(m.vma[3].kind, PROC_VMA_ANON);
	CHECK(!strcmp(m.vma[3].path, ""));
	CHECK_EQ(m.vma[4].kind, PROC_VMA_ANON);
	CHECK_EQ(m.vma[4].prot, 0);
	CHECK(m.vma[5].shared);
	CHECK(!strcmp(m.vma[5].path, "/memfd:ram (deleted)"));
	CHECK_EQ(m.vma[6].kind, PROC_VMA_OTHER);
	CHECK_EQ(m.vma[7].kind, PROC_VMA_VDSO);
	CHECK_EQ(m.vma[8].kind, PROC_VMA_STACK);
	CHECK_EQ(m.vma[9].kind, PROC_VMA_VDSO);
	CHECK(proc_vma_is_tracked_kind(&m.vma[2]));
	CHECK(!proc_vma_is_tracked_kind(&m.vma[5]));
	CHECK(proc_vma_is_tracked_kind(&m.vma[0]));       /* read-only data */

	/* find: every VMA's first and last byte, and the gaps between. */
	for (size_t i = 0; i < m.n; i++) {
		CHECK_EQ(proc_maps_find(&m, m.vma[i].start), (ssize_t)i);
		CHECK_EQ(proc_maps_find(&m, m.vma[i].end - 1), (ssize_t)i);
	}
	CHECK_EQ(proc_maps_find(&m, 0x555555558000ULL), -1);
	CHECK_EQ(proc_maps_find(&m, 0x1000), -1);
	CHECK_EQ(proc_maps_find(&m, 0x7ffff7e00000ULL), -1);
	proc_maps_free(&m);
	proc_maps_free(NULL);

	refuses("55555555-5555 r--p 0 fe:01 1 x\n");      /* end < start */
	refuses("555555554000 r--p 00000000 fe:01 1 x\n"); /* no end */
	refuses("1000-2000 rwzp 00000000 00:00 0\n");      /* perms */
	refuses("1000-2000 rw-p 0000g000 00:00 0\n");      /* offset */
	refuses("1000-2000 rw-p 00000000 00:00\n");        /* no inode */
	refuses("1000-2000 rw-p 00000000 00:00 12x\n");    /* inode */

	/* An empty file is an empty map. */
	CHECK_EQ(proc_maps_parse("", 0, &m), 0);
	CHECK_EQ(m.n, 0);
	proc_maps_free(&m);
	return 0;
}
