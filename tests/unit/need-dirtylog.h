/* SPDX-License-Identifier: MIT */
/*
 * The one check of the tests that need the dirty log: exit 77 (meson's
 * SKIP) with dirtylog_probe's reason when the kernel lacks it (Linux < 6.7,
 * e.g. Debian 12's own 6.1) or refuses userfaultfd, so that a skip names
 * the running kernel instead of failing somewhere inside the test.
 */
#ifndef COLO_TEST_NEED_DIRTYLOG_H
#define COLO_TEST_NEED_DIRTYLOG_H

#include "dirtylog.h"
#include "tap.h"

static inline void test_require_dirtylog(void)
{
	char why[320];

	if (dirtylog_probe(why, sizeof(why)) < 0)
		SKIP("%s", why);
}

#endif
