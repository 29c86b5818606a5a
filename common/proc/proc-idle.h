/* SPDX-License-Identifier: MIT */
/*
 * A daemon's heartbeat inside the long steps on a program's memory:
 * capturing, digesting or encoding a GiB takes seconds, longer than the
 * peer's failover timeout (`colo-ctl verify` of a 512 MiB redis-server
 * made the secondary take over). The daemon sets a hook for the step, on
 * its own thread (the migration thread's live sync has its own); the loops
 * call proc_idle_tick every few MiB, which calls the hook at most every
 * PROC_IDLE_EVERY_MS and returns its error: the step stops with it.
 */
#ifndef COLO_PROC_IDLE_H
#define COLO_PROC_IDLE_H

#define PROC_IDLE_EVERY_MS 50

/* fn NULL: no hook (the default). Per thread. */
void proc_idle_set(int (*fn)(void *opaque), void *opaque);
/* 0, or the hook's -errno. */
int proc_idle_tick(void);

#endif
