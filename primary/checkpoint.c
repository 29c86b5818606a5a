// SPDX-License-Identifier: MIT
/*
 * The checkpoint transaction, seen from the primary:
 *
 *   1. bring the PVM to a safe point (barrier)
 *   2. CKPT_BEGIN, dirty pages and discards (ram_save_complete), the
 *      device state, CKPT_END
 *   3. wait for the secondary: OUTPUT it still forwards is compared as
 *      usual; [VERIFY]; CKPT_ACK
 *   4. release the PVM output held back, drop the SVM's (I5), resume
 *
 * The PVM stays paused from 1 to 4 simply because no event is sent to it:
 * the main thread is busy here.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "digest.h"
#include "evloop.h"
#include "primary-int.h"
#include "log.h"
#include "ram-digest.h"
#include "xport.h"

#define VERIFY_TIMEOUT_MS 120000

static int send_device_state(struct primary *p)
{
	struct proto_msg m = { .type = PROTO_DEVICE_STATE };
	uint32_t *ids = calloc(MAX_CONNS_IN_STATE, sizeof(*ids));
	size_t n, i;
	int ret;

	if (!ids)
		return -ENOMEM;
	n = proxy_conn_ids(&p->proxy, ids, MAX_CONNS_IN_STATE);
	if (n < proxy_nclients(&p->proxy)) {
		log_error("%zu connections, the device state holds %d",
			  proxy_nclients(&p->proxy), MAX_CONNS_IN_STATE);
		free(ids);
		return -E2BIG;
	}
	for (i = 0; i < n; i++)
		ids[i] = htonl(ids[i]);
	m.device_state.input_seq = p->pvm.input_seq;
	m.device_state.clock_ms = p->last_tick_ms;
	m.device_state.gen = p->gen;
	primary_tunables(p, &m.device_state.tunables);
	m.device_state.nconns = (uint32_t)n;
	m.device_state.conn_ids = (const uint8_t *)ids;
	ret = proto_send(p->link.x, &m);
	free(ids);
	return ret;
}

static int send_checkpoint(struct primary *p, uint32_t flags,
			   struct ckpt_result *res)
{
	struct proto_msg m = { .type = PROTO_CKPT_BEGIN };
	int64_t pages;
	int ret;

	m.ckpt_begin.id = res->id;
	m.ckpt_begin.flags = flags;
	ret = proto_send(p->link.x, &m);
	if (ret < 0)
		return ret;
	pages = ram_save_complete(&p->rs, p->link.x);
	if (pages < 0)
		return (int)pages;
	res->pages = (uint64_t)pages;
	ret = send_device_state(p);
	if (ret < 0)
		return ret;
	m.type = PROTO_CKPT_END;
	m.ckpt_end.id = res->id;
	m.ckpt_end.pages = res->pages;
	ret = proto_send(p->link.x, &m);
	return ret < 0 ? ret : xport_flush(p->link.x);
}

/*
 * Only the report can fail here, not the checkpoint: keep waiting for the
 * acknowledgement and let verify say that it could not list the chunks.
 */
static void compare_digests(const struct ram_layout *ram,
			    const struct proto_verify *v,
			    struct ckpt_result *res)
{
	int ret;

	ret = ram_digest_diff(ram, res->chunk_pages, res->pvm_digests,
			      v->digests, res->nchunks, &res->diff,
			      &res->ndiff);
	if (ret < 0) {
		log_error("verify: cannot list the chunks that differ: %s",
			  strerror(-ret));
		res->diff_err = ret;
	}
}

static int check_verify(const struct ram_layout *ram,
			const struct proto_verify *v, struct ckpt_result *res)
{
	if (v->id != res->id || v->chunk_pages != res->chunk_pages ||
	    v->ndigests != res->nchunks) {
		log_error("secondary's VERIFY does not match checkpoint %llu "
			  "(%u chunks of %u pages)",
			  (unsigned long long)res->id, res->nchunks,
			  res->chunk_pages);
		return -EPROTO;
	}
	compare_digests(ram, v, res);
	res->verified = true;
	return 0;
}

/* Step 3. OUTPUT the secondary still forwards goes to the comparator on
 * the way (the link's handlers). */
