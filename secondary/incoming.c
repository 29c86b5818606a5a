// SPDX-License-Identifier: MIT
/*
 * The incoming stream: what the secondary does with each message from the
 * primary, as a small state machine.
 *
 *   WAITING -> HELLO -(hello accepted)-> SYNC -(CKPT_BEGIN first)-> CKPT
 *   CKPT -(CKPT_END: apply, ack)-> COLO -(CKPT_BEGIN)-> CKPT ...
 *
 * Nothing from the wire is trusted (I6): every message is checked against
 * the state and every page range against the layout before anything is
 * written, and a bad one ends the connection with a log line saying what
 * was wrong. Pages only go into the RAM cache; the SVM's RAM changes only
 * when a whole checkpoint has arrived (I7).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "evloop.h"
#include "secondary-int.h"
#include "log.h"
#include "ram-digest.h"
#include "tunables.h"
#include "xport.h"

#define MAX_RAM_BYTES (1ULL << 40)
#define ADDR_LIMIT (1ULL << 47)

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

static int refuse(struct secondary *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int refuse(struct secondary *s, const char *fmt, ...)
{
	struct proto_msg m = { .type = PROTO_REFUSE };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m.refuse.reason, sizeof(m.refuse.reason), fmt, ap);
	va_end(ap);
	log_error("refusing primary %s: %s", s->peer, m.refuse.reason);
	snprintf(s->last_error, sizeof(s->last_error), "refused %s: %s",
		 s->peer, m.refuse.reason);
	sec_link_send(s, &m);
	return -ECONNREFUSED;
}

static int check_layout(struct secondary *s, const struct proto_hello *h)
{
	uint64_t total = 0;
	uint32_t i, j;

	for (i = 0; i < h->nblocks; i++) {
		uint64_t addr = h->blocks[i].guest_addr, size = h->blocks[i].size;

		if (h->blocks[i].id != i)
			return refuse(s, "block %u has id %u", i, h->blocks[i].id);
		if (size == 0 || size > MAX_RAM_BYTES || total + size > MAX_RAM_BYTES)
			return refuse(s, "block %u: size %llu out of range", i,
				      (unsigned long long)size);
		if (addr % RAM_PAGE_SIZE || addr >= ADDR_LIMIT ||
		    size > ADDR_LIMIT - addr)
			return refuse(s, "block %u: address %#llx unusable", i,
				      (unsigned long long)addr);
		for (j = 0; j < i; j++) {
			uint64_t a = h->blocks[j].guest_addr;

			if (addr < a + h->blocks[j].size && a < addr + size)
				return refuse(s, "blocks %u and %u overlap", j, i);
		}
		total += size;
	}
	return 0;
}

static void flush_tick(void *opaque)
{
	sec_link_heartbeat(opaque);
}

int incoming_cache_init(struct secondary *s)
{
	int ret = ramcache_init(&s->cache, &s->ram);

	if (ret == 0) {
		s->cache.flush_tick = flush_tick;
		s->cache.flush_tick_opaque = s;
	}
	return ret;
}

static int setup_ram(struct secondary *s, const struct proto_hello *h)
{
	uint32_t i;
	int ret;

	memset(&s->ram, 0, sizeof(s->ram));
	for (i = 0; i < h->nblocks; i++) {
		ret = ramblock_create(&s->ram.blocks[i], i, h->blocks[i].name,
				      h->blocks[i].size, h->blocks[i].guest_addr);
		if (ret < 0) {
			ram_layout_destroy(&s->ram);
			return refuse(s, "cannot create %llu bytes of RAM: %s",
				      (unsigned long long)h->blocks[i].size,
				      strerror(-ret));
		}
		s->ram.nblocks = i + 1;
	}
	ret = incoming_cache_init(s);
	if (ret < 0) {
		ram_layout_destroy(&s->ram);
		return refuse(s, "cannot allocate the RAM cache: %s",
			      strerror(-ret));
	}
	s->have_ram = true;
	return 0;
}

/*
 * I8: a fenced SVM is what clients saw last. Only a primary of the same
 * pair, holding at least the same checkpoint, may replace it; a new or
 * restarted primary (another pair id) would replace it with less. The
 * operator decides that case: `colo-ctl failover` serves the fenced SVM,
 * `colo-ctl drop-fenced` throws it away.
 */
