// SPDX-License-Identifier: MIT
/*
 * The checkpoint data of a process guest: capture, add the input the
 * program has not consumed, encode, send in pieces.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "image-save.h"
#include "log.h"
#include "proc-guest.h"
#include "proc-idle.h"
#include "proc-image-digest.h"
#include "proc-image-wire.h"
#include "proc-image.h"
#include "proc-ranges.h"
#include "proto.h"
#include "xport.h"

/* The daemon's ends of the program's connections, for the capture. */
static int daemon_fds(struct proc_guest *g, int **fds, size_t *n)
{
	size_t want = proc_guest_conns(g, NULL, NULL, 0);

	*fds = calloc(want + 1, sizeof(**fds));
	if (!*fds)
		return -ENOMEM;
	*n = proc_guest_conns(g, NULL, *fds, want);
	return 0;
}

/*
 * The image names each connection's unconsumed count; its bytes are the
 * daemon's to add: the last ones it wrote (history), then what it still
 * queues. The secondary refills its copy's socket and queue from them.
 */
static int add_inputs(struct proc_guest *g, struct proc_image *img)
{
	size_t i;
	int ret;

	for (i = 0; i < img->n_conns; i++) {
		struct proc_image_conn *c = &img->conns[i];
		uint32_t id;
		int fd;

		ret = proc_guest_conn_by_port(g, c->daemon_port, &id, &fd);
		if (ret < 0) {
			log_error("checkpoint: the program's fd %d is a "
				  "connection from port %u, which is none of "
				  "ours", c->fd, c->daemon_port);
			return ret;
		}
		ret = proc_guest_input_tail(g, id, c->unconsumed, &c->input,
					    &c->input_len);
		if (ret < 0) {
			log_error("checkpoint: connection %u: %llu bytes "
				  "unconsumed, not in the input history: %s",
				  id, (unsigned long long)c->unconsumed,
				  strerror(-ret));
			return ret;
		}
		proc_guest_trim_history(g, id, c->unconsumed);
	}
	return 0;
}

/* A live-sync window: 32 MiB of own pages looked at, at most. */
#define LIVE_WINDOW_PAGES 8192

static int idle(const struct image_save_idle *i)
{
	return i && i->fn ? i->fn(i->opaque) : 0;
}

