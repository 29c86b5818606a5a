// SPDX-License-Identifier: MIT
#include <errno.h>
#include <linux/ptrace.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/user.h>

#include "log.h"
#include "proc-image.h"
#include "proc-inject.h"
#include "proc-regs.h"
#include "proc-rseq.h"
#include "proc-stop.h"

/* <linux/rseq.h>: the flag that unregisters. */
#define RSEQ_FLAG_UNREGISTER 1

/* glibc's <sys/ptrace.h> and <linux/ptrace.h> do not mix: the call by
 * number. */
long ptrace(int request, ...);

static int rseq_call(struct proc_stop *twin, pid_t tid, uint64_t area,
		     uint32_t size, int flags, uint32_t sig)
{
	const uint64_t args[6] = { area, size, (uint64_t)flags, sig, 0, 0 };
	struct proc_inject in;
	int64_t ret;
	int r;

	r = proc_inject_init(&in, twin, tid);
	if (r == 0)
		r = proc_inject_syscall(&in, SYS_rseq, args, &ret);
	if (r == 0 && ret < 0)
		r = (int)ret;
	if (r < 0)
		log_error("proc-rseq: thread %d: rseq(%#llx, %s): %s", (int)tid,
			  (unsigned long long)area,
			  flags ? "unregister" : "register", strerror(-r));
	return r;
}

int proc_rseq_unhook(struct proc_stop *twin, const struct proc_image *img,
		     struct proc_rseq_moves *moves)
{
	*moves = (struct proc_rseq_moves){ 0 };
	moves->m = calloc(img->n_threads + 1, sizeof(*moves->m));
	if (!moves->m)
		return -ENOMEM;
	for (size_t i = 0; i < img->n_threads; i++) {
		const struct proc_image_thread *t = &img->threads[i];
		struct proc_thread *tw = proc_stop_find_ns(twin, t->ns_tid);
		struct ptrace_rseq_configuration rc = { 0 };
		struct user_regs_struct gp;
		uint64_t to;
		int r;

		if (!tw)
			continue;       /* check_threads refused it already */
		if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, tw->tid,
			   (void *)sizeof(rc), &rc) < 0 || !rc.rseq_abi_pointer)
			continue;       /* none (yet): nothing to move */
		r = proc_regs_get_gp(tw->tid, &gp);
		if (r < 0)
			return r;
		to = t->regs->gp.fs_base + (rc.rseq_abi_pointer - gp.fs_base);
		if (to == rc.rseq_abi_pointer)
			continue;
		r = rseq_call(twin, tw->tid, rc.rseq_abi_pointer,
			      rc.rseq_abi_size, RSEQ_FLAG_UNREGISTER,
			      rc.signature);
		if (r < 0)
			return r;
		log_info("proc-rseq: thread %d's rseq area moves from %#llx "
			 "to %#llx with its thread pointer", (int)tw->tid,
			 (unsigned long long)rc.rseq_abi_pointer,
			 (unsigned long long)to);
		moves->m[moves->n++] = (struct proc_rseq_move){
			.tid = tw->tid, .to = to, .size = rc.rseq_abi_size,
			.sig = rc.signature,
		};
	}
	return 0;
}

int proc_rseq_rehook(struct proc_stop *twin, struct proc_rseq_moves *moves)
{
	int r = 0;

	for (size_t i = 0; i < moves->n && r == 0; i++)
		r = rseq_call(twin, moves->m[i].tid, moves->m[i].to,
			      moves->m[i].size, 0, moves->m[i].sig);
	free(moves->m);
	*moves = (struct proc_rseq_moves){ 0 };
	return r;
}
