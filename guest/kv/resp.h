/* SPDX-License-Identifier: MIT */
/*
 * The request side of RESP: multibulk commands ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
 * and inline ones ("PING\r\n", what telnet and redis-benchmark's
 * PING_INLINE send). The parser is pure: bytes in, one command out, so that
 * it can be fed every split of a pipelined stream and fuzzed.
 */
#ifndef COLO_KV_RESP_H
#define COLO_KV_RESP_H

#include <stddef.h>
#include <stdint.h>

/* The limits Redis uses by default. */
#define RESP_INLINE_MAX (64u * 1024)
#define RESP_MULTIBULK_MAX (1024 * 1024)
#define RESP_BULK_MAX (512ull * 1024 * 1024)

/* One parsed command. argv points into the parsed buffer; the arrays are
 * process-local scratch reused from one command to the next. */
struct resp_cmd {
	size_t argc;
	const uint8_t **argv;
	size_t *argl;
	size_t cap;
	char errbuf[32];        /* for an error text that quotes the input */
};

void resp_cmd_free(struct resp_cmd *c);

/*
 * Parses the first command in buf[0, len):
 *   1        one command in c (argc may be 0: an empty line or "*0"), and
 *            *used bytes consumed;
 *   0        incomplete: keep the bytes and call again with more;
 *   -EPROTO  bad input; *err is the text after "ERR Protocol error: ";
 *   -ENOMEM  no memory for the argument arrays.
 */
int resp_parse(struct resp_cmd *c, const uint8_t *buf, size_t len,
	       size_t *used, const char **err);

/* Redis's strict integer syntax: optional '-', no '+', no leading zeros or
 * spaces, within int64. 0 or -EINVAL. */
int resp_strtoll(const uint8_t *s, size_t len, int64_t *out);

#endif
