// SPDX-License-Identifier: MIT
/*
 * The incoming stream (see incoming.h for the states).
 *
 * Nothing from the wire is trusted (I6): every message is checked against
 * the state and every page range against the layout before anything is
 * written, and a bad one ends the connection with a log line saying what
 * was wrong. Pages only go into the RAM cache; the SVM's RAM changes only
 * when a whole checkpoint has arrived (I7).
 *
 * Each handler opens with expect(): the states in which its message may
 * come, as QEMU's colo_receive_check_message(expect) does, so a
 * checkpoint reads as its sequence: BEGIN in SYNC or COLO; PAGES in CKPT;
 * one DEVICE_STATE; END, which applies and acks.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc-idle.h"
#include "digest.h"
#include "evloop.h"
#include "incoming.h"
#include "last-error.h"
#include "log.h"
#include "proc-identity.h"
#include "proc-image.h"
#include "ram-digest.h"
#include "svm.h"
#include "tunables.h"

#define MAX_RAM_BYTES (1ULL << 40)
#define ADDR_LIMIT (1ULL << 47)

#define ST(x) (1u << (x))

const char *in_state_name(enum in_state st)
{
	switch (st) {
	case IN_WAITING: return "waiting";
	case IN_HELLO: return "hello";
	case IN_SYNC: return "syncing";
	case IN_CKPT: return "checkpoint";
	case IN_COLO: return "colo";
	case IN_FENCED: return "fenced";
	}
	return "unknown";
}

static const char *peer(const struct incoming *in)
{
	return sec_link_peer(in->link);
}

/* The message may come in the states of mask (ST(...)); any other is a
 * primary out of step with us (I6). */
static bool expect(const struct incoming *in, const struct proto_msg *m,
		   unsigned mask)
{
	if (mask & ST(in->state))
		return true;
	log_error("%s sent %s, which does not belong in state %s", peer(in),
		  proto_type_name(m->type), in_state_name(in->state));
	return false;
}

static int refuse(struct incoming *in, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int refuse(struct incoming *in, const char *fmt, ...)
{
	struct proto_msg m = { .type = PROTO_REFUSE };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m.refuse.reason, sizeof(m.refuse.reason), fmt, ap);
	va_end(ap);
	log_error("refusing primary %s: %s", peer(in), m.refuse.reason);
	last_error_set(in->last_error, "refused %s: %s", peer(in),
		       m.refuse.reason);
	sec_link_send(in->link, &m);
	return -ECONNREFUSED;
}

static int check_layout(struct incoming *in, const struct proto_hello *h)
{
	uint64_t total = 0;
	uint32_t i, j;

	for (i = 0; i < h->nblocks; i++) {
		uint64_t addr = h->blocks[i].guest_addr, size = h->blocks[i].size;

		if (h->blocks[i].id != i)
			return refuse(in, "block %u has id %u", i,
				      h->blocks[i].id);
		if (size == 0 || size > MAX_RAM_BYTES || total + size > MAX_RAM_BYTES)
			return refuse(in, "block %u: size %llu out of range", i,
				      (unsigned long long)size);
		if (addr % RAM_PAGE_SIZE || addr >= ADDR_LIMIT ||
		    size > ADDR_LIMIT - addr)
			return refuse(in, "block %u: address %#llx unusable", i,
				      (unsigned long long)addr);
		for (j = 0; j < i; j++) {
			uint64_t a = h->blocks[j].guest_addr;

			if (addr < a + h->blocks[j].size && a < addr + size)
				return refuse(in, "blocks %u and %u overlap",
					      j, i);
		}
		total += size;
	}
	return 0;
}

/* Runs on the thread that flushes (today the main thread, in
 * apply_checkpoint): the primary waits for our ack meanwhile. */
static void flush_tick(void *opaque)
{
	struct incoming *in = opaque;

	sec_link_heartbeat(in->link);
}

/* The RAM cache over in->ram, heartbeating while it flushes; the SVM's
 * dirty log joins it when the SVM runs. */
static int cache_init(struct incoming *in)
{
	int ret = ramcache_init(&in->cache, &in->ram);

	if (ret == 0) {
		in->cache.flush_tick = flush_tick;
		in->cache.flush_tick_opaque = in;
	}
	return ret;
}

static void cache_watch_svm(struct incoming *in, bool on)
{
	ramcache_lock(&in->cache);
	in->cache.dlog = on ? &in->svm->dlog : NULL;
	ramcache_unlock(&in->cache);
}

