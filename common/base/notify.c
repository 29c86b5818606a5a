// SPDX-License-Identifier: MIT
/*
 * The supervisor's view of a daemon, through sd_notify (notify.h). Failures
 * to notify are logged once and otherwise ignored: a daemon must not stop
 * serving because its supervisor's socket is gone.
 */
#include "notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "evloop.h"
#include "log.h"

static void tell(struct notify *n, const char *what, const char *status)
{
	int r;

	if (!n->enabled)
		return;
	/* 0 unset=false: the environment stays for a takeover's notify. */
	r = status ? sd_notifyf(0, "%s%sSTATUS=%s", what, *what ? "\n" : "",
				status) :
		     sd_notify(0, what);
	if (r < 0) {
		log_warn("sd_notify: %s; no more notifications to systemd",
			 strerror(-r));
		n->enabled = false;
	}
}

void notify_init(struct notify *n)
{
	uint64_t usec = 0;
	const char *sock = getenv("NOTIFY_SOCKET");

	memset(n, 0, sizeof(*n));
	n->enabled = sock && *sock;
	/* > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID (if set) is
	 * us, so a child that inherited it does not ping. */
	if (sd_watchdog_enabled(0, &usec) > 0 && usec >= 2000)
		n->watchdog_every_ms = usec / 2000;
	n->last_ping_ms = evloop_now_ms();
	if (n->enabled && n->watchdog_every_ms)
		log_info("systemd watchdog: a ping every %llu ms",
			 (unsigned long long)n->watchdog_every_ms);
}

static bool remember(struct notify *n, const char *status)
{
	char now[NOTIFY_STATUS_MAX];

	snprintf(now, sizeof(now), "%s", status);
	if (!strcmp(now, n->status))
		return false;
	memcpy(n->status, now, sizeof(now));
	return true;
}

void notify_ready(struct notify *n, const char *status)
{
	remember(n, status);
	tell(n, "READY=1", n->status);
}

void notify_status(struct notify *n, const char *status)
{
	if (n->enabled && !n->stopping && remember(n, status))
		tell(n, "", n->status);
}

void notify_watchdog(struct notify *n, uint64_t now_ms)
{
	if (!n->watchdog_every_ms || now_ms - n->last_ping_ms <
	    n->watchdog_every_ms)
		return;
	n->last_ping_ms = now_ms;
	tell(n, "WATCHDOG=1", NULL);
}

int notify_timeout_ms(const struct notify *n, uint64_t now_ms, int timeout_ms)
{
	uint64_t due, left;

	if (!n->watchdog_every_ms || !n->enabled)
		return timeout_ms;
	due = n->last_ping_ms + n->watchdog_every_ms;
	left = due > now_ms ? due - now_ms : 0;
	if (timeout_ms < 0 || left < (uint64_t)timeout_ms)
		return (int)left;
	return timeout_ms;
}

void notify_stopping(struct notify *n, const char *status)
{
	if (!n->enabled || n->stopping)
		return;
	n->stopping = true;
	remember(n, status);
	tell(n, "STOPPING=1", n->status);
}
