// SPDX-License-Identifier: MIT
/*
 * tiny-guest: a guest built outside the colo tree, against the installed
 * libcolo-guest only (its header and colo-guest.pc), as a third party
 * would build one. It answers each line with "ECHO <n> <line>", n counting
 * the lines served, kept in guest RAM so that a checkpoint carries it.
 */
#include <colo-guest.h>

#include <stdio.h>
#include <string.h>

struct tiny_root {
	uint64_t lines;
};

static void on_data(struct colo_guest *g, void *app, uint32_t conn,
		    const uint8_t *data, size_t len)
{
	struct tiny_root *root = app;
	size_t start = 0;
	char head[32];
	int n;

	/* Lines split across reads are answered in parts: fine for a test
	 * client that sends one short line at a time. */
	for (size_t i = 0; i < len; i++) {
		if (data[i] != '\n')
			continue;
		n = snprintf(head, sizeof(head), "ECHO %llu ",
			     (unsigned long long)++root->lines);
		colo_send(g, conn, head, (size_t)n);
		colo_send(g, conn, data + start, i + 1 - start);
		start = i + 1;
	}
}

int main(void)
{
	static const struct colo_guest_ops ops = { .on_data = on_data };
	struct colo_guest *g = colo_guest_init();
	struct tiny_root *root;
	int err;

	if (!g)
		return 1;
	root = colo_guest_root(g);
	if (!colo_guest_resumed(g)) {
		root = colo_calloc(g, 1, sizeof(*root));
		if (!root) {
			fputs("tiny-guest: out of guest RAM\n", stderr);
			colo_guest_free(g);
			return 1;
		}
		colo_guest_set_root(g, root);
	}
	err = colo_guest_run(g, &ops, root);
	colo_guest_free(g);
	return err ? 1 : 0;
}