int checkpoint_expect_ack(struct link *l, const struct ram_layout *ram,
			  struct ckpt_result *res)
{
	struct proto_msg m;
	int ret;

	if (res->verify) {
		ret = link_expect_any(l, LINK_MSG(PROTO_VERIFY) |
				      LINK_MSG(PROTO_CKPT_ACK), &m);
		if (ret == 0 && m.type == PROTO_VERIFY) {
			ret = check_verify(ram, &m.verify, res);
			if (ret == 0)
				ret = link_expect(l, PROTO_CKPT_ACK, &m);
		}
	} else {
		ret = link_expect(l, PROTO_CKPT_ACK, &m);
	}
	if (ret < 0)
		return ret;
	if (m.ckpt_ack.id != res->id) {
		log_error("secondary acknowledged checkpoint %llu, expected %llu",
			  (unsigned long long)m.ckpt_ack.id,
			  (unsigned long long)res->id);
		return -EPROTO;
	}
	res->acked = true;
	res->status = m.ckpt_ack.status;
	if (res->status) {
		log_error("secondary failed checkpoint %llu: %s",
			  (unsigned long long)res->id, strerror(-res->status));
		return res->status;
	}
	if (res->verify && !res->verified) {
		log_error("secondary acknowledged without the RAM digests");
		return -EPROTO;
	}
	return 0;
}

