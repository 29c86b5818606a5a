// SPDX-License-Identifier: MIT
/*
 * The dirty-bitmap locking under concurrency (I1-I4), end to end, and meant
 * to run under ThreadSanitizer (CI runs suite 'locking' in a TSan build).
 *
 *   PVM guest (child)          this process                     SVM (child)
 *   writes pages,    --hint--> hint thread: ram_discard_hint
 *   frees ranges:    <--ack--  migration thread: ram_save_live_sync,
 *   zero, hint, wait             sync per pass ----PAGES/DISCARD---+
 *                              receiver thread: ramcache_store <---+
 *                                 every FLUSH_MS: pause SVM,      writes its
 *                                 colo_flush_ram_cache, resume    own pages
 *
 * When the guest has done its rounds it stops; the migration thread runs
 * ram_save_complete; the receiver does a final flush. Then the SVM's RAM,
 * the cache and the PVM's RAM must be equal byte for byte. Along the way:
 *  - after every flush the SVM's RAM equals the cache (I4: the SVM's own
 *    writes were found and overwritten, under the cache's lock);
 *  - no page arrives twice between two syncs;
 *  - no hinted page comes back: a zero page that arrives after the page's
 *    DISCARD is an error unless the guest has written the page since the
 *    hint. Were the hint's log clear lost, the next sync would bring the
 *    guest's zeroing writes back as zero pages (I3).
 *
 * "Written since the hint" and not "has content since the hint": a sync
 * can see a page as written while the guest's store is still to land (the
 * fault that unprotected it returned, the guest was preempted before the
 * store retired). The page then goes out as zero, and again later with
 * the store, as it should. So the guest counts every write to a page
 * before it makes it (epoch), and the hint thread notes the epoch of each
 * hinted page while the guest waits for the answer.
 */
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "locking-guest.h"
#include "proto.h"
#include "ram-save.h"
#include "ramcache.h"

/*
 * ThreadSanitizer checks every byte the flush copies and compares, which
 * makes a flush of 64 MiB take a tenth of a second; a smaller guest keeps
 * the run short there and makes the hints hit the same pages more often.
 */
#if defined(__SANITIZE_THREAD__)
#define NPAGES 4096ULL			/* 16 MiB */
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NPAGES 4096ULL
#endif
#endif
#ifndef NPAGES
#define NPAGES 16384ULL			/* 64 MiB */
#endif
#define SIZE (NPAGES * RAM_PAGE_SIZE)
#define SLOT 8				/* pages per allocation slot */
#define NSLOTS (NPAGES / SLOT)
#define SHIFT 9				/* 32 chunks of 2 MiB */
#define MAX_WAIT_MS 5
#define FLUSH_MS 25
#define ROUNDS 1500
/*
 * The guest goes on past ROUNDS until the daemon has made enough passes
 * and flushes for the run to prove something (sh->enough). Hints no longer
 * wait for the network, so nothing slows the guest to the link's pace any
 * more; on a loaded machine the first pass over RAM can take longer than
 * ROUNDS. This caps the wait; report() then says what was missing.
 */
#define MAX_ROUNDS (20 * ROUNDS)
#define WRITES_PER_ROUND 48
/*
 * The first HOT pages are never freed and written every round. A hot page
 * is dirty in every pass, so its last write before the guest stops is
 * likely to land while a pass is sending it: exactly where clearing the
 * log after sending (instead of before) would lose that write for good.
 */
#define HOT 64
#define HOT_WRITES_PER_ROUND 16

/* Memory both guests and this process see. */
struct shared {
	_Atomic uint32_t frees[NPAGES];	/* zeroings the PVM guest began */
	_Atomic uint32_t epoch[NPAGES];	/* writes of any kind it began */
	_Atomic uint32_t hint_epoch[NPAGES];	/* epoch at the last hint */
	atomic_bool svm_pause, svm_paused, svm_stop;
	atomic_bool enough;		/* see MAX_ROUNDS */
	_Atomic uint64_t svm_writes;
};

struct hint_msg { uint64_t first, count; };	/* count 0: guest done */

struct stress {
	struct shared *sh;
	struct ram_layout pvm, svm;
	struct tguest pvm_g, svm_g;
	struct dirtylog pvm_dl, svm_dl;
	struct ram_state rs;
	struct ramcache rc;
	struct xport *tx, *rx;
	atomic_bool guest_done;
	atomic_ulong flushes_done;

