/* SPDX-License-Identifier: MIT */
/*
 * A guest without a daemon, over RAM the caller provides: the heap and the
 * root pointer work as in a real guest, free page hints go nowhere, and
 * there is no event loop (colo_send and colo_close return -ENOTCONN).
 * For unit tests and tools that drive an app's code directly.
 */
#ifndef COLO_GUEST_LOCAL_H
#define COLO_GUEST_LOCAL_H

#include "colo-guest.h"

/* ram is page aligned and at least two pages. With resume, ram must hold
 * what an earlier local guest left there (colo_guest_resumed is true).
 * NULL on failure. */
struct colo_guest *colo_guest_new_local(void *ram, size_t size, bool resume);
/* Free it with colo_guest_free(); the RAM stays the caller's. */

#endif
