// SPDX-License-Identifier: MIT
#include <stdint.h>

#include "evloop.h"
#include "proc-idle.h"

static _Thread_local int (*hook)(void *opaque);
static _Thread_local void *hook_opaque;
static _Thread_local uint64_t last_ms;

void proc_idle_set(int (*fn)(void *opaque), void *opaque)
{
	hook = fn;
	hook_opaque = opaque;
	last_ms = evloop_now_ms();
}

int proc_idle_tick(void)
{
	uint64_t now;

	if (!hook)
		return 0;
	now = evloop_now_ms();
	if (now - last_ms < PROC_IDLE_EVERY_MS)
		return 0;
	last_ms = now;
	return hook(hook_opaque);
}
