/* SPDX-License-Identifier: MIT */
/*
 * What a daemon tells its supervisor, through libsystemd's sd-daemon API
 * (sd_notify(3)): READY=1 once it serves, STATUS= whenever its state's
 * one-line description changes, WATCHDOG=1 at half the interval the unit's
 * WatchdogSec= asks for, STOPPING=1 on a stop request. Outside systemd
 * (no NOTIFY_SOCKET) every call is a no-op.
 *
 * The owner polls: its main loop calls notify_status with the state it
 * would describe now and notify_watchdog on every turn; the unit sends only
 * what changed or fell due, so the loop never needs a hook at each state
 * change. notify_timeout_ms caps the loop's wait so that a watchdog ping is
 * never late because the loop slept. A watchdog ping says "the main loop
 * turned": the owner's bounded waits outside the loop (a checkpoint, the
 * fence command) may call notify_watchdog too, never another thread.
 *
 * One struct per daemon role, owned by its top file; main thread only.
 */
#ifndef COLO_NOTIFY_H
#define COLO_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#define NOTIFY_STATUS_MAX 256

struct notify {
	bool enabled;                   /* NOTIFY_SOCKET was set */
	bool stopping;                  /* STOPPING=1 was sent */
	uint64_t watchdog_every_ms;     /* half of WATCHDOG_USEC; 0: off */
	uint64_t last_ping_ms;
	char status[NOTIFY_STATUS_MAX]; /* the last STATUS= sent */
};

/* Reads NOTIFY_SOCKET and the watchdog's WATCHDOG_USEC/WATCHDOG_PID, and
 * leaves them in the environment: a secondary that takes over goes on as a
 * primary in the same process, with a notify of its own. */
void notify_init(struct notify *n);
/* READY=1 with a first STATUS=. */
void notify_ready(struct notify *n, const char *status);
/* STATUS=status if it differs from the last one sent (truncated to
 * NOTIFY_STATUS_MAX - 1 bytes, the same way every time). */
void notify_status(struct notify *n, const char *status);
/* WATCHDOG=1 if half the watchdog interval has passed since the last. */
void notify_watchdog(struct notify *n, uint64_t now_ms);
/* timeout_ms (a poll timeout, -1: none) shortened to the next ping. */
int notify_timeout_ms(const struct notify *n, uint64_t now_ms, int timeout_ms);
/* STOPPING=1, with STATUS=status; sent once. */
void notify_stopping(struct notify *n, const char *status);

#endif
