// SPDX-License-Identifier: MIT
/*
 * Fuzz target for colo-kv's request parser: the input is what a client
 * sends, parsed command after command as a connection would. Beyond
 * crashes it checks what a caller relies on: a command consumes bytes it
 * was given, its arguments lie inside them (or, unquoted from an inline
 * line, in the parser's scratch), and any shorter prefix of a
 * command is "incomplete", never another command or an error (else the
 * answer would depend on how TCP split the stream), and a parse resumed
 * from a shorter prefix's saved state ends as a fresh one does.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether [p, p + n) lies in [base, base + size). */
static int inside(const uint8_t *p, size_t n, const uint8_t *base, size_t size)
{
	return base && p >= base && n <= (size_t)(base + size - p);
}

/* Parses data[0, len) from state st and checks a result of 1; returns
 * the result. */
static int parse(struct resp_cmd *c, struct resp_state *st,
		 const uint8_t *data, size_t len, size_t *used)
{
	const char *err = NULL;
	int r = resp_parse(c, st, data, len, used, &err);

	if (r == 1) {
		if (*used == 0 || *used > len)
			abort();
		for (size_t i = 0; i < c->argc; i++)
			if (!inside(c->argv[i], c->argl[i], data, *used) &&
			    !inside(c->argv[i], c->argl[i], c->unquoted,
				    c->unquoted_cap))
				abort();
	} else if (r == -EPROTO && !err) {
		abort();
	}
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct resp_cmd c = { 0 };
	struct resp_state st = { 0 }, part;
	size_t off = 0, used, u2;

	while (off < size && parse(&c, &st, data + off, size - off, &used) == 1) {
		/* The same command cut short, at the middle and at its end,
		 * then finished from where the cut left the state. */
		size_t cuts[2] = { used / 2, used - 1 };

		for (int i = 0; i < 2; i++) {
			part = (struct resp_state){ 0 };
			if (parse(&c, &part, data + off, cuts[i], &u2) != 0 ||
			    parse(&c, &part, data + off, size - off, &u2) != 1 ||
			    u2 != used)
				abort();
		}
		st = (struct resp_state){ 0 };
		off += used;
	}
	resp_cmd_free(&c);
	return 0;
}
