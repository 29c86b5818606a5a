// SPDX-License-Identifier: MIT
/*
 * Fuzz target for proc_maps_parse (common/proc/proc-maps.h): the input is
 * a /proc/PID/maps text. Beyond crashes it checks what proc-track relies
 * on: a parsed VMA is a non-empty range, its protections are only
 * read/write/exec, its name is a string that came from the input, and a
 * refused text leaves nothing behind.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "proc-maps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proc_maps m;
	int r = proc_maps_parse((const char *)data, size, &m);

	if (r) {
		if (m.n || m.vma)
			abort();
		return 0;
	}
	for (size_t i = 0; i < m.n; i++) {
		const struct proc_vma *v = &m.vma[i];

		if (v->start >= v->end || !v->path || strlen(v->path) > size)
			abort();
		if (v->prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC))
			abort();
		if (v->kind == PROC_VMA_FILE && v->path[0] == '[')
			abort();
	}
	proc_maps_free(&m);
	return 0;
}