static int setup_ram(struct incoming *in, const struct proto_hello *h)
{
	uint32_t i;
	int ret;

	memset(&in->ram, 0, sizeof(in->ram));
	for (i = 0; i < h->nblocks; i++) {
		ret = ramblock_create(&in->ram.blocks[i], i, h->blocks[i].name,
				      h->blocks[i].size, h->blocks[i].guest_addr);
		if (ret < 0) {
			ram_layout_destroy(&in->ram);
			return refuse(in, "cannot create %llu bytes of RAM: %s",
				      (unsigned long long)h->blocks[i].size,
				      strerror(-ret));
		}
		in->ram.nblocks = i + 1;
	}
	ret = cache_init(in);
	if (ret < 0) {
		ram_layout_destroy(&in->ram);
		return refuse(in, "cannot allocate the RAM cache: %s",
			      strerror(-ret));
	}
	in->have_ram = true;
	return 0;
}

/*
 * Over RDMA the primary places pages straight into the cache: each block
 * is its region, numbered as in the hello. Before HELLO_ACK, so that the
 * keys travel ahead of it and the primary knows them by the time it
 * sends its first page. Nothing to do on any other link.
 */
static int expose_cache(struct incoming *in)
{
	uint64_t start = evloop_now_ms(), bytes = 0;
	char err[256];
	uint32_t i;
	int ret;

	if (!sec_link_is_rdma(in->link))
		return 0;
	for (i = 0; i < in->ram.nblocks; i++) {
		ret = sec_link_expose(in->link, i, in->cache.cache[i],
				      in->ram.blocks[i].size, err, sizeof(err));
		if (ret < 0) {
			log_error("cannot expose the RAM cache to %s: %s",
				  peer(in), err);
			last_error_set(in->last_error, "cannot expose the RAM "
				       "cache to %s: %s", peer(in), err);
			return ret;
		}
		bytes += in->ram.blocks[i].size;
	}
	in->cache.pinned = true;
	/* The primary waits this out before our answer: say how long. */
	log_info("pinned %llu MiB of RAM cache for RDMA in %llu ms",
		 (unsigned long long)(bytes >> 20),
		 (unsigned long long)(evloop_now_ms() - start));
	return 0;
}

/*
 * I8: a fenced SVM is what clients saw last. Only a primary of the same
 * pair, holding at least the same checkpoint, may replace it; a new or
 * restarted primary (another pair id) would replace it with less. The
 * operator decides that case: `colo-ctl failover` serves the fenced SVM,
 * `colo-ctl drop-fenced` throws it away.
 */
static int check_generation(struct incoming *in,
			    const struct proto_generation *g)
{
	if (g->pair_id == in->gen.pair_id && g->generation >= in->gen.generation)
		return 0;
	/* Fits PROTO_REASON_MAX with the longest numbers. */
	return refuse(in, "fenced SVM of pair %016llx generation %llu here; "
		      "primary offers pair %016llx generation %llu (%s): not "
		      "replaced; `colo-ctl failover` serves it, `colo-ctl "
		      "drop-fenced` discards it",
		      (unsigned long long)in->gen.pair_id,
		      (unsigned long long)in->gen.generation,
		      (unsigned long long)g->pair_id,
		      (unsigned long long)g->generation,
		      g->pair_id != in->gen.pair_id ? "another pair" : "older");
}

/*
 * A process guest is copied whole between hosts: only between the same
 * kernel, CPU features and binaries (proc-identity.h). Comes before the
 * hello, from a primary with --exec only.
 */
static int on_identity(void *opaque, const struct proto_msg *m)
{
	struct incoming *in = opaque;
	struct proc_identity id;
	char why[PROTO_REASON_MAX - 48];
	int ret;

	if (!expect(in, m, ST(IN_HELLO) | ST(IN_FENCED)))
		return -EPROTO;
	if (!in->is_exec)
		return refuse(in, "the primary protects an unmodified program "
			      "(--exec), this secondary a libcolo-guest "
			      "(--guest)");
	ret = proc_identity_decode(m->identity.data, m->identity.len, &id,
				   why, sizeof(why));
	if (ret < 0)
		return refuse(in, "malformed identity: %s", why);
	ret = proc_identity_check(&id, why, sizeof(why));
	proc_identity_free(&id);
	if (ret < 0)
		return refuse(in, "this host differs: %s", why);
	in->have_identity = true;
	return 0;
}

/* The guest's kind must be ours: RAM blocks for a libcolo-guest, none
 * (and an identity first) for an unmodified program. */
static int check_kind(struct incoming *in, const struct proto_hello *h)
{
	if (!in->is_exec && h->nblocks == 0)
		return refuse(in, "the primary protects an unmodified program "
			      "(--exec), this secondary a libcolo-guest "
			      "(--guest)");
	if (in->is_exec && h->nblocks)
		return refuse(in, "the primary protects a libcolo-guest "
			      "(--guest), this secondary an unmodified program "
			      "(--exec)");
	if (in->is_exec && !in->have_identity)
		return refuse(in, "hello without the program's identity");
	return 0;
}

