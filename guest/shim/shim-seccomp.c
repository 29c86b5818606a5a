// SPDX-License-Identifier: MIT
/*
 * What a protected program may not do: make another process or become
 * another program. Its copy on the other host could not follow either
 * (the checkpoint copies one process), so both sides get the same error
 * instead: fork, vfork, clone without CLONE_THREAD, execve and execveat
 * fail with EPERM; clone3 with ENOSYS, so that glibc falls back to clone
 * (where the flags can be checked; clone3's are behind a pointer) and
 * threads still work.
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
	/* 6 */ JEQ(__NR_fork, 7, 0),
	/* 7 */ JEQ(__NR_vfork, 6, 0),
	/* 8 */ JEQ(__NR_execve, 5, 0),
	/* 9 */ JEQ(__NR_execveat, 4, 0),
	/* 10 */ JEQ(__NR_clone, 0, 2),
	/* 11: the low half of the flags, x86-64's first argument */
	/* 11 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			  offsetof(struct seccomp_data, args[0])),
	/* 12 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 0, 1),
	/* 13 */ RET(SECCOMP_RET_ALLOW),
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
