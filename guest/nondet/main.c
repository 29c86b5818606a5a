// SPDX-License-Identifier: MIT
/*
 * colo-nondet: a guest that breaks the rules on purpose. For every line it
 * receives it answers "<counter> <random>\n", the random part from
 * getrandom(), so the PVM's and the SVM's output never match and every
 * reply forces a checkpoint. The counter lives in guest RAM: after a
 * checkpoint both sides count on from the same value.
 *
 * Each reply ends with "pvm" or "svm": which copy wrote it (a copy started
 * from a checkpoint is the SVM). Clients must only ever see "pvm" (I5); the
 * tag is process state, not guest RAM, so checkpoints do not carry it.
 */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "colo-guest.h"
#include "log.h"

struct nondet_root {
	uint64_t counter;
};

static void on_data(struct colo_guest *g, void *app, uint32_t conn,
		    const uint8_t *data, size_t len)
{
	struct nondet_root *root = app;
	char line[64];
	uint64_t rnd;
	int n;

	for (size_t i = 0; i < len; i++) {
		if (data[i] != '\n')
			continue;
		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			rnd = 0;
		n = snprintf(line, sizeof(line), "%llu %llu %s\n",
			     (unsigned long long)++root->counter,
			     (unsigned long long)rnd,
			     colo_guest_resumed(g) ? "svm" : "pvm");
		colo_send(g, conn, line, (size_t)n);
	}
}

int main(void)
{
	static const struct colo_guest_ops ops = { .on_data = on_data };
	struct colo_guest *g;
	struct nondet_root *root;
	int err;

	log_init("colo-nondet", LOG_LVL_INFO);
	g = colo_guest_init();
	if (!g)
		return 1;
	if (colo_guest_resumed(g)) {
		root = colo_guest_root(g);
	} else {
		root = colo_calloc(g, 1, sizeof(*root));
		if (!root) {
			log_error("colo-nondet: out of guest RAM");
			colo_guest_free(g);
			return 1;
		}
		colo_guest_set_root(g, root);
	}
	err = colo_guest_run(g, &ops, root);
	colo_guest_free(g);
	return err ? 1 : 0;
}