/* How long the first checkpoint waits for the channels to end: the
 * primary's silence allowed on the link, with a floor (a stop request
 * cuts it short). */
static unsigned channels_timeout(const struct incoming *in)
{
	unsigned ms = in->link->cfg.timeout_ms;

	/* The sockets may hold megabytes the receivers still decrypt: on a
	 * loaded host (or under TSan) more than a short failover timeout. */
	return ms > 5000 ? ms : 5000;
}

static void channel_failed(void *opaque, int err, const char *why)
{
	struct incoming *in = opaque;

	/* The link's failure: the partial sync goes, as when it drops. */
	sec_link_fail(in->link, err, why, false);
}

bool incoming_channel_wanted(struct incoming *in)
{
	return in->state == IN_SYNC && chan_rx_wanted(&in->chans);
}

int incoming_channel(struct incoming *in, struct xport *x,
		     const struct proto_channel *c, char *why, size_t whylen)
{
	if (in->state != IN_SYNC) {
		snprintf(why, whylen, "channel %u: the pair is in state %s, "
			 "not live sync", c->index, in_state_name(in->state));
		return -EPERM;
	}
	return chan_rx_take(&in->chans, x, c, why, whylen);
}

static int on_hello(void *opaque, const struct proto_msg *m)
{
	struct incoming *in = opaque;
	const struct proto_hello *h = &m->hello;
	struct proto_msg ack = { .type = PROTO_HELLO_ACK };
	char ours[2 * DIGEST_LEN + 1], theirs[2 * DIGEST_LEN + 1];
	int ret;

	if (!expect(in, m, ST(IN_HELLO) | ST(IN_FENCED)))
		return -EPROTO;
	if (h->version != PROTO_VERSION)
		return refuse(in, "protocol version %u, this secondary speaks "
			      "version %u", h->version, PROTO_VERSION);
	if (h->page_size != RAM_PAGE_SIZE)
		return refuse(in, "page size %u, this secondary uses %llu",
			      h->page_size, RAM_PAGE_SIZE);
	if (memcmp(h->guest_digest, in->guest_digest, DIGEST_LEN)) {
		digest_hex(h->guest_digest, theirs);
		digest_hex(in->guest_digest, ours);
		return refuse(in, "guest binary differs: primary's sha256 %s, "
			      "secondary's %s", theirs, ours);
	}
	ret = check_kind(in, h);
	if (ret == 0)
		ret = check_layout(in, h);
	if (ret < 0)
		return ret;
	if (in->state == IN_FENCED) {
		ret = check_generation(in, &h->gen);
		if (ret < 0)
			return ret;
		/* The primary has all we have; still, ours stays until its
		 * first checkpoint is applied here. */
		log_warn("primary %s (pair %016llx generation %llu) accepted: "
			 "it replaces the fenced SVM", peer(in),
			 (unsigned long long)h->gen.pair_id,
			 (unsigned long long)h->gen.generation);
		if (in->hooks.replacing_fenced)
			in->hooks.replacing_fenced(in->hooks.opaque);
	}
	if (h->channels > 1 && (in->is_exec || sec_link_is_rdma(in->link)))
		return refuse(in, "live sync over %u channels: only a "
			      "libcolo-guest over TLS or TCP may use them, "
			      "this link is %s", h->channels,
			      in->is_exec ? "an --exec program's" : "RDMA");
	in->state = IN_SYNC;
	in->sync_pages = 0;
	if (in->is_exec) {
		/* What an earlier primary sent is nothing to this one. */
		svm_drop_cache(in->svm);
		image_load_reset(&in->image);
		sec_link_start_heartbeats(in->link);
		log_info("primary %s accepted: an unmodified program, its pages "
			 "live synced, the rest at the first checkpoint",
			 peer(in));
		return sec_link_send(in->link, &ack);
	}
	ret = setup_ram(in, h);
	if (ret == 0)
		ret = expose_cache(in);
	if (ret < 0)
		return ret;
	/* The channels' token goes with the ack; they may come from now. */
	chan_rx_open(&in->chans, h->channels, &in->cache, &in->ram,
		     channels_timeout(in), ack.hello_ack.token);
	/* The primary has been waiting for our answer while we set up (and,
	 * over RDMA, pinned) the RAM cache, seconds for a large guest: its
	 * silence counts from now, not from its hello. */
	sec_link_heard(in->link);
	sec_link_start_heartbeats(in->link);
	log_info("primary %s accepted: %llu MiB of guest RAM, live sync "
		 "starting", peer(in),
		 (unsigned long long)(ram_layout_bytes(&in->ram) >> 20));
	return sec_link_send(in->link, &ack);
}

