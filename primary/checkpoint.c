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
 * the main thread is busy here. A failure is returned, not acted on: the
 * caller (primary.c) decides that the secondary is lost.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "compare.h"
#include "digest.h"
#include "evloop.h"
#include "image-save.h"
#include "link.h"
#include "log.h"
#include "primary.h"
#include "proto.h"
#include "proxy.h"
#include "pvm.h"
#include "ram-digest.h"
#include "ram-save.h"
#include "ramblock.h"
#include "xport.h"

#define VERIFY_TIMEOUT_MS 120000

/*
 * An unmodified program's connections are the daemon's ends as the image
 * names them: a client that half-closed is gone from the proxy, but the
 * program may hold its end still (it has not read the end yet), and the
 * SVM must hold the same, half-closed too (PROTO_CONN_SHUT).
 */
static size_t exec_conn_ids(struct pvm *v, uint32_t *ids)
{
	size_t n = proc_guest_conns(&v->exec, ids, NULL, MAX_CONNS_IN_STATE);
	size_t i;

	for (i = 0; i < n && i < MAX_CONNS_IN_STATE; i++)
		if (proc_guest_conn_shut(&v->exec, ids[i]))
			ids[i] |= PROTO_CONN_SHUT;
	return n;
}

static int send_device_state(struct checkpoint *c)
{
	struct proto_msg m = { .type = PROTO_DEVICE_STATE };
	uint32_t *ids = calloc(MAX_CONNS_IN_STATE, sizeof(*ids));
	size_t n, total, i;
	int ret;

	if (!ids)
		return -ENOMEM;
	if (c->pvm->is_exec) {
		n = exec_conn_ids(c->pvm, ids);
		total = n;
	} else {
		n = proxy_conn_ids(c->proxy, ids, MAX_CONNS_IN_STATE);
		total = proxy_nclients(c->proxy);
	}
	if (n > MAX_CONNS_IN_STATE || n < total) {
		log_error("%zu connections, the device state holds %d",
			  n > total ? n : total, MAX_CONNS_IN_STATE);
		free(ids);
		return -E2BIG;
	}
	for (i = 0; i < n; i++)
		ids[i] = htonl(ids[i]);
	m.device_state.input_seq = c->pvm->input_seq;
	m.device_state.clock_ms = *c->clock_ms;
	m.device_state.gen = *c->gen;
	c->ops->tunables(c->opaque, &m.device_state.tunables);
	m.device_state.nconns = (uint32_t)n;
	m.device_state.conn_ids = (const uint8_t *)ids;
	ret = proto_send(c->link->x, &m);
	free(ids);
	return ret;
}

/* The guest's memory: dirty RAM pages, or an unmodified program whole. */
static int send_memory(struct checkpoint *c, struct ckpt_result *res)
{
	struct image_save_stats st;
	struct image_save_verify ver = {
		.chunk_pages = RAM_DIGEST_CHUNK_PAGES,
	};
	struct image_save_idle idle = { c->ops->idle, c->opaque };
	int64_t pages;
	int ret;

	if (c->pvm->is_exec) {
		/* verify digests the image as it is sent: the PVM stays
		 * stopped, so that is its memory now. */
		ret = image_save(&c->pvm->exec, &c->img_base, c->link->x,
				 &idle, &st, res->verify ? &ver : NULL);
		if (ret == -ENOTSUP)
			snprintf(c->refusal, sizeof(c->refusal), "%s",
				 st.refusal);
		res->chunk_pages = ver.chunk_pages;
		res->nchunks = ver.nchunks;
		res->pvm_digests = ver.digests;
		res->chunk_addr = ver.chunk_addr;
		if (ret < 0)
			return ret;
		res->pages = st.pages;
		res->own_pages = st.own_pages;
		res->image_bytes = st.bytes;
		return 0;
	}
	pages = ram_save_complete(c->rs, c->link->x);
	if (pages < 0)
		return (int)pages;
	res->pages = (uint64_t)pages;
	return 0;
}

static int send_checkpoint(struct checkpoint *c, uint32_t flags,
			   struct ckpt_result *res)
{
	struct proto_msg m = { .type = PROTO_CKPT_BEGIN };
	int ret;

