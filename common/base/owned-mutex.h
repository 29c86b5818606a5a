/* SPDX-License-Identifier: MIT */
/*
 * A mutex that knows its holder, so that functions which need it held can
 * assert so on entry (as lockdep_assert_held does in the kernel). Used for
 * bitmap_mutex on both sides.
 */
#ifndef COLO_OWNED_MUTEX_H
#define COLO_OWNED_MUTEX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "log.h"

struct owned_mutex {
	pthread_mutex_t mutex;
	_Atomic(unsigned long) owner;      /* pthread_self() of the holder */
};

static inline void owned_mutex_init(struct owned_mutex *m)
{
	pthread_mutex_init(&m->mutex, NULL);
	atomic_store(&m->owner, 0UL);
}

static inline void owned_mutex_destroy(struct owned_mutex *m)
{
	pthread_mutex_destroy(&m->mutex);
}

static inline void owned_mutex_lock(struct owned_mutex *m)
{
	pthread_mutex_lock(&m->mutex);
	atomic_store(&m->owner, (unsigned long)pthread_self());
}

static inline void owned_mutex_unlock(struct owned_mutex *m)
{
	atomic_store(&m->owner, 0UL);
	pthread_mutex_unlock(&m->mutex);
}

/* Aborts, naming the lock, unless the calling thread holds it. */
static inline void owned_mutex_assert_held(struct owned_mutex *m,
					   const char *name)
{
	if (atomic_load(&m->owner) != (unsigned long)pthread_self()) {
		log_error("%s is not held by this thread", name);
		abort();
	}
}

#endif
