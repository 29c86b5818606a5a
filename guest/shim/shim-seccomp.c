// SPDX-License-Identifier: MIT
/*
 * What a protected program may not do: become another program, or make a
 * process that shares its memory without being one of its threads.
 *
 *   execve, execveat          EPERM: the checkpoint copies this program,
 *                             not another one
 *   vfork, clone with CLONE_VM
 *   but not CLONE_THREAD      EPERM: writes to the program's memory from
 *                             a process no checkpoint can stop
 *   clone3                    ENOSYS, so that glibc falls back to clone,
 *                             whose flags a filter can read (clone3's are
 *                             behind a pointer)
 *   fork, clone without
 *   CLONE_VM                  allowed: a child is a copy of its own, each
 *                             side's (BGSAVE's child works on the same
 *                             data on both hosts); checkpoints wait until
 *                             the program has none (proc-guest-children.c)
 *   clone with CLONE_THREAD   allowed: threads are followed (proc-stop)
 *
 * Both sides get the same answers, so the copies never diverge on them.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

#if !defined(__x86_64__)
#error "colo-shim's seccomp filter knows x86-64's system call numbers only"
#endif

#define RET(v)          BPF_STMT(BPF_RET | BPF_K, (v))
#define LOAD(field)     BPF_STMT(BPF_LD | BPF_W | BPF_ABS, \
				 offsetof(struct seccomp_data, field))
#define JEQ(k, t, f)    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (t), (f))
#define X32_SYSCALL_BIT 0x40000000u

/* Jump offsets count from the next instruction; the targets are at the end. */
static const struct sock_filter filter[] = {
	/* 0 */ LOAD(arch),
	/* 1 */ JEQ(AUDIT_ARCH_X86_64, 1, 0),
	/* 2 */ RET(SECCOMP_RET_KILL_PROCESS),   /* i386 entry: other numbers */
	/* 3 */ LOAD(nr),
	/* 4 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT, 10, 0),
	/* 5 */ JEQ(__NR_clone3, 9, 0),
	/* 6 */ JEQ(__NR_vfork, 7, 0),
	/* 7 */ JEQ(__NR_execve, 6, 0),
	/* 8 */ JEQ(__NR_execveat, 5, 0),
	/* 9 */ JEQ(__NR_clone, 0, 3),
	/* 10: the low half of the flags, x86-64's first argument */
	/* 10 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			  offsetof(struct seccomp_data, args[0])),
	/* 11 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 1, 0),
	/* 12 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_VM, 1, 0),
	/* 13 */ RET(SECCOMP_RET_ALLOW),  /* a thread, a fork, any other call */
	/* 14 */ RET(SECCOMP_RET_ERRNO | EPERM),
	/* 15 */ RET(SECCOMP_RET_ERRNO | ENOSYS),
};

int shim_seccomp_install(void)
{
	struct sock_fprog prog = {
		.len = sizeof(filter) / sizeof(filter[0]),
		.filter = (struct sock_filter *)filter,
	};

	/* Unprivileged filters need it; it also keeps setuid binaries out. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	/* TSYNC: a thread another constructor started gets it too. */
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
		    SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0)
		return errno ? -errno : -EBUSY;
	return 0;
}
