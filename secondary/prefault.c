// SPDX-License-Identifier: MIT
#include "prefault.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>

#include "evloop.h"
#include "log.h"

/* A step: a few ms of the kernel's work, for which a stop, or a pwrite
 * into the same memfd (the inode lock), waits at most. */
#define STEP (4ULL << 20)

static int step(const struct prefault_area *a, uint64_t off, uint64_t len)
{
	for (int i = 0; i < 2; i++)
		if (a->fd[i] >= 0 &&
		    fallocate(a->fd[i], 0, (off_t)off, (off_t)len) < 0)
			return -errno;
	return 0;
}

static uint64_t thread_cpu_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *prefault_thread(void *opaque)
{
	struct prefault *pf = opaque;
	uint64_t t0 = evloop_now_ms();

	for (uint32_t i = 0; i < pf->nareas; i++) {
		const struct prefault_area *a = &pf->areas[i];

		for (uint64_t off = 0; off < a->size; off += STEP) {
			uint64_t len = a->size - off < STEP ? a->size - off : STEP;

			if (atomic_load_explicit(&pf->stop, memory_order_relaxed))
				goto out;
			pf->err = step(a, off, len);
			if (pf->err < 0)
				goto out;
			pf->bytes += len * ((a->fd[0] >= 0) + (a->fd[1] >= 0));
		}
	}
out:
	pf->ms = evloop_now_ms() - t0;
	pf->cpu_ms = thread_cpu_ms();
	atomic_store(&pf->done, true);
	return NULL;
}

int prefault_start(struct prefault *pf, const struct prefault_area *areas,
		   uint32_t n)
{
	int ret;

	memset(pf, 0, sizeof(*pf));
	if (n > RAM_MAX_BLOCKS)
		return -EINVAL;
	memcpy(pf->areas, areas, n * sizeof(*areas));
	pf->nareas = n;
	atomic_store(&pf->stop, false);
	atomic_store(&pf->done, false);
	ret = pthread_create(&pf->thread, NULL, prefault_thread, pf);
	if (ret)
		return -ret;
	pf->running = true;
	return 0;
}

void prefault_stop(struct prefault *pf)
{
	if (!pf->running)
		return;
	atomic_store(&pf->stop, true);
	pthread_join(pf->thread, NULL);
	pf->running = false;
	if (pf->err < 0)
		log_info("prefault ended early after %llu MiB: %s (the receiver "
			 "allocates the rest itself)",
			 (unsigned long long)(pf->bytes >> 20),
			 strerror(-pf->err));
	else
		log_info("allocated %llu MiB ahead of the live sync in %llu ms "
			 "(%llu ms of CPU)", (unsigned long long)(pf->bytes >> 20),
			 (unsigned long long)pf->ms,
			 (unsigned long long)pf->cpu_ms);
}
