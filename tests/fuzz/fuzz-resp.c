// SPDX-License-Identifier: MIT
/*
 * Fuzz target for colo-kv's request parser: the input is what a client
 * sends, parsed command after command as a connection would. Beyond
 * crashes it checks what a caller relies on: a command consumes bytes it
 * was given, its arguments lie inside them, and any shorter prefix of a
 * command is "incomplete", never another command or an error (else the
 * answer would depend on how TCP split the stream).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parses data[0, len) and checks a result of 1; returns the result. */
static int parse(struct resp_cmd *c, const uint8_t *data, size_t len,
		 size_t *used)
{
	const char *err = NULL;
	int r = resp_parse(c, data, len, used, &err);

	if (r == 1) {
		if (*used == 0 || *used > len)
			abort();
		for (size_t i = 0; i < c->argc; i++)
			if (c->argv[i] < data ||
			    c->argl[i] > (size_t)(data + *used - c->argv[i]))
				abort();
	} else if (r == -EPROTO && !err) {
		abort();
	}
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct resp_cmd c = { 0 };
	size_t off = 0, used, u2;

	while (off < size && parse(&c, data + off, size - off, &used) == 1) {
		/* The same command cut short, at the middle and at its end. */
		size_t cuts[2] = { used / 2, used - 1 };

		for (int i = 0; i < 2; i++)
			if (parse(&c, data + off, cuts[i], &u2) != 0)
				abort();
		off += used;
	}
	resp_cmd_free(&c);
	return 0;
}
