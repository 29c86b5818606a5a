// SPDX-License-Identifier: MIT
/*
 * Fuzz target for proc_tcp_parse (common/proc/proc-fds.h): the input is
 * parsed as /proc/PID/net/tcp, then appended to as tcp6, as capture
 * does. Beyond crashes it checks that a refused text leaves the table as
 * it was, and that every socket parsed has the family of its file and no
 * more sockets than lines were added.
 */
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "proc-fds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int family[2] = { AF_INET, AF_INET6 };
	struct proc_tcp_table t = { NULL, 0 };
	size_t lines = 1;

	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	for (int f = 0; f < 2; f++) {
		size_t before = t.n;
		int r = proc_tcp_parse((const char *)data, size, family[f], &t);

		if (r && t.n != before)
			abort();
		if (!r && t.n - before >= lines)        /* the header is one */
			abort();
		for (size_t i = before; i < t.n; i++)
			if (t.s[i].local.family != family[f] ||
			    t.s[i].remote.family != family[f])
				abort();
	}
	proc_tcp_table_free(&t);
	return 0;
}
