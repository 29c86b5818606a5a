/* SPDX-License-Identifier: MIT */
/*
 * A tiny RESP client over TCP (drill-client.c): enough for INCR, SET, GET
 * and PING, with a deadline on every read.
 */
#ifndef COLO_DRILL_CLIENT_H
#define COLO_DRILL_CLIENT_H

#include <stddef.h>

enum resp_type { RESP_STATUS, RESP_ERROR, RESP_INT, RESP_BULK, RESP_NIL };

#define RESP_STR_MAX 512

struct resp_reply {
	enum resp_type type;
	long long num;                 /* RESP_INT */
	char str[RESP_STR_MAX];        /* STATUS, ERROR, BULK; NUL-terminated */
	size_t len;                    /* the whole length, even if truncated */
};

struct resp_conn {
	int fd;
	char *in;                      /* bytes read, not yet parsed */
	size_t in_len, in_off, in_cap;
};

/* "HOST:PORT", numeric. 0, or -errno (-ETIMEDOUT, -ECONNREFUSED, ...). */
int resp_connect(struct resp_conn *c, const char *hostport, int timeout_ms);
void resp_close(struct resp_conn *c);
/* Append one command, as a RESP array of bulk strings, to buf (*len grows);
 * returns -ENOBUFS when it does not fit. */
int resp_format(char *buf, size_t cap, size_t *len, int argc,
		const char *const argv[]);
int resp_write(struct resp_conn *c, const char *buf, size_t len);
/* One reply. 0, -ETIMEDOUT, -ECONNRESET (EOF), -EPROTO, or -errno. */
int resp_read(struct resp_conn *c, int timeout_ms, struct resp_reply *r);
/* One command, one reply. */
int resp_call(struct resp_conn *c, int timeout_ms, struct resp_reply *r,
	      int argc, const char *const argv[]);

#endif
