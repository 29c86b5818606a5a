// SPDX-License-Identifier: MIT
/*
 * proc-inject and proc-stop on one proc-twin: every system call the
 * process backend injects (mmap, mremap, mprotect, munmap, dup3, close,
 * brk) run in each of its three stopped threads (one blocked in read(),
 * one in poll(), the main one in read()), checked from outside
 * (/proc/PID/maps, /proc/PID/fd) and by their -errno results, through
 * the instruction the thread stopped after and through one found in the
 * vDSO; after each
 * resume every thread still answers, its interrupted call restarted. A
 * signal sent while the program is held is delivered once it runs, and
 * one that reaches a thread while a call runs in it is delivered once,
 * after the resume.
 *
 *   test-proc-inject /abs/path/proc-twin
 */
#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "log.h"
#include "proc-inject.h"
#include "proc-maps.h"
#include "proc-stop.h"
#include "tap.h"
#include "twin-launch.h"

#define PAGE 4096

enum { MAIN, READER, POLLER, NCHANNELS };

static pid_t pid;
static int to[NCHANNELS], from[NCHANNELS];
static struct proc_stop ps;

static void ask(int c, const char *q, char *answer, size_t cap)
{
	size_t n = 0;

	CHECK(write(to[c], q, strlen(q)) == (ssize_t)strlen(q));
	CHECK(write(to[c], "\n", 1) == 1);
	for (;;) {
		CHECK(twin_wait_readable(from[c], ps.thread ? &ps : NULL,
					 10000));
		CHECK(read(from[c], answer + n, 1) == 1);
		if (answer[n] == '\n')
			break;
		CHECK(++n < cap);
	}
	answer[n] = '\0';
}

/* Every thread answers: none was left broken by what ran in it. */
static void all_answer(const char *tag)
{
	char a[256];

	ask(MAIN, "state", a, sizeof(a));
	CHECK(!strncmp(a, "seed ", 5));
	ask(READER, tag, a, sizeof(a));
	CHECK(!strncmp(a, "reader ", 7) && strstr(a, tag));
	ask(POLLER, tag, a, sizeof(a));
	CHECK(!strncmp(a, "poller ", 7) && strstr(a, tag));
}

static bool has_fd(int fd)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	return stat(path, &st) == 0;
}

/* The VMA at addr in the program now, or a zeroed one. */
static struct proc_vma vma_at(uint64_t addr)
{
	struct proc_vma v = { 0 };
	struct proc_maps m;
	ssize_t i;

	CHECK_EQ(proc_maps_read(pid, &m), 0);
	i = proc_maps_find(&m, addr);
	if (i >= 0) {
		v = m.vma[i];
		v.path = NULL;
	}
	proc_maps_free(&m);
	return v;
}

