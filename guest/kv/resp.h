/* SPDX-License-Identifier: MIT */
/*
 * The request side of RESP: multibulk commands ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
 * and inline ones ("PING\r\n", what telnet and redis-benchmark's
 * PING_INLINE send; redis-cli users type `set "a b" 'c'`). Inline lines are
 * split as Redis's sdssplitargs splits them: blanks separate arguments,
 * "double quotes" take the escapes \n \r \t \b \a \xHH and \<any>,
 * 'single quotes' only \', a closing quote must be followed by a blank or
 * the end of the line, and a NUL byte ends the line. The parser is pure: bytes in, one command out, so that
 * it can be fed every split of a pipelined stream and fuzzed.
 *
 * A command can arrive in many reads (a million arguments in 1460-byte
 * segments). Like Redis's client->multibulklen and bulklen, struct
 * resp_state remembers how far the unfinished command has been checked, so
 * each call goes on from there and a command costs time linear in its size
 * however it is split.
 */
#ifndef COLO_KV_RESP_H
#define COLO_KV_RESP_H

#include <stddef.h>
#include <stdint.h>

/* The limits Redis uses by default (RESP_BULK_MAX: proto-max-bulk-len). */
#define RESP_INLINE_MAX (64u * 1024)
#define RESP_MULTIBULK_MAX (1024 * 1024)
#define RESP_BULK_MAX (512ull * 1024 * 1024)

/*
 * Progress on the unfinished command at the start of the buffer. The
 * caller keeps it beside the bytes it describes (colo-kv: in guest RAM, so
 * that a checkpoint carries both) and zeroes it with them; all zero means
 * nothing checked yet. Fixed-width fields: it lives in guest RAM.
 */
struct resp_state {
	uint64_t pos;           /* bytes of the command already checked */
	uint64_t left;          /* multibulk: arguments still to check */
};

/* One parsed command. argv points into the parsed buffer (multibulk) or
 * into unquoted (inline: the arguments with quotes and escapes resolved);
 * both are process-local scratch reused from one command to the next. */
struct resp_cmd {
	size_t argc;
	const uint8_t **argv;
	size_t *argl;
	size_t cap;
	uint8_t *unquoted;
	size_t unquoted_cap;
	char errbuf[32];        /* for an error text that quotes the input */
	uint64_t bulk_max;      /* longest argument accepted; 0: RESP_BULK_MAX */
};

void resp_cmd_free(struct resp_cmd *c);

/*
 * Parses the first command in buf[0, len), going on from st (see above):
 *   1        one command in c (argc may be 0: an empty line or "*0"), and
 *            *used bytes consumed; st is zero again;
 *   0        incomplete: keep the bytes and st, and call again with them
 *            and more bytes after them;
 *   -EPROTO  bad input; *err is the text after "ERR Protocol error: "
 *            (Redis closes the connection after replying it);
 *   -ENOMEM  no memory for the argument arrays.
 */
int resp_parse(struct resp_cmd *c, struct resp_state *st, const uint8_t *buf,
	       size_t len, size_t *used, const char **err);

/* Redis's strict integer syntax: optional '-', no '+', no leading zeros or
 * spaces, within int64. 0 or -EINVAL. */
int resp_strtoll(const uint8_t *s, size_t len, int64_t *out);

#endif
