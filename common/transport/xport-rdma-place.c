// SPDX-License-Identifier: MIT
/*
 * Placement: the regions a receiver exposes and a sender sources, and
 * xport_place's side of it, a bounded list of WRITEs tagged with their
 * stream positions that the data path (xport-rdma.c) posts in order.
 *
 * Adjacent placements at one position (consecutive pages from
 * consecutive memory) merge into one WRITE of up to RDMA_WRITE_MAX, so a
 * run of pages costs a few work requests, not one each.
 */
#include "xport-rdma-int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "log.h"

static int find_source(struct rdma_xport *t, const void *src, size_t len,
		       uint32_t *lkey)
{
	uintptr_t a = (uintptr_t)src, s;
	unsigned i;

	for (i = 0; i < t->nsources; i++) {
		s = (uintptr_t)t->sources[i]->addr;
		if (a >= s && len <= t->sources[i]->length &&
		    a - s <= t->sources[i]->length - len) {
			*lkey = t->sources[i]->lkey;
			return 0;
		}
	}
	return -ENOENT;
}

static bool push_event(struct rdma_xport *t, const struct rdma_event *e)
{
	if (t->ev_n == RDMA_MAX_EVENTS)
		return false;
	t->events[(t->ev_head + t->ev_n) % RDMA_MAX_EVENTS] = *e;
	t->ev_n++;
	return true;
}

/* Remembered for the next placement's gate; 1, xport_place's "placed". */
static int placed_at(struct rdma_xport *t, uint64_t pos, uint64_t gate)
{
	t->placed_once = true;
	t->place_pos = pos;
	t->place_gate = gate;
	return 1;
}

int rdma_place(struct xport *x, uint32_t region, uint64_t offset,
		      const void *src, size_t len)
{
	struct rdma_xport *t = to_rdma(x);
	struct rdma_peer_region *pr;
	struct rdma_event e, *last;
	uint64_t pos = t->sent + xport_queued(x), chunk, gate;
	unsigned need;
	uint32_t lkey;
	struct rdma_batch b;

	if (t->err)
		return t->err;
	if (t->peer_closed || t->flushed)
		return -EPIPE;
	if (!len || region >= RDMA_MAX_REGIONS)
		return 0;
	pr = &t->peer_regions[region];
	if (!pr->valid || offset > pr->len || len > pr->len - offset)
		return 0;
	if (find_source(t, src, len, &lkey) < 0)
		return 0;
	/* What this WRITE must not overtake: every byte before it, or only
	 * what the last WRITE waited for when all since were harmless. */
	gate = t->placed_once && t->harmless_from == t->place_pos &&
	       t->harmless_to == pos ? t->place_gate : pos;
	if (t->ev_n) {
		last = &t->events[(t->ev_head + t->ev_n - 1) % RDMA_MAX_EVENTS];
		if (last->is_write && last->pos == pos && last->gate == gate &&
		    last->lkey == lkey &&
		    last->rkey == pr->rkey &&
		    last->raddr + last->len == pr->addr + offset &&
		    last->laddr + last->len == (uintptr_t)src &&
		    last->len + len <= RDMA_WRITE_MAX) {
			last->len += len;
			return placed_at(t, pos, gate);
		}
	}
	need = (unsigned)((len + RDMA_WRITE_MAX - 1) / RDMA_WRITE_MAX);
	if (RDMA_MAX_EVENTS - t->ev_n < need) {
		/* Make room if the head can go now; else the caller sends
		 * the bytes in the stream. */
		b.n = 0;
		if (rdma_progress(t) == 0) {
			rdma_pump_events(t, &b);
			rdma_batch_post(t, &b);
		}
		if (t->err)
			return t->err;
		if (RDMA_MAX_EVENTS - t->ev_n < need)
			return 0;
	}
	while (len) {
		chunk = len < RDMA_WRITE_MAX ? len : RDMA_WRITE_MAX;
		e = (struct rdma_event){
			.pos = pos, .gate = gate, .is_write = true,
			.region = region,
			.rkey = pr->rkey, .lkey = lkey,
			.raddr = pr->addr + offset, .laddr = (uintptr_t)src,
			.len = chunk,
		};
		push_event(t, &e);
		offset += chunk;
		src = (const uint8_t *)src + chunk;
		len -= chunk;
	}
	return placed_at(t, pos, gate);
}

void rdma_place_harmless(struct xport *x)
{
	struct rdma_xport *t = to_rdma(x);

	if (!t->placed_once)
		return;
	t->harmless_from = t->place_pos;
	t->harmless_to = t->sent + xport_queued(x);
}

/* --- regions -------------------------------------------------------------- */

int xport_rdma_expose(struct xport *x, uint32_t region, void *addr,
		      size_t len, char *err, size_t errlen)
{
	struct rdma_xport *t;
	struct rdma_event e;
	struct ibv_mr *mr;

	if (!x || x->ops != &rdma_ops) {
		snprintf(err, errlen, "not an RDMA connection");
		return -EINVAL;
	}
	t = to_rdma(x);
	if (region >= RDMA_MAX_REGIONS || !len) {
		snprintf(err, errlen, "region %u of %zu bytes: out of range",
			 region, len);
		return -EINVAL;
	}
	if (t->err) {
		snprintf(err, errlen, "the connection is broken");
		return t->err;
	}
	if (t->ev_n == RDMA_MAX_EVENTS) {
		snprintf(err, errlen, "too many placements pending");
		return -ENOBUFS;
	}
	/* The daemon forks (its guest, a fence command) while the region is
	 * registered: the kernel copies pinned private pages into a child
	 * at fork, the whole RAM cache, seconds for a large one. The child
	 * execs at once and needs none of it, so it gets no mapping at all.
	 * (Page-aligned regions only; anything else keeps the copy.) */
	if (madvise(addr, len, MADV_DONTFORK) < 0 && errno != EINVAL)
		log_warn("madvise(MADV_DONTFORK) of region %u: %s", region,
			 strerror(errno));
	mr = ibv_reg_mr(t->pd, addr, len,
			IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	if (!mr)
		return rdma_reg_error(errno, "exposing a region", len, err,
				      errlen);
	if (t->exposed[region])
		ibv_dereg_mr(t->exposed[region]);
	t->exposed[region] = mr;
	e = (struct rdma_event){
		.pos = t->sent + xport_queued(x), .is_write = false,
		.region = region, .rkey = mr->rkey,
		.raddr = (uintptr_t)addr, .len = len,
	};
	push_event(t, &e);
	return 0;
}

int xport_rdma_source(struct xport *x, const void *addr, size_t len,
		      char *err, size_t errlen)
{
	struct rdma_xport *t;
	struct ibv_mr *mr;

	if (!x || x->ops != &rdma_ops) {
		snprintf(err, errlen, "not an RDMA connection");
		return -EINVAL;
	}
	t = to_rdma(x);
	if (!len) {
		snprintf(err, errlen, "an empty source");
		return -EINVAL;
	}
	if (t->nsources == RDMA_MAX_SOURCES) {
		snprintf(err, errlen, "%d source regions at most",
			 RDMA_MAX_SOURCES);
		return -ENOSPC;
	}
	/* Local read only: the HCA reads it for our WRITEs. */
	mr = ibv_reg_mr(t->pd, (void *)(uintptr_t)addr, len, 0);
	if (!mr)
		return rdma_reg_error(errno, "registering a source", len, err,
				 errlen);
	t->sources[t->nsources++] = mr;
	return 0;
}
