/* SPDX-License-Identifier: MIT */
/*
 * The secondary's last error, as `colo-ctl status` shows it: one line that
 * the link, the incoming stream and failover each overwrite when something
 * ends badly. secondary.c owns it and hands each unit a pointer; only the
 * main thread (the event loop) writes or reads it. It is the one piece of
 * state the units share, kept to a string on purpose.
 */
#ifndef COLO_SECONDARY_LAST_ERROR_H
#define COLO_SECONDARY_LAST_ERROR_H

#include <stdarg.h>
#include <stdio.h>

struct last_error {
	char text[1024];
};

static inline void last_error_set(struct last_error *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static inline void last_error_set(struct last_error *e, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return;
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof(e->text), fmt, ap);
	va_end(ap);
}

#endif