static double now_ms_precise(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int do_checkpoint(struct primary *p, uint32_t flags,
			 struct ckpt_result *res)
{
	double t0 = now_ms_precise();
	struct ram_save_stats before, after;
	int ret;

	ram_state_get_stats(&p->rs, &before);
	ret = pvm_barrier(&p->pvm);
	if (ret < 0)
		return ret;
	res->id = p->ckpt_count + 1;
	/* Counted when begun, not when acknowledged: a secondary may have
	 * applied a checkpoint whose ack we never saw, and must never look
	 * newer than this primary for it. */
	p->gen.generation++;
	ret = send_checkpoint(p, flags, res);
	if (ret < 0)
		return ret;
	if (res->verify) {
		res->chunk_pages = RAM_DIGEST_CHUNK_PAGES;
		res->nchunks = ram_digest_nchunks(&p->ram, res->chunk_pages);
		res->pvm_digests = malloc((size_t)res->nchunks * DIGEST_LEN);
		if (!res->pvm_digests)
			return -ENOMEM;
		ret = ram_digest_chunks(&p->ram, res->chunk_pages,
					res->pvm_digests, primary_wait_idle, p);
		if (ret < 0)
			return ret;
	}
	/* verify hashes all of RAM on both sides before the ack. */
	if (res->verify)
		xport_set_timeout(p->link.x, VERIFY_TIMEOUT_MS);
	ret = checkpoint_expect_ack(&p->link, &p->ram, res);
	if (res->verify)
		xport_set_timeout(p->link.x, (int)p->opts.failover_timeout_ms);
	if (ret < 0)
		return ret;
	cmp_checkpoint_done(p->cmp);
	ram_state_get_stats(&p->rs, &after);
	res->bytes = after.bytes_sent - before.bytes_sent;
	res->pause_ms = now_ms_precise() - t0;
	p->ckpt_count++;
	p->last_ckpt_ms = evloop_now_ms();
	p->ckpt_requested = false;
	p->last_ckpt = *res;
	p->last_ckpt.pvm_digests = NULL;
	p->last_ckpt.diff = NULL;
	return 0;
}

void ckpt_result_free(struct ckpt_result *res)
{
	free(res->pvm_digests);
	free(res->diff);
	res->pvm_digests = NULL;
	res->diff = NULL;
}

/* The first checkpoint ends live sync; the SVM starts from its cache. */
int colo_first_checkpoint(struct primary *p)
{
	struct ckpt_result res = { 0 };
	int ret;

	ret = do_checkpoint(p, PROTO_CKPT_FIRST, &res);
	ckpt_result_free(&res);
	return ret;
}

int colo_checkpoint(struct primary *p, bool verify, struct ckpt_result *res)
{
	int ret;

	memset(res, 0, sizeof(*res));
	if (p->state != COLO_STATE_COLO || !p->link.x)
		return -ENOTCONN;
	res->verify = verify;
	ret = do_checkpoint(p, verify ? PROTO_CKPT_VERIFY : 0, res);
	/* A stop request (-ECANCELED) ends us with the output still held:
	 * releasing it would let out bytes the SVM may never produce. */
	if (ret < 0 && ret != -ECHILD && ret != -ECANCELED)
		secondary_lost(p, "checkpoint failed");
	return ret;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

uint64_t colo_next_deadline_ms(struct primary *p)
{
	uint64_t d = p->last_tick_ms + 1000, oldest;

	if (p->state == COLO_STATE_STANDALONE && p->redial && !p->mig.running)
		d = min_u64(d, p->redial_at_ms);
	if (p->state != COLO_STATE_COLO)
		return d;
	d = min_u64(d, p->link.hb_ms + p->opts.heartbeat_ms);
	d = min_u64(d, p->link.rx_ms + p->opts.failover_timeout_ms);
	if (p->last_ckpt_ms + p->opts.checkpoint_delay_ms < d)
		d = p->last_ckpt_ms + p->opts.checkpoint_delay_ms;
	oldest = cmp_oldest_pvm_ms(p->cmp);
	if (oldest != UINT64_MAX && oldest + p->opts.compare_timeout_ms < d)
		d = oldest + p->opts.compare_timeout_ms;
	return d;
}

/* The SVM's output, as the link hands it over: compared like the PVM's;
 * its close too. An unknown connection (-ENOENT) is one the proxy already
 * ended. */
int colo_on_svm_output(void *opaque, const struct proto_msg *m)
{
	struct primary *p = opaque;
	int ret;

	if (m->output.kind == PROTO_OUT_CLOSE)
		ret = cmp_close_svm(p->cmp, m->output.conn);
	else if (proxy_output_over(&p->proxy, m->output.conn, m->output.len))
		ret = CMP_OK;
	else
		ret = cmp_push_svm(p->cmp, m->output.conn, m->output.data,
				   m->output.len);
	if (ret == CMP_MISMATCH)
		colo_mismatch(p);
	colo_check_held(p);
	return 0;
}

/* The comparator found the outputs apart: checkpoint at the next chance,
 * counted once however many connections differ before it. */
void colo_mismatch(struct primary *p)
{
	if (!p->ckpt_requested)
		p->mismatch_ckpts++;
	p->ckpt_requested = true;
}

/*
 * Held output has a cap, as QEMU's max_queue_size: past it, a checkpoint
 * releases what the PVM holds and drops what the SVM said ahead, rather
 * than holding more. Counted once, like a mismatch.
 */
void colo_check_held(struct primary *p)
{
	struct cmp_stats st;

	if (p->ckpt_requested)
		return;
	cmp_get_stats(p->cmp, &st);
	if (st.held_bytes + st.svm_held_bytes < p->opts.max_held_output)
		return;
	log_debug("%llu bytes of output held: checkpoint",
		  (unsigned long long)(st.held_bytes + st.svm_held_bytes));
	p->held_ckpts++;
	p->ckpt_requested = true;
}

void colo_maybe_checkpoint(struct primary *p)
{
	uint64_t now = evloop_now_ms(), oldest;
	struct ckpt_result res;

	if (p->state != COLO_STATE_COLO)
		return;
	oldest = cmp_oldest_pvm_ms(p->cmp);
	if (p->ckpt_requested) {
		/* counted where the mismatch was seen */
	} else if (now - p->last_ckpt_ms >= p->opts.checkpoint_delay_ms) {
		p->periodic_ckpts++;
	} else if (oldest != UINT64_MAX &&
		   now - oldest >= p->opts.compare_timeout_ms) {
		p->timeout_ckpts++;
	} else {
		return;
	}
	if (colo_checkpoint(p, false, &res) == 0)
		log_debug("checkpoint %llu: %llu pages, %.1f ms",
			  (unsigned long long)res.id,
			  (unsigned long long)res.pages, res.pause_ms);
	ckpt_result_free(&res);
}
