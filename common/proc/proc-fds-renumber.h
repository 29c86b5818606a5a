/* SPDX-License-Identifier: MIT */
/*
 * Private to proc-fds-diff.c and proc-fds-renumber.c: the first part of
 * proc_fds_diff, which gives the SVM's own objects the PVM's fd numbers.
 */
#ifndef COLO_PROC_FDS_RENUMBER_H
#define COLO_PROC_FDS_RENUMBER_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "proc-fds.h"

static inline bool proc_tcp_end_same(const struct proc_tcp_end *x,
				     const struct proc_tcp_end *y)
{
	return x->family == y->family && x->port == y->port &&
	       !memcmp(x->addr, y->addr, sizeof(x->addr));
}

/* An action list being built; err sticks at the first -ENOMEM. */
struct proc_fd_builder {
	struct proc_fd_actions *out;
	size_t cap;
	int err;
};

/* A zeroed action of kind on fd appended, or NULL (b->err set). */
struct proc_fd_action *proc_fd_builder_push(struct proc_fd_builder *b,
					    enum proc_fd_action_kind kind,
					    int fd);

/*
 * Appends to b the epoll DELs and MOVEs that renumber svm's fds (the
 * rules are proc-fds.h's, at proc_fds_diff), and sets *after to svm as it
 * will be once they ran: fds at their new numbers, in order, the moved
 * fds out of every interest list. after borrows svm's targets; free it
 * with proc_fds_renumbered_free. 0 or -ENOMEM.
 */
int proc_fds_renumber(struct proc_fd_builder *b,
		      const struct proc_fd_table *pvm,
		      const struct proc_fd_table *svm,
		      struct proc_fd_table *after);

void proc_fds_renumbered_free(struct proc_fd_table *after);

#endif
