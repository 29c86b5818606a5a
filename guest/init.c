// SPDX-License-Identifier: MIT
/*
 * Start-up of a guest under its daemon: read the COLO_GUEST_* environment
 * (chan.h), map each RAM block at its fixed address, register it with the
 * dirty log, lay out or find the heaps, and say READY.
 *
 * This is the one place in the library that prints: a guest that cannot
 * start has no channel to complain on yet, and its daemon relays stderr.
 */
#include "guest-priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dirtylog.h"

#define FAIL(...)                                              \
	do {                                                   \
		fprintf(stderr, "colo-guest: " __VA_ARGS__);   \
		fputc('\n', stderr);                           \
		goto fail;                                     \
	} while (0)

/* The loop and the hint round trip block by design; a daemon that left
 * O_NONBLOCK on our ends would turn every wait into an error. */
static int make_blocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || (fl & O_NONBLOCK && fcntl(fd, F_SETFL, fl & ~O_NONBLOCK)))
		return -errno;
	return 0;
}

static int parse_fd(const char *name)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (!s || !*s)
		return -ENOENT;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 0 || v > 1 << 20)
		return -EINVAL;
	return (int)v;
}

/* "fd:addr:size[,fd:addr:size...]", addr and size in hex. */
static int parse_ram(struct colo_guest *g, const char *s, int *fds)
{
	while (*s) {
		struct guest_block *b = &g->blk[g->nblocks];
		unsigned long long addr, size;
		int fd, n = 0;

		if (g->nblocks == RAM_MAX_BLOCKS)
			return -E2BIG;
		if (sscanf(s, "%d:%llx:%llx%n", &fd, &addr, &size, &n) != 3 ||
		    !n || fd < 0 || !size || (addr | size) % HEAP_PAGE ||
		    addr + size < addr)
			return -EINVAL;
		s += n;
		if (*s == ',')
			s++;
		else if (*s)
			return -EINVAL;
		fds[g->nblocks] = fd;
		b->addr = addr;
		b->size = size;
		b->uffd = -1;
		g->nblocks++;
	}
	return g->nblocks ? 0 : -EINVAL;
}

static int map_blocks(struct colo_guest *g, const int *fds)
{
	uint32_t i;
	int err;

	for (i = 0; i < g->nblocks; i++) {
		struct guest_block *b = &g->blk[i];

		err = ramblock_map_guest(fds[i], b->addr, b->size);
		if (err) {
			fprintf(stderr, "colo-guest: mapping block %u at 0x%llx: %s\n",
				i, (unsigned long long)b->addr, strerror(-err));
			return err;
		}
		/* The mapping keeps the memfd alive; the fd is not needed. */
		close(fds[i]);
		err = dirtylog_guest_register(b->addr, b->size);
		if (err < 0) {
			fprintf(stderr, "colo-guest: dirty log of block %u: %s%s\n",
				i, strerror(-err), err == -EOPNOTSUPP ?
				" (needs Linux 6.7+ UFFD_FEATURE_WP_ASYNC)" : "");
			return err;
		}
		b->uffd = err;
	}
	return 0;
}

struct colo_guest *colo_guest_init(void)
{
	int fds[RAM_MAX_BLOCKS];
	struct colo_guest *g;
	const char *ram, *resume;
	struct chan_msg ready = { .type = CHAN_READY };
	int err;

	g = calloc(1, sizeof(*g));
	if (!g) {
		fprintf(stderr, "colo-guest: out of memory\n");
		return NULL;
	}
	g->chan_fd = parse_fd(CHAN_ENV_CHAN);
	g->hint_fd = parse_fd(CHAN_ENV_HINT);
	if (g->chan_fd < 0 || g->hint_fd < 0)
		FAIL("%s and %s must name the daemon's channel fds "
		     "(is this running under colo-primary or colo-secondary?)",
		     CHAN_ENV_CHAN, CHAN_ENV_HINT);
	if (make_blocking(g->chan_fd) || make_blocking(g->hint_fd))
		FAIL("channel fds %d, %d: %s", g->chan_fd, g->hint_fd,
		     strerror(errno));
	ram = getenv(CHAN_ENV_RAM);
	if (!ram || parse_ram(g, ram, fds))
		FAIL("bad or missing %s=\"%s\"", CHAN_ENV_RAM, ram ? ram : "");
	resume = getenv(CHAN_ENV_RESUME);
	g->resumed = resume && !strcmp(resume, "1");
	if (map_blocks(g, fds))
		goto fail;
	err = guest_setup_ram(g);
	if (err)
		FAIL("%s guest RAM: %s", g->resumed ? "resuming" : "laying out",
		     strerror(-err));
	if (chan_reader_init(&g->events, g->chan_fd) ||
	    chan_reader_init(&g->hints, g->hint_fd) ||
	    chan_writer_init(&g->out, g->chan_fd))
		FAIL("out of memory");
	err = chan_send(g->chan_fd, &ready);
	if (err)
		FAIL("sending READY: %s", strerror(-err));
	return g;
fail:
	colo_guest_free(g);
	return NULL;
}
