/* SPDX-License-Identifier: MIT */
/*
 * A stopped thread's registers and signal mask: what a twin's thread of the
 * same id needs to continue exactly where this one stopped. x86-64 only:
 * the general registers (NT_PRSTATUS, FS/GS base included) and the xstate
 * (NT_X86_XSTATE: x87, SSE, AVX, AVX-512...), which only means the same
 * thing on a CPU with the same features (checked at hello).
 *
 * Every call needs the thread held stopped by the calling thread
 * (proc-stop.h).
 */
#ifndef COLO_PROC_REGS_H
#define COLO_PROC_REGS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

#include "proc-stop.h"

/* Larger than any xstate area the kernel reports today (AMX: ~11 KiB). */
#define PROC_XSTATE_MAX 16384

struct proc_regs {
	struct user_regs_struct gp;
	uint64_t sigmask;               /* blocked signals, bit n-1 = signal n */
	size_t xstate_len;              /* as the kernel filled it */
	uint8_t xstate[PROC_XSTATE_MAX];
};

/* 0 or -errno (logged with the thread id and the request). */
int proc_regs_get(pid_t tid, struct proc_regs *r);
int proc_regs_set(pid_t tid, const struct proc_regs *r);

/* Only the general registers, for callers that change a few of them. */
int proc_regs_get_gp(pid_t tid, struct user_regs_struct *gp);
int proc_regs_set_gp(pid_t tid, const struct user_regs_struct *gp);

/*
 * Gives every thread of dst the registers and mask of the thread of src
 * with the same id in its own PID namespace (ns_tid). Both held stopped.
 * -ESRCH (logged, naming the first thread found on one side only) when
 * the thread sets differ: nothing is changed then.
 *
 * A thread stopped in a system call restarts it in dst. One that the
 * kernel restarts through restart_syscall (a timed poll, nanosleep or
 * futex wait: rax -ERESTART_RESTARTBLOCK) restarts dst's own pending
 * call instead, with dst's remaining time: the same call when the twins
 * stopped their threads at the same place, as a program at rest does.
 */
int proc_regs_copy_threads(struct proc_stop *src, struct proc_stop *dst);

#endif
