// SPDX-License-Identifier: MIT
/*
 * How a call runs in the stopped thread:
 *
 *   held stop ──set regs: rip = syscall insn, rax = nr, orig_rax = -1──▶
 *   PTRACE_SINGLESTEP ──▶ the call runs ──▶ SIGTRAP stop at insn + 2
 *   ──read rax, restore the saved regs──▶ held stop (a SIGTRAP stop now,
 *   which the resume's PTRACE_CONT with signal 0 discards)
 *
 * orig_rax = -1 keeps the kernel from treating the stop as the end of an
 * interrupted call to restart (it would move rip back and reload rax);
 * the saved registers bring the thread's own restart back afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "proc-inject.h"
#include "proc-maps.h"
#include "proc-regs.h"

#define SYSCALL_INSN_0 0x0f
#define SYSCALL_INSN_1 0x05
#define MAX_STEPS 64            /* stray stops tolerated before giving up */

static bool is_syscall_at(int mem, uint64_t addr)
{
	uint8_t b[2];

	return pread(mem, b, 2, (off_t)addr) == 2 && b[0] == SYSCALL_INSN_0 &&
	       b[1] == SYSCALL_INSN_1;
}

/*
 * The first `syscall` in v, or 0. Any two bytes 0f 05 will do, even in
 * the middle of another instruction: only they are executed.
 */
static uint64_t scan_vma(int mem, const struct proc_vma *v)
{
	size_t len = (size_t)(v->end - v->start);
	uint64_t found = 0;
	uint8_t *buf;
	ssize_t n;

	if (len > (64u << 20))
		len = 64u << 20;
	buf = malloc(len);
	if (!buf)
		return 0;
	n = pread(mem, buf, len, (off_t)v->start);
	for (ssize_t i = 0; i + 1 < n; i++)
		if (buf[i] == SYSCALL_INSN_0 && buf[i + 1] == SYSCALL_INSN_1) {
			found = v->start + (uint64_t)i;
			break;
		}
	free(buf);
	return found;
}

/* The vDSO first (the same on every process), then executable files. */
uint64_t proc_inject_find_syscall(pid_t pid)
{
	struct proc_maps m;
	uint64_t found = 0;
	char path[64];
	int mem;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	mem = open(path, O_RDONLY | O_CLOEXEC);
	if (mem < 0) {
		log_error("open %s: %s", path, strerror(errno));
		return 0;
	}
	if (proc_maps_read(pid, &m) < 0) {
		close(mem);
		return 0;
	}
	for (size_t i = 0; i < m.n && !found; i++)
		if (!strcmp(m.vma[i].path, "[vdso]"))
			found = scan_vma(mem, &m.vma[i]);
	for (size_t i = 0; i < m.n && !found; i++)
		if ((m.vma[i].prot & PROT_EXEC) &&
		    m.vma[i].kind == PROC_VMA_FILE)
			found = scan_vma(mem, &m.vma[i]);
	proc_maps_free(&m);
	close(mem);
	return found;
}

int proc_inject_init(struct proc_inject *in, struct proc_stop *ps, pid_t tid)
{
	struct proc_thread *t = proc_stop_find(ps, tid);
	struct user_regs_struct gp;
	char path[64];
	int mem, r;

	if (!t || !t->stopped)
		return -ESRCH;
	*in = (struct proc_inject){ .ps = ps, .tid = tid };
	r = proc_regs_get_gp(tid, &gp);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)ps->pid);
	mem = open(path, O_RDONLY | O_CLOEXEC);
	if (mem < 0) {
		r = -errno;
		log_error("open %s: %s", path, strerror(-r));
		return r;
	}
	/* Stopped right after a system call, as a blocked thread is. */
	if (gp.rip >= 2 && is_syscall_at(mem, gp.rip - 2))
		in->syscall_insn = gp.rip - 2;
	close(mem);
	if (!in->syscall_insn)
		in->syscall_insn = proc_inject_find_syscall(ps->pid);
	if (!in->syscall_insn) {
		log_error("proc-inject: no syscall instruction in %d",
			  (int)ps->pid);
		return -ENOENT;
	}
	return 0;
}

/*
 * Steps the thread over the syscall instruction: returns once it has
 * stopped right after it, with its registers in *gp.
 */
