// SPDX-License-Identifier: MIT
/*
 * Fuzz target for proc_identity_decode (common/proc/proc-identity.h): the
 * input is a peer's identity as the hello carries it. Beyond crashes it
 * checks what the secondary relies on: a refused input leaves nothing
 * behind and says why, an accepted one keeps every bound (absolute paths,
 * no more files than allowed), and encoding it gives back the input's
 * bytes exactly, so no two encodings mean the same identity.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proc-identity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proc_identity id;
	char why[128] = "";
	uint8_t *again;
	size_t len;
	int r = proc_identity_decode(data, size, &id, why, sizeof(why));

	if (r) {
		if (r != -EPROTO || !why[0] || id.files || id.nfiles)
			abort();
		return 0;
	}
	if (id.nfiles > PROC_IDENTITY_MAX_FILES ||
	    strlen(id.kernel) >= sizeof(id.kernel) ||
	    strlen(id.machine) >= sizeof(id.machine))
		abort();
	for (size_t i = 0; i < id.nfiles; i++)
		if (id.files[i].path[0] != '/' ||
		    strlen(id.files[i].path) > PROC_IDENTITY_PATH_MAX)
			abort();
	if (proc_identity_encode(&id, &again, &len) || len != size ||
	    memcmp(again, data, size))
		abort();
	free(again);
	proc_identity_free(&id);
	return 0;
}
