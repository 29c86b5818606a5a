// SPDX-License-Identifier: MIT
/*
 * The spike's transplant, done with proc-stop, proc-inject and proc-mem:
 * two proc-twin programs started the same way, seized before they make
 * their threads (so the threads are followed as they appear), driven to
 * different states, stopped, and the second made identical to the first
 * (map, pages, every thread's registers and signal mask); resumed, it
 * must answer every query exactly as the first does, on every thread,
 * and go on doing so. Several rounds, each moving the twins apart in a
 * different way: the twin's heap smaller or larger, regions it lacks or
 * has in excess, a blocked signal, signals delivered while seized.
 *
 * With --image, B is made A through proc-image instead (A captured into
 * an image, the image applied to B: map, pages, fds, registers), which
 * needs no client connection and so no redis. With --wire, the image
 * applied is the one that crossed proc-image-wire: encoded, the captured
 * image freed, decoded, and encoded again to the same bytes. With --image
 * --apart, B's threads start with their stacks elsewhere than A's: what
 * the kernel keeps per thread must follow the registers B is given, or
 * its threads fault for good (the rseq registration, proc-rseq.h) or
 * restart a poll from B's own restart block (EFAULT).
 *
 *   test-proc-transplant /abs/path/proc-twin [--image [--apart] | --wire]
 */
#include <errno.h>
#include <stdio.h>

#include "log.h"
#include "proc-image-wire.h"
#include "proc-image.h"
#include "proc-inject.h"
#include "proc-mem.h"
#include "proc-regs.h"
#include "proc-stop.h"
#include "tap.h"
#include "twin-launch.h"

#define ROUNDS 6
#define ANSWER_MS 10000

enum channel { MAIN, READER, POLLER, NCHANNELS };

struct twin {
	const char *name;
	pid_t pid;
	int to[NCHANNELS], from[NCHANNELS];     /* our ends */
	struct proc_stop ps;
};

static void start(struct twin *t, const char *name, const char *path)
{
	char *argv[] = { (char *)path, NULL };
	int theirs[2 * NCHANNELS];

	t->name = name;
	for (int c = 0; c < NCHANNELS; c++) {
		int in[2], out[2];

		CHECK(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0);
		t->to[c] = in[1];
		t->from[c] = out[0];
		theirs[2 * c] = in[0];          /* 3, 5, 7: their input */
		theirs[2 * c + 1] = out[1];     /* 4, 6, 8: their output */
	}
	t->pid = twin_launch(argv, theirs, 2 * NCHANNELS);
	for (int i = 0; i < 2 * NCHANNELS; i++)
		close(theirs[i]);
	t->ps = (struct proc_stop){ 0 };
}

static void read_answer(struct twin *t, enum channel c, char *buf,
			size_t cap)
{
	size_t n = 0;

	for (;;) {
		CHECK(twin_wait_readable(t->from[c], &t->ps, ANSWER_MS));
		CHECK(read(t->from[c], buf + n, 1) == 1);
		if (buf[n] == '\n')
			break;
		CHECK(++n < cap);
	}
	buf[n] = '\0';
}

static void ask(struct twin *t, enum channel c, const char *q, char *answer,
		size_t cap)
{
	char line[128];
	int n = snprintf(line, sizeof(line), "%s\n", q);

	CHECK(write(t->to[c], line, (size_t)n) == n);
	read_answer(t, c, answer, cap);
}

static void ask_ok(struct twin *t, const char *q)
{
	char a[256];

	ask(t, MAIN, q, a, sizeof(a));
	if (strncmp(a, "ok", 2)) {
		fprintf(stderr, "%s: %s answered %s\n", t->name, q, a);
		exit(1);
	}
}

/* The same question to both: the answers must be the same. */
static void ask_both(struct twin *a, struct twin *b, enum channel c,
		     const char *q, char *answer, size_t cap)
{
	char other[256];

	ask(a, c, q, answer, cap);
	ask(b, c, q, other, sizeof(other));
	if (strcmp(answer, other)) {
		fprintf(stderr, "%s: A answered\n  %s\nB answered\n  %s\n", q,
			answer, other);
		exit(1);
	}
}