static int step_over(struct proc_inject *in, struct user_regs_struct *gp)
{
	for (int steps = 0; steps < MAX_STEPS; steps++) {
		int status, r;

		if (ptrace(PTRACE_SINGLESTEP, in->tid, NULL, NULL) < 0)
			return -errno;
		if (waitpid(in->tid, &status, __WALL) < 0)
			return -errno;
		if (!WIFSTOPPED(status))
			return -ESRCH;          /* killed under us */
		r = proc_regs_get_gp(in->tid, gp);
		if (r < 0)
			return r;
		if (status >> 16 == PTRACE_EVENT_EXIT)
			return -ESRCH;
		if (gp->rip == in->syscall_insn + 2)
			return 0;
		/* Not there yet: a signal that arrived (kept for later), or
		 * a stale interrupt stop. Step again from where it was. */
		if (status >> 16 == 0 && WSTOPSIG(status) != SIGTRAP)
			proc_stop_defer(in->ps, in->tid, WSTOPSIG(status));
	}
	log_error("proc-inject: thread %d did not reach %#llx+2",
		  (int)in->tid, (unsigned long long)in->syscall_insn);
	return -EIO;
}

int proc_inject_syscall(struct proc_inject *in, long nr,
			const uint64_t args[6], int64_t *ret)
{
	struct user_regs_struct saved, gp;
	int r;

	r = proc_regs_get_gp(in->tid, &saved);
	if (r < 0)
		return r;
	gp = saved;
	gp.rip = in->syscall_insn;
	gp.rax = (unsigned long long)nr;
	gp.orig_rax = (unsigned long long)-1;
	gp.rdi = args[0];
	gp.rsi = args[1];
	gp.rdx = args[2];
	gp.r10 = args[3];
	gp.r8 = args[4];
	gp.r9 = args[5];
	r = proc_regs_set_gp(in->tid, &gp);
	if (r == 0)
		r = step_over(in, &gp);
	if (r < 0)
		log_error("proc-inject: system call %ld in thread %d: %s", nr,
			  (int)in->tid, strerror(-r));
	else
		*ret = (int64_t)gp.rax;
	if (r != -ESRCH) {
		int e = proc_regs_set_gp(in->tid, &saved);

		if (r == 0)
			r = e;
	}
	return r;
}

static int64_t call6(struct proc_inject *in, long nr, uint64_t a0,
		     uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
		     uint64_t a5)
{
	const uint64_t args[6] = { a0, a1, a2, a3, a4, a5 };
	int64_t ret;
	int r = proc_inject_syscall(in, nr, args, &ret);

	return r < 0 ? r : ret;
}

int64_t proc_inject_mmap(struct proc_inject *in, uint64_t addr, uint64_t len,
			 int prot, int flags, int fd, uint64_t offset)
{
	return call6(in, SYS_mmap, addr, len, (uint64_t)prot, (uint64_t)flags,
		     (uint64_t)(int64_t)fd, offset);
}

int64_t proc_inject_munmap(struct proc_inject *in, uint64_t addr,
			   uint64_t len)
{
	return call6(in, SYS_munmap, addr, len, 0, 0, 0, 0);
}

int64_t proc_inject_mprotect(struct proc_inject *in, uint64_t addr,
			     uint64_t len, int prot)
{
	return call6(in, SYS_mprotect, addr, len, (uint64_t)prot, 0, 0, 0);
}

int64_t proc_inject_mremap(struct proc_inject *in, uint64_t old_addr,
			   uint64_t old_len, uint64_t new_len, int flags,
			   uint64_t new_addr)
{
	return call6(in, SYS_mremap, old_addr, old_len, new_len,
		     (uint64_t)flags, new_addr, 0);
}

int64_t proc_inject_brk(struct proc_inject *in, uint64_t addr)
{
	return call6(in, SYS_brk, addr, 0, 0, 0, 0, 0);
}

int64_t proc_inject_close(struct proc_inject *in, int fd)
{
	return call6(in, SYS_close, (uint64_t)fd, 0, 0, 0, 0, 0);
}

int64_t proc_inject_lseek(struct proc_inject *in, int fd, uint64_t offset)
{
	return call6(in, SYS_lseek, (uint64_t)fd, offset, SEEK_SET, 0, 0, 0);
}

int64_t proc_inject_dup3(struct proc_inject *in, int oldfd, int newfd,
			 int flags)
{
	return call6(in, SYS_dup3, (uint64_t)oldfd, (uint64_t)newfd,
		     (uint64_t)flags, 0, 0, 0);
}

int64_t proc_inject_accept4(struct proc_inject *in, int fd, int flags)
{
	/* No peer address asked for: the caller asks the socket. */
	return call6(in, SYS_accept4, (uint64_t)fd, 0, 0, (uint64_t)flags, 0,
		     0);
}

int64_t proc_inject_epoll_ctl(struct proc_inject *in, int epfd, int op,
			      int fd, uint64_t event_addr)
{
	return call6(in, SYS_epoll_ctl, (uint64_t)epfd, (uint64_t)op,
		     (uint64_t)fd, event_addr, 0, 0);
}