static int bad_range(struct incoming *in, const char *what, uint32_t block,
		     uint64_t first, uint64_t count)
{
	uint64_t pages = block < in->ram.nblocks ?
			 ramblock_pages(&in->ram.blocks[block]) : 0;

	log_error("%s from %s out of range: block %u pages %llu+%llu (layout "
		  "has %u blocks, this one %llu pages)", what, peer(in), block,
		  (unsigned long long)first, (unsigned long long)count,
		  in->ram.nblocks, (unsigned long long)pages);
	return -ERANGE;
}

static int on_pages(void *opaque, const struct proto_msg *m)
{
	struct incoming *in = opaque;
	bool discard = m->type == PROTO_DISCARD;
	uint32_t block = discard ? m->discard.block : m->pages.block;
	uint64_t first = discard ? m->discard.first : m->pages.first;
	uint64_t count = discard ? m->discard.count : m->pages.count;
	const uint8_t *data = discard ? NULL : m->pages.data;

	bool placed = !discard && (m->pages.flags & PROTO_PAGES_PLACED);
	bool delta = !discard && (m->pages.flags & PROTO_PAGES_DELTA);

	if (!expect(in, m, ST(IN_SYNC) | ST(IN_CKPT)))
		return -EPROTO;
	/* Only an RDMA peer can have put bytes in our cache; anyone else
	 * claiming so would have us take stale bytes for its pages (I6). */
	if (placed && !sec_link_is_rdma(in->link)) {
		log_error("%s sent placed PAGES on a link without RDMA",
			  peer(in));
		return -EPROTO;
	}
	/* Deltas are against what the last checkpoints sent: a primary
	 * sends them only inside one (the decoder checked their shape). */
	if (delta && in->state != IN_CKPT) {
		log_error("%s sent delta PAGES outside a checkpoint", peer(in));
		return -EPROTO;
	}
	if (proto_check_range(&in->ram, block, first, count) < 0)
		return bad_range(in, proto_type_name(m->type), block, first,
				 count);
	/* Over several channels the link carries its own chunks only: a
	 * page on the wrong one could overtake its newer copy. */
	if (in->state == IN_SYNC &&
	    !chan_rx_routes_to(&in->chans, 0, first, count)) {
		log_error("%s sent %s of pages %llu+%llu on the link, which "
			  "belong to another live-sync channel", peer(in),
			  proto_type_name(m->type), (unsigned long long)first,
			  (unsigned long long)count);
		return -EPROTO;
	}
	/* CKPT_END counts the pages sent; discarded ranges are not pages. */
	if (in->state == IN_CKPT && !discard)
		in->ckpt_pages += count;
	else if (!discard)
		in->sync_pages += count;
	if (placed) {
		in->placed_pages += count;
		return ramcache_mark_placed(&in->cache, block, first, count);
	}
	if (delta) {
		in->delta_pages += count;
		return ramcache_apply_delta(&in->cache, block, first, count,
					    data);
	}
	return ramcache_store(&in->cache, block, first, count, data);
}

/* The SVM image's verify digests, taken when an image was applied. */
static void drop_svm_digests(struct incoming *in)
{
	free(in->svm_digests.digests);
	in->svm_digests.digests = NULL;
	in->svm_digests.nchunks = 0;
}

static int on_ckpt_begin(void *opaque, const struct proto_msg *m)
{
	struct incoming *in = opaque;
	const struct proto_ckpt_begin *b = &m->ckpt_begin;
	bool first = b->flags & PROTO_CKPT_FIRST;

	if (!expect(in, m, ST(IN_SYNC) | ST(IN_COLO)))
		return -EPROTO;
	if (first != (in->state == IN_SYNC)) {
		log_error("%s: checkpoint %llu %s the first, but the pair is "
			  "in state %s", peer(in), (unsigned long long)b->id,
			  first ? "claims to be" : "is not",
			  in_state_name(in->state));
		return -EPROTO;
	}
	if (first) {
		/* Every page of the sync is in before the checkpoint's. */
		char why[256];
		uint64_t pages;
		int ret = chan_rx_finish(&in->chans, &pages, why, sizeof(why));

		if (ret < 0) {
			log_error("%s: %s", peer(in), why);
			last_error_set(in->last_error, "%s", why);
			return ret;
		}
		in->sync_pages += pages;
	}
	in->state = IN_CKPT;
	in->ckpt_id = b->id;
	in->ckpt_flags = b->flags;
	in->ckpt_pages = 0;
	in->have_devstate = false;
	in->ckpt_begin_ms = evloop_now_ms();
	in->ckpt_begin_us = evloop_now_us();
	in->ckpt_begin_cpu_us = evloop_thread_cpu_us();
	memset(&in->phases, 0, sizeof(in->phases));
	image_load_reset(&in->image);
	drop_svm_digests(in);
	in->svm_digests.chunk_pages = RAM_DIGEST_CHUNK_PAGES;
	return 0;
}

