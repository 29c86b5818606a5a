// SPDX-License-Identifier: MIT
/*
 * Fuzz target for proc_fdinfo_parse (common/proc/proc-fds.h): the input
 * is a /proc/PID/fdinfo/N text. Beyond crashes it checks what capture
 * relies on: a refused text leaves nothing behind, and an accepted one
 * has no more epoll targets than lines, each a valid fd number, and
 * flags that open(2) could hold.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proc-fds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proc_fdinfo fi;
	size_t lines = 1;
	int r = proc_fdinfo_parse((const char *)data, size, &fi);

	if (r) {
		if (fi.items || fi.n_items || fi.has_count || fi.has_sigmask)
			abort();
		return 0;
	}
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	if (fi.n_items > lines || fi.flags < 0)
		abort();
	for (size_t i = 0; i < fi.n_items; i++)
		if (fi.items[i].tfd < 0)
			abort();
	proc_fdinfo_free(&fi);
	return 0;
}
