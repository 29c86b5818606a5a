// SPDX-License-Identifier: MIT
/*
 * proc_maps_parse on fixed text (every column, every kind, names with
 * spaces, no name), malformed lines refused, and proc_maps_find against a
 * linear search on the test's own /proc/self/maps.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "proc-maps.h"
#include "tap.h"

static const char sample[] =
	"555555554000-555555556000 r--p 00000000 fe:01 1048602                    /usr/bin/cat\n"
	"555555558000-555555559000 rw-p 00003000 fe:01 1048602                    /usr/bin/cat\n"
	"555555559000-55555557a000 rw-p 00000000 00:00 0                          [heap]\n"
	"7ffff7d80000-7ffff7d83000 rw-p 00000000 00:00 0 \n"
	"7ffff7d90000-7ffff7d91000 rw-s 00000000 00:01 77                         /memfd:x (deleted)\n"
	"7ffff7da0000-7ffff7da1000 r-xp 00001000 fe:01 42                         /opt/a dir/lib x.so\n"
	"7ffff7fc1000-7ffff7fc5000 r--p 00000000 00:00 0                          [vvar]\n"
	"7ffff7fc5000-7ffff7fc7000 r-xp 00000000 00:00 0                          [vdso]\n"
	"7ffff7fd0000-7ffff7fd1000 rw-p 00000000 00:00 0                          [anon:jemalloc]\n"
	"7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0                          [stack]\n"
	"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]";

static void test_sample(void)
{
	struct proc_maps m;
	const struct proc_vma *v;

	CHECK_EQ(proc_maps_parse(sample, strlen(sample), &m), 0);
	CHECK_EQ(m.n, 11);
	v = &m.vma[1];
	CHECK_EQ(v->start, 0x555555558000ULL);
	CHECK_EQ(v->end, 0x555555559000ULL);
	CHECK_EQ(v->offset, 0x3000);
	CHECK_EQ(v->prot, PROT_READ | PROT_WRITE);
	CHECK(!v->shared);
	CHECK_EQ(v->kind, PROC_VMA_FILE);
	CHECK(!strcmp(v->path, "/usr/bin/cat"));
	CHECK(proc_vma_is_tracked_kind(v));

	CHECK_EQ(m.vma[0].prot, PROT_READ);
	CHECK(proc_vma_is_tracked_kind(&m.vma[0]));       /* read-only data */
	CHECK_EQ(m.vma[2].kind, PROC_VMA_HEAP);
	CHECK_EQ(m.vma[3].kind, PROC_VMA_ANON);
	CHECK(!strcmp(m.vma[3].path, ""));
	CHECK(proc_vma_is_tracked_kind(&m.vma[3]));
	CHECK(m.vma[4].shared);
	CHECK(!strcmp(m.vma[4].path, "/memfd:x (deleted)"));
	CHECK(!proc_vma_is_tracked_kind(&m.vma[4]));
	CHECK(!strcmp(m.vma[5].path, "/opt/a dir/lib x.so"));
	CHECK_EQ(m.vma[5].prot, PROT_READ | PROT_EXEC);
	CHECK_EQ(m.vma[6].kind, PROC_VMA_VDSO);
	CHECK_EQ(m.vma[7].kind, PROC_VMA_VDSO);
	CHECK_EQ(m.vma[8].kind, PROC_VMA_OTHER);
	CHECK(proc_vma_is_tracked_kind(&m.vma[8]));
	CHECK_EQ(m.vma[9].kind, PROC_VMA_STACK);
	CHECK_EQ(m.vma[10].kind, PROC_VMA_VDSO);
	CHECK_EQ(m.vma[10].prot, PROT_EXEC);

	CHECK_EQ(proc_maps_find(&m, 0x555555558fffULL), 1);
	CHECK_EQ(proc_maps_find(&m, 0x555555556000ULL), -1);
	CHECK_EQ(proc_maps_find(&m, 0x7ffffffdeffeULL), 9);
	CHECK_EQ(proc_maps_find(&m, 0), -1);
	proc_maps_free(&m);
	CHECK_EQ(m.n, 0);
	proc_maps_free(NULL);
}

static void test_malformed(void)
{
	static const char *bad[] = {
		"5000-4000 rw-p 00000000 00:00 0\n",            /* end < start */
		"4000-5000 rw-q 00000000 00:00 0\n",            /* perms */
		"4000 rw-p 00000000 00:00 0\n",                 /* no end */
		"4000-5000 rw-p 0000zz00 00:00 0\n",            /* offset */
		"4000-5000 rw-p 00000000\n",                    /* truncated */
		"4000-5000 rw-p 00000000 00:00 0\nnonsense\n",  /* second line */
		"10000000000000000-10000000000001000 rw-p 0 00:00 0\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct proc_maps m;

		CHECK_EQ(proc_maps_parse(bad[i], strlen(bad[i]), &m), -EINVAL);
		CHECK_EQ(m.n, 0);
		CHECK(m.vma == NULL);
	}
}

/* The live file, and find against the naive search over it. */
static void test_self(void)
{
	struct proc_maps m;
	uint64_t probe[] = { (uintptr_t)&test_self, (uintptr_t)sample,
			     (uintptr_t)&m, 0x1000, ~0ULL };

	CHECK_EQ(proc_maps_read(getpid(), &m), 0);
	CHECK(m.n > 5);
	for (size_t i = 1; i < m.n; i++)
		CHECK(m.vma[i].start >= m.vma[i - 1].end);
	for (size_t k = 0; k < sizeof(probe) / sizeof(probe[0]); k++) {
		ssize_t naive = -1;

		for (size_t i = 0; i < m.n; i++)
			if (probe[k] >= m.vma[i].start && probe[k] < m.vma[i].end)
				naive = (ssize_t)i;
		CHECK_EQ(proc_maps_find(&m, probe[k]), naive);
	}
	CHECK(proc_maps_find(&m, (uintptr_t)&test_self) >= 0);
	proc_maps_free(&m);
}

int main(void)
{
	test_sample();
	test_malformed();
	test_self();
	return 0;
}