/* SIGUSR1 while seized: it must reach the program as if untraced. */
static void signal_usr1(struct twin *t, int *expected)
{
	char a[256], want[32];

	CHECK(kill(t->pid, SIGUSR1) == 0);
	(*expected)++;
	snprintf(want, sizeof(want), "usr1 %d ", *expected);
	/* Delivery is asynchronous: ask until the handler has run. */
	for (int tries = 0; tries < 200; tries++) {
		ask(t, MAIN, "state", a, sizeof(a));
		if (strstr(a, want))
			return;
		usleep(5000);
	}
	fprintf(stderr, "%s: SIGUSR1 not delivered: %s\n", t->name, a);
	exit(1);
}

/* Moves the twins apart; round decides how. */
static void diverge(struct twin *a, struct twin *b, int round, int *usr1_a)
{
	char cmd[32], ans[256];

	snprintf(cmd, sizeof(cmd), "grow %d", 200 + 150 * round);
	ask_ok(a, cmd);
	ask_ok(a, "map");
	ask(a, READER, "a-only", ans, sizeof(ans));
	ask(a, POLLER, "a-only", ans, sizeof(ans));
	if (round % 3 == 0)
		signal_usr1(a, usr1_a);
	if (round == 1)
		ask_ok(a, "block");
	if (round == 4)
		ask_ok(a, "unblock");

	ask_ok(b, "reseed");
	/* Odd rounds: the twin's heap ends above the source's, and it has
	 * regions the source lacks. Even rounds: below, and it lacks some. */
	snprintf(cmd, sizeof(cmd), "grow %d", round % 2 ? 3000 : 20);
	ask_ok(b, cmd);
	if (round % 2) {
		ask_ok(b, "map");
		ask_ok(b, "map");
	}
	ask(b, READER, "b-only", ans, sizeof(ans));
}

static bool use_image, use_wire, apart;

/* img replaced by what decoding its encoding gives. */
static void through_wire(struct proc_image *img)
{
	uint8_t *buf, *again;
	size_t len, len2;
	char why[160];

	CHECK_EQ(proc_image_encode(img, &buf, &len), 0);
	proc_image_free(img);
	if (proc_image_decode(buf, len, img, why, sizeof(why))) {
		fprintf(stderr, "decoding the image: %s\n", why);
		exit(1);
	}
	CHECK_EQ(proc_image_encode(img, &again, &len2), 0);
	CHECK(len2 == len && !memcmp(buf, again, len));
	fprintf(stderr, "wire: %zu bytes\n", len);
	free(again);
	free(buf);
}

/* B made A through an image of A: capture, apply. */
static void transplant_image(struct twin *a, struct twin *b)
{
	int pa = (int)syscall(SYS_pidfd_open, a->pid, 0);
	int pb = (int)syscall(SYS_pidfd_open, b->pid, 0);
	struct proc_image img;
	uint64_t pages = 0;

	CHECK(pa >= 0 && pb >= 0);
	CHECK_EQ(proc_image_capture(&a->ps, pa, NULL, 0, &img), 0);
	CHECK_EQ(img.n_threads, 3);
	CHECK_EQ(img.n_conns, 0);
	CHECK(img.fds.n >= 9);          /* stdio and the six pipe ends */
	for (size_t i = 0; i < img.n_runs; i++)
		pages += img.runs[i].pages;
	CHECK(pages > 0);
	if (use_wire)
		through_wire(&img);
	CHECK_EQ(proc_image_apply(&img, &b->ps, pb, NULL, 0), 0);
	fprintf(stderr, "image: %llu pages in %zu runs, %zu fds\n",
		(unsigned long long)pages, img.n_runs, img.fds.n);
	proc_image_free(&img);
	close(pa);
	close(pb);
}

static void transplant(struct twin *a, struct twin *b)
{
	struct proc_mem_stats st;
	struct proc_inject in;

	CHECK_EQ(proc_stop_interrupt(&a->ps, 5000), 0);
	CHECK_EQ(proc_stop_interrupt(&b->ps, 5000), 0);
	proc_stop_sort(&a->ps);
	proc_stop_sort(&b->ps);
	CHECK_EQ(a->ps.n, 3);
	CHECK_EQ(b->ps.n, 3);
	for (size_t i = 0; i < a->ps.n; i++)
		CHECK_EQ(a->ps.thread[i].ns_tid, b->ps.thread[i].ns_tid);
	CHECK_EQ(b->ps.thread[0].ns_tid, 1);
	if (use_image) {
		transplant_image(a, b);
		CHECK_EQ(proc_stop_resume(&a->ps), 0);
		CHECK_EQ(proc_stop_resume(&b->ps), 0);
		return;
	}

	CHECK_EQ(proc_inject_init(&in, &b->ps, b->ps.thread[0].tid), 0);
	CHECK_EQ(proc_mem_reconcile(a->pid, b->pid, &in), 0);
	CHECK_EQ(proc_mem_copy(a->pid, b->pid, &st), 0);
	CHECK(st.pages > 0);
	CHECK_EQ(proc_regs_copy_threads(&a->ps, &b->ps), 0);
	fprintf(stderr, "transplant: %llu pages, %llu of %llu read-only "
		"pages differed\n", (unsigned long long)st.pages,
		(unsigned long long)st.ro_copied,
		(unsigned long long)st.ro_compared);

	CHECK_EQ(proc_stop_resume(&a->ps), 0);
	CHECK_EQ(proc_stop_resume(&b->ps), 0);
}

