/* SPDX-License-Identifier: MIT */
/*
 * svm.c's branch for an unmodified program (svm_use_exec): what each SVM
 * entry point does when the guest is a proc_guest. Only svm.c calls
 * these; svm.h is the component's API.
 */
#ifndef COLO_SECONDARY_SVM_EXEC_H
#define COLO_SECONDARY_SVM_EXEC_H

#include "svm.h"

int svm_exec_init(struct svm *v);
int svm_exec_start(struct svm *v);
void svm_exec_stop(struct svm *v);
bool svm_exec_running(const struct svm *v);
/* One event, already checked to be the next in order. */
int svm_exec_feed(struct svm *v, const struct proto_input *in);
int svm_exec_cache_add(struct svm *v, const struct proc_image *img);
void svm_exec_drop_cache(struct svm *v);
int svm_exec_apply(struct svm *v, const struct proc_image *img,
		   const uint32_t *conns, size_t nconns,
		   struct svm_image_digests *dg);

#endif