	m.ckpt_begin.id = res->id;
	m.ckpt_begin.flags = flags;
	ret = proto_send(c->link->x, &m);
	if (ret < 0)
		return ret;
	ret = send_memory(c, res);
	if (ret < 0)
		return ret;
	ret = send_device_state(c);
	if (ret < 0)
		return ret;
	m.type = PROTO_CKPT_END;
	m.ckpt_end.id = res->id;
	m.ckpt_end.pages = res->pages;
	ret = proto_send(c->link->x, &m);
	return ret < 0 ? ret : xport_flush(c->link->x);
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

/*
 * An --exec program's image digests: chunk i covers the i-th run of
 * chunk_pages present pages, so a count that differs is a difference too
 * (pages present on one side only), reported from where the counts part.
 */
static void compare_image_digests(const struct proto_verify *v,
				  struct ckpt_result *res)
{
	uint32_t n = v->ndigests < res->nchunks ? v->ndigests : res->nchunks;
	uint64_t chunk_bytes = (uint64_t)res->chunk_pages * RAM_PAGE_SIZE;
	uint32_t i, extra = v->ndigests > res->nchunks ?
			    v->ndigests - res->nchunks :
			    res->nchunks - v->ndigests;

	res->diff = calloc((size_t)n + 2, sizeof(*res->diff));
	if (!res->diff) {
		log_error("verify: cannot list the chunks that differ: %s",
			  strerror(ENOMEM));
		res->diff_err = -ENOMEM;
		return;
	}
	for (i = 0; i < n; i++) {
		if (!memcmp(res->pvm_digests + (size_t)i * DIGEST_LEN,
			    v->digests + (size_t)i * DIGEST_LEN, DIGEST_LEN))
			continue;
		res->diff[res->ndiff].offset = res->chunk_addr[i];
		res->diff[res->ndiff++].length = chunk_bytes;
	}
	if (extra) {
		res->diff[res->ndiff].offset = n < res->nchunks ?
					       res->chunk_addr[n] : 0;
		res->diff[res->ndiff++].length = extra * chunk_bytes;
	}
}

static int check_verify(const struct ram_layout *ram,
			const struct proto_verify *v, struct ckpt_result *res)
{
	if (res->chunk_addr && v->id == res->id &&
	    v->chunk_pages == res->chunk_pages) {
		compare_image_digests(v, res);
		res->verified = true;
		return 0;
	}
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
	res->sec = m.ckpt_ack;
	/* "Not now": nothing changed there; the caller logs its streak. */
	if (res->status == -EAGAIN)
		return res->status;
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

/* Steps 2 and 3, the PVM at its safe point (or stopped); *sent_ms gets
 * the time the whole checkpoint was written out. */
static int checkpoint_send_and_wait(struct checkpoint *c, uint32_t flags,
				    struct ckpt_result *res, double *sent_ms)
{
	int ret;

	res->id = c->count + 1;
	/* Counted when begun, not when acknowledged: a secondary may have
	 * applied a checkpoint whose ack we never saw, and must never look
	 * newer than this primary for it. */
	c->gen->generation++;
	ret = send_checkpoint(c, flags, res);
	*sent_ms = now_ms_precise();
	if (ret < 0)
		return ret;
	if (res->verify && !c->pvm->is_exec) {
		res->chunk_pages = RAM_DIGEST_CHUNK_PAGES;
		res->nchunks = ram_digest_nchunks(c->ram, res->chunk_pages);
		res->pvm_digests = malloc((size_t)res->nchunks * DIGEST_LEN);
		if (!res->pvm_digests)
			return -ENOMEM;
		ret = ram_digest_chunks(c->ram, res->chunk_pages,
					res->pvm_digests, c->ops->idle,
					c->opaque);
		if (ret < 0)
			return ret;
	}
	/* verify hashes all of RAM on both sides before the ack. */
	if (res->verify)
		xport_set_timeout(c->link->x, VERIFY_TIMEOUT_MS);
	ret = checkpoint_expect_ack(c->link, c->ram, res);
	if (res->verify)
		xport_set_timeout(c->link->x,
				  (int)c->opts->failover_timeout_ms);
	/* The SVM is not what the deltas say: the next image is whole, so
	 * that what verify found does not outlive it. */
	if (res->verified && res->ndiff && c->pvm->is_exec) {
		log_warn("verify: the SVM differs from the PVM in %zu chunk "
			 "range(s); the next checkpoint sends the whole program",
			 res->ndiff);
		image_save_base_invalidate(&c->img_base);
	}
	return ret;
}

/*
 * While the PVM's child ends (pvm_barrier, --exec): the loop does not run,
 * so the secondary is read here as link_expect reads it (its heartbeats
 * heard, its output compared), and ours go out through idle.
 */
static int child_wait_idle(void *opaque)
{
	struct checkpoint *c = opaque;
	int ret = c->link->x ? link_poll(c->link) : 0;

	if (ret == 0 && c->ops->idle)
		ret = c->ops->idle(c->opaque);
	return ret;
}

static double clamp0(double ms)
{
	return ms > 0 ? ms : 0;
}

/*
 * The phases from the times taken along the way: t0 start, t1 the PVM at
 * its safe point, t2 all written out, t3 the ack read, t4 the end; the
 * scan and the secondary's parts were timed where they ran.
 */
static void fill_phases(struct ckpt_result *res, const double t[5],
			double scan_ms, double cpu_ms)
{
	struct ckpt_phases *ph = &res->phases;
	double end = res->sec.end_us / 1e3;

	ph->barrier = t[1] - t[0];
	ph->scan = scan_ms;
	ph->send = clamp0(t[2] - t[1] - scan_ms);
	ph->receive = res->sec.receive_us / 1e3;
	ph->flush = res->sec.flush_us / 1e3;
	ph->apply = clamp0(end - ph->flush);
	ph->ack = clamp0(t[3] - t[2] - end);
	ph->resume = t[4] - t[3];
	ph->cpu = cpu_ms;
	ph->secondary_cpu = res->sec.cpu_us / 1e3;
}

/* Put off by the PVM's child: tried again after a while, the loop serving
 * meanwhile; the first of a streak is logged, and its end. */
static void put_off(struct checkpoint *c)
{
	uint64_t now = evloop_now_ms();

	if (!c->put_off_since_ms) {
		c->put_off_since_ms = now;
		log_info("checkpoint (%s) put off: the program has a child "
			 "(BGSAVE?); tried every %d ms until it ends, output "
			 "that differs held meanwhile",
			 c->reason ? c->reason : "due", CKPT_CHILD_RETRY_MS);
	}
	c->put_offs++;
	c->put_off_until_ms = now + CKPT_CHILD_RETRY_MS;
}

/*
 * The secondary answered "not now" (svm.h's SVM_APPLY_NOT_NOW: the PVM was
 * caught with a file open its copy does not hold), having changed
 * nothing: put off like a child's, the first of a streak logged and its
 * end; -EINPROGRESS (checkpoint_run says -EAGAIN or waits), or -EBUSY once
 * the streak has lasted CKPT_NOT_NOW_MAX_MS.
 */
static int not_now(struct checkpoint *c)
{
	uint64_t now = evloop_now_ms();

	if (!c->not_now_since_ms) {
		c->not_now_since_ms = now;
		log_info("checkpoint (%s) put off: the secondary cannot take "
			 "it now (the program holds a file open that its copy "
			 "does not; the secondary's log names it); tried every "
			 "%d ms for at most %d ms, output that differs held "
			 "meanwhile", c->reason ? c->reason : "due",
			 CKPT_CHILD_RETRY_MS, CKPT_NOT_NOW_MAX_MS);
	} else if (now - c->not_now_since_ms >= CKPT_NOT_NOW_MAX_MS) {
		log_error("checkpoint put off by the secondary for %llu ms "
			  "(the program kept a file open that its copy does "
			  "not hold): given up",
			  (unsigned long long)(now - c->not_now_since_ms));
		c->not_now_since_ms = 0;
		return -EBUSY;
	}
	c->put_offs++;
	c->put_off_until_ms = now + CKPT_CHILD_RETRY_MS;
	return -EINPROGRESS;
}

static int do_checkpoint(struct checkpoint *c, uint32_t flags,
			 int child_wait_ms, struct ckpt_result *res)
{
	struct ram_save_stats before, after;
	uint64_t cpu0 = evloop_thread_cpu_us();
	double t[5];
	int ret;

	t[0] = now_ms_precise();
	c->refusal[0] = '\0';
	ram_state_get_stats(c->rs, &before);
	ret = pvm_barrier(c->pvm, child_wait_ms, child_wait_idle, c);
	if (ret == -EAGAIN)
		put_off(c);
	if (ret < 0)
		return ret;
	if (c->put_off_since_ms) {
		log_info("the program's child is gone: checkpoint taken, "
			 "%llu ms after it was first put off",
			 (unsigned long long)(evloop_now_ms() -
					      c->put_off_since_ms));
		c->put_off_since_ms = 0;
	}
	t[1] = now_ms_precise();
	ret = checkpoint_send_and_wait(c, flags, res, &t[2]);
	t[3] = now_ms_precise();
	/* An unmodified program was stopped at the barrier: whatever came
	 * of the checkpoint, it serves on. */
	pvm_resume(c->pvm);
	if (ret < 0) {
		/* Applied or not, we cannot know: the next image is whole,
		 * and so is the next page of every page sent. After "not
		 * now" we do know: the secondary holds the image before this
		 * one, unchanged, so the retry is a delta of that (a whole
		 * image of a big program would pause it for seconds, every
		 * 250 ms); given up, nothing is assumed any more. RAM keeps
		 * forgetting what was sent: that costs one page each. The
		 * output held stays held: nothing was acknowledged. */
		ram_state_forget_sent(c->rs);
		if (ret == -EAGAIN && res->acked) {
			image_save_base_not_applied(&c->img_base);
			ret = not_now(c);
			if (ret == -EBUSY)
				image_save_base_invalidate(&c->img_base);
			return ret;
		}
		image_save_base_invalidate(&c->img_base);
		c->not_now_since_ms = 0;
		return ret;
	}
	if (c->not_now_since_ms) {
		log_info("the secondary took the checkpoint, %llu ms after it "
			 "first put it off",
			 (unsigned long long)(evloop_now_ms() -
					      c->not_now_since_ms));
		c->not_now_since_ms = 0;
	}
	cmp_checkpoint_done(c->cmp);
	ram_state_get_stats(c->rs, &after);
	res->bytes = c->pvm->is_exec ? res->image_bytes :
		     after.bytes_sent - before.bytes_sent;
	res->delta_pages = after.delta_pages - before.delta_pages;
	res->delta_bytes = after.delta_bytes - before.delta_bytes;
	t[4] = now_ms_precise();
	res->pause_ms = t[4] - t[0];
	fill_phases(res, t, (after.sync_us - before.sync_us) / 1e3,
		    (evloop_thread_cpu_us() - cpu0) / 1e3);
	c->count++;
	metrics_hist_observe(&c->pause_hist, res->pause_ms / 1000);
	metrics_hist_observe(&c->pages_hist, (double)res->pages);
	c->last_ms = evloop_now_ms();
	c->requested = false;
	c->last = *res;
	c->last.pvm_digests = NULL;
	c->last.chunk_addr = NULL;
	c->last.diff = NULL;
	return 0;
}

void ckpt_result_free(struct ckpt_result *res)
{
	free(res->pvm_digests);
	free(res->chunk_addr);
	free(res->diff);
	res->chunk_addr = NULL;
	res->pvm_digests = NULL;
	res->diff = NULL;
}

int checkpoint_first(struct checkpoint *c)
{
	struct ckpt_result res = { 0 };
	int ret;

	ret = do_checkpoint(c, PROTO_CKPT_FIRST, CKPT_CHILD_WAIT_MS, &res);
	ckpt_result_free(&res);
	return ret;
}

/* Until the next try of a put-off checkpoint, serving the link as the
 * wait for a child does (child_wait_idle). */
static int wait_retry(struct checkpoint *c)
{
	int ret = 0;

	while (ret == 0 && evloop_now_ms() < c->put_off_until_ms) {
		usleep(10 * 1000);
		ret = child_wait_idle(c);
	}
	return ret;
}

int checkpoint_run(struct checkpoint *c, bool verify, int child_wait_ms,
		   struct ckpt_result *res)
{
	int ret;

	for (;;) {
		memset(res, 0, sizeof(*res));
		if (!c->link->x)
			return -ENOTCONN;
		res->verify = verify;
		ret = do_checkpoint(c, verify ? PROTO_CKPT_VERIFY : 0,
				    child_wait_ms, res);
		if (ret != -EINPROGRESS)
			return ret;
		/* The loop's glance tries again on a later turn; one that
		 * waits for a child (asked for) waits here, until taken or
		 * given up (not_now's bound). */
		if (child_wait_ms < CKPT_CHILD_RETRY_MS)
			return -EAGAIN;
		ckpt_result_free(res);
		ret = wait_retry(c);
		if (ret < 0)
			return ret;
	}
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

uint64_t checkpoint_deadline_ms(const struct checkpoint *c, uint64_t limit)
{
	uint64_t d = c->last_ms + c->opts->checkpoint_delay_ms;
	uint64_t oldest = cmp_oldest_pvm_ms(c->cmp);

	if (oldest != UINT64_MAX)
		d = min_u64(d, oldest + c->opts->compare_timeout_ms);
	/* A requested one is due now; one put off by a child is tried again
	 * then, requested or not. */
	if (c->requested)
		d = c->put_off_until_ms;
	else if (d < c->put_off_until_ms)
		d = c->put_off_until_ms;
	return min_u64(limit, d);
}

/* The SVM's output, as the link hands it over: compared like the PVM's;
 * its close too. An unknown connection (-ENOENT) is one the proxy already
 * ended. */
int checkpoint_on_svm_output(struct checkpoint *c, const struct proto_msg *m)
{
	int ret;

	if (m->output.kind == PROTO_OUT_CLOSE)
		ret = cmp_close_svm(c->cmp, m->output.conn);
	else if (proxy_output_over(c->proxy, m->output.conn, m->output.len))
		ret = CMP_OK;
	else
		ret = cmp_push_svm(c->cmp, m->output.conn, m->output.data,
				   m->output.len);
	if (ret == CMP_MISMATCH) {
		checkpoint_mismatch(c);
		if (c->ops && c->ops->mismatch)
			c->ops->mismatch(c->opaque, m->output.conn,
					 m->output.kind == PROTO_OUT_CLOSE ?
					 "close" : "output");
	}
	checkpoint_check_held(c);
	return 0;
}

/* Counted once however many connections differ before it is taken. */
void checkpoint_mismatch(struct checkpoint *c)
{
	if (!c->requested) {
		c->mismatches++;
		c->reason = "mismatch";
	}
	c->requested = true;
}

/*
 * Held output has a cap, as QEMU's max_queue_size: past it, a checkpoint
 * releases what the PVM holds and drops what the SVM said ahead, rather
 * than holding more. Counted once, like a mismatch.
 */
void checkpoint_check_held(struct checkpoint *c)
{
	struct cmp_stats st;

	if (c->requested)
		return;
	cmp_get_stats(c->cmp, &st);
	if (st.held_bytes + st.svm_held_bytes < c->opts->max_held_output)
		return;
	log_debug("%llu bytes of output held: checkpoint",
		  (unsigned long long)(st.held_bytes + st.svm_held_bytes));
	c->held++;
	c->reason = "held_output";
	c->requested = true;
}

bool checkpoint_due(struct checkpoint *c, uint64_t now)
{
	uint64_t oldest = cmp_oldest_pvm_ms(c->cmp);

	if (now < c->put_off_until_ms)
		return false;
	if (c->requested) {
		/* counted where the mismatch was seen */
	} else if (now - c->last_ms >= c->opts->checkpoint_delay_ms) {
		c->periodic++;
		c->reason = "periodic";
	} else if (oldest != UINT64_MAX &&
		   now - oldest >= c->opts->compare_timeout_ms) {
		c->timeouts++;
		c->reason = "timeout";
	} else {
		return false;
	}
	return true;
}
