// SPDX-License-Identifier: MIT
/*
 * RAM blocks: argument checks, the memfd's properties (sparse, close-on-exec
 * in the daemon), the guest view at its fixed address sharing every byte with
 * the alias view in both directions, and MAP_FIXED_NOREPLACE refusing an
 * address already in use.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ramblock.h"
#include "tap.h"

#define NPAGES 256ULL
#define SIZE (NPAGES * RAM_PAGE_SIZE)

static void check_unset(const struct ramblock *rb)
{
	CHECK_EQ(rb->memfd, -1);
	CHECK(rb->alias == NULL);
}

static void test_bad_args(void)
{
	char long_name[RAM_BLOCK_NAME_MAX + 1];
	struct ramblock rb;

	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[RAM_BLOCK_NAME_MAX] = '\0';
	CHECK_EQ(ramblock_create(&rb, 0, "r", 0, RAM_GUEST_BASE), -EINVAL);
	check_unset(&rb);
	CHECK_EQ(ramblock_create(&rb, 0, "r", SIZE + 1, RAM_GUEST_BASE),
		 -EINVAL);
	CHECK_EQ(ramblock_create(&rb, 0, "r", SIZE, RAM_GUEST_BASE + 8),
		 -EINVAL);
	CHECK_EQ(ramblock_create(&rb, 0, "r", SIZE, ~0ULL & ~4095ULL),
		 -EINVAL);
	CHECK_EQ(ramblock_create(&rb, 0, long_name, SIZE, RAM_GUEST_BASE),
		 -EINVAL);
	check_unset(&rb);
	ramblock_destroy(&rb);  /* harmless after a failed create */
	ramblock_destroy(NULL);
}

static void test_block(struct ramblock *rb)
{
	struct stat st;

	CHECK_EQ(ramblock_create(rb, 3, "test-ram", SIZE, RAM_GUEST_BASE), 0);
	CHECK_EQ(rb->id, 3);
	CHECK(strcmp(rb->name, "test-ram") == 0);
	CHECK_EQ(rb->size, SIZE);
	CHECK_EQ(rb->guest_addr, RAM_GUEST_BASE);
	CHECK(rb->memfd >= 0 && rb->alias != NULL);
	CHECK_EQ(ramblock_pages(rb), NPAGES);
	CHECK(ramblock_page(rb, 5) == rb->alias + 5 * RAM_PAGE_SIZE);
	/* Only the guest gets the memfd, through guestproc's dup2. */
	CHECK(fcntl(rb->memfd, F_GETFD) & FD_CLOEXEC);

	/* Sparse: a big guest costs nothing until it touches its RAM. */
	CHECK_EQ(fstat(rb->memfd, &st), 0);
	CHECK_EQ(st.st_size, SIZE);
	CHECK_EQ(st.st_blocks, 0);
	ramblock_page(rb, 7)[100] = 0xab;
	CHECK_EQ(fstat(rb->memfd, &st), 0);
	CHECK(st.st_blocks > 0);
}

static void test_guest_view(struct ramblock *rb)
{
	uint8_t *guest = (uint8_t *)(uintptr_t)rb->guest_addr;
	uint64_t seed = 42;

	CHECK_EQ(ramblock_map_guest(rb->memfd, rb->guest_addr, rb->size), 0);
	CHECK_EQ(guest[7 * RAM_PAGE_SIZE + 100], 0xab);

	/* Both directions, random pages and offsets. */
	for (int i = 0; i < 1000; i++) {
		uint64_t off = test_rand(&seed) % SIZE;
		uint8_t v = (uint8_t)test_rand(&seed);

		if (i & 1) {
			guest[off] = v;
			CHECK_EQ(rb->alias[off], v);
		} else {
			rb->alias[off] = v;
			CHECK_EQ(guest[off], v);
		}
	}

	/* Taken addresses: the guest view itself, inside it, the alias. */
	CHECK_EQ(ramblock_map_guest(rb->memfd, rb->guest_addr, rb->size),
		 -EEXIST);
	CHECK_EQ(ramblock_map_guest(rb->memfd,
				    rb->guest_addr + 16 * RAM_PAGE_SIZE,
				    RAM_PAGE_SIZE), -EEXIST);
	CHECK_EQ(ramblock_map_guest(rb->memfd, (uintptr_t)rb->alias,
				    RAM_PAGE_SIZE), -EEXIST);
	CHECK_EQ(ramblock_map_guest(rb->memfd, rb->guest_addr + 1,
				    RAM_PAGE_SIZE), -EINVAL);
	CHECK_EQ(ramblock_map_guest(rb->memfd, rb->guest_addr + SIZE, 100),
		 -EINVAL);
	CHECK_EQ(ramblock_map_guest(-1, rb->guest_addr + SIZE, RAM_PAGE_SIZE),
		 -EBADF);
	CHECK_EQ(munmap(guest, rb->size), 0);
}

static void test_layout(void)
{
	struct ram_layout l;

	CHECK_EQ(ram_layout_create(&l, 4 * SIZE), 0);
	CHECK_EQ(l.nblocks, 1);
	CHECK_EQ(l.blocks[0].id, 0);
	CHECK(strcmp(l.blocks[0].name, "guest-ram") == 0);
	CHECK_EQ(l.blocks[0].guest_addr, RAM_GUEST_BASE);
	CHECK_EQ(l.blocks[0].size, 4 * SIZE);
	CHECK_EQ(ram_layout_bytes(&l), 4 * SIZE);
	for (int i = 1; i < RAM_MAX_BLOCKS; i++)
		check_unset(&l.blocks[i]);
	ram_layout_destroy(&l);
	CHECK_EQ(l.nblocks, 0);
	check_unset(&l.blocks[0]);
	ram_layout_destroy(&l);
	ram_layout_destroy(NULL);

	CHECK_EQ(ram_layout_create(&l, 123), -EINVAL);
	CHECK_EQ(l.nblocks, 0);
	CHECK_EQ(ram_layout_bytes(&l), 0);
	ram_layout_destroy(&l);
}

int main(void)
{
	struct ramblock rb;

	test_bad_args();
	test_block(&rb);
	test_guest_view(&rb);
	ramblock_destroy(&rb);
	check_unset(&rb);
	ramblock_destroy(&rb);
	test_layout();
	return 0;
}
