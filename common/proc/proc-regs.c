// SPDX-License-Identifier: MIT
/*
 * Registers through PTRACE_GETREGSET/SETREGSET, signal masks through
 * PTRACE_GETSIGMASK/SETSIGMASK.
 *
 * A thread stopped inside a system call carries it in its registers:
 * orig_rax the call, rax the restart code (-ERESTARTSYS...). Copied as
 * they are, the twin's thread restarts the same call when resumed.
 */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>

#include "log.h"
#include "proc-regs.h"

static int regset(enum __ptrace_request req, pid_t tid, int type, void *buf,
		  size_t *len)
{
	struct iovec iov = { buf, *len };

	if (ptrace(req, tid, (void *)(long)type, &iov) < 0) {
		int r = -errno;

		log_error("%s %d (%s): %s",
			  req == PTRACE_GETREGSET ? "PTRACE_GETREGSET" :
						    "PTRACE_SETREGSET",
			  (int)tid, type == NT_PRSTATUS ? "NT_PRSTATUS" :
							  "NT_X86_XSTATE",
			  strerror(-r));
		return r;
	}
	*len = iov.iov_len;
	return 0;
}

int proc_regs_get_gp(pid_t tid, struct user_regs_struct *gp)
{
	size_t len = sizeof(*gp);

	return regset(PTRACE_GETREGSET, tid, NT_PRSTATUS, gp, &len);
}

int proc_regs_set_gp(pid_t tid, const struct user_regs_struct *gp)
{
	size_t len = sizeof(*gp);

	return regset(PTRACE_SETREGSET, tid, NT_PRSTATUS, (void *)gp, &len);
}

int proc_regs_get(pid_t tid, struct proc_regs *r)
{
	int e = proc_regs_get_gp(tid, &r->gp);

	if (e < 0)
		return e;
	r->xstate_len = sizeof(r->xstate);
	e = regset(PTRACE_GETREGSET, tid, NT_X86_XSTATE, r->xstate,
		   &r->xstate_len);
	if (e < 0)
		return e;
	if (ptrace(PTRACE_GETSIGMASK, tid, (void *)sizeof(r->sigmask),
		   &r->sigmask) < 0) {
		e = -errno;
		log_error("PTRACE_GETSIGMASK %d: %s", (int)tid, strerror(-e));
	}
	return e;
}

int proc_regs_set(pid_t tid, const struct proc_regs *r)
{
	size_t len = r->xstate_len;
	int e;

	/* The xstate first: its header says which parts the rest fills. */
	e = regset(PTRACE_SETREGSET, tid, NT_X86_XSTATE, (void *)r->xstate,
		   &len);
	if (e == 0)
		e = proc_regs_set_gp(tid, &r->gp);
	if (e == 0 && ptrace(PTRACE_SETSIGMASK, tid,
			     (void *)sizeof(r->sigmask), &r->sigmask) < 0) {
		e = -errno;
		log_error("PTRACE_SETSIGMASK %d: %s", (int)tid, strerror(-e));
	}
	return e;
}

/* The program's id of the first thread of a that b lacks, or 0. */
static pid_t missing_in(struct proc_stop *a, struct proc_stop *b)
{
	for (size_t i = 0; i < a->n; i++)
		if (!proc_stop_find_ns(b, a->thread[i].ns_tid))
			return a->thread[i].ns_tid;
	return 0;
}

int proc_regs_copy_threads(struct proc_stop *src, struct proc_stop *dst)
{
	struct proc_regs *r;
	pid_t only;
	int e = 0;

	only = missing_in(src, dst);
	if (only) {
		log_error("thread sets differ: thread %d of %d has no twin in %d",
			  (int)only, (int)src->pid, (int)dst->pid);
		return -ESRCH;
	}
	only = missing_in(dst, src);
	if (only) {
		log_error("thread sets differ: thread %d of %d has no twin in %d",
			  (int)only, (int)dst->pid, (int)src->pid);
		return -ESRCH;
	}
	r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (size_t i = 0; i < src->n && e == 0; i++) {
		const struct proc_thread *from = &src->thread[i];

		e = proc_regs_get(from->tid, r);
		if (e == 0)
			e = proc_regs_set(proc_stop_find_ns(dst, from->ns_tid)->tid,
					  r);
	}
	free(r);
	return e;
}
