/* SPDX-License-Identifier: MIT */
/*
 * System calls run inside a stopped program, by one of its threads: to
 * change what only the program itself can change (its memory map, its
 * descriptors). x86-64 only.
 *
 * The thread's registers are saved, its instruction pointer set to a
 * `syscall` instruction found in the program (the one it stopped after,
 * else one in the vDSO or in its executable mappings), the call's number
 * and arguments loaded, one instruction single-stepped, the result read
 * and the registers restored: the thread resumes later exactly as if
 * nothing had run (a system call it was stopped in is restarted).
 *
 * The thread must be held stopped by the calling thread (proc-stop.h) and
 * stays so. A signal that reaches it meanwhile is deferred to its resume.
 */
#ifndef COLO_PROC_INJECT_H
#define COLO_PROC_INJECT_H

#include <stdint.h>
#include <sys/types.h>

#include "proc-stop.h"

struct proc_inject {
	struct proc_stop *ps;
	pid_t tid;                      /* the thread that runs the calls */
	uint64_t syscall_insn;          /* address of a `syscall` (0f 05) */
};

/*
 * Picks the thread and finds a syscall instruction for it. 0, -ESRCH (not
 * a held thread), -ENOENT (no syscall instruction found), other -errno.
 */
int proc_inject_init(struct proc_inject *in, struct proc_stop *ps, pid_t tid);

/*
 * The address of a `syscall` instruction in pid's [vdso], else in one of
 * its executable file mappings; 0 if none. proc_inject_init uses it for a
 * thread that did not stop right after a system call.
 */
uint64_t proc_inject_find_syscall(pid_t pid);

/*
 * Runs system call nr with args in the thread. Returns 0 and the call's
 * own result in *ret (-errno when it failed, as the kernel returns it),
 * or -errno when ptrace failed (logged; the thread's registers are then
 * restored if it still exists).
 */
int proc_inject_syscall(struct proc_inject *in, long nr,
			const uint64_t args[6], int64_t *ret);

/*
 * The calls the process backend needs. Each returns what the system call
 * returns (an address, a descriptor, 0), or -errno from the call or from
 * ptrace.
 */
int64_t proc_inject_mmap(struct proc_inject *in, uint64_t addr, uint64_t len,
			 int prot, int flags, int fd, uint64_t offset);
int64_t proc_inject_munmap(struct proc_inject *in, uint64_t addr,
			   uint64_t len);
int64_t proc_inject_mprotect(struct proc_inject *in, uint64_t addr,
			     uint64_t len, int prot);
int64_t proc_inject_mremap(struct proc_inject *in, uint64_t old_addr,
			   uint64_t old_len, uint64_t new_len, int flags,
			   uint64_t new_addr);
/* The new program break, which is the old one when the kernel refused. */
int64_t proc_inject_brk(struct proc_inject *in, uint64_t addr);
int64_t proc_inject_close(struct proc_inject *in, int fd);
/* lseek(fd, offset, SEEK_SET): the new offset. */
int64_t proc_inject_lseek(struct proc_inject *in, int fd, uint64_t offset);
int64_t proc_inject_dup3(struct proc_inject *in, int oldfd, int newfd,
			 int flags);
/* A new fd for the oldest pending connection of the listening fd. */
int64_t proc_inject_accept4(struct proc_inject *in, int fd, int flags);
/*
 * epoll_ctl(epfd, op, fd, event_addr): the struct epoll_event is read
 * from the program's memory at event_addr (0 for EPOLL_CTL_DEL), so the
 * caller writes it there first (proc-image: below the red zone of the
 * injecting thread's stack).
 */
int64_t proc_inject_epoll_ctl(struct proc_inject *in, int epfd, int op,
			      int fd, uint64_t event_addr);

#endif
