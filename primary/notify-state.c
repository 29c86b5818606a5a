// SPDX-License-Identifier: MIT
/*
 * What colo-primary tells systemd (notify.h): its state as one line for
 * STATUS= ("colo, protected by 10.0.0.2:7000", "standalone: secondary lost:
 * ..."), and the watchdog. Polled from the main loop rather than hooked
 * into each transition: the line is rebuilt on every turn and sent only
 * when it differs from the last one.
 *
 * The line stays the same through a re-dial's connect-and-fail cycle (the
 * state flips standalone/connecting on every try): it names the reason the
 * pair is apart and that the primary is dialling, so a secondary that stays
 * down does not rewrite STATUS= every few seconds.
 */
#include <stdarg.h>
#include <stdio.h>

#include "evloop.h"
#include "primary-int.h"

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

static void status_line(struct primary *p, char *buf, size_t len)
{
	const char *peer = p->opts.secondary ? p->opts.secondary : "";
	const char *who = p->took_over ? "took over, " : "";
	const char *dialling = p->redial && *peer ? "; dialling " : "";

	if (p->state == COLO_STATE_COLO) {
		put(buf, len, "%scolo, protected by %s", who, peer);
	} else if (p->state == COLO_STATE_SYNCING &&
		   atomic_load(&p->mig.connected)) {
		struct sync_progress sp;

		primary_sync_progress(p, &sp);
		put(buf, len, "%ssyncing with %s %.0f %%", who, peer,
		    100 * sp.done);
	} else if (p->last_error[0]) {
		put(buf, len, "%sstandalone: %s%s%s", who, p->last_error,
		    dialling, *dialling ? peer : "");
	} else if (p->state == COLO_STATE_SYNCING) {
		put(buf, len, "%sconnecting to %s", who, peer);
	} else {
		put(buf, len, "%sstandalone: no secondary", who);
	}
}

void primary_notify_ready(struct primary *p)
{
	char line[NOTIFY_STATUS_MAX];

	status_line(p, line, sizeof(line));
	notify_ready(&p->notify, line);
}

void primary_notify_tick(struct primary *p)
{
	char line[NOTIFY_STATUS_MAX];

	if (!p->notify.enabled)
		return;         /* nor read live sync's counters each turn */

	status_line(p, line, sizeof(line));
	notify_status(&p->notify, line);
	notify_watchdog(&p->notify, evloop_now_ms());
}