static int send_pieces(struct xport *x, const struct image_save_idle *i,
		       const uint8_t *buf, size_t len)
{
	struct proto_msg m = { .type = PROTO_IMAGE };
	size_t off;
	int ret;

	if ((uint64_t)len > PROTO_MAX_IMAGE)
		return -E2BIG;
	m.image.total = len;
	for (off = 0; off < len; off += m.image.len) {
		size_t n = len - off;

		m.image.offset = off;
		m.image.len = (uint32_t)(n < PROTO_MAX_DATA ? n : PROTO_MAX_DATA);
		m.image.data = buf + off;
		ret = idle(i);
		if (ret == 0)
			ret = proto_send(x, &m);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Only what the SVM can be given the same (proc-fds.h): anything else is
 * refused here, before a byte is sent, rather than found to differ. */
static int check_supported(const struct proc_image *img,
			   struct image_save_stats *st)
{
	if (proc_fds_check(&img->fds, st->refusal, sizeof(st->refusal)) == 0)
		return 0;
	log_error("the program cannot be protected: %s", st->refusal);
	return -ENOTSUP;
}

/* The own pages the program holds: a delta lists them all in present,
 * a whole image carries them all. */
static uint64_t own_pages(const struct proc_image *img)
{
	const struct proc_ranges present = {
		.r = img->present, .n = img->n_present,
	};

	return img->delta ? proc_ranges_pages(&present) : proc_image_pages(img);
}

static int digest_chunks(const struct proc_image *img,
			 struct image_save_verify *ver)
{
	ver->nchunks = proc_image_nchunks(img, ver->chunk_pages);
	ver->digests = malloc((size_t)ver->nchunks * PROC_IMAGE_DIGEST_LEN + 1);
	ver->chunk_addr = malloc((size_t)ver->nchunks * sizeof(uint64_t) + 1);
	if (!ver->digests || !ver->chunk_addr)
		return -ENOMEM;
	return proc_image_digests(img, ver->chunk_pages, ver->digests,
				  ver->chunk_addr);
}

/*
 * verify's digests: of every own page of the PVM, which is what the SVM
 * must hold once it applied img. A whole image carries them all; for a
 * delta they are read now, the PVM still stopped, so that verify checks
 * the path every checkpoint takes (the cache, the delta, the apply), not
 * only a whole image's (which would repair what it was to find).
 */
static int digest_image(pid_t pid, const struct proc_image *img,
			struct image_save_verify *ver)
{
	struct proc_image own = { 0 };
	int ret;

	if (!img->delta)
		return digest_chunks(img, ver);
	ret = proc_image_read_present(img, pid, &own);
	if (ret == 0)
		ret = digest_chunks(&own, ver);
	proc_image_free(&own);
	return ret;
}

void image_save_base_invalidate(struct image_save_base *b)
{
	proc_image_base_invalidate(&b->base);
}

void image_save_base_not_applied(struct image_save_base *b)
{
	proc_image_base_not_applied(&b->base);
}

void image_save_base_close(struct image_save_base *b)
{
	proc_image_base_free(&b->base);
	if (b->pid)
		proc_track_close(&b->track);
	memset(b, 0, sizeof(*b));
}

/* The dirty log of the program pid, opened once per program. */
static int base_follow(struct image_save_base *b, pid_t pid, int pidfd)
{
	int ret;

	if (b->pid == pid)
		return 0;
	image_save_base_close(b);
	ret = proc_track_open(&b->track, pid, pidfd);
	if (ret < 0)
		return ret;
	b->pid = pid;
	b->base.track = &b->track;
	return 0;
}

/* One window of a live-sync pass: captured, encoded, sent. 0 while more
 * remain, 1 after the last, -errno. */
static int live_window(struct image_save_base *b, struct proc_image_sweep *sw,
		       struct xport *x, const struct image_save_idle *i,
		       struct image_save_stats *st)
{
	struct proc_image img = { 0 };
	uint8_t *buf = NULL;
	size_t len = 0;
	int more, ret;

	more = proc_image_sweep_next(b->pid, &b->base, sw, LIVE_WINDOW_PAGES,
				     &img);
	if (more < 0)
		return more;
	ret = img.n_runs ? proc_image_encode(&img, &buf, &len) : 0;
	if (ret == 0 && len) {
		st->pages += proc_image_pages(&img);
		st->bytes += len;
		ret = send_pieces(x, i, buf, len);
	}
	if (ret == 0)
		ret = idle(i);
	free(buf);
	proc_image_free(&img);
	return ret < 0 ? ret : more;
}

int image_save_live(struct image_save_base *b, pid_t pid, int pidfd,
		    bool full, struct xport *x,
		    const struct image_save_idle *i,
		    struct image_save_stats *st)
{
	struct proc_image_sweep sw = { 0 };
	int ret;

	memset(st, 0, sizeof(*st));
	st->full = full || !b->base.valid;
	ret = base_follow(b, pid, pidfd);
	if (ret < 0)
		return ret;
	proc_image_sweep_begin(&sw, full);
	do
		ret = live_window(b, &sw, x, i, st);
	while (ret == 0);
	proc_image_sweep_free(&sw);
	if (ret < 0)
		proc_image_base_invalidate(&b->base);
	return ret < 0 ? ret : 0;
}

int image_save(struct proc_guest *g, struct image_save_base *b,
	       struct xport *x, const struct image_save_idle *i,
	       struct image_save_stats *st, struct image_save_verify *ver)
{
	struct proc_image img = { 0 };
	uint8_t *buf = NULL;
	size_t len = 0, nfds = 0;
	int *fds = NULL;
	int ret;

	memset(st, 0, sizeof(*st));
	/* Heartbeats inside the capture, digests and encoding of a big
	 * program (a whole image is a GiB for verify). */
	proc_idle_set(i ? i->fn : NULL, i ? i->opaque : NULL);
	ret = base_follow(b, g->child.pid, g->child.pidfd);
	if (ret == 0)
		ret = daemon_fds(g, &fds, &nfds);
	if (ret == 0)
		ret = proc_image_capture_tracked(proc_guest_tracer(g),
						 g->child.pidfd, fds, nfds,
						 &b->base, false, &img);
	free(fds);
	if (ret < 0) {
		proc_idle_set(NULL, NULL);
		return ret;
	}
	st->full = !img.delta;
	ret = check_supported(&img, st);
	if (ret == 0)
		ret = add_inputs(g, &img);
	if (ret == 0)
		ret = idle(i);
	if (ret == 0 && ver)
		ret = digest_image(g->child.pid, &img, ver);
	if (ret == 0)
		ret = idle(i);
	if (ret == 0)
		ret = proc_image_encode(&img, &buf, &len);
	if (ret == 0) {
		st->pages = proc_image_pages(&img);
		st->own_pages = own_pages(&img);
		st->bytes = len;
		st->threads = img.n_threads;
		st->fds = img.fds.n;
		st->conns = img.n_conns;
		ret = send_pieces(x, i, buf, len);
	}
	proc_idle_set(NULL, NULL);
	free(buf);
	proc_image_free(&img);
	/* The secondary has not got it: the next image cannot follow it. */
	if (ret < 0)
		proc_image_base_invalidate(&b->base);
	return ret;
}