static void exercise(struct proc_inject *in)
{
	int64_t addr, moved, brk0;
	struct proc_vma v;

	addr = proc_inject_mmap(in, 0, 2 * PAGE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(addr > 0 && addr % PAGE == 0);
	v = vma_at((uint64_t)addr);
	CHECK_EQ(v.prot, PROT_READ | PROT_WRITE);
	moved = proc_inject_mremap(in, (uint64_t)addr, 2 * PAGE, 64 * PAGE,
				   MREMAP_MAYMOVE, 0);
	CHECK(moved > 0);
	v = vma_at((uint64_t)moved);
	CHECK(v.end - (uint64_t)moved >= 64 * PAGE);
	CHECK_EQ(proc_inject_mprotect(in, (uint64_t)moved, PAGE, PROT_READ),
		 0);
	CHECK_EQ(vma_at((uint64_t)moved).prot, PROT_READ);
	CHECK_EQ(proc_inject_munmap(in, (uint64_t)moved, 64 * PAGE), 0);
	CHECK_EQ(vma_at((uint64_t)moved).start, 0);
	CHECK_EQ(proc_inject_munmap(in, (uint64_t)moved + 1, PAGE), -EINVAL);

	CHECK(!has_fd(40));
	CHECK_EQ(proc_inject_dup3(in, 4, 40, O_CLOEXEC), 40);
	CHECK(has_fd(40));
	CHECK_EQ(proc_inject_close(in, 40), 0);
	CHECK(!has_fd(40));
	CHECK_EQ(proc_inject_close(in, 40), -EBADF);
	CHECK_EQ(proc_inject_dup3(in, 4, 4, 0), -EINVAL);

	/* brk(0) answers the break; growing it by a page and back. */
	brk0 = proc_inject_brk(in, 0);
	CHECK(brk0 > 0);
	CHECK_EQ(proc_inject_brk(in, (uint64_t)brk0 + PAGE),
		 brk0 + PAGE);
	CHECK_EQ(proc_inject_brk(in, (uint64_t)brk0), brk0);
}

int main(int argc, char **argv)
{
	char *args[] = { argc > 1 ? argv[1] : NULL, NULL };
	int theirs[2 * NCHANNELS];
	char a[256], usr1_before[256];

	log_init("test-proc-inject", LOG_LVL_INFO);
	if (argc != 2)
		SKIP("usage: test-proc-inject /path/to/proc-twin");
	if (geteuid() != 0)
		SKIP("needs root (namespaces, ptrace)");
	for (int c = 0; c < NCHANNELS; c++) {
		int in[2], out[2];

		CHECK(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0);
		to[c] = in[1];
		from[c] = out[0];
		theirs[2 * c] = in[0];
		theirs[2 * c + 1] = out[1];
	}
	pid = twin_launch(args, theirs, 2 * NCHANNELS);
	for (int i = 0; i < 2 * NCHANNELS; i++)
		close(theirs[i]);
	CHECK(twin_wait_readable(from[MAIN], NULL, 10000));
	CHECK(read(from[MAIN], a, 6) == 6 && !memcmp(a, "ready\n", 6));
	ask(MAIN, "threads", a, sizeof(a));
	CHECK_EQ(proc_stop_seize(&ps, pid), 0);
	CHECK_EQ(ps.n, 3);
	all_answer("seized");

	for (size_t t = 0; t < 3; t++) {
		struct proc_inject in;
		char tag[16];

		CHECK_EQ(proc_stop_interrupt(&ps, 5000), 0);
		proc_stop_sort(&ps);
		CHECK_EQ(proc_inject_init(&in, &ps, ps.thread[t].tid), 0);
		exercise(&in);
		CHECK_EQ(proc_stop_resume(&ps), 0);
		snprintf(tag, sizeof(tag), "after-%zu", t);
		all_answer(tag);
	}

	/* Through a syscall instruction found in the vDSO rather than the
	 * one the thread stopped after. */
	{
		struct proc_inject in;
		uint64_t vdso = proc_inject_find_syscall(pid);
		struct proc_maps m;
		ssize_t i;

		CHECK(vdso != 0);
		CHECK_EQ(proc_maps_read(pid, &m), 0);
		i = proc_maps_find(&m, vdso);
		CHECK(i >= 0 && !strcmp(m.vma[i].path, "[vdso]"));
		proc_maps_free(&m);
		CHECK_EQ(proc_stop_interrupt(&ps, 5000), 0);
		CHECK_EQ(proc_inject_init(&in, &ps, ps.thread[1].tid), 0);
		CHECK(in.syscall_insn != vdso);
		in.syscall_insn = vdso;
		exercise(&in);
		CHECK_EQ(proc_stop_resume(&ps), 0);
		all_answer("vdso");
	}

	/* A thread that is not held cannot run anything. */
	{
		struct proc_inject in;

		CHECK_EQ(proc_inject_init(&in, &ps, ps.thread[0].tid), -ESRCH);
	}

	/* A signal sent while held waits for the resume, then arrives. */
	ask(MAIN, "state", usr1_before, sizeof(usr1_before));
	CHECK(strstr(usr1_before, "usr1 0 "));
	CHECK_EQ(proc_stop_interrupt(&ps, 5000), 0);
	CHECK(kill(pid, SIGUSR1) == 0);
	usleep(20000);
	CHECK_EQ(proc_stop_resume(&ps), 0);
	for (int tries = 0; tries < 200; tries++) {
		ask(MAIN, "state", a, sizeof(a));
		if (strstr(a, "usr1 1 "))
			break;
		usleep(5000);
	}
	CHECK(strstr(a, "usr1 1 "));

	/* One that reaches a thread while a call runs in it: caught by the
	 * single step, deferred, delivered once at the resume. */
	CHECK_EQ(proc_stop_interrupt(&ps, 5000), 0);
	proc_stop_sort(&ps);
	CHECK(syscall(SYS_tgkill, pid, ps.thread[0].tid, SIGUSR1) == 0);
	usleep(20000);
	{
		struct proc_inject in;

		CHECK_EQ(proc_inject_init(&in, &ps, ps.thread[0].tid), 0);
		CHECK_EQ(proc_inject_close(&in, 40), -EBADF);
		CHECK(ps.thread[0].deferred == 1ULL << (SIGUSR1 - 1));
	}
	CHECK_EQ(proc_stop_resume(&ps), 0);
	for (int tries = 0; tries < 200; tries++) {
		ask(MAIN, "state", a, sizeof(a));
		if (strstr(a, "usr1 2 "))
			break;
		usleep(5000);
	}
	CHECK(strstr(a, "usr1 2 "));
	usleep(20000);
	ask(MAIN, "state", a, sizeof(a));
	CHECK(strstr(a, "usr1 2 "));            /* once, not twice */

	proc_stop_detach(&ps);
	all_answer("detached");
	twin_kill(pid);
	return 0;
}
