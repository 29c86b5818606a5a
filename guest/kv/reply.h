/* SPDX-License-Identifier: MIT */
/*
 * Building RESP2 replies. Replies collect in a process-local buffer for the
 * duration of one event and are sent when it is handled, so they never need
 * to live in guest RAM.
 */
#ifndef COLO_KV_REPLY_H
#define COLO_KV_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kv_out {
	uint8_t *buf;
	size_t len, cap;
	bool failed;    /* malloc failed: the reply is incomplete */
};

void reply_reset(struct kv_out *o);
void reply_free(struct kv_out *o);

void reply_raw(struct kv_out *o, const void *p, size_t n);
/* "+s\r\n" */
void reply_status(struct kv_out *o, const char *s);
/* "-msg\r\n"; msg starts with its code ("ERR ...", "WRONGTYPE ...").
 * CR and LF in msg become spaces so that the reply stays one line. */
void reply_error(struct kv_out *o, const char *msg);
void reply_errorf(struct kv_out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void reply_int(struct kv_out *o, int64_t v);
void reply_bulk(struct kv_out *o, const void *p, size_t n);
void reply_cbulk(struct kv_out *o, const char *s);
void reply_nil(struct kv_out *o);           /* "$-1" */
void reply_array(struct kv_out *o, uint64_t n);
void reply_nil_array(struct kv_out *o);     /* "*-1" */

#endif