static int check_generation(struct secondary *s,
			    const struct proto_generation *g)
{
	if (g->pair_id == s->gen.pair_id && g->generation >= s->gen.generation)
		return 0;
	/* Fits PROTO_REASON_MAX with the longest numbers. */
	return refuse(s, "fenced SVM of pair %016llx generation %llu here; "
		      "primary offers pair %016llx generation %llu (%s): not "
		      "replaced; `colo-ctl failover` serves it, `colo-ctl "
		      "drop-fenced` discards it",
		      (unsigned long long)s->gen.pair_id,
		      (unsigned long long)s->gen.generation,
		      (unsigned long long)g->pair_id,
		      (unsigned long long)g->generation,
		      g->pair_id != s->gen.pair_id ? "another pair" : "older");
}

static int on_hello(struct secondary *s, const struct proto_hello *h)
{
	struct proto_msg ack = { .type = PROTO_HELLO_ACK };
	char ours[2 * DIGEST_LEN + 1], theirs[2 * DIGEST_LEN + 1];
	int ret;

	if (h->version != PROTO_VERSION)
		return refuse(s, "protocol version %u, this secondary speaks "
			      "version %u", h->version, PROTO_VERSION);
	if (h->page_size != RAM_PAGE_SIZE)
		return refuse(s, "page size %u, this secondary uses %llu",
			      h->page_size, RAM_PAGE_SIZE);
	if (memcmp(h->guest_digest, s->guest_digest, DIGEST_LEN)) {
		digest_hex(h->guest_digest, theirs);
		digest_hex(s->guest_digest, ours);
		return refuse(s, "guest binary differs: primary's sha256 %s, "
			      "secondary's %s", theirs, ours);
	}
	ret = check_layout(s, h);
	if (ret < 0)
		return ret;
	if (s->state == IN_FENCED) {
		ret = check_generation(s, &h->gen);
		if (ret < 0)
			return ret;
		/* The primary has all we have; still, ours stays until its
		 * first checkpoint is applied here. */
		log_warn("primary %s (pair %016llx generation %llu) accepted: "
			 "it replaces the fenced SVM", s->peer,
			 (unsigned long long)h->gen.pair_id,
			 (unsigned long long)h->gen.generation);
		fenced_keep(s);
	}
	ret = setup_ram(s, h);
	if (ret < 0)
		return ret;
	s->state = IN_SYNC;
	s->sync_pages = 0;
	log_info("primary %s accepted: %llu MiB of guest RAM, live sync "
		 "starting", s->peer,
		 (unsigned long long)(ram_layout_bytes(&s->ram) >> 20));
	return sec_link_send(s, &ack);
}

static int bad_range(struct secondary *s, const char *what, uint32_t block,
		     uint64_t first, uint64_t count)
{
	uint64_t pages = block < s->ram.nblocks ?
			 ramblock_pages(&s->ram.blocks[block]) : 0;

	log_error("%s from %s out of range: block %u pages %llu+%llu (layout "
		  "has %u blocks, this one %llu pages)", what, s->peer, block,
		  (unsigned long long)first, (unsigned long long)count,
		  s->ram.nblocks, (unsigned long long)pages);
	return -ERANGE;
}

static int on_pages(struct secondary *s, const struct proto_msg *m)
{
	bool discard = m->type == PROTO_DISCARD;
	uint32_t block = discard ? m->discard.block : m->pages.block;
	uint64_t first = discard ? m->discard.first : m->pages.first;
	uint64_t count = discard ? m->discard.count : m->pages.count;
	const uint8_t *data = discard ? NULL : m->pages.data;

	if (proto_check_range(&s->ram, block, first, count) < 0)
		return bad_range(s, proto_type_name(m->type), block, first,
				 count);
	/* CKPT_END counts the pages sent; discarded ranges are not pages. */
	if (s->state == IN_CKPT && !discard)
		s->ckpt_pages += count;
	else if (!discard)
		s->sync_pages += count;
	return ramcache_store(&s->cache, block, first, count, data);
}

