// SPDX-License-Identifier: MIT
/*
 * The program's later memory: interposed mmap, mmap64, mremap, brk, sbrk
 * and pthread_create register what they create.
 *
 * Fresh memory (a new mapping, brk growth) is registered and write-
 * protected: nothing of it was written yet. Memory that may already hold
 * writes is registered without protection, so that all its pages show as
 * written at the next scan (until a get-and-clear protects them): the
 * target of an mremap (the kernel drops the registration and the
 * protection bits of what it moves), and a new thread's stack, which glibc mapped through its internal mmap and
 * wrote its thread control block into before the thread runs.
 *
 * glibc's own calls (malloc's arenas and brk, thread stacks) do not pass
 * through these symbols; the daemon registers what they make from outside.
 */
#undef _FILE_OFFSET_BITS        /* mmap must stay mmap, not mmap64 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

#define EXPORT __attribute__((visibility("default")))

static bool is_fresh_private(int prot, int flags)
{
	/* MAP_SHARED_VALIDATE has the MAP_PRIVATE bit: compare the type. */
	return (prot & PROT_WRITE) && (flags & MAP_TYPE) == MAP_PRIVATE;
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd,
		  off_t off)
{
	void *p = (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);

	if (p != MAP_FAILED && is_fresh_private(prot, flags))
		shim_register((uintptr_t)p, len, true);
	return p;
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd,
		    off64_t off)
{
	return mmap(addr, len, prot, flags, fd, (off_t)off);
}

EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	void *new_addr = NULL, *p;
	va_list ap;

	if (flags & MREMAP_FIXED) {
		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
	}
	p = (void *)syscall(SYS_mremap, old, old_len, new_len, flags,
			    new_addr);
	/* Shared mappings refuse; the daemon only follows private ones. */
	if (p != MAP_FAILED)
		shim_register((uintptr_t)p, new_len, false);
	return p;
}

/*
 * brk and sbrk go through glibc's own, which keeps the break it caches
 * (__curbrk) right for malloc; the kernel is asked for the old break.
 */
static uintptr_t current_break(void)
{
	return (uintptr_t)syscall(SYS_brk, 0);
}

EXPORT int brk(void *addr)
{
	int (*real)(void *) = (int (*)(void *))dlsym(RTLD_NEXT, "brk");
	uintptr_t old = current_break();
	int r;

	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	r = real(addr);
	if (r == 0 && (uintptr_t)addr > old)
		shim_register(old, (uintptr_t)addr - old, true);
	return r;
}

EXPORT void *sbrk(intptr_t inc)
{
	void *(*real)(intptr_t) = (void *(*)(intptr_t))dlsym(RTLD_NEXT, "sbrk");
	void *old;

	if (!real) {
		errno = ENOSYS;
		return (void *)-1;
	}
	old = real(inc);
	if (old != (void *)-1 && inc > 0)
		shim_register((uintptr_t)old, (uintptr_t)inc, true);
	return old;
}

struct thread_start {
	void *(*fn)(void *);
	void *arg;
};

/*
 * The new thread's first act: register what glibc mapped for it (its
 * stack, and anything else it made with its internal mmap meanwhile).
 */
static void *thread_trampoline(void *opaque)
{
	struct thread_start ts = *(struct thread_start *)opaque;

	free(opaque);
	shim_register_all(false);
	return ts.fn(ts.arg);
}

typedef int (*pthread_create_fn)(pthread_t *, const pthread_attr_t *,
				 void *(*)(void *), void *);

EXPORT int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
			  void *(*fn)(void *), void *arg)
{
	pthread_create_fn real;
	struct thread_start *ts;
	int r;

	*(void **)&real = dlsym(RTLD_NEXT, "pthread_create");
	if (!real)
		return EAGAIN;
	ts = malloc(sizeof(*ts));
	if (!ts)
		return EAGAIN;
	ts->fn = fn;
	ts->arg = arg;
	r = real(thread, attr, thread_trampoline, ts);
	if (r)
		free(ts);
	return r;
}