	/* Hint thread's. */
	uint64_t hints, hint_max_us;
	/* Migration thread's. */
	uint64_t passes;
	/* Receiver thread's. */
	uint32_t pass_sends[NPAGES], discards[NPAGES];
	uint64_t flushes, flushed, zero_after_discard_ok, max_sends;
	uint64_t store_in_flight;
	uint32_t total_sends[NPAGES];
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* --- the guests (children) ------------------------------------------- */

/* Free a run of allocated slots the way libcolo-guest does: zero, hint,
 * and touch nothing until the daemon has answered. */
static void guest_free(struct tguest_child *c, struct shared *sh,
		       uint64_t first, uint64_t count)
{
	struct hint_msg h = { first, count };
	int32_t r;

	for (uint64_t p = first; p < first + count; p++) {
		atomic_fetch_add(&sh->frees[p], 1);
		atomic_fetch_add(&sh->epoch[p], 1);
	}
	memset(c->ram + (first << RAM_PAGE_SHIFT), 0, count << RAM_PAGE_SHIFT);
	tg_write_all(c->ack_fd, &h, sizeof(h));
	if (read(c->cmd_fd, &r, sizeof(r)) != sizeof(r) || r)
		_exit(4);
}

/* Count up to max slots from s with the given state, not wrapping. */
static uint64_t slot_run(const bool *alloc, uint64_t s, uint64_t max,
			 bool state)
{
	uint64_t n = 0;

	while (n < max && s + n < NSLOTS && alloc[s + n] == state)
		n++;
	return n;
}

static void guest_write(struct tguest_child *c, struct shared *sh,
			uint64_t p, uint64_t gen)
{
	atomic_fetch_add(&sh->epoch[p], 1);
	tg_fill_page(c->ram + (p << RAM_PAGE_SHIFT), p, gen);
}

static void pvm_main(struct tguest_child *c)
{
	struct stress *st = c->arg;
	static bool alloc[NSLOTS];
	const uint64_t first_slot = HOT / SLOT;	/* the heap starts here */
	uint64_t seed = 0xc0105eed, gen = 0;
	struct hint_msg done = { 0, 0 };

	for (int round = 0; round < MAX_ROUNDS; round++) {
		uint64_t s, n;

		for (int i = 0; i < HOT_WRITES_PER_ROUND; i++)
			guest_write(c, st->sh, test_rand(&seed) % HOT, ++gen);
		for (int i = 0; i < WRITES_PER_ROUND; i++) {
			uint64_t p = test_rand(&seed) % NPAGES;

			if (p >= HOT && alloc[p / SLOT])
				guest_write(c, st->sh, p, ++gen);
		}
		s = first_slot + test_rand(&seed) % (NSLOTS - first_slot);
		n = slot_run(alloc, s, 1 + test_rand(&seed) % 8, true);
		if (n) {
			guest_free(c, st->sh, s * SLOT, n * SLOT);
			memset(&alloc[s], 0, n);
		}
		s = first_slot + test_rand(&seed) % (NSLOTS - first_slot);
		n = slot_run(alloc, s, 1 + test_rand(&seed) % 8, false);
		for (uint64_t p = s * SLOT; p < (s + n) * SLOT; p++)
			guest_write(c, st->sh, p, ++gen);
		memset(&alloc[s], 1, n);
		usleep(500);
		if (round >= ROUNDS && atomic_load(&st->sh->enough))
			break;
	}
	tg_write_all(c->ack_fd, &done, sizeof(done));
	/* Stay alive, idle, until told: the final sync reads our log. */
	tguest_serve(c);
}

static void svm_main(struct tguest_child *c)
{
	struct stress *st = c->arg;
	struct shared *sh = st->sh;
	uint64_t seed = 0x5e11, gen = 1ULL << 40;

	while (!atomic_load(&sh->svm_stop)) {
		uint64_t p;

		if (atomic_load(&sh->svm_pause)) {
			atomic_store(&sh->svm_paused, true);
			while (atomic_load(&sh->svm_pause) &&
			       !atomic_load(&sh->svm_stop))
				usleep(50);
			atomic_store(&sh->svm_paused, false);
			continue;
		}
		p = test_rand(&seed) % NPAGES;
		tg_fill_page(c->ram + (p << RAM_PAGE_SHIFT), p, ++gen);
		atomic_fetch_add(&sh->svm_writes, 1);
		usleep(50);
	}
}

/* --- this process: hints, migration, receiver ------------------------- */

static void *hint_thread(void *arg)
{
	struct stress *st = arg;
	struct hint_msg h;

	while (read(st->pvm_g.ack_fd, &h, sizeof(h)) == sizeof(h) && h.count) {
		uint64_t t0, dt;
		int32_t r;

		/* Before the DISCARD can exist; the guest is waiting. */
		for (uint64_t p = h.first; p < h.first + h.count; p++)
			atomic_store(&st->sh->hint_epoch[p],
				     atomic_load(&st->sh->epoch[p]));
		t0 = now_us();
		r = ram_discard_hint(&st->rs, 0, h.first << RAM_PAGE_SHIFT,
				     h.count << RAM_PAGE_SHIFT);

		dt = now_us() - t0;
		if (dt > st->hint_max_us)
			st->hint_max_us = dt;
		st->hints++;
		CHECK_EQ(r, 0);
		CHECK(write(st->pvm_g.cmd_fd, &r, sizeof(r)) == sizeof(r));
	}
	CHECK_EQ(h.count, 0);
	atomic_store(&st->guest_done, true);
	return NULL;
}

static void send_marker(struct stress *st, enum proto_type type)
{
	struct proto_msg m = { .type = type };

	CHECK_EQ(proto_send(st->tx, &m), 0);
	CHECK_EQ(xport_flush(st->tx), 0);
}

/* The migration thread runs the daemon's loop; between its steps this
 * hook plays the rest of the daemon: the markers that tell the receiver a
 * pass began, and a flush request every FLUSH_MS. */
struct mig_watch {
	struct stress *st;
	struct ram_live_sync ls;
	uint64_t last_flush, asked;
};

static int mig_before_step(void *opaque)
{
	struct mig_watch *w = opaque;
	struct stress *st = w->st;

	if (atomic_load(&st->guest_done))
		return 1;
	if (w->ls.passes != st->passes) {
		st->passes = w->ls.passes;
		/* What report() asks of the run; hints come anyway. */
		if (st->passes > 2 && atomic_load(&st->flushes_done) > 10)
			atomic_store(&st->sh->enough, true);
		/* A new pass: each page at most once until the next. */
		send_marker(st, PROTO_CKPT_BEGIN);
	}
	/* A flush every FLUSH_MS, never a backlog of them. */
	if (atomic_load(&st->flushes_done) == w->asked &&
	    now_us() - w->last_flush >= FLUSH_MS * 1000) {
		send_marker(st, PROTO_HEARTBEAT);
		w->asked++;
		w->last_flush = now_us();
	}
	return 0;
}

static void *migration_thread(void *arg)
{
	_Atomic unsigned max_wait = MAX_WAIT_MS;
	struct mig_watch w = {
		.st = arg,
		.ls = {
			.max_wait_ms = &max_wait,
			/* Never done by convergence: the guest decides. */
			.converged_pages = 0,
			.max_passes = UINT_MAX,
			.before_step = mig_before_step,
		},
		.last_flush = now_us(),
	};
	struct stress *st = w.st;

	w.ls.opaque = &w;
	/* A pass that leaves nothing dirty ends the loop early: go on. */
	while (!atomic_load(&st->guest_done))
		CHECK_EQ(ram_save_live_sync(&st->rs, st->tx, &w.ls), 0);
	/* The guest is idle now: stop-and-copy. */
	send_marker(st, PROTO_CKPT_BEGIN);
	CHECK(ram_save_complete(&st->rs, st->tx) >= 0);
	send_marker(st, PROTO_CKPT_END);
	return NULL;
}

static uint64_t first_diff(const uint8_t *a, const uint8_t *b)
{
	uint64_t p;

	for (p = 0; p < NPAGES; p++)
		if (memcmp(a + (p << RAM_PAGE_SHIFT), b + (p << RAM_PAGE_SHIFT),
			   RAM_PAGE_SIZE))
			break;
	return p;
}

/* A checkpoint's flush: the SVM holds still, then equals the cache. */
static void flush_svm(struct stress *st, bool last)
{
	struct shared *sh = st->sh;
	uint64_t bad;
	int64_t n;

	atomic_store(&sh->svm_pause, true);
	while (!atomic_load(&sh->svm_paused))
		usleep(20);
	n = colo_flush_ram_cache(&st->rc);
	CHECK(n >= 0);
	st->flushes++;
	st->flushed += (uint64_t)n;
	bad = first_diff(st->svm.blocks[0].alias, st->rc.cache[0]);
	if (bad < NPAGES)
		fprintf(stderr, "flush %llu: SVM page %llu differs from the "
			"cache\n", (unsigned long long)st->flushes,
			(unsigned long long)bad);
	CHECK_EQ(bad, NPAGES);
	if (!last)
		atomic_store(&sh->svm_pause, false);
	atomic_fetch_add(&st->flushes_done, 1);
}

static bool page_is_zero(const uint8_t *p)
{
	for (size_t i = 0; i < RAM_PAGE_SIZE; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * A zero page after the page's DISCARD. Fine if the guest has begun a free
 * whose DISCARD is still to come, or has written the page since the last
 * hint (see the top). frees is read last: if it still equals the DISCARDs
 * seen, no new hint could have moved hint_epoch under us.
 */
static bool hint_came_back(struct stress *st, uint64_t p)
{
	uint32_t epoch = atomic_load(&st->sh->epoch[p]);
	uint32_t hinted = atomic_load(&st->sh->hint_epoch[p]);
	uint32_t frees = atomic_load(&st->sh->frees[p]);

	if (frees != st->discards[p])
		return false;
	st->store_in_flight += epoch != hinted;
	return epoch == hinted;
}

static void on_pages(struct stress *st, const struct proto_pages *m)
{
	CHECK_EQ(proto_check_range(&st->pvm, m->block, m->first, m->count), 0);
	for (uint64_t i = 0; i < m->count; i++) {
		uint64_t p = m->first + i;
		bool zero = !m->data ||
			    page_is_zero(m->data + (i << RAM_PAGE_SHIFT));

		if (++st->pass_sends[p] > 1) {
			fprintf(stderr, "page %llu sent twice in one pass\n",
				(unsigned long long)p);
			exit(1);
		}
		if (++st->total_sends[p] > st->max_sends)
			st->max_sends = st->total_sends[p];
		if (!zero || !st->discards[p])
			continue;
		if (hint_came_back(st, p)) {
			fprintf(stderr, "hinted page %llu came back (%u "
				"DISCARDs, not written since)\n",
				(unsigned long long)p, st->discards[p]);
			exit(1);
		}
		st->zero_after_discard_ok++;
	}
	CHECK_EQ(ramcache_store(&st->rc, m->block, m->first, m->count,
				m->data), 0);
}

static void on_discard(struct stress *st, const struct proto_discard *m)
{
	CHECK_EQ(proto_check_range(&st->pvm, m->block, m->first, m->count), 0);
	for (uint64_t p = m->first; p < m->first + m->count; p++)
		st->discards[p]++;
	CHECK_EQ(ramcache_store(&st->rc, m->block, m->first, m->count, NULL),
		 0);
}

static void *receiver_thread(void *arg)
{
	struct stress *st = arg;
	struct proto_rxbuf rxb = { 0 };
	struct proto_msg m;
	bool end = false;

	while (!end) {
		CHECK_EQ(proto_recv(st->rx, &rxb, &m), 0);
		switch (m.type) {
		case PROTO_PAGES:
			on_pages(st, &m.pages);
			break;
		case PROTO_DISCARD:
			on_discard(st, &m.discard);
			break;
		case PROTO_CKPT_BEGIN:
			memset(st->pass_sends, 0, sizeof(st->pass_sends));
			break;
		case PROTO_HEARTBEAT:
			flush_svm(st, false);
			break;
		case PROTO_CKPT_END:
			flush_svm(st, true);
			end = true;
			break;
		default:
			CHECK(!"unexpected message");
		}
	}
	proto_rxbuf_free(&rxb);
	return NULL;
}

/* --- setup and the end -------------------------------------------------- */

static void start_guests(struct stress *st)
{
	CHECK_EQ(ram_layout_create(&st->pvm, SIZE), 0);
	CHECK_EQ(ram_layout_create(&st->svm, SIZE), 0);
	tguest_start_or_skip(&st->pvm_g, st->pvm.blocks[0].memfd, SIZE,
			     pvm_main, st);
	st->pvm.blocks[0].guest_addr = st->pvm_g.addr;
	tguest_dirtylog(&st->pvm_g, &st->pvm_dl);
	tguest_start_or_skip(&st->svm_g, st->svm.blocks[0].memfd, SIZE,
			     svm_main, st);
	st->svm.blocks[0].guest_addr = st->svm_g.addr;
	tguest_dirtylog(&st->svm_g, &st->svm_dl);
}

static void report(struct stress *st, uint64_t took_us)
{
	struct ram_save_stats rss;
	uint64_t discards = 0;

	ram_state_get_stats(&st->rs, &rss);
	for (uint64_t p = 0; p < NPAGES; p++)
		discards += st->discards[p];
	printf("# %.1f s: %llu iterations, %llu passes, %llu pages sent "
	       "(%llu zero), %llu dirty-log chunk clears\n",
	       (double)took_us / 1e6, (unsigned long long)rss.iterations,
	       (unsigned long long)st->passes,
	       (unsigned long long)rss.pages_sent,
	       (unsigned long long)rss.zero_pages,
	       (unsigned long long)rss.log_clears);
	printf("# %llu hints (%llu pages, %llu discarded at the secondary), "
	       "slowest hint %llu us; %llu zero pages after a DISCARD, the "
	       "guest freed (%llu: wrote) since; most sends of one page "
	       "%llu\n",
	       (unsigned long long)st->hints,
	       (unsigned long long)rss.hinted_pages,
	       (unsigned long long)discards,
	       (unsigned long long)st->hint_max_us,
	       (unsigned long long)st->zero_after_discard_ok,
	       (unsigned long long)st->store_in_flight,
	       (unsigned long long)st->max_sends);
	printf("# %llu flushes copied %llu pages in %llu runs; the SVM wrote "
	       "%llu pages of its own\n", (unsigned long long)st->flushes,
	       (unsigned long long)st->flushed,
	       (unsigned long long)st->rc.flush_runs,
	       (unsigned long long)atomic_load(&st->sh->svm_writes));
	/* A run that exercised nothing proves nothing. */
	CHECK(st->hints > 100 && st->passes > 2 && st->flushes > 10);
	CHECK(atomic_load(&st->sh->svm_writes) > 100);
}

int main(void)
{
	static struct stress st;
	pthread_t hint_th, mig_th, rx_th;
	uint64_t bad, t0;
	int sv[2], status;

	st.sh = mmap(NULL, sizeof(*st.sh), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(st.sh != MAP_FAILED);
	/* Both children fork here, before any thread exists. */
	start_guests(&st);

	CHECK_EQ(ram_state_init(&st.rs, &st.pvm, &st.pvm_dl, SHIFT), 0);
	CHECK_EQ(ramcache_init(&st.rc, &st.svm), 0);
	/* The SVM here runs from the start: pages reach it only by flushes. */
	ramcache_svm_start(&st.rc);
	st.rc.dlog = &st.svm_dl;
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	st.tx = xport_tcp_new(sv[0]);
	st.rx = xport_tcp_new(sv[1]);
	CHECK(st.tx && st.rx);

	t0 = now_us();
	CHECK_EQ(pthread_create(&rx_th, NULL, receiver_thread, &st), 0);
	CHECK_EQ(pthread_create(&mig_th, NULL, migration_thread, &st), 0);
	CHECK_EQ(pthread_create(&hint_th, NULL, hint_thread, &st), 0);
	pthread_join(hint_th, NULL);
	pthread_join(mig_th, NULL);
	pthread_join(rx_th, NULL);

	/* SVM == PVM, byte for byte: no write lost on the way. */
	bad = first_diff(st.svm.blocks[0].alias, st.pvm.blocks[0].alias);
	if (bad < NPAGES)
		fprintf(stderr, "SVM page %llu differs from the PVM's "
			"(sent %u times, %u DISCARDs)\n",
			(unsigned long long)bad, st.total_sends[bad],
			st.discards[bad]);
	CHECK_EQ(bad, NPAGES);
	report(&st, now_us() - t0);

	atomic_store(&st.sh->svm_stop, true);
	CHECK(waitpid(st.svm_g.pid, &status, 0) == st.svm_g.pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(st.svm_g.cmd_fd);
	close(st.svm_g.ack_fd);
	tguest_stop(&st.pvm_g);

	xport_free(st.tx);
	xport_free(st.rx);
	ramcache_deinit(&st.rc);
	ram_state_deinit(&st.rs);
	dirtylog_close(&st.pvm_dl);
	dirtylog_close(&st.svm_dl);
	ram_layout_destroy(&st.pvm);
	ram_layout_destroy(&st.svm);
	return 0;
}
