// SPDX-License-Identifier: MIT
/*
 * Guest RAM blocks over memfd. The daemon holds the memfd and an alias
 * mapping; the guest maps the same memfd at a fixed address. Both views share
 * the page cache, so a write through either is visible through the other, but
 * only the guest's mapping carries the userfaultfd write protection that the
 * dirty log reads (see dirtylog.c).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "ramblock.h"

static bool page_aligned(uint64_t v)
{
	return (v & (RAM_PAGE_SIZE - 1)) == 0;
}

int ramblock_create(struct ramblock *rb, uint32_t id, const char *name,
		    uint64_t size, uint64_t guest_addr)
{
	void *alias;
	int fd, err;

	memset(rb, 0, sizeof(*rb));
	rb->memfd = -1;
	if (!size || !page_aligned(size) || !page_aligned(guest_addr) ||
	    guest_addr + size < guest_addr ||
	    strlen(name) >= RAM_BLOCK_NAME_MAX) {
		log_error("ramblock %s: bad size 0x%llx or address 0x%llx",
			  name, (unsigned long long)size,
			  (unsigned long long)guest_addr);
		return -EINVAL;
	}

	/*
	 * CLOEXEC so that the memfd leaks into no other child of the daemon;
	 * guestproc dup2()s it to a fixed number for the guest, and dup2
	 * clears the flag on the copy.
	 */
	fd = memfd_create(name, MFD_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		log_error("memfd_create(%s): %s", name, strerror(errno));
		return err;
	}
	if (ftruncate(fd, (off_t)size) < 0) {
		err = -errno;
		log_error("ftruncate(%s, 0x%llx): %s", name,
			  (unsigned long long)size, strerror(errno));
		close(fd);
		return err;
	}
	alias = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (alias == MAP_FAILED) {
		err = -errno;
		log_error("mmap alias of %s: %s", name, strerror(errno));
		close(fd);
		return err;
	}

	rb->id = id;
	snprintf(rb->name, sizeof(rb->name), "%s", name);
	rb->size = size;
	rb->guest_addr = guest_addr;
	rb->memfd = fd;
	rb->alias = alias;
	return 0;
}

void ramblock_destroy(struct ramblock *rb)
{
	if (!rb)
		return;
	if (rb->alias)
		munmap(rb->alias, rb->size);
	if (rb->memfd >= 0)
		close(rb->memfd);
	rb->alias = NULL;
	rb->memfd = -1;
}

int ram_layout_create(struct ram_layout *l, uint64_t size)
{
	int err;

	memset(l, 0, sizeof(*l));
	for (uint32_t i = 0; i < RAM_MAX_BLOCKS; i++)
		l->blocks[i].memfd = -1;
	err = ramblock_create(&l->blocks[0], 0, "guest-ram", size,
			      RAM_GUEST_BASE);
	if (err)
		return err;
	l->nblocks = 1;
	return 0;
}

void ram_layout_destroy(struct ram_layout *l)
{
	if (!l)
		return;
	for (uint32_t i = 0; i < l->nblocks && i < RAM_MAX_BLOCKS; i++)
		ramblock_destroy(&l->blocks[i]);
	l->nblocks = 0;
}

uint64_t ram_layout_bytes(const struct ram_layout *l)
{
	uint64_t sum = 0;

	for (uint32_t i = 0; i < l->nblocks; i++)
		sum += l->blocks[i].size;
	return sum;
}

int ramblock_map_guest(int memfd, uint64_t addr, uint64_t size)
{
	void *p;

	if (!size || !page_aligned(addr) || !page_aligned(size))
		return -EINVAL;
	p = mmap((void *)(uintptr_t)addr, size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED_NOREPLACE, memfd, 0);
	if (p == MAP_FAILED)
		return -errno;
	/*
	 * Kernels before 4.17 take MAP_FIXED_NOREPLACE as a mere hint and
	 * map elsewhere; a guest whose pointers are not where the other host
	 * put them is useless, so treat that as the address being taken.
	 */
	if ((uintptr_t)p != addr) {
		munmap(p, size);
		return -EEXIST;
	}
	return 0;
}
