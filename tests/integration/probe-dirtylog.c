// SPDX-License-Identifier: MIT
/*
 * probe-dirtylog: exit 0 when this kernel has the dirty log (see
 * dirtylog_probe), else print why and exit 77, for lib.sh's
 * require_dirtylog. Honours COLO_TEST_FAKE_OLD_KERNEL like the daemons.
 */
#include <stdio.h>

#include "dirtylog.h"

int main(void)
{
	char why[320];

	if (dirtylog_probe(why, sizeof(why)) == 0)
		return 0;
	printf("%s\n", why);
	return 77;
}
