/* SPDX-License-Identifier: MIT */
/* Reading a drill's acknowledged writes back (drill-check.c). */
#ifndef COLO_DRILL_CHECK_H
#define COLO_DRILL_CHECK_H

#include <stdint.h>

#include "drill-writer.h"

struct drill_check {
	long long counter;            /* GET drill:counter, -1 unreadable */
	uint64_t lost_incrs;          /* acknowledged INCR replies > counter */
	uint64_t sets_checked, lost_sets;
	char first_lost[256];         /* the first lost SET, for the report */
	char error[256];              /* why the check could not finish */
};

/* Check w's acknowledged writes against service (HOST:PORT); 0 when the
 * check ran (look at lost_*), -errno when it could not. */
int drill_check(const char *service, const struct writer *w,
		struct drill_check *out);

#endif
