// SPDX-License-Identifier: MIT
/*
 * Fuzz target for proc_image_decode (common/proc/proc-image-wire.h): the
 * input is an encoded process image. Beyond crashes it checks that a
 * refused input leaves nothing behind and says why, that an accepted one
 * keeps what apply relies on (runs aligned, in order, apart; input at
 * least the unconsumed bytes; a delta's present ranges aligned, in order,
 * not touching, each run inside one), and that it is the one spelling of its
 * image: encoding it gives the input back, which decodes again.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proc-image-wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_accepted(const struct proc_image *img)
{
	uint64_t end = 0;

	for (size_t i = 0; i < img->n_runs; i++) {
		const struct proc_image_run *run = &img->runs[i];

		if (run->addr % 4096 || run->addr < end || !run->pages ||
		    !run->data)
			abort();
		end = run->addr + run->pages * 4096;
	}
	for (size_t i = 0; i < img->n_conns; i++) {
		const struct proc_image_conn *c = &img->conns[i];

		if (c->input && c->input_len < c->unconsumed)
			abort();
		if (!proc_fds_find(&img->fds, c->fd))
			abort();
	}
	if (!img->delta && img->n_present)
		abort();
	end = 0;
	for (size_t i = 0, k = 0; i < img->n_present; i++) {
		const struct proc_image_range *p = &img->present[i];

		if (p->addr % 4096 || !p->pages || (i && p->addr <= end))
			abort();
		end = p->addr + p->pages * 4096;
		for (; k < img->n_runs && img->runs[k].addr < end; k++)
			if (img->runs[k].addr < p->addr ||
			    img->runs[k].addr + img->runs[k].pages * 4096 > end)
				abort();
		if (i == img->n_present - 1 && k != img->n_runs)
			abort();
	}
	if (img->delta && !img->n_present && img->n_runs)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proc_image img, again;
	char why[160] = "";
	uint8_t *buf;
	size_t len;

	if (proc_image_decode(data, size, &img, why, sizeof(why))) {
		if (!why[0] || img.maps.n || img.n_runs || img.n_threads ||
		    img.fds.n || img.n_conns || img.n_present)
			abort();
		return 0;
	}
	check_accepted(&img);
	if (proc_image_encode(&img, &buf, &len))
		abort();
	if (len != size || memcmp(buf, data, size))
		abort();
	if (proc_image_decode(buf, len, &again, NULL, 0))
		abort();
	proc_image_free(&again);
	proc_image_free(&img);
	free(buf);
	return 0;
}