/*
 * Live sync of a process guest: a whole image of pages, cached as soon
 * as its last piece is here. The SVM is not running yet; the first
 * checkpoint's delta makes the cache exact and starts it.
 */
static int cache_synced_image(struct incoming *in)
{
	struct proc_image img = { 0 };
	int ret;

	ret = image_load_decode(&in->image, &img, peer(in));
	if (ret == 0 && (img.n_threads || img.fds.n || img.n_conns)) {
		log_error("%s: a live-sync image carries more than pages",
			  peer(in));
		ret = -EPROTO;
	}
	if (ret == 0)
		ret = svm_cache_image(in->svm, &img);
	if (ret == 0)
		in->sync_pages += proc_image_pages(&img);
	proc_image_free(&img);
	image_load_reset(&in->image);
	return ret;
}

/* A piece of a process guest's image: gathered, applied at CKPT_END (or
 * cached when whole, in live sync). */
static int on_image(void *opaque, const struct proto_msg *m)
{
	struct incoming *in = opaque;
	int ret;

	if (!expect(in, m, in->is_exec ? ST(IN_CKPT) | ST(IN_SYNC) : 0))
		return -EPROTO;
	ret = image_load_piece(&in->image, &m->image, peer(in));
	if (ret == 0 && in->state == IN_SYNC && in->image.len == in->image.total)
		ret = cache_synced_image(in);
	return ret;
}

/* An unmodified program's digests were taken as its image was applied. */
static int send_image_verify(struct incoming *in)
{
	struct proto_msg m = { .type = PROTO_VERIFY };
	struct svm_image_digests *dg = &in->svm_digests;
	int ret;

	if (dg->nchunks > PROTO_MAX_VERIFY_DIGESTS)
		ret = -E2BIG;
	else if (!dg->digests)
		ret = -ENODATA;
	else {
		m.verify.id = in->ckpt_id;
		m.verify.chunk_pages = dg->chunk_pages;
		m.verify.ndigests = dg->nchunks;
		m.verify.digests = dg->digests;
		ret = sec_link_send(in->link, &m);
	}
	drop_svm_digests(in);
	return ret;
}

static int send_verify(struct incoming *in)
{
	struct proto_msg m = { .type = PROTO_VERIFY };
	uint32_t n;
	uint8_t *d;
	int ret;

	if (in->is_exec)
		return send_image_verify(in);
	n = ram_digest_nchunks(&in->ram, RAM_DIGEST_CHUNK_PAGES);

	if (n > PROTO_MAX_VERIFY_DIGESTS)
		return -E2BIG;
	d = malloc((size_t)n * DIGEST_LEN);
	if (!d)
		return -ENOMEM;
	ret = ram_digest_chunks(&in->ram, RAM_DIGEST_CHUNK_PAGES, d,
				sec_link_heartbeat_idle, in->link);
	if (ret == 0) {
		m.verify.id = in->ckpt_id;
		m.verify.chunk_pages = RAM_DIGEST_CHUNK_PAGES;
		m.verify.ndigests = n;
		m.verify.digests = d;
		ret = sec_link_send(in->link, &m);
	}
	free(d);
	return ret;
}

/* The ranges colo-primary's flags allow (I6: checked before use). */
static int check_tunables(struct incoming *in, const struct proto_tunables *t)
{
	if (!tunables_check_carried(t))
		return 0;
	log_error("%s: device state carries tunables out of range", peer(in));
	return -EPROTO;
}

