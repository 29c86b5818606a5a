// SPDX-License-Identifier: MIT
/*
 * proc-image-wire on a hand-made image (image-sample.h), no process:
 *   - it round-trips: encode, decode, every field equal, encode again to
 *     the same bytes; with and without page runs
 *   - cut at every length, it is refused with a reason, never read past
 *   - every byte flipped in turn: refused with a reason, or (page data,
 *     register values...) decoded to an image that encodes back to exactly
 *     the flipped bytes; flipped in the header or a count, always refused
 *   - images that break a rule apply relies on (overlapping or unaligned
 *     runs, fds out of order, input shorter than the unconsumed bytes, a
 *     connection on no TCP fd) are refused naming it; ones over the limits
 *     are refused by the encoder already (-E2BIG)
 *   - a delta the same way: round trip with its present list, every cut,
 *     every byte flipped; the present list's rules (aligned, non-empty,
 *     in order and apart, in carried VMAs, holding every run), a flag
 *     unknown, a present list after a full image
 */
#include <errno.h>
#include <stdbool.h>

#include "image-sample.h"
#include "proc-image-wire.h"
#include "tap.h"

static bool same_bytes(const void *a, const void *b, size_t n)
{
	return n == 0 || !memcmp(a, b, n);
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool same_end(const struct proc_tcp_end *a, const struct proc_tcp_end *b)
{
	return a->family == b->family && a->port == b->port &&
	       !memcmp(a->addr, b->addr, sizeof(a->addr));
}

static bool same_fd(const struct proc_fd *a, const struct proc_fd *b)
{
	return a->fd == b->fd && a->kind == b->kind && a->flags == b->flags &&
	       a->cloexec == b->cloexec && same_str(a->target, b->target) &&
	       a->ino == b->ino && a->pos == b->pos &&
	       a->tcp_state == b->tcp_state && same_end(&a->local, &b->local) &&
	       same_end(&a->remote, &b->remote) && a->pending == b->pending &&
	       a->unread == b->unread && a->unsent == b->unsent &&
	       a->n_items == b->n_items &&
	       same_bytes(a->items, b->items, a->n_items * sizeof(*a->items)) &&
	       a->count == b->count && a->sigmask == b->sigmask;
}

/* Field by field, as a naive reference against the encoder's layout. */
static void check_equal(const struct proc_image *a, const struct proc_image *b)
{
	CHECK_EQ(a->maps.n, b->maps.n);
	for (size_t i = 0; i < a->maps.n; i++) {
		const struct proc_vma *x = &a->maps.vma[i], *y = &b->maps.vma[i];

		CHECK(x->start == y->start && x->end == y->end &&
		      x->offset == y->offset && x->prot == y->prot &&
		      x->shared == y->shared && x->kind == y->kind &&
		      same_str(x->path, y->path));
	}
	CHECK_EQ(a->n_runs, b->n_runs);
	for (size_t i = 0; i < a->n_runs; i++) {
		CHECK_EQ(a->runs[i].addr, b->runs[i].addr);
		CHECK_EQ(a->runs[i].pages, b->runs[i].pages);
		CHECK(same_bytes(a->runs[i].data, b->runs[i].data,
				 a->runs[i].pages * 4096));
	}
	CHECK_EQ(a->n_threads, b->n_threads);
	for (size_t i = 0; i < a->n_threads; i++) {
		const struct proc_regs *x = a->threads[i].regs;
		const struct proc_regs *y = b->threads[i].regs;

		CHECK_EQ(a->threads[i].ns_tid, b->threads[i].ns_tid);
		CHECK(!memcmp(&x->gp, &y->gp, sizeof(x->gp)));
		CHECK_EQ(x->sigmask, y->sigmask);
		CHECK_EQ(x->xstate_len, y->xstate_len);
		CHECK(same_bytes(x->xstate, y->xstate, x->xstate_len));
	}
	CHECK_EQ(a->fds.n, b->fds.n);
	for (size_t i = 0; i < a->fds.n; i++)
		CHECK(same_fd(&a->fds.fds[i], &b->fds.fds[i]));
	CHECK_EQ(a->delta, b->delta);
	CHECK_EQ(a->n_present, b->n_present);
	CHECK(same_bytes(a->present, b->present,
			 a->n_present * sizeof(*a->present)));
	CHECK_EQ(a->n_conns, b->n_conns);
	for (size_t i = 0; i < a->n_conns; i++) {
		const struct proc_image_conn *x = &a->conns[i], *y = &b->conns[i];

		CHECK(x->fd == y->fd && x->daemon_port == y->daemon_port &&
		      x->unconsumed == y->unconsumed &&
		      x->input_len == y->input_len &&
		      same_bytes(x->input, y->input, x->input_len));
	}
}

static void round_trip(bool with_pages, bool delta)
{
	struct proc_image img, back;
	uint8_t *buf, *again;
	size_t len, len2;
	char why[160];

	if (delta)
		image_sample_delta(&img);
	else
		image_sample(&img, with_pages);
	CHECK_EQ(proc_image_encode(&img, &buf, &len), 0);
	CHECK_EQ(proc_image_decode(buf, len, &back, why, sizeof(why)), 0);
	CHECK_EQ(why[0], 0);
	check_equal(&img, &back);
	CHECK_EQ(proc_image_encode(&back, &again, &len2), 0);
	CHECK_EQ(len2, len);
	CHECK(!memcmp(buf, again, len));
	fprintf(stderr, "round trip %s pages%s: %zu bytes\n",
		with_pages ? "with" : "without", delta ? ", a delta" : "", len);
	free(again);
	free(buf);
	proc_image_free(&back);
	proc_image_free(&img);
}

/* -EPROTO, a reason, and nothing left in out. */
static void check_refused(const uint8_t *buf, size_t len, const char *about)
{
	struct proc_image out;
	char why[160] = "";

	CHECK_EQ(proc_image_decode(buf, len, &out, why, sizeof(why)), -EPROTO);
	CHECK(why[0] != 0);
	CHECK(out.maps.n == 0 && out.n_runs == 0 && out.n_threads == 0 &&
	      out.fds.n == 0 && out.n_conns == 0 && !out.runs &&
	      out.n_present == 0 && !out.present && !out.delta);
	if (about && !strstr(why, about)) {
		fprintf(stderr, "reason \"%s\" does not mention \"%s\"\n", why,
			about);
		exit(1);
	}
}

/* Each cut in an allocation of exactly its length, for ASan. */
static void truncations(bool delta)
{
	struct proc_image img;
	uint8_t *buf;
	size_t len;

	if (delta)
		image_sample_delta(&img);
	else
		image_sample(&img, true);
	CHECK_EQ(proc_image_encode(&img, &buf, &len), 0);
	for (size_t n = 0; n < len; n++) {
		uint8_t *cut = malloc(n ? n : 1);

		CHECK(cut);
		memcpy(cut, buf, n);
		check_refused(cut, n, NULL);
		free(cut);
	}
	check_refused(NULL, 0, "truncated");
	free(buf);
	proc_image_free(&img);
}

/* Where each section's count sits: the length of the image before it. */
static size_t count_at(const struct proc_image *full, int section)
{
	struct proc_image part = { 0 };
	uint8_t *buf;
	size_t len;

	part.maps = full->maps;
	if (section > 2) {
		part.runs = full->runs;
		part.n_runs = full->n_runs;
	}
	if (section > 3) {
		part.threads = full->threads;
		part.n_threads = full->n_threads;
	}
	if (section > 4)
		part.fds = full->fds;
	if (section == 1)
		part.maps = (struct proc_maps){ 0 };
	CHECK_EQ(proc_image_encode(&part, &buf, &len), 0);
	free(buf);
	/* What follows the section's count: the later ones' counts, 0. */
	return len - 4 * (size_t)(6 - section);
}

/*
 * Byte i xor mask: refused, or decoded to what encodes back to exactly
 * those bytes (the decoder takes one spelling of each image). With every
 * bit flipped, a header byte or a count's is always refused.
 */
static void flip(uint8_t *buf, size_t len, size_t i, uint8_t mask,
		 bool must_refuse, size_t *refused)
{
	struct proc_image out;
	uint8_t *again;
	size_t len2;
	char why[160] = "";
	int r;

	buf[i] ^= mask;
	r = proc_image_decode(buf, len, &out, why, sizeof(why));
	if (r == 0) {
		CHECK(!must_refuse);
		CHECK_EQ(proc_image_encode(&out, &again, &len2), 0);
		CHECK(len2 == len && !memcmp(again, buf, len));
		free(again);
		proc_image_free(&out);
	} else {
		CHECK_EQ(r, -EPROTO);
		CHECK(why[0] != 0);
		++*refused;
	}
	buf[i] ^= mask;
}

static void flips(void)
{
	static const uint8_t masks[] = { 0xff, 0x02, 0x80 };
	struct proc_image img;
	uint8_t *buf;
	size_t len, counts[5], refused = 0;

	image_sample(&img, false);
	CHECK_EQ(proc_image_encode(&img, &buf, &len), 0);
	for (int s = 1; s <= 5; s++)
		counts[s - 1] = count_at(&img, s);
	CHECK_EQ(counts[0], 12);
	for (size_t i = 0; i < len; i++) {
		bool in_count = i < 12;

		for (int s = 0; s < 5; s++)
			in_count |= i >= counts[s] && i < counts[s] + 4;
		for (size_t m = 0; m < sizeof(masks); m++)
			flip(buf, len, i, masks[m], in_count && m == 0,
			     &refused);
	}
	fprintf(stderr, "flips: %zu of %zu refused\n", refused,
		len * sizeof(masks));
	CHECK(refused > 0 && refused < len * sizeof(masks));
	free(buf);
	proc_image_free(&img);
}

/* img encoded (the encoder does not judge order) and refused for about. */
static void check_rule(struct proc_image *img, const char *about)
{
	uint8_t *buf;
	size_t len;

	CHECK_EQ(proc_image_encode(img, &buf, &len), 0);
	check_refused(buf, len, about);
	free(buf);
	proc_image_free(img);
}

static void rules(void)
{
	static const uint8_t other[] = "COLOPIMX\0\1\0\0";
	struct proc_image img;
	uint8_t *buf;
	size_t len;

	image_sample(&img, true);
	CHECK_EQ(proc_image_encode(&img, &buf, &len), 0);
	check_refused(other, sizeof(other) - 1, "magic");
	buf[9] = 1;
	check_refused(buf, len, "version 1");
	buf[9] = 3;
	check_refused(buf, len, "version 3");
	buf[9] = 2;
	buf[11] = 2;            /* a flag this build does not know */
	check_refused(buf, len, "flags 0x2");
	buf[11] = 0;
	buf[15] = 200;          /* 200 VMAs in a few hundred bytes */
	check_refused(buf, 200, "cannot fit");
	buf[15] = 5;
	free(buf);
	proc_image_free(&img);

	image_sample(&img, true);
	img.runs[2].addr -= 8192;       /* into the run before */
	check_rule(&img, "overlapping");
	image_sample(&img, true);
	img.runs[0].addr += 12;
	check_rule(&img, "pages at");
	image_sample(&img, true);
	img.maps.vma[1].start = 0x401000;
	check_rule(&img, "vma 1: starts at");
	image_sample(&img, true);
	img.fds.fds[4].fd = 5;          /* the same fd twice */
	check_rule(&img, "fd entry 4: fd 5, not after fd 5");
	image_sample(&img, true);
	img.conns[0].unconsumed = 100;
	check_rule(&img, "fewer than the 100 unconsumed");
	image_sample(&img, true);
	img.conns[1].fd = 6;            /* a signalfd */
	check_rule(&img, "conn 1: fd 6 is no TCP connection");
	image_sample(&img, true);
	img.threads[1].ns_tid = 0;
	check_rule(&img, "thread 1: thread id 0");
	image_sample(&img, true);
	img.fds.fds[3].local.family = AF_UNIX;
	check_rule(&img, "address family");
}

static void limits(void)
{
	struct proc_image img;
	struct proc_fd *fds;
	uint8_t *buf = (uint8_t *)"x";
	size_t len = 1;

	image_sample(&img, false);
	img.threads[0].regs->xstate_len = PROC_XSTATE_MAX + 1;
	CHECK_EQ(proc_image_encode(&img, &buf, &len), -E2BIG);
	CHECK(buf == NULL && len == 0);
	img.threads[0].regs->xstate_len = PROC_XSTATE_MAX;
	CHECK_EQ(proc_image_encode(&img, &buf, &len), 0);
	free(buf);
	proc_image_free(&img);

	image_sample(&img, false);
	fds = sample_calloc(PROC_WIRE_MAX_COUNT + 1, sizeof(*fds));
	for (size_t i = 0; i <= PROC_WIRE_MAX_COUNT; i++)
		fds[i].fd = (int)i;
	fds[8].kind = fds[9].kind = PROC_FD_TCP_CONN;   /* the conns' */
	proc_fds_free(&img.fds);
	img.fds = (struct proc_fd_table){ fds, PROC_WIRE_MAX_COUNT + 1 };
	CHECK_EQ(proc_image_encode(&img, &buf, &len), -E2BIG);
	img.fds.n = PROC_WIRE_MAX_COUNT;        /* the most there may be */
	CHECK_EQ(proc_image_encode(&img, &buf, &len), 0);
	img.fds.n = PROC_WIRE_MAX_COUNT + 1;
	proc_image_free(&img);
	CHECK_EQ(proc_image_decode(buf, len, &img, NULL, 0), 0);
	CHECK_EQ(img.fds.n, PROC_WIRE_MAX_COUNT);
	free(buf);
	proc_image_free(&img);
}

/*
 * Every byte of a delta without page data flipped: refused, or one
 * spelling. The header's and the present count's bytes always refused.
 */
static void delta_flips(void)
{
	struct proc_image img;
	uint8_t *buf;
	size_t len, refused = 0, count;

	image_sample_delta(&img);
	for (size_t i = 0; i < img.n_runs; i++)
		free(img.runs[i].data);
	free(img.runs);
	img.runs = NULL;
	img.n_runs = 0;
	CHECK_EQ(proc_image_encode(&img, &buf, &len), 0);
	count = len - 4 - img.n_present * 16;
	for (size_t i = 0; i < len; i++)
		flip(buf, len, i, 0xff, i < 12 || (i >= count && i < count + 4),
		     &refused);
	fprintf(stderr, "delta flips: %zu of %zu refused\n", refused, len);
	CHECK(refused > 0 && refused < len);
	free(buf);
	proc_image_free(&img);
}

/* The sample delta with present range i set to addr+pages. */
static void present_rule(size_t i, uint64_t addr, uint64_t pages,
			 const char *about)
{
	struct proc_image img;

	image_sample_delta(&img);
	img.present[i] = (struct proc_image_range){ addr, pages };
	check_rule(&img, about);
}

static void delta_rules(void)
{
	struct proc_image img, back;
	uint8_t *buf, *cut;
	size_t len;

	present_rule(0, 0x602010, 2, "present range 0: 2 pages at");
	present_rule(0, 0x602000, 0, "present range 0: 0 pages at");
	present_rule(1, 0xff0000, 0x1000 / 4096, "outside the carried VMAs");
	present_rule(1, 0x1000000, 9, "outside the carried VMAs");
	present_rule(2, 0x7ffff7ff0000, 1, "outside the carried VMAs");
	present_rule(2, 0x1004000, 1, "touching or before");
	present_rule(2, 0x1006000, 1, "run 3: 0x7fffffffe000+1 pages not "
		     "inside a present range");
	present_rule(0, 0x603000, 1, "run 0: 0x602000+1 pages not inside");
	present_rule(1, 0x1000000, 3, "run 2: 0x1003000+1 pages not inside");

	/* VMAs 1 and 2 made adjacent: a range may cross from one to the
	 * next, as long as both are carried; not into the shared one. */
	image_sample_delta(&img);
	img.maps.vma[2].start = 0x604000;
	img.present[0].pages = 9;
	CHECK_EQ(proc_image_encode(&img, &buf, &len), 0);
	CHECK_EQ(proc_image_decode(buf, len, &back, NULL, 0), 0);
	check_equal(&img, &back);
	free(buf);
	proc_image_free(&back);
	proc_image_free(&img);

	/* Touching ranges: refused (the merged one is the spelling). */
	image_sample_delta(&img);
	img.present[0].pages = 1;
	img.present[1] = (struct proc_image_range){ 0x603000, 1 };
	check_rule(&img, "present range 1: at 0x603000, touching");

	/* A delta holding nothing and carrying nothing is an image. */
	image_sample(&img, false);
	img.delta = true;
	CHECK_EQ(proc_image_encode(&img, &buf, &len), 0);
	CHECK_EQ(proc_image_decode(buf, len, &back, NULL, 0), 0);
	CHECK(back.delta && back.n_present == 0);
	free(buf);
	proc_image_free(&back);
	proc_image_free(&img);

	/* A full image has no present list: the delta's, flag cleared. */
	image_sample_delta(&img);
	CHECK_EQ(proc_image_encode(&img, &buf, &len), 0);
	buf[11] = 0;
	check_refused(buf, len, "bytes after the last connection");
	/* ...and a delta with bytes after its list. */
	buf[11] = 1;
	cut = malloc(len + 1);
	CHECK(cut);
	memcpy(cut, buf, len);
	cut[len] = 0;
	check_refused(cut, len + 1, "1 bytes after the last present range");
	free(cut);
	free(buf);
	proc_image_free(&img);

	/* Over the limit: the encoder refuses, the decoder cannot be fed. */
	image_sample_delta(&img);
	free(img.present);
	img.present = sample_calloc(PROC_WIRE_MAX_COUNT + 1,
				    sizeof(*img.present));
	img.n_present = PROC_WIRE_MAX_COUNT + 1;
	CHECK_EQ(proc_image_encode(&img, &buf, &len), -E2BIG);
	img.delta = false;      /* not written, so not judged */
	CHECK_EQ(proc_image_encode(&img, &buf, &len), 0);
	free(buf);
	proc_image_free(&img);
}

int main(void)
{
	round_trip(true, false);
	round_trip(false, false);
	round_trip(true, true);
	truncations(false);
	truncations(true);
	flips();
	delta_flips();
	delta_rules();
	rules();
	limits();
	return 0;
}
