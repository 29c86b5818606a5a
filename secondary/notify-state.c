// SPDX-License-Identifier: MIT
/*
 * What colo-secondary tells systemd (notify.h): its state as one line for
 * STATUS= ("waiting for the primary on 0.0.0.0:7000", "syncing from ...",
 * "colo with primary ...", "fenced: ..."), and the watchdog. Polled from
 * the main loop, sent only when the line changed. The states are those
 * `status` shows: a checkpoint being received is still colo, so STATUS=
 * does not flicker with every checkpoint. After a takeover the process
 * goes on as a primary, whose own notify-state.c takes over.
 */
#include <stdarg.h>
#include <stdio.h>

#include "evloop.h"
#include "secondary-int.h"

/* A line longer than STATUS= takes is cut, the same way every time. */
static void put(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void put(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static void status_line(struct secondary *s, char *buf, size_t len)
{
	const char *err = s->last_error.text;

	switch (s->in.state) {
	case IN_WAITING:
		put(buf, len, "waiting for the primary on %s%s%s%s",
		    s->opts.listen, *err ? " (last: " : "", err,
		    *err ? ")" : "");
		break;
	case IN_HELLO:
	case IN_SYNC:
		put(buf, len, "syncing from %s", sec_link_peer(&s->link));
		break;
	case IN_CKPT:
	case IN_COLO:
		put(buf, len, "colo with primary %s", sec_link_peer(&s->link));
		break;
	case IN_FENCED:
		put(buf, len, "fenced: %s", *err ? err : "primary lost");
		break;
	}
}

void secondary_notify_ready(struct secondary *s)
{
	char line[NOTIFY_STATUS_MAX];

	status_line(s, line, sizeof(line));
	notify_ready(&s->notify, line);
}

void secondary_notify_tick(struct secondary *s)
{
	char line[NOTIFY_STATUS_MAX];

	status_line(s, line, sizeof(line));
	notify_status(&s->notify, line);
	notify_watchdog(&s->notify, evloop_now_ms());
}