static int on_ckpt_begin(struct secondary *s, const struct proto_ckpt_begin *b)
{
	bool first = b->flags & PROTO_CKPT_FIRST;

	if (first != (s->state == IN_SYNC)) {
		log_error("%s: checkpoint %llu %s the first, but the pair is "
			  "in state %s", s->peer, (unsigned long long)b->id,
			  first ? "claims to be" : "is not",
			  in_state_name(s->state));
		return -EPROTO;
	}
	s->state = IN_CKPT;
	s->ckpt_id = b->id;
	s->ckpt_flags = b->flags;
	s->ckpt_pages = 0;
	s->have_devstate = false;
	s->ckpt_begin_ms = evloop_now_ms();
	return 0;
}

static int send_verify(struct secondary *s)
{
	struct proto_msg m = { .type = PROTO_VERIFY };
	uint32_t n = ram_digest_nchunks(&s->ram, RAM_DIGEST_CHUNK_PAGES);
	uint8_t *d;
	int ret;

	if (n > PROTO_MAX_VERIFY_DIGESTS)
		return -E2BIG;
	d = malloc((size_t)n * DIGEST_LEN);
	if (!d)
		return -ENOMEM;
	ret = ram_digest_chunks(&s->ram, RAM_DIGEST_CHUNK_PAGES, d,
				sec_link_heartbeat_idle, s);
	if (ret == 0) {
		m.verify.id = s->ckpt_id;
		m.verify.chunk_pages = RAM_DIGEST_CHUNK_PAGES;
		m.verify.ndigests = n;
		m.verify.digests = d;
		ret = sec_link_send(s, &m);
	}
	free(d);
	return ret;
}

/* The ranges colo-primary's flags allow (I6: checked before use). */
static int check_tunables(struct secondary *s, const struct proto_tunables *t)
{
	if (!tunables_check_carried(t))
		return 0;
	log_error("%s: device state carries tunables out of range", s->peer);
	return -EPROTO;
}