static int on_device_state(void *opaque, const struct proto_msg *m)
{
	struct incoming *in = opaque;
	const struct proto_device_state *d = &m->device_state;
	uint32_t *ids;
	uint32_t i;

	if (!expect(in, m, in->have_devstate ? 0 : ST(IN_CKPT)))
		return -EPROTO;
	if (check_tunables(in, &d->tunables) < 0)
		return -EPROTO;
	ids = malloc(((size_t)d->nconns + 1) * sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	for (i = 0; i < d->nconns; i++) {
		uint32_t be;

		memcpy(&be, d->conn_ids + 4 * (size_t)i, 4);
		ids[i] = ntohl(be);
	}
	free(in->dev_conns);
	in->dev_conns = ids;
	in->ndev_conns = d->nconns;
	in->dev_input_seq = d->input_seq;
	in->dev_gen = d->gen;
	in->dev_tunables = d->tunables;
	in->have_devstate = true;
	return 0;
}

/* Microseconds since start, as the ack carries them (saturated). */
static uint32_t us_since(uint64_t start)
{
	uint64_t d = evloop_now_us() - start;

	return d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

/* Stop the SVM at a safe point, timed for the ack. */
static int timed_svm_barrier(struct incoming *in)
{
	uint64_t t = evloop_now_us();
	int ret = svm_barrier(in->svm);

	in->phases.svm_barrier_us = us_since(t);
	return ret;
}

/* Every event before the checkpoint reached the SVM, none after. */
static int check_input_seq(struct incoming *in)
{
	if (in->svm->input_seq == in->dev_input_seq)
		return 0;
	log_error("SVM has had %llu input events, the primary's checkpoint "
		  "%llu is at %llu", (unsigned long long)in->svm->input_seq,
		  (unsigned long long)in->ckpt_id,
		  (unsigned long long)in->dev_input_seq);
	return -EPROTO;
}

/*
 * An unmodified program: decoded whole before anything changes (I7), the
 * program started afresh at the first checkpoint, then made the image.
 */
static int apply_image(struct incoming *in)
{
	struct proc_image img = { 0 };
	int ret;

	/* Heartbeats while a big image is decoded (its pages copied). */
	proc_idle_set(sec_link_heartbeat_idle, in->link);
	ret = image_load_decode(&in->image, &img, peer(in));
	proc_idle_set(NULL, NULL);
	if (ret < 0)
		return ret;
	in->ckpt_pages = proc_image_pages(&img);
	if (in->ckpt_pages != in->ckpt_end_pages) {
		log_error("%s: checkpoint %llu claims %llu pages, its image "
			  "holds %llu", peer(in),
			  (unsigned long long)in->ckpt_id,
			  (unsigned long long)in->ckpt_end_pages,
			  (unsigned long long)in->ckpt_pages);
		ret = -EPROTO;
	} else if (in->ckpt_flags & PROTO_CKPT_FIRST) {
		ret = svm_start(in->svm, NULL, in->dev_input_seq);
	} else {
		ret = timed_svm_barrier(in);
		if (ret == 0)
			ret = check_input_seq(in);
	}
	if (ret == 0)
		ret = svm_apply_image(in->svm, &img, in->dev_conns,
				      in->ndev_conns,
				      in->ckpt_flags & PROTO_CKPT_VERIFY ?
				      &in->svm_digests : NULL);
	proc_image_free(&img);
	image_load_reset(&in->image);
	in->last_ckpt_flushed = in->ckpt_pages;
	return ret;
}

static void keep_open_conns(struct incoming *in)
{
	size_t i, n = 0;

	for (i = 0; i < in->ndev_conns; i++)
		if (!(in->dev_conns[i] & PROTO_CONN_SHUT))
			in->dev_conns[n++] = in->dev_conns[i];
	in->ndev_conns = n;
}

/* The whole checkpoint is here: make the SVM equal to it. */
static int apply_checkpoint(struct incoming *in)
{
	int64_t flushed = 0;
	int ret;

	if (in->is_exec) {
		ret = apply_image(in);
		if (ret != 0)           /* SVM_APPLY_NOT_NOW too */
			return ret;
	} else if (in->ckpt_flags & PROTO_CKPT_FIRST) {
		/* Live sync wrote every page to the SVM's RAM as well. */
		ramcache_svm_start(&in->cache);
		ret = svm_start(in->svm, &in->ram, in->dev_input_seq);
		if (ret < 0)
			return ret;
		cache_watch_svm(in, true);
		flushed = 0;
	} else {
		uint64_t t;

		ret = timed_svm_barrier(in);
		if (ret == 0)
			ret = check_input_seq(in);
		if (ret < 0)
			return ret;
		t = evloop_now_us();
		flushed = colo_flush_ram_cache(&in->cache);
		in->phases.flush_us = us_since(t);
		if (flushed < 0)
			return (int)flushed;
	}
	if (!in->is_exec)
		in->last_ckpt_flushed = (uint64_t)flushed;
	in->gen = in->dev_gen;
	in->tunables = in->dev_tunables;
	in->have_tunables = true;
	/* A fenced SVM kept for this sync is superseded now. */
	if (in->hooks.checkpoint_applied)
		in->hooks.checkpoint_applied(in->hooks.opaque);
	/* The SVM's connections are now the PVM's as of the checkpoint: for
	 * an --exec guest, those its clients have not half-closed. */
	if (in->is_exec)
		keep_open_conns(in);
	return svm_conns_replace(in->svm, in->dev_conns, in->ndev_conns);
}

/*
 * The SVM could not be made the image only for now (svm_apply_image's
 * SVM_APPLY_NOT_NOW): nothing changed, the SVM runs on, and the pair goes
 * on as before the checkpoint began, the primary told -EAGAIN to try
 * again. The first checkpoint has no "before" (live sync is over, the
 * program just started): it fails as any refusal does.
 */
/*
 * CKPT_ACK for checkpoint id with status (0 applied, -EAGAIN "not now"),
 * carrying where our time went; an applied one's phases are kept for
 * status.
 */
static int send_ack(struct incoming *in, uint64_t id, int32_t status)
{
	struct proto_msg ack = { .type = PROTO_CKPT_ACK };

	in->phases.end_us = us_since(in->ckpt_end_us);
	in->phases.cpu_us = (uint32_t)(evloop_thread_cpu_us() -
				       in->ckpt_begin_cpu_us);
	if (status == 0)
		in->last_phases = in->phases;
	ack.ckpt_ack = in->phases;
	ack.ckpt_ack.id = id;
	ack.ckpt_ack.status = status;
	/* Applying may have taken longer than the failover timeout; the
	 * primary was alive when it sent CKPT_END, so count from now. */
	sec_link_heard(in->link);
	return sec_link_send(in->link, &ack);
}

static int ack_not_now(struct incoming *in, uint64_t id)
{
	if (in->ckpt_flags & PROTO_CKPT_FIRST)
		return -ENOTSUP;
	drop_svm_digests(in);
	in->state = IN_COLO;
	in->not_now++;
	return send_ack(in, id, -EAGAIN);
}

static int on_ckpt_end(void *opaque, const struct proto_msg *m)
{
	struct incoming *in = opaque;
	const struct proto_ckpt_end *e = &m->ckpt_end;
	int ret;

	if (!expect(in, m, ST(IN_CKPT)))
		return -EPROTO;
	in->phases.receive_us = us_since(in->ckpt_begin_us);
	in->ckpt_end_us = evloop_now_us();
	if (e->id != in->ckpt_id || !in->have_devstate) {
		log_error("%s: checkpoint %llu ended as %llu%s", peer(in),
			  (unsigned long long)in->ckpt_id,
			  (unsigned long long)e->id,
			  in->have_devstate ? "" : " without device state");
		return -EPROTO;
	}
	/* An image's pages are counted when it is decoded (apply_image). */
	in->ckpt_end_pages = e->pages;
	if (!in->is_exec && e->pages != in->ckpt_pages) {
		log_error("%s: checkpoint %llu claims %llu pages, %llu arrived",
			  peer(in), (unsigned long long)e->id,
			  (unsigned long long)e->pages,
			  (unsigned long long)in->ckpt_pages);
		return -EPROTO;
	}
	ret = apply_checkpoint(in);
	if (ret == SVM_APPLY_NOT_NOW)
		return ack_not_now(in, e->id);
	if (ret < 0)
		return ret;
	if (in->ckpt_flags & PROTO_CKPT_VERIFY) {
		ret = send_verify(in);
		if (ret < 0)
			return ret;
	}
	in->state = IN_COLO;
	in->ckpt_count++;
	in->last_ckpt_pages = in->ckpt_pages;
	in->last_ckpt_apply_ms = (double)(evloop_now_ms() - in->ckpt_begin_ms);
	metrics_hist_observe(&in->pause_hist, in->last_ckpt_apply_ms / 1000);
	metrics_hist_observe(&in->pages_hist, (double)in->ckpt_pages);
	if (in->ckpt_flags & PROTO_CKPT_FIRST)
		log_info("live sync complete (%llu pages); SVM running, pair "
			 "in colo state", (unsigned long long)in->sync_pages);
	if (in->hooks.checkpoint_acked)
		in->hooks.checkpoint_acked(in->hooks.acked_opaque,
					   in->ckpt_flags & PROTO_CKPT_FIRST);
	return send_ack(in, e->id, 0);
}

static int on_input(void *opaque, const struct proto_msg *m)
{
	struct incoming *in = opaque;

	if (!expect(in, m, ST(IN_COLO)))
		return -EPROTO;
	return svm_feed(in->svm, &m->input);
}

static int on_heartbeat(void *opaque, const struct proto_msg *m)
{
	(void)opaque;
	(void)m;
	return 0;           /* the link counted it as a sign of life */
}

const sec_link_handler incoming_handlers[PROTO__MAX] = {
	[PROTO_HELLO] = on_hello,
	[PROTO_PAGES] = on_pages,
	[PROTO_DISCARD] = on_pages,
	[PROTO_CKPT_BEGIN] = on_ckpt_begin,
	[PROTO_DEVICE_STATE] = on_device_state,
	[PROTO_CKPT_END] = on_ckpt_end,
	[PROTO_INPUT] = on_input,
	[PROTO_HEARTBEAT] = on_heartbeat,
	[PROTO_IDENTITY] = on_identity,
	[PROTO_IMAGE] = on_image,
};

int incoming_handle(struct incoming *in, const struct proto_msg *m)
{
	sec_link_handler h = m->type < PROTO__MAX ?
			     incoming_handlers[m->type] : NULL;

	if (!h) {
		log_error("%s sent %s, which does not belong in state %s",
			  peer(in), proto_type_name(m->type),
			  in_state_name(in->state));
		return -EPROTO;
	}
	return h(in, m);
}

void incoming_init(struct incoming *in, struct sec_link *link,
		   struct svm *svm, struct last_error *last_error,
		   const uint8_t guest_digest[PROTO_DIGEST_LEN],
		   const struct incoming_hooks *hooks)
{
	memset(in, 0, sizeof(*in));
	in->link = link;
	in->svm = svm;
	in->last_error = last_error;
	memcpy(in->guest_digest, guest_digest, PROTO_DIGEST_LEN);
	in->is_exec = svm->is_exec;
	if (hooks)
		in->hooks = *hooks;
	in->state = IN_WAITING;
	if (chan_rx_init(&in->chans, sec_link_loop(link),
			 link->cfg.cancel_fd, channel_failed, in) < 0)
		log_error("live-sync channels: %s", strerror(errno));
	metrics_hist_init_ckpt_pause(&in->pause_hist);
	metrics_hist_init_ckpt_pages(&in->pages_hist);
}

void incoming_connected(struct incoming *in)
{
	in->have_identity = false;
	if (in->state != IN_FENCED)  /* fenced: kept until a hello is accepted */
		in->state = IN_HELLO;
}

void incoming_fenced(struct incoming *in)
{
	in->state = IN_FENCED;
}

void incoming_reset(struct incoming *in, const char *why)
{
	if (sec_link_connected(in->link)) {
		log_warn("connection with primary %s ended: %s", peer(in), why);
		last_error_set(in->last_error, "primary %s: %s", peer(in), why);
		sec_link_close(in->link);
	}
	/* The receivers write into the cache: gone before it goes. */
	chan_rx_stop(&in->chans);
	if (in->have_ram && svm_running(in->svm))
		cache_watch_svm(in, false);
	svm_stop(in->svm);
	free(in->dev_conns);
	in->dev_conns = NULL;
	in->ndev_conns = 0;
	svm_conns_clear(in->svm);
	image_load_reset(&in->image);
	drop_svm_digests(in);
	in->have_identity = false;
	if (in->have_ram) {
		ramcache_deinit(&in->cache);
		ram_layout_destroy(&in->ram);
		in->have_ram = false;
	}
	in->state = IN_WAITING;
	in->have_tunables = false;
	memset(&in->gen, 0, sizeof(in->gen));
	if (in->hooks.reset_done)
		in->hooks.reset_done(in->hooks.opaque);
}

void incoming_deinit(struct incoming *in)
{
	incoming_reset(in, "shutting down");
	chan_rx_deinit(&in->chans);
	free(in->dev_conns);
	in->dev_conns = NULL;
}

bool incoming_release(struct incoming *in, struct ram_layout *ram,
		      struct proto_generation *gen,
		      struct proto_tunables *tunables)
{
	/* No receiver may outlive the cache it writes into. */
	chan_rx_stop(&in->chans);
	if (in->have_ram)
		ramcache_deinit(&in->cache);
	free(in->dev_conns);
	in->dev_conns = NULL;
	in->ndev_conns = 0;
	*ram = in->ram;
	*gen = in->gen;
	*tunables = in->tunables;
	memset(&in->ram, 0, sizeof(in->ram));
	in->have_ram = false;
	return in->have_tunables;
}

int incoming_adopt(struct incoming *in, const struct ram_layout *ram,
		   const struct proto_generation *gen,
		   const struct proto_tunables *tunables)
{
	int ret;

	in->ram = *ram;
	in->gen = *gen;
	in->tunables = *tunables;
	in->have_tunables = true;
	ret = cache_init(in);
	in->have_ram = ret == 0;
	if (in->have_ram && svm_running(in->svm))
		cache_watch_svm(in, true);
	in->state = IN_FENCED;
	return ret;
}
