// SPDX-License-Identifier: MIT
/*
 * How much a delta saves on redis-server: launched with the shim and
 * seized, KEYS keys loaded, a full capture against a base timed; then
 * WRITES of those keys written again (spread over them: each lands on a
 * page of its own, the worst case), or with "new" WRITES new keys, and a
 * delta timed, beside a plain full capture (proc_image_capture) of the
 * same moment. Pages carried and encoded bytes of each. Not a test.
 *
 * Usage: bench-proc-delta-redis COLO-SHIM.SO [KEYS [WRITES [new]]]
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "proc-fixture.h"
#include "proc-image-wire.h"
#include "proc-image.h"
#include "proc-stop.h"
#include "proc-track.h"

#define REDIS "/usr/bin/redis-server"
#define REDIS_PORT 6379

static struct proc_stop ps;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Reads n "+OK\r\n" replies, pumping the tracer while it waits. */
static void read_oks(int fd, int n)
{
	static const char ok[] = "+OK\r\n";
	size_t want = (size_t)n * 5, got = 0;
	char buf[65536];

	while (got < want) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		CHECK(proc_stop_pump(&ps) >= 0);
		if (poll(&p, 1, 5) <= 0)
			continue;
		r = read(fd, buf, sizeof(buf) < want - got ?
			 sizeof(buf) : want - got);
		CHECK(r > 0);
		for (ssize_t i = 0; i < r; i++)
			CHECK(buf[i] == ok[(got + (size_t)i) % 5]);
		got += (size_t)r;
	}
}

/* SETs keys first + k * stride, k < n, in batches of 500. */
static void set_keys(int fd, int first, int n, int stride, int seed)
{
	char cmd[160];

	for (int i = 0; i < n; i += 500) {
		int batch = n - i < 500 ? n - i : 500;

		for (int k = i; k < i + batch; k++) {
			int len = snprintf(cmd, sizeof(cmd), "SET key:%d "
					   "v%d-%058d\r\n", first + k * stride, seed,
					   k);

			CHECK(write(fd, cmd, (size_t)len) == len);
		}
		read_oks(fd, batch);
	}
}

static void measure(const char *what, struct proc_image *img, double ms)
{
	uint8_t *buf;
	size_t len;

	CHECK_EQ(proc_image_encode(img, &buf, &len), 0);
	printf("%-14s %8.1f ms %8llu pages %10zu bytes encoded\n", what, ms,
	       (unsigned long long)proc_image_pages(img), len);
	free(buf);
}

int main(int argc, char **argv)
{
	static const char *args[] = { "--port", "6379", "--save", "",
				      "--appendonly", "no", "--loglevel",
				      "warning", NULL };
	struct proc_launch_spec spec = { REDIS, args, argv[1] };
	int keys = argc > 2 ? atoi(argv[2]) : 50000;
	int writes = argc > 3 ? atoi(argv[3]) : 2000;
	struct proc_image_base base = { 0 };
	struct proc_image full, delta, plain;
	struct proc_track track;
	struct proc_child c;
	double t;
	int fd;

	CHECK(argc >= 2 && keys > 0 && writes > 0 && writes <= keys);
	log_init("bench-proc-delta-redis", LOG_LVL_WARN);
	if (access(REDIS, X_OK) < 0)
		SKIP("%s: %s", REDIS, strerror(errno));
	fixture_require_root();
	fixture_launch(&spec, &c);
	fd = fixture_connect(c.pid, REDIS_PORT);
	CHECK_EQ(proc_stop_seize(&ps, c.pid), 0);
	CHECK_EQ(proc_track_open(&track, c.pid, c.pidfd), 0);
	base.track = &track;
	set_keys(fd, 0, keys, 1, 1);

	CHECK_EQ(proc_stop_interrupt(&ps, 5000), 0);
	proc_stop_sort(&ps);
	t = now_ms();
	CHECK_EQ(proc_image_capture_tracked(&ps, c.pidfd, &fd, 1, &base, true,
					    &full), 0);
	measure("full (tracked)", &full, now_ms() - t);
	proc_image_free(&full);
	CHECK_EQ(proc_stop_resume(&ps), 0);

	if (argc > 4 && !strcmp(argv[4], "new"))
		set_keys(fd, keys, writes, 1, 2);
	else
		set_keys(fd, 0, writes, keys / writes, 2);
	CHECK_EQ(proc_stop_interrupt(&ps, 5000), 0);
	proc_stop_sort(&ps);
	t = now_ms();
	CHECK_EQ(proc_image_capture_tracked(&ps, c.pidfd, &fd, 1, &base, false,
					    &delta), 0);
	measure("delta", &delta, now_ms() - t);
	printf("%-14s %zu present ranges\n", "", delta.n_present);
	t = now_ms();
	CHECK_EQ(proc_image_capture(&ps, c.pidfd, &fd, 1, &plain), 0);
	measure("full (plain)", &plain, now_ms() - t);
	proc_image_free(&delta);
	proc_image_free(&plain);

	proc_image_base_free(&base);
	proc_stop_detach(&ps);
	proc_track_close(&track);
	CHECK_EQ(proc_kill(&c), SIGKILL);
	close(fd);
	return 0;
}