static int on_device_state(struct secondary *s,
			   const struct proto_device_state *d)
{
	uint32_t *ids;
	uint32_t i;

	if (check_tunables(s, &d->tunables) < 0)
		return -EPROTO;
	ids = malloc(((size_t)d->nconns + 1) * sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	for (i = 0; i < d->nconns; i++) {
		uint32_t be;

		memcpy(&be, d->conn_ids + 4 * (size_t)i, 4);
		ids[i] = ntohl(be);
	}
	free(s->dev_conns);
	s->dev_conns = ids;
	s->ndev_conns = d->nconns;
	s->dev_input_seq = d->input_seq;
	s->dev_gen = d->gen;
	s->dev_tunables = d->tunables;
	s->have_devstate = true;
	return 0;
}

/* The whole checkpoint is here: make the SVM equal to it. */
static int apply_checkpoint(struct secondary *s)
{
	int64_t flushed;
	int ret;

	if (s->ckpt_flags & PROTO_CKPT_FIRST) {
		/* Live sync wrote every page to the SVM's RAM as well. */
		ramcache_svm_start(&s->cache);
		s->input_seq = s->dev_input_seq;
		ret = svm_start(s);
		if (ret < 0)
			return ret;
		flushed = 0;
	} else {
		ret = svm_barrier(s);
		if (ret < 0)
			return ret;
		if (s->input_seq != s->dev_input_seq) {
			log_error("SVM has had %llu input events, the primary's "
				  "checkpoint %llu is at %llu",
				  (unsigned long long)s->input_seq,
				  (unsigned long long)s->ckpt_id,
				  (unsigned long long)s->dev_input_seq);
			return -EPROTO;
		}
		flushed = colo_flush_ram_cache(&s->cache);
		if (flushed < 0)
			return (int)flushed;
	}
	s->last_ckpt_flushed = (uint64_t)flushed;
	s->gen = s->dev_gen;
	s->tunables = s->dev_tunables;
	s->have_tunables = true;
	/* A fenced SVM kept for this sync is superseded now. */
	fenced_drop_kept(s);
	/* The SVM's connections are now the PVM's as of the checkpoint. */
	return conns_replace(s, s->dev_conns, s->ndev_conns);
}

static int on_ckpt_end(struct secondary *s, const struct proto_ckpt_end *e)
{
	struct proto_msg ack = { .type = PROTO_CKPT_ACK };
	int ret;

	if (e->id != s->ckpt_id || !s->have_devstate) {
		log_error("%s: checkpoint %llu ended as %llu%s", s->peer,
			  (unsigned long long)s->ckpt_id,
			  (unsigned long long)e->id,
			  s->have_devstate ? "" : " without device state");
		return -EPROTO;
	}
	if (e->pages != s->ckpt_pages) {
		log_error("%s: checkpoint %llu claims %llu pages, %llu arrived",
			  s->peer, (unsigned long long)e->id,
			  (unsigned long long)e->pages,
			  (unsigned long long)s->ckpt_pages);
		return -EPROTO;
	}
	ret = apply_checkpoint(s);
	if (ret < 0)
		return ret;
	if (s->ckpt_flags & PROTO_CKPT_VERIFY) {
		ret = send_verify(s);
		if (ret < 0)
			return ret;
	}
	s->state = IN_COLO;
	s->ckpt_count++;
	s->last_ckpt_pages = s->ckpt_pages;
	s->last_ckpt_apply_ms = (double)(evloop_now_ms() - s->ckpt_begin_ms);
	if (s->ckpt_flags & PROTO_CKPT_FIRST) {
		/* From now on a primary silent this long is lost, also in the
		 * middle of a message. */
		if (s->link)
			xport_set_timeout(s->link,
					  (int)s->opts.tunables.failover_timeout_ms);
	}
	if (s->ckpt_flags & PROTO_CKPT_FIRST)
		log_info("live sync complete (%llu pages); SVM running, pair "
			 "in colo state", (unsigned long long)s->sync_pages);
	ack.ckpt_ack.id = e->id;
	ack.ckpt_ack.status = 0;
	/* Applying may have taken longer than the failover timeout; the
	 * primary was alive when it sent CKPT_END, so count from now. */
	s->link_rx_ms = evloop_now_ms();
	return sec_link_send(s, &ack);
}

int incoming_handle(struct secondary *s, const struct proto_msg *m)
{
	enum in_state st = s->state;

	switch (m->type) {
	case PROTO_HELLO:
		if (st == IN_HELLO || st == IN_FENCED)
			return on_hello(s, &m->hello);
		break;
	case PROTO_PAGES:
	case PROTO_DISCARD:
		if (st == IN_SYNC || st == IN_CKPT)
			return on_pages(s, m);
		break;
	case PROTO_CKPT_BEGIN:
		if (st == IN_SYNC || st == IN_COLO)
			return on_ckpt_begin(s, &m->ckpt_begin);
		break;
	case PROTO_DEVICE_STATE:
		if (st == IN_CKPT && !s->have_devstate)
			return on_device_state(s, &m->device_state);
		break;
	case PROTO_CKPT_END:
		if (st == IN_CKPT)
			return on_ckpt_end(s, &m->ckpt_end);
		break;
	case PROTO_INPUT:
		if (st == IN_COLO)
			return svm_feed(s, &m->input);
		break;
	case PROTO_HEARTBEAT:
		return 0;
	default:
		break;
	}
	log_error("%s sent %s, which does not belong in state %s", s->peer,
		  proto_type_name(m->type), in_state_name(st));
	return -EPROTO;
}

void incoming_reset(struct secondary *s, const char *why)
{
	if (s->link) {
		log_warn("connection with primary %s ended: %s", s->peer, why);
		snprintf(s->last_error, sizeof(s->last_error),
			 "primary %s: %s", s->peer, why);
		sec_link_close(s);
	}
	svm_stop(s);
	free(s->dev_conns);
	s->dev_conns = NULL;
	s->ndev_conns = 0;
	s->nconns = 0;
	s->max_conn_id = 0;
	if (s->have_ram) {
		ramcache_deinit(&s->cache);
		ram_layout_destroy(&s->ram);
		s->have_ram = false;
	}
	s->state = IN_WAITING;
	s->have_tunables = false;
	memset(&s->gen, 0, sizeof(s->gen));
	fenced_restore(s);
}