/* B must now be A: the same state, the same answers on every thread. */
static void check_alike(struct twin *a, struct twin *b, const char *before,
			int round, int *usr1)
{
	char ans[256], q[32];

	ask(b, MAIN, "state", ans, sizeof(ans));
	if (strcmp(ans, before)) {
		fprintf(stderr, "round %d: A's state before\n  %s\nB's after\n"
			"  %s\n", round, before, ans);
		exit(1);
	}
	ask_both(a, b, MAIN, "state", ans, sizeof(ans));
	snprintf(q, sizeof(q), "after %d", round);
	ask_both(a, b, READER, q, ans, sizeof(ans));
	ask_both(a, b, POLLER, q, ans, sizeof(ans));
	/* They go on alike: the same heap growth, the same next address. */
	ask_both(a, b, MAIN, "grow 77", ans, sizeof(ans));
	ask_both(a, b, MAIN, "map", ans, sizeof(ans));
	signal_usr1(a, usr1);
	(*usr1)--;
	signal_usr1(b, usr1);
	ask_both(a, b, MAIN, "state", ans, sizeof(ans));
	ask_both(a, b, READER, q, ans, sizeof(ans));
}

/* The first answer the source gives, the one the twin must give. */
static void state_of(struct twin *t, char *buf, size_t cap)
{
	ask(t, MAIN, "state", buf, cap);
}

int main(int argc, char **argv)
{
	struct twin a, b;
	char sa[256], sb[256];
	int usr1 = 0;

	log_init("test-proc-transplant", LOG_LVL_INFO);
	use_wire = argc == 3 && !strcmp(argv[2], "--wire");
	use_image = use_wire || (argc >= 3 && !strcmp(argv[2], "--image"));
	apart = use_image && argc == 4 && !strcmp(argv[3], "--apart");
	if (argc != 2 && !use_image)
		SKIP("usage: test-proc-transplant /path/to/proc-twin "
		     "[--image [--apart] | --wire]");
	if (geteuid() != 0)
		SKIP("needs root (namespaces, ptrace)");
	start(&a, "A", argv[1]);
	start(&b, "B", argv[1]);
	read_answer(&a, MAIN, sa, sizeof(sa));
	read_answer(&b, MAIN, sb, sizeof(sb));
	CHECK(!strcmp(sa, "ready") && !strcmp(sb, "ready"));

	/* Seized with one thread each; the two others are followed. */
	CHECK_EQ(proc_stop_seize(&a.ps, a.pid), 0);
	CHECK_EQ(proc_stop_seize(&b.ps, b.pid), 0);
	CHECK_EQ(a.ps.n, 1);
	ask_ok(&a, "threads");
	ask_ok(&b, apart ? "threads apart" : "threads");
	CHECK_EQ(a.ps.n, 3);
	CHECK_EQ(b.ps.n, 3);

	for (int round = 0; round < ROUNDS; round++) {
		diverge(&a, &b, round, &usr1);
		state_of(&a, sa, sizeof(sa));
		state_of(&b, sb, sizeof(sb));
		CHECK(strcmp(sa, sb) != 0);     /* seeds differ at least */
		transplant(&a, &b);
		check_alike(&a, &b, sa, round, &usr1);
		fprintf(stderr, "round %d: B is A: %s\n", round, sa);
	}

	proc_stop_detach(&a.ps);
	proc_stop_detach(&b.ps);
	/* Detached, they still run and answer. */
	ask_both(&a, &b, MAIN, "state", sa, sizeof(sa));
	twin_kill(a.pid);
	twin_kill(b.pid);
	return 0;
}
